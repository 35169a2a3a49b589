//! Build script: compiles `proto/` into gRPC stubs without a system `protoc`
//! (protox is a protobuf compiler written in Rust); generates the event
//! payload types again, with protobuf-JSON `Serialize` impls (pbjson-build),
//! for `core::events`, and the cgroups metrics types the same way for
//! `core::task::metrics`; and generates the C header with cbindgen into
//! `OUT_DIR` (plus `containerd_c_cdef.h`, its variant for Python cffi).
//! The cdylib gets its SONAME and a version script exporting only `ctrd_*`.
//! The committed `include/containerd_c.h` (and the cdef variant) is
//! checked against that fresh copy by `tests/header.rs`; run
//! `CTRD_UPDATE_HEADER=1 cargo build` to refresh it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use heck::ToUpperCamelCase;
use prost::Message as _;

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
        // The library connects with its own transport (src/core/daemon/conn.rs).
        .build_transport(false)
        .compile_fds(fds)
        .expect("generating gRPC stubs");
    erase_unary_calls(&out_dir);
    event_json_types(&proto_dir, &out_dir.join("event_json"));
    metrics_json_types(&proto_dir, &out_dir.join("metrics_json"));

    shared_library_link_args(&out_dir);

    // C header, and its variant for Python cffi's `cdef`.
    let mut config =
        cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    config.after_includes = Some(version_macros());
    let header = out_dir.join("containerd_c.h");
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/ffi/mod.rs"))
        .generate()
        .expect("cbindgen could not generate the header")
        .write_to_file(&header);
    let text = std::fs::read_to_string(&header).expect("reading the generated header");
    let cdef = out_dir.join("containerd_c_cdef.h");
    std::fs::write(&cdef, cdef_variant(&text)).expect("writing the cdef header");
    std::fs::write(&header, with_inline_defaults(&text)).expect("writing the header");
    if std::env::var_os("CTRD_UPDATE_HEADER").is_some() {
        std::fs::copy(&header, root.join("include/containerd_c.h")).expect("updating include/");
        std::fs::copy(&cdef, root.join("include/containerd_c_cdef.h")).expect("updating include/");
    }
}

/// Routes the generated clients' unary calls through `crate::api::unary`,
/// which sends and receives the messages as bytes: tonic's request machinery
/// (about 5 KB of code per method at opt-level "z") then exists once, not
/// once per method (some 60 of them). Streaming calls stay as generated.
/// Stops the build when the generated code no longer has the expected form.
fn erase_unary_calls(out_dir: &Path) {
    const GENERATED: &str = "self.inner.unary(req, path, codec).await";
    const ERASED: &str = "crate::api::unary(&mut self.inner, req, path, codec).await";
    let mut calls = 0;
    for entry in std::fs::read_dir(out_dir).expect("reading OUT_DIR") {
        let path = entry.expect("OUT_DIR entry").path();
        if path.extension().is_none_or(|x| x != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
        calls += text.matches(GENERATED).count() + text.matches(ERASED).count();
        if text.contains(GENERATED) {
            std::fs::write(&path, text.replace(GENERATED, ERASED))
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        }
    }
    assert!(
        calls > 0,
        "no `{GENERATED}` in the generated clients: update erase_unary_calls"
    );
}

/// The crate's version as (major, minor, patch, full string).
fn version() -> (u64, u64, u64, String) {
    let full = std::env::var("CARGO_PKG_VERSION").expect("CARGO_PKG_VERSION");
    let part = |name: &str| -> u64 {
        let value = std::env::var(name).unwrap_or_else(|_| panic!("{name}"));
        value.parse().unwrap_or_else(|_| panic!("{name}={value:?}"))
    };
    (
        part("CARGO_PKG_VERSION_MAJOR"),
        part("CARGO_PKG_VERSION_MINOR"),
        part("CARGO_PKG_VERSION_PATCH"),
        full,
    )
}

/// The shared library's SONAME: `libcontainerd_c.so.0.MINOR` before 1.0
/// (every 0.x release may break the ABI), `libcontainerd_c.so.MAJOR` from
/// 1.0 on. `scripts/install.sh` names the installed links after it.
fn soname() -> String {
    let (major, minor, _, _) = version();
    if major == 0 {
        format!("libcontainerd_c.so.0.{minor}")
    } else {
        format!("libcontainerd_c.so.{major}")
    }
}

/// Link arguments of the cdylib: its SONAME, and a version script that
/// exports the `ctrd_*` functions and nothing else (rustc's own export list
/// already hides Rust symbols; this also holds for any C symbol a dependency
/// might bring). Neither applies to the staticlib or the rlib.
///
/// A program linked against `target/<profile>/libcontainerd_c.so` records
/// the SONAME, so the loader looks for a file of that name: a symbolic link
/// `target/<profile>/<SONAME>` -> `libcontainerd_c.so` lets such programs (the
/// C examples and tests) run from the build tree, as before the SONAME.
fn shared_library_link_args(out_dir: &Path) {
    let script = out_dir.join("containerd_c.map");
    std::fs::write(&script, "{\n  global: ctrd_*;\n  local: *;\n};\n")
        .expect("writing the version script");
    let soname = soname();
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
        script.display()
    );
    // Packed relative relocations (DT_RELR, glibc 2.36 and later): the
    // pointers in vtables and other constant tables are relocated through a
    // bitmap instead of a 24-byte Elf64_Rela each (.rela.dyn: 330 KB ->
    // 8 KB in the stripped release .so).
    println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");

    // OUT_DIR is <target>/<profile>/build/<package>-<hash>/out. Not being
    // able to make the link is worth a warning, not a failed build.
    let Some(profile_dir) = out_dir.ancestors().nth(3) else {
        println!("cargo:warning=no <target>/<profile> above OUT_DIR: no {soname} link");
        return;
    };
    let link = profile_dir.join(&soname);
    if std::fs::read_link(&link).is_ok_and(|to| to == Path::new("libcontainerd_c.so")) {
        return;
    }
    // A stale link or file of that name goes first.
    let _ = std::fs::remove_file(&link);
    if let Err(e) = std::os::unix::fs::symlink("libcontainerd_c.so", &link) {
        println!(
            "cargo:warning=linking {} to libcontainerd_c.so: {e}",
            link.display()
        );
    }
}

/// The version macros the header carries after its includes, equal to the
/// crate's version (and to what `ctrd_version()` returns).
fn version_macros() -> String {
    let (major, minor, patch, full) = version();
    format!(
        "\n/** The major version of containerd-c this header comes from. */\n\
         #define CTRD_VERSION_MAJOR {major}\n\
         /** The minor version of containerd-c this header comes from. */\n\
         #define CTRD_VERSION_MINOR {minor}\n\
         /** The patch version of containerd-c this header comes from. */\n\
         #define CTRD_VERSION_PATCH {patch}\n\
         /**\n \
         * The version of containerd-c this header comes from, \"major.minor.patch\":\n \
         * what `ctrd_version()` returns in the library of the same version.\n \
         */\n\
         #define CTRD_VERSION \"{full}\""
    )
}

/// The options structs that carry `struct_size` (see `SizedStruct` in
/// src/ffi/handle.rs).
const SIZED_STRUCTS: [&str; 3] = ["ctrd_container_opts", "ctrd_pull_opts", "ctrd_push_opts"];

/// The header with, at its end, an inline `<struct>_default()` for each
/// options struct: inline so that `struct_size` is the `sizeof` of the
/// program's own header, not the library's. cffi cannot take function
/// bodies, so the cdef variant has none (Python sets `struct_size` itself).
fn with_inline_defaults(header: &str) -> String {
    const GUARD_END: &str = "#endif  /* CONTAINERD_C_H */";
    let at = header
        .rfind(GUARD_END)
        .expect("the header ends with its include guard");
    let mut block = String::from(
        "/*\n * The options structs with `struct_size` set to the size this program was\n \
         * compiled with and every other field zero, i.e. the defaults. Start from\n \
         * these, then set what you need:\n \
         *   ctrd_container_opts o = ctrd_container_opts_default();\n \
         *   o.id = \"web\";\n \
         *   o.spec_json = spec;\n \
         * They are inline (not in the library) so that the size is the one of\n \
         * this header. Callers that cannot use them (another language's FFI)\n \
         * set `struct_size` to the struct's size themselves.\n \
         */\n",
    );
    for name in SIZED_STRUCTS {
        assert!(
            header.contains(&format!("typedef struct {name} {{\n  /**")),
            "{name} is not in the header"
        );
        block.push_str(&format!(
            "\n/**\n \
             * A `{name}` with `struct_size` = sizeof({name}) and every other\n \
             * field zero (NULL, false): the defaults.\n \
             */\n\
             static inline {name} {name}_default(void) {{\n  \
             {name} o;\n  \
             memset(&o, 0, sizeof o);\n  \
             o.struct_size = sizeof o;\n  \
             return o;\n\
             }}\n"
        ));
    }
    block.push('\n');
    let mut out = String::with_capacity(header.len() + block.len());
    out.push_str(&header[..at]);
    out.push_str(&block);
    out.push_str(&header[at..]);
    out
}

/// The header for Python cffi's `ffi.cdef()`, which takes declarations but
/// no preprocessor: the same text without the include guard, the includes,
/// the C++ `extern "C"` block lines, the test hooks (in a release library
/// they do not exist) and the string-valued `CTRD_VERSION` (cffi accepts
/// only integer `#define`s; `ctrd_version()` gives the string). Integer
/// `#define`s stay: cffi makes them constants. Any other preprocessor line
/// stops the build, so that a new construct is handled here on purpose.
fn cdef_variant(header: &str) -> String {
    let mut out = String::from(
        "/*\n * containerd-c's declarations for Python cffi: `ffi.cdef(open(path).read())`.\n \
         * Generated from include/containerd_c.h by build.rs; do not edit by hand.\n */\n",
    );
    // The `#if`/`#ifdef` blocks being skipped or kept, innermost last.
    let mut blocks: Vec<bool> = Vec::new();
    let mut lines = header.lines().peekable();
    // The header's own comment opens the file: the one above replaces it.
    if header.starts_with("/*") {
        for line in lines.by_ref() {
            if line.trim_end().ends_with("*/") {
                break;
            }
        }
    }
    for line in lines {
        let skipping = blocks.iter().any(|skip| *skip);
        let directive = line.trim_start();
        if let Some(rest) = directive.strip_prefix('#') {
            let rest = rest.trim_start();
            let word = rest.split_whitespace().next().unwrap_or("");
            match word {
                "ifndef" if rest.contains("CONTAINERD_C_H") => blocks.push(false),
                "ifdef" if rest.contains("__cplusplus") => blocks.push(true),
                "if" if rest.contains("defined(CTRD_TEST_HOOKS)") => blocks.push(true),
                "endif" => {
                    blocks
                        .pop()
                        .expect("an #endif without its #if in the header");
                }
                _ if skipping => {}
                "include" => {}
                "define" => {
                    let mut parts = rest["define".len()..].split_whitespace();
                    let name = parts.next().expect("a #define without a name");
                    let value = parts.next();
                    let integer = value.is_some_and(|v| {
                        let digits = v.trim_end_matches(['u', 'U', 'l', 'L']);
                        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
                    });
                    if integer && parts.next().is_none() {
                        out.push_str(line);
                        out.push('\n');
                    } else if name != "CONTAINERD_C_H" && name != "CTRD_VERSION" {
                        panic!("cdef_variant: a #define cffi cannot take: {line}");
                    }
                }
                _ => panic!("cdef_variant: an unexpected preprocessor line: {line}"),
            }
            continue;
        }
        if skipping {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(blocks.is_empty(), "cdef_variant: an #if without its #endif");
    // No run of blank lines where a block was dropped.
    while out.contains("\n\n\n") {
        out = out.replace("\n\n\n", "\n\n");
    }
    out
}

/// Where the event JSON types refer to the two well-known types the event
/// protos use: small types of `core::events` whose `Serialize` gives the
/// protobuf-JSON forms containerd-c documents (prost-types has no serde).
const EVENT_WELL_KNOWN: [(&str, &str); 2] = [
    (
        ".google.protobuf.Timestamp",
        "crate::core::events::json::Timestamp",
    ),
    (".google.protobuf.Any", "crate::core::events::json::Any"),
];

/// The event payload messages (`proto/containerd/events/`, the types
/// containerd publishes) as prost types with pbjson `Serialize` impls
/// (every field emitted, lowerCamelCase names), in `dir`, plus `table.rs`:
/// `message_json(type name, bytes)`, one arm per top-level message of those
/// files. Included by `core::events`.
fn event_json_types(proto_dir: &Path, dir: &Path) {
    let mut files = Vec::new();
    proto_files(&proto_dir.join("containerd/events"), &mut files);
    let fds = protox::compile(&files, [proto_dir]).unwrap_or_else(|e| panic!("proto: {e:?}"));
    std::fs::create_dir_all(dir).expect("creating the event JSON dir");

    let mut prost = tonic_prost_build::configure()
        .build_server(false)
        .build_client(false)
        .out_dir(dir);
    let mut pbjson = pbjson_build::Builder::new();
    for (proto, rust) in EVENT_WELL_KNOWN {
        prost = prost.extern_path(proto, rust);
        pbjson.extern_path(proto, rust);
    }
    pbjson
        .register_descriptors(&fds.encode_to_vec())
        .expect("event descriptors")
        .out_dir(dir)
        .emit_fields()
        .build(&[".containerd"])
        .expect("generating event JSON impls");

    let mut table = String::from(
        "/// The JSON of the event message named `name` (a full protobuf name)\n\
         /// decoded from `bytes`; `None` for a name that is not an event.\n\
         pub fn message_json(name: &str, bytes: &[u8]) -> Option<Result<serde_json::Value, String>> {\n\
         \x20   match name {\n",
    );
    for file in &fds.file {
        if !file.name().starts_with("containerd/events/") {
            continue;
        }
        let package = file.package();
        let module = package.replace('.', "::");
        for message in &file.message_type {
            let name = message.name();
            let rust = name.to_upper_camel_case();
            writeln!(
                table,
                "        \"{package}.{name}\" => Some(super::to_json::<{module}::{rust}>(bytes)),"
            )
            .unwrap();
        }
    }
    table.push_str("        _ => None,\n    }\n}\n");
    std::fs::write(dir.join("table.rs"), table).expect("writing the event table");

    prost.compile_fds(fds).expect("generating event JSON types");
}

/// The cgroups statistics a task's metrics carry
/// (`proto/io/containerd/cgroups/`) as prost types with pbjson `Serialize`
/// impls, in `dir`, plus `table.rs`: `message_json(type name, bytes)` for
/// the two `Metrics` types, and, for every message, its 64-bit integer
/// fields and its message fields by JSON name (pbjson writes 64-bit
/// integers as strings; `core::task::metrics` turns them back into numbers).
fn metrics_json_types(proto_dir: &Path, dir: &Path) {
    use protox::prost_reflect::prost_types::field_descriptor_proto::Type;

    let mut files = Vec::new();
    proto_files(&proto_dir.join("io/containerd/cgroups"), &mut files);
    let fds = protox::compile(&files, [proto_dir]).unwrap_or_else(|e| panic!("proto: {e:?}"));
    std::fs::create_dir_all(dir).expect("creating the metrics JSON dir");
    pbjson_build::Builder::new()
        .register_descriptors(&fds.encode_to_vec())
        .expect("metrics descriptors")
        .out_dir(dir)
        .emit_fields()
        .build(&[".io.containerd.cgroups"])
        .expect("generating metrics JSON impls");

    let mut table = String::from(
        "/// The JSON of the metrics message named `name` (a full protobuf name)\n\
         /// decoded from `bytes`; `None` for a name that is not a metrics type.\n\
         pub fn message_json(name: &str, bytes: &[u8]) -> Option<Result<serde_json::Value, String>> {\n\
         \x20   match name {\n",
    );
    let mut numbers = String::from(
        "/// The JSON names of the 64-bit integer fields of message `name`.\n\
         pub fn number_fields(name: &str) -> &'static [&'static str] {\n\
         \x20   match name {\n",
    );
    let mut messages = String::from(
        "/// The message fields of message `name`: (JSON name, full type name).\n\
         pub fn message_fields(name: &str) -> &'static [(&'static str, &'static str)] {\n\
         \x20   match name {\n",
    );
    for file in &fds.file {
        let package = file.package();
        let module = package.replace('.', "::");
        for message in &file.message_type {
            let name = message.name();
            let full = format!("{package}.{name}");
            if name == "Metrics" {
                let rust = name.to_upper_camel_case();
                writeln!(
                    table,
                    "        \"{full}\" => Some(super::to_json::<{module}::{rust}>(bytes)),"
                )
                .unwrap();
            }
            let (mut wide, mut nested) = (Vec::new(), Vec::new());
            for field in &message.field {
                let json = field.json_name().to_string();
                assert!(!json.is_empty(), "{full}.{}: no JSON name", field.name());
                match field.r#type() {
                    Type::Int64 | Type::Uint64 | Type::Sint64 | Type::Fixed64 | Type::Sfixed64 => {
                        wide.push(format!("{json:?}"))
                    }
                    Type::Message => nested.push(format!(
                        "({json:?}, {:?})",
                        field.type_name().trim_start_matches('.')
                    )),
                    _ => {}
                }
            }
            writeln!(numbers, "        {full:?} => &[{}],", wide.join(", ")).unwrap();
            writeln!(messages, "        {full:?} => &[{}],", nested.join(", ")).unwrap();
        }
    }
    table.push_str("        _ => None,\n    }\n}\n");
    for text in [&mut numbers, &mut messages] {
        text.push_str("        _ => &[],\n    }\n}\n");
    }
    std::fs::write(
        dir.join("table.rs"),
        format!("{table}\n{numbers}\n{messages}"),
    )
    .expect("writing the metrics table");

    tonic_prost_build::configure()
        .build_server(false)
        .build_client(false)
        .out_dir(dir)
        .compile_fds(fds)
        .expect("generating metrics JSON types");
}
