//! The async client core, in plain Rust types. Everything the C functions do
//! is here; `ffi` only checks arguments and converts types.

/// Includes what `build.rs` generated for JSON from one protobuf `package`
/// into `dir` under `OUT_DIR`: its prost messages and their pbjson
/// `Serialize`/`Deserialize` impls (the event payloads, the task metrics).
macro_rules! pbjson_package {
    ($dir:literal, $package:literal) => {
        include!(concat!(env!("OUT_DIR"), "/", $dir, "/", $package, ".rs"));
        include!(concat!(
            env!("OUT_DIR"),
            "/",
            $dir,
            "/",
            $package,
            ".serde.rs"
        ));
    };
}
pub(crate) use pbjson_package;

pub mod cancel;
pub mod container;
pub mod daemon;
pub mod error;
pub mod events;
pub mod files;
pub mod image;
pub mod queue;
pub mod registry;
pub mod stall;
pub mod stdio;
pub mod task;

pub use daemon::client::Client;
pub use error::{Code, Error, Result};
