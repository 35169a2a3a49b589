//! The committed header must be exactly what cbindgen generates from the
//! sources now (build.rs writes a fresh copy into OUT_DIR on every build).

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
