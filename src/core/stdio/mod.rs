//! A task's stdio, as containerd's Go `cio` does it: the FIFO set the shim
//! opens for the task's stdin, stdout and stderr ([`fifo`]), and copy
//! sessions that join those FIFOs to the caller's file descriptors in the
//! background ([`session`]).
//!
//! A session's streams are copied by one process-wide copy thread driven by
//! `epoll` (`reactor`), or, for a descriptor that may block whatever
//! `poll` says (a terminal) and in a forked child, by a thread of the
//! stream's own (`thread`).
//!
//! Owns: the FIFO directories it makes (removed with their set), the
//! sessions' threads (the copy thread lives as long as the process) and the
//! caller's descriptors handed to a session (closed when it is dropped; their
//! flags never changed). Knows nothing of the daemon: the task and process
//! code asks containerd to use the paths and closes the task's stdin from a
//! session's end-of-file hook.
//!
//! May call: `core::error`, `core::files` (descriptor checks),
//! `core::daemon::ident` (FIFO names) and `runtime` (library threads and its
//! panic catcher); never `crate::ffi`.

pub mod fifo;
mod reactor;
pub mod session;
mod thread;
