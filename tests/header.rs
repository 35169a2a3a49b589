//! The committed headers must be exactly what build.rs generates from the
//! sources now (it writes fresh copies into OUT_DIR on every build): the C
//! header, and its variant for Python cffi, which cffi must accept.

use std::process::Command;

#[test]
fn committed_header_matches_a_fresh_generation() {
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/containerd_c.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/containerd_c.h");
    let committed = std::fs::read_to_string(path).expect("include/containerd_c.h exists");
    assert!(
        committed == fresh,
        "include/containerd_c.h is out of date with src/ffi: run `CTRD_UPDATE_HEADER=1 cargo build` and commit it"
    );
}

#[test]
fn committed_cdef_header_matches_a_fresh_generation() {
    let fresh = include_str!(concat!(env!("OUT_DIR"), "/containerd_c_cdef.h"));
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/containerd_c_cdef.h");
    let committed = std::fs::read_to_string(path).expect("include/containerd_c_cdef.h exists");
    assert!(
        committed == fresh,
        "include/containerd_c_cdef.h is out of date with src/ffi: run `CTRD_UPDATE_HEADER=1 cargo build` and commit it"
    );
}

/// A Python 3 with the cffi module: the one on PATH, else Debian's
/// (`python3-cffi`, which scripts/deps.sh installs). Fails without one.
fn python_with_cffi() -> &'static str {
    for python in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(python)
            .args(["-c", "import cffi"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return python;
        }
    }
    panic!("no python3 with the cffi module: run scripts/deps.sh (Debian: python3-cffi)");
}

#[test]
fn cdef_header_parses_in_python_cffi() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/containerd_c_cdef.h");
    let script = "import sys, cffi\n\
                  ffi = cffi.FFI()\n\
                  ffi.cdef(open(sys.argv[1]).read())\n\
                  for name in ('ctrd_client *', 'ctrd_event_cb', 'ctrd_exit_cb', 'ctrd_status'):\n\
                  \x20   ffi.typeof(name)\n\
                  print(ffi.typeof('struct ctrd_io').kind)\n";
    let out = Command::new(python_with_cffi())
        .args(["-c", script, path])
        .output()
        .expect("running python3");
    assert!(
        out.status.success(),
        "cffi rejects include/containerd_c_cdef.h:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "struct");
}

#[test]
fn cdef_header_declares_what_the_c_header_does_without_preprocessor_lines() {
    let header = include_str!(concat!(env!("OUT_DIR"), "/containerd_c.h"));
    let cdef = include_str!(concat!(env!("OUT_DIR"), "/containerd_c_cdef.h"));
    for line in cdef.lines().filter(|l| l.starts_with('#')) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let integer = words.len() == 3
            && words[0] == "#define"
            && words[2].trim_end_matches('u').parse::<u64>().is_ok();
        assert!(integer, "a preprocessor line cffi cannot take: {line}");
    }
    // Every declaration and definition of the C header is there, test hooks
    // (not in a release library) aside.
    let mut in_hooks = false;
    let mut count = 0;
    for line in header.lines() {
        if line.starts_with("#if defined(CTRD_TEST_HOOKS)") {
            in_hooks = true;
        } else if in_hooks && line.starts_with("#endif") {
            in_hooks = false;
        } else if line.starts_with("static inline ") {
            // The `_default()` initialisers: cffi takes no function bodies.
            assert!(
                !cdef.contains(line),
                "a function body in the cdef header: {line}"
            );
        } else if !in_hooks
            && !line.starts_with(['#', ' ', '/', '}', '{'])
            && !line.starts_with("extern \"C\"")
            && line.contains("ctrd_")
        {
            count += 1;
            assert!(
                cdef.lines().any(|l| l == line),
                "not in the cdef header: {line}"
            );
        } else if in_hooks && line.contains("ctrd_") && !line.starts_with([' ', '/']) {
            assert!(
                !cdef.contains(line),
                "a test hook in the cdef header: {line}"
            );
        }
    }
    assert!(count >= 10, "found only {count} declarations");
}

#[test]
fn every_exported_function_is_documented_in_the_header() {
    let header = include_str!(concat!(env!("OUT_DIR"), "/containerd_c.h"));
    let lines: Vec<&str> = header.lines().collect();
    let mut functions = 0;
    for (i, line) in lines.iter().enumerate() {
        let is_decl = !line.starts_with([' ', '/', '#'])
            && line.contains("ctrd_")
            && line.contains('(')
            && line.ends_with(");");
        let is_type = line.starts_with("typedef");
        if is_decl || is_type {
            functions += usize::from(is_decl);
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with("*/"),
                "no doc comment before line {}: {line}",
                i + 1
            );
        }
    }
    assert!(functions >= 10, "found only {functions} functions");
}
