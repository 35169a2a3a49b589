//! Namespaces: create, list and delete the daemon's namespaces.

use std::ffi::c_char;

use crate::core;
use crate::ffi::boundary::ffi_status;
use crate::ffi::client::ctrd_client;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle;
use crate::ffi::ptr;
use crate::runtime;

/// Creates namespace `name` with `labels`, a NULL-terminated array of
/// "key=value" strings (NULL for none; a value may hold '='; containerd
/// drops a label whose value is empty). Works whatever namespace the client
/// itself is bound to. Strings are borrowed for the call only.
///
/// `name` and the labels are checked before any call: the name as every
/// namespace (letters, digits and '.' '_' '-' between them, at most 76
/// characters), the labels as container labels (no empty key, no key twice).
/// Blocks for one round trip, bounded by the client's timeout. Thread-safe.
/// Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL client or name, bad name or
/// label, or a label the daemon refuses, e.g. longer than 4096 bytes),
/// `CTRD_ERR_ALREADY_EXISTS` (the name is taken), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_namespace_create(
    c: *mut ctrd_client,
    name: *const c_char,
    labels: *const *const c_char,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: a C string or NULL, and a NULL-terminated array of C
        // strings or NULL (C contract).
        let (name, labels) = unsafe {
            (
                ptr::str_arg(name, "name")?,
                ptr::opt_str_array_arg(labels, "labels")?,
            )
        };
        let labels: Vec<String> = labels
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect();
        // Bad input fails here, before the runtime or the network.
        let req = core::daemon::namespace::create_request(name, &labels)?;
        let client = client.inner.clone();
        runtime::block_on(async move { client.send_create_namespace(req).await })?;
        Ok(())
    }
}

/// Lists the names of every namespace of the daemon, in the daemon's order
/// (sorted by name).
///
/// On success `*names` receives an array of `*len` strings owned by the
/// caller (free it with `ctrd_string_array_free(*names, *len)`); an empty
/// list may be NULL with `*len` 0. Nothing is written on failure. Blocks for
/// one round trip, bounded by the client's timeout. Thread-safe. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (a NULL argument), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_namespace_list(
    c: *mut ctrd_client,
    names: *mut *mut *mut c_char,
    len: *mut usize,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?.inner.clone();
        let names = ptr::StringsOut::new(names, len, "names")?;
        let list = runtime::block_on(async move { client.list_namespaces().await })?;
        names.write(list.into_iter().map(|n| n.name).collect())
    }
}

/// Deletes namespace `name`, which must be empty. `name` is borrowed for the
/// call only and checked as in `ctrd_namespace_create` before any call.
///
/// Blocks for one round trip, bounded by the client's timeout. Thread-safe.
/// Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL client or name, bad name),
/// `CTRD_ERR_FAILED_PRECONDITION` (the namespace still holds containers,
/// images, content, snapshots or leases; the message is the daemon's and
/// names them), `CTRD_ERR_NOT_FOUND` (no such namespace),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_namespace_delete(c: *mut ctrd_client, name: *const c_char) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: a C string or NULL (C contract).
        let name = unsafe { ptr::str_arg(name, "name") }?;
        // Bad input fails here, before the runtime or the network.
        let req = core::daemon::namespace::delete_request(name)?;
        let client = client.inner.clone();
        runtime::block_on(async move { client.send_delete_namespace(req).await })?;
        Ok(())
    }
}
