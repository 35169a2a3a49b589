//! The C ABI. One file per C concept. Every exported function's whole body
//! is a boundary macro of `boundary` (`ffi_status!` or `ffi_value!`), which
//! catches panics and records errors; every handle goes through the typed
//! casts of `handle`, every other raw pointer through `ptr`.

#![allow(non_camel_case_types)]
// These are C entry points: their raw pointer arguments are the C caller's
// contract (documented in the header), which Rust's `unsafe fn` marker could
// not express to a C caller anyway. Each dereference sits in an `unsafe` block
// in the `handle` and `ptr` helpers with the reason it is sound.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

pub mod archive;
pub(crate) mod boundary;
pub(crate) mod callback;
pub mod cancel;
pub mod client;
pub mod container;
pub mod error;
pub mod events;
pub(crate) mod handle;
pub mod image;
pub mod io;
pub mod namespace;
pub mod process;
pub mod progress;
pub(crate) mod ptr;
pub mod pull;
pub mod push;
pub mod queue;
pub mod task;
pub mod wait;

pub use archive::*;
pub use cancel::*;
pub use client::*;
pub use container::*;
pub use error::*;
pub use events::*;
pub use image::*;
pub use io::*;
pub use namespace::*;
pub use process::*;
pub use progress::*;
pub use pull::*;
pub use push::*;
pub use queue::*;
pub use task::*;
pub use wait::*;
