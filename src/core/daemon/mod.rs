//! The daemon: everything that talks to containerd itself and that every
//! other subsystem stands on.
//!
//! - [`conn`]: the transport, HTTP/2 over the daemon's unix socket driven by
//!   the h2 crate (one shared connection per client, plus one per thread
//!   that blocks on a runtime of its own), reconnecting after a GOAWAY.
//! - [`client`]: [`Client`](client::Client), the handle every call goes
//!   through: address, namespace, lease, per-call timeout, the one unary call
//!   path, and caches the subsystems keep on it.
//! - [`ident`]: the identifiers containerd accepts, checked before any call,
//!   and how messages quote what the caller gave.
//! - [`namespace`], [`lease`]: the daemon's namespaces and leases.
//!
//! Owns: the connection and the gRPC metadata every call carries, and the
//! client's caches (the one of resolved images is typed by `core::image`,
//! which fills it; nothing here calls it). Calls down only: the generated
//! stubs (`crate::api`), `crate::runtime` and `core::error`. Every other
//! subsystem of `core` calls into this one.

pub mod client;
pub mod conn;
pub mod ident;
pub mod lease;
pub mod namespace;
