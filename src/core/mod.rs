//! The async client core, in plain Rust types. Everything the C functions do
//! is here; `ffi` only checks arguments and converts types.

pub mod archive;
pub mod cancel;
pub mod checkpoint;
pub mod client;
pub mod conn;
pub mod container;
pub mod content;
pub mod copy;
pub mod error;
pub mod events;
pub mod fifo;
pub mod files;
pub mod http;
pub mod ident;
pub mod image;
pub mod images;
pub mod lease;
pub mod metrics;
pub mod namespace;
pub mod ocijson;
pub mod progress;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod spec;
pub mod stall;
pub mod task;
pub mod unpack;

pub use client::Client;
pub use error::{Code, Error, Result};
