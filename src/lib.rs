//! containerd-c: a containerd client with a C ABI.
//!
//! Layers, from the bottom up:
//! - [`api`]: gRPC stubs generated from `proto/` (containerd API v1).
//! - [`runtime`]: the one process-wide tokio runtime and the blocking bridge
//!   C calls wait on.
//! - [`core`]: the async client in plain Rust types. Tests and benchmarks use
//!   it directly; it knows nothing about C.
//! - [`ffi`]: the C functions of `include/containerd_c.h`: argument checks,
//!   conversions, the panic boundary. The only module with `unsafe`.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod api;
pub mod core;
pub mod ffi;
pub mod runtime;

pub use crate::core::error::{Code, Error, Result};
