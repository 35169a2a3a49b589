//! Build script: compiles `proto/` into gRPC stubs without a system `protoc`
//! (protox is a protobuf compiler written in Rust), and generates the C header
//! with cbindgen into `OUT_DIR`. The committed `include/containerd_c.h` is
//! checked against that fresh copy by `tests/header.rs`; run
//! `CTRD_UPDATE_HEADER=1 cargo build` to refresh it.

use std::path::{Path, PathBuf};

fn proto_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            proto_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "proto") {
            out.push(path);
        }
    }
}

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    for watched in ["proto", "src", "cbindgen.toml", "build.rs"] {
        println!("cargo:rerun-if-changed={watched}");
    }
    println!("cargo:rerun-if-env-changed=CTRD_UPDATE_HEADER");

    // gRPC stubs.
    let proto_dir = root.join("proto");
    let mut files = Vec::new();
    proto_files(&proto_dir, &mut files);
    let fds = protox::compile(&files, [&proto_dir]).unwrap_or_else(|e| panic!("proto: {e:?}"));
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(fds)
        .expect("generating gRPC stubs");

    // C header.
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let header = out_dir.join("containerd_c.h");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(&header);
    if std::env::var_os("CTRD_UPDATE_HEADER").is_some() {
        std::fs::copy(&header, root.join("include/containerd_c.h")).expect("updating include/");
    }
}
