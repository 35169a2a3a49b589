//! Facts about containerd-c as a C library: the header's version macros are
//! the crate's version (and what `ctrd_version()` returns), and the shared
//! library cargo builds has its SONAME and exports `ctrd_*` symbols only.
//! (scripts/test-install.sh checks the installed release build the same way,
//! and more.)

use std::path::PathBuf;
use std::process::Command;

use containerd_c::ffi::ctrd_version;

/// The value of `#define NAME VALUE` in the committed header.
fn define(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    let mut values = header.lines().filter_map(|l| l.strip_prefix(&prefix));
    let value = values
        .next()
        .unwrap_or_else(|| panic!("no {name} in include/containerd_c.h"));
    assert!(values.next().is_none(), "{name} defined twice");
    value.to_string()
}

#[test]
fn header_version_macros_are_the_crate_version_and_ctrd_version() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/include/containerd_c.h");
    let header = std::fs::read_to_string(path).expect("include/containerd_c.h exists");
    assert_eq!(
        define(&header, "CTRD_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        define(&header, "CTRD_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        define(&header, "CTRD_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
    assert_eq!(
        define(&header, "CTRD_VERSION"),
        format!("\"{}\"", env!("CARGO_PKG_VERSION"))
    );
    // SAFETY: ctrd_version returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(ctrd_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

/// The cdylib cargo built with this test (next to the test binary in
/// target/<profile>/deps).
fn shared_library() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let so = exe.with_file_name("libcontainerd_c.so");
    assert!(so.is_file(), "{} is missing", so.display());
    so
}

fn tool(name: &str, args: &[&str], file: &PathBuf) -> String {
    let out = Command::new(name)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("running {name} (binutils): {e}"));
    assert!(
        out.status.success(),
        "{name} {args:?} {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn shared_library_exports_only_ctrd_symbols() {
    let so = shared_library();
    let symbols = tool("nm", &["-D", "--defined-only"], &so);
    let names: Vec<&str> = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let others: Vec<&&str> = names.iter().filter(|n| !n.starts_with("ctrd_")).collect();
    assert!(others.is_empty(), "exported besides ctrd_*: {others:?}");
    // Every function the header declares is exported.
    let header = include_str!(concat!(env!("OUT_DIR"), "/containerd_c.h"));
    let mut declared = 0;
    let mut in_hooks = false;
    for line in header.lines() {
        // The test hooks are in the header (for C code that defines
        // CTRD_TEST_HOOKS) but only in libraries built with them.
        if line.starts_with("#if defined(CTRD_TEST_HOOKS)") {
            in_hooks = true;
        } else if line.starts_with("#endif") {
            in_hooks = false;
        }
        // `static inline` helpers (the options' `_default()`) live in the
        // header only.
        let is_decl = !line.starts_with([' ', '/', '#', '}'])
            && !line.starts_with("typedef")
            && !line.starts_with("static inline ");
        let Some(open) = line.find('(').filter(|_| is_decl && !in_hooks) else {
            continue;
        };
        let name = line[..open].rsplit([' ', '*']).next().unwrap();
        if name.starts_with("ctrd_") {
            declared += 1;
            assert!(names.contains(&name), "{name} is declared but not exported");
        }
    }
    assert!(declared >= 10, "found only {declared} declarations");
}

#[test]
fn shared_library_has_its_soname() {
    let so = shared_library();
    let dynamic = tool("readelf", &["-d"], &so);
    let major: u64 = env!("CARGO_PKG_VERSION_MAJOR").parse().unwrap();
    let want = if major == 0 {
        format!("libcontainerd_c.so.0.{}", env!("CARGO_PKG_VERSION_MINOR"))
    } else {
        format!("libcontainerd_c.so.{major}")
    };
    assert!(
        dynamic.contains(&format!("Library soname: [{want}]")),
        "no SONAME {want}:\n{dynamic}"
    );
}
