//! The async client core, in plain Rust types. Everything the C functions do
//! is here; `ffi` only checks arguments and converts types.

pub mod cancel;
pub mod container;
pub mod daemon;
pub mod error;
pub mod events;
pub mod files;
pub mod image;
pub mod registry;
pub mod stall;
pub mod stdio;
pub mod task;

pub use daemon::client::Client;
pub use error::{Code, Error, Result};
