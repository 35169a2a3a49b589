//! `ctrd_client`: a connection to one containerd daemon in one namespace.

use std::ffi::{c_char, CString};
use std::sync::Arc;
use std::time::Duration;

use crate::core::{self, Error};
use crate::ffi::boundary::{ffi_status, ffi_value};
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipArc};
use crate::ffi::ptr;
use crate::runtime;

/// A client of one containerd daemon, bound to one namespace. Opaque; made by
/// `ctrd_client_connect`, freed by `ctrd_client_free`. Thread-safe.
pub struct ctrd_client {
    pub(crate) inner: Arc<core::Client>,
    namespace: CString,
}

impl Castable for ctrd_client {
    type Ownership = OwnershipArc;
}

/// Makes a client for the daemon at `address` in namespace `ns`.
///
/// `address`: a socket path ("/run/containerd/containerd.sock") or
/// "unix:///path"; NULL uses $CONTAINERD_ADDRESS, else
/// /run/containerd/containerd.sock. `ns`: NULL uses $CONTAINERD_NAMESPACE,
/// else "default"; every call of this client runs in that namespace.
///
/// Does not connect: the first call that needs the daemon connects, and
/// reports an unreachable daemon (`CTRD_ERR_UNAVAILABLE`). A connection lost
/// later (the daemon restarted) is made again by the next call.
///
/// Connections: a blocking call runs on the calling thread, over that
/// thread's own connection to the daemon (made on its first call, shared
/// by every client of that daemon on the thread, closed when the thread
/// ends), so that the reply does not cross threads; such a thread holds
/// four file descriptors for it (the socket and a duplicate of it, an epoll
/// and an event descriptor). At most 64 threads at once do so; the calls of further
/// threads, and calls made while as many threads as the machine has cores
/// are in calls already, go over one connection the library's own threads
/// serve. Event subscriptions, pulls, imports and exports always do.
///
/// On success `*out` receives a new client owned by the caller (free it with
/// `ctrd_client_free`). Errors: `CTRD_ERR_INVALID_ARGUMENT` for a NULL `out`,
/// invalid UTF-8, a relative path, an unsupported scheme, an over-long socket
/// path or an invalid namespace. Never blocks on the network.
#[no_mangle]
pub extern "C" fn ctrd_client_connect(
    address: *const c_char,
    ns: *const c_char,
    out: *mut *mut ctrd_client,
) -> ctrd_status {
    ffi_status! {
        // SAFETY: C strings or NULL (C contract).
        let (address, ns) = unsafe {
            (
                ptr::opt_str_arg(address, "address")?,
                ptr::opt_str_arg(ns, "ns")?,
            )
        };
        let out = ptr::Out::new(out, "out")?;
        let (address, ns) = (address.map(str::to_string), ns.map(str::to_string));
        let client =
            runtime::block_on(
                async move { core::Client::connect(address.as_deref(), ns.as_deref()) },
            )?;
        // A validated namespace is plain ASCII without NUL.
        let namespace =
            CString::new(client.namespace()).map_err(|e| Error::internal(e.to_string()))?;
        out.write(handle::to_arc_ptr(ctrd_client {
            inner: Arc::new(client),
            namespace,
        }));
        Ok(())
    }
}

/// Sets the timeout of every later blocking call made through this client
/// and the containers and tasks it made: `ms` milliseconds, 0 for none (wait
/// for ever). The default is 30000; more than about 100 years
/// (3153600000000) counts as that. A call that runs out of time returns
/// `CTRD_ERR_DEADLINE_EXCEEDED`. Thread-safe.
#[no_mangle]
pub extern "C" fn ctrd_client_set_timeout_ms(c: *mut ctrd_client, ms: u64) -> ctrd_status {
    ffi_status! {
        let c = handle::ref_from_ptr(c, "client")?;
        c.inner
            .set_timeout((ms != 0).then(|| Duration::from_millis(ms)));
        Ok(())
    }
}

/// Asks the daemon for its version ("1.6.20~ds1") and git revision.
///
/// On success `*version` and `*revision` receive new strings owned by the
/// caller (free each with `ctrd_string_free`); either pointer may be NULL
/// when that value is not wanted. Blocks for one round trip, bounded by the
/// client's timeout. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL client),
/// `CTRD_ERR_UNAVAILABLE` (daemon not reachable),
/// `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_client_server_version(
    c: *mut ctrd_client,
    version: *mut *mut c_char,
    revision: *mut *mut c_char,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?.inner.clone();
        let (version, revision) = (ptr::Out::optional(version), ptr::Out::optional(revision));
        let (v, r) = runtime::block_on(async move { client.server_version().await })?;
        let (v, r) = (ptr::c_string_value(v)?, ptr::c_string_value(r)?);
        // Handed out only where wanted; dropped otherwise.
        if let Some(o) = version {
            o.write(v.into_raw());
        }
        if let Some(o) = revision {
            o.write(r.into_raw());
        }
        Ok(())
    }
}

/// As `ctrd_client_server_version`, through queue `q` (see `ctrd_queue`):
/// the completion with `tag` brings `.names` = `{version, revision}`
/// (`names_len` 2, the caller's); a cancel cuts it at once. The cheapest
/// round trip: a way to measure what the queue adds to a call. Errors
/// (then no completion comes): `CTRD_ERR_INVALID_ARGUMENT` (NULL `c` or
/// `q`), `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`),
/// `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_client_server_version_submit(
    c: *mut ctrd_client,
    q: *mut crate::ffi::queue::ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?.inner.clone();
        let on_cancel = crate::core::queue::OnCancel::Drop;
        crate::ffi::queue::submit(q, tag, "ctrd_client_server_version_submit", on_cancel, async move {
            let (v, r) = client.server_version().await?;
            Ok(crate::ffi::queue::Payload::Names(vec![v, r]))
        })
    }
}

/// Asks the daemon who it is and which plugins it runs (containerd's
/// introspection service), as one JSON object:
///
/// `{"uuid":"...","pid":1234,"pidns":4026531836,"plugins":[{"type":
/// "io.containerd.snapshotter.v1","id":"overlayfs","status":"ok"},...],
/// "deprecations":[{"id":"...","message":"...","lastOccurrence":
/// "2024-01-02T03:04:05Z"}]}`
///
/// A plugin's `status` is what `ctr plugins ls` shows: "ok", "skip" (the
/// plugin chose not to load, e.g. a snapshotter whose filesystem is absent)
/// or "error" (it failed to initialise); unless "ok", `error` holds the
/// daemon's message. Fields the daemon does not send are left out: `pid` and
/// `pidns` come from containerd 1.6.25 and 1.7.0 on, `deprecations` from
/// 1.7.9 on and only when there are any (1.6 answers `uuid` and `plugins`
/// only). A part the daemon does not implement leaves its fields out.
///
/// On success `*json` receives a string owned by the caller (free it with
/// `ctrd_string_free`). Blocks for two concurrent round trips, bounded by
/// the client's timeout. Thread-safe. Errors: `CTRD_ERR_INVALID_ARGUMENT`
/// (a NULL argument), `CTRD_ERR_NOT_IMPLEMENTED` (the daemon has no
/// introspection service at all), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_client_server_info_json(
    c: *mut ctrd_client,
    json: *mut *mut c_char,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?.inner.clone();
        let json = ptr::Out::new(json, "json")?;
        let info = runtime::block_on(async move { client.server_info().await })?;
        json.write(ptr::c_string(info.to_string())?);
        Ok(())
    }
}

/// The namespace this client works in (after the $CONTAINERD_NAMESPACE and
/// "default" fallbacks). Borrowed from the client: valid until it is freed.
/// "" for a NULL client.
#[no_mangle]
pub extern "C" fn ctrd_client_namespace(c: *const ctrd_client) -> *const c_char {
    ffi_value!(c"".as_ptr(), {
        handle::borrowed_str(c, |c| c.namespace.as_ptr())
    })
}

/// Frees a client. NULL is a no-op. Containers and tasks made through it keep
/// the connection alive and stay usable. In a child after fork() it only
/// forgets the handle (its connections are the parent's). Must not race with
/// another call on the same client.
#[no_mangle]
pub extern "C" fn ctrd_client_free(c: *mut ctrd_client) {
    ffi_value!((), { handle::free_arc(c) })
}
