//! `ctrd_container`: containerd's Go `Container` (id, spec, delete with
//! snapshot cleanup), container listing, rootfs snapshots from images and
//! default specs.

use std::ffi::{c_char, CString};
use std::sync::Arc;

use crate::core::container::NewContainer;
use crate::core::{self, Error};
use crate::ffi::boundary::{ffi_status, ffi_value};
use crate::ffi::client::ctrd_client;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipArc, OwnershipRef};
use crate::ffi::ptr;
use crate::runtime;

/// A container record in one namespace. Opaque; made by
/// `ctrd_container_create` or `ctrd_container_load`, freed by
/// `ctrd_container_free`. Keeps its client's connection alive. Thread-safe.
pub struct ctrd_container {
    pub(crate) client: Arc<core::Client>,
    pub(crate) id: CString,
}

impl Castable for ctrd_container {
    type Ownership = OwnershipArc;
}

impl ctrd_container {
    pub(crate) fn id(&self) -> &str {
        // Made from a validated id (ASCII), so always UTF-8.
        self.id.to_str().unwrap_or_default()
    }
}

/// What `ctrd_container_create` makes. Strings are borrowed for the call only.
#[repr(C)]
pub struct ctrd_container_opts {
    /// Required: the container id (letters, digits and `.` `_` `-` between
    /// them, at most 76 characters).
    pub id: *const c_char,
    /// Required: the OCI runtime spec as JSON, e.g. from `ctrd_spec_generate`.
    /// Checked before anything is sent, then stored exactly as given.
    pub spec_json: *const c_char,
    /// Optional: the image name recorded on the container.
    pub image: *const c_char,
    /// Optional: the snapshotter of the rootfs; NULL = "overlayfs".
    pub snapshotter: *const c_char,
    /// Optional: the snapshot that is the rootfs (see
    /// `ctrd_snapshot_prepare_from_image`); NULL = none.
    pub snapshot_key: *const c_char,
    /// Optional: the runtime; NULL = "io.containerd.runc.v2".
    pub runtime: *const c_char,
    /// Optional: NULL-terminated array of "key=value" labels. containerd drops
    /// a label whose value is empty.
    pub labels: *const *const c_char,
}

impl Castable for ctrd_container_opts {
    type Ownership = OwnershipRef;
}

/// `ctrd_container_delete` flag: keep the rootfs snapshot.
pub const CTRD_DELETE_KEEP_SNAPSHOT: u32 = 1;

fn new_handle(client: Arc<core::Client>, id: String) -> Result<*mut ctrd_container, Error> {
    let id = CString::new(id).map_err(|e| Error::internal(e.to_string()))?;
    Ok(handle::to_arc_ptr(ctrd_container { client, id }))
}

/// Creates a container record from `o` in the client's namespace, as
/// containerd's Go `NewContainer` does.
///
/// Everything in `o` is checked before any call: the id, the spec JSON
/// (must parse as an OCI runtime spec), the labels (`key=value`, no key
/// twice), and the size of the whole record (containerd takes at most
/// 16 MiB in one message). The spec travels as an Any of type
/// `types.containerd.io/opencontainers/runtime-spec/1/Spec`. When
/// `snapshot_key` names a snapshot made by `ctrd_snapshot_prepare_from_image`,
/// the lease protecting it is dropped: the container now holds it. Once the
/// record exists the call succeeds: a lease that cannot be dropped then is
/// left to expire (24 hours).
///
/// On success `*out` receives a new container owned by the caller (free it
/// with `ctrd_container_free`). Blocks for a few round trips, bounded by the
/// client's timeout. Errors: `CTRD_ERR_INVALID_ARGUMENT` (bad input),
/// `CTRD_ERR_ALREADY_EXISTS` (id taken), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_container_create(
    c: *mut ctrd_client,
    o: *const ctrd_container_opts,
    out: *mut *mut ctrd_container,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        let o = handle::ref_from_ptr(o, "opts")?;
        let out = ptr::Out::new(out, "out")?;
        // SAFETY: the opts' strings are C strings or NULL, its labels a
        // NULL-terminated array of them or NULL (C contract).
        let new = unsafe {
            let owned = |s: Option<&str>| s.map(str::to_string);
            let new = NewContainer {
                id: ptr::str_arg(o.id, "opts.id")?.to_string(),
                spec_json: ptr::str_arg(o.spec_json, "opts.spec_json")?.to_string(),
                image: owned(ptr::opt_str_arg(o.image, "opts.image")?),
                snapshotter: owned(ptr::opt_str_arg(o.snapshotter, "opts.snapshotter")?),
                snapshot_key: owned(ptr::opt_str_arg(o.snapshot_key, "opts.snapshot_key")?),
                runtime: owned(ptr::opt_str_arg(o.runtime, "opts.runtime")?),
                labels: ptr::opt_str_array_arg(o.labels, "opts.labels")?
                    .unwrap_or_default()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            };
            new
        };
        let client = client.inner.clone();
        // Bad input fails here, before the runtime or the network.
        let req = client.create_request(&new)?;
        let c2 = client.clone();
        let record = runtime::block_on(async move { c2.send_create(req).await })?;
        out.write(new_handle(client, record.id)?);
        Ok(())
    }
}

/// Loads the existing container `id` from the client's namespace.
///
/// On success `*out` receives a new container owned by the caller (free it
/// with `ctrd_container_free`). Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (bad id), `CTRD_ERR_NOT_FOUND`,
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_container_load(
    c: *mut ctrd_client,
    id: *const c_char,
    out: *mut *mut ctrd_container,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: a C string or NULL (C contract).
        let id = unsafe { ptr::str_arg(id, "id") }?.to_string();
        let out = ptr::Out::new(out, "out")?;
        core::ident::validate("container id", &id)?;
        let client = client.inner.clone();
        let c2 = client.clone();
        let record = runtime::block_on(async move { c2.get_container(&id).await })?;
        out.write(new_handle(client, record.id)?);
        Ok(())
    }
}

/// Lists the ids of the containers in the client's namespace that match
/// `filter`, containerd's filter syntax (e.g. `labels."app"==web`,
/// `image==docker.io/library/busybox:latest`); NULL lists all.
///
/// On success `*ids` receives an array of `*len` strings owned by the caller
/// (free it with `ctrd_string_array_free(*ids, *len)`); an empty list may be
/// NULL with `*len` 0. Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (also for a filter the daemon cannot parse),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_container_list(
    c: *mut ctrd_client,
    filter: *const c_char,
    ids: *mut *mut *mut c_char,
    len: *mut usize,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: a C string or NULL (C contract).
        let filter = unsafe { ptr::opt_str_arg(filter, "filter") }?;
        let (ids, len) = (ptr::Out::new(ids, "ids")?, ptr::Out::new(len, "len")?);
        let filters: Vec<String> = filter.map(str::to_string).into_iter().collect();
        let client = client.inner.clone();
        let records = runtime::block_on(async move { client.list_containers(filters).await })?;
        let (array, n) = ptr::c_string_array(records.into_iter().map(|r| r.id).collect())?;
        ids.write(array);
        len.write(n);
        Ok(())
    }
}

/// The container's id. Borrowed from the handle: valid until it is freed.
/// "" for NULL. Never blocks.
#[no_mangle]
pub extern "C" fn ctrd_container_id(k: *const ctrd_container) -> *const c_char {
    ffi_value!(c"".as_ptr(), { handle::borrowed_str(k, |k| k.id.as_ptr()) })
}

/// The container's OCI runtime spec as JSON, exactly as the daemon stores it
/// (read fresh from the daemon, so updates made elsewhere show).
///
/// On success `*json` receives a string owned by the caller (free it with
/// `ctrd_string_free`). Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND` (deleted meanwhile),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_container_spec_json(
    k: *mut ctrd_container,
    json: *mut *mut c_char,
) -> ctrd_status {
    ffi_status! {
        let k = handle::arc_from_ptr(k, "container")?;
        let json = ptr::Out::new(json, "json")?;
        let (client, id) = (k.client.clone(), k.id().to_string());
        let record = runtime::block_on(async move { client.get_container(&id).await })?;
        json.write(ptr::c_string(core::container::spec_json(&record)?)?);
        Ok(())
    }
}

/// Deletes the container as containerd's Go client does.
///
/// Fails with `CTRD_ERR_FAILED_PRECONDITION`, deleting nothing, while the
/// container has a task (delete the task first): the daemon itself does not
/// check this. Otherwise removes the rootfs snapshot (one already gone is no
/// error), then the record. With `CTRD_DELETE_KEEP_SNAPSHOT` in `flags` the
/// snapshot stays, protected by a lease for 24 hours (containerd's garbage
/// collector would take a snapshot nothing refers to);
/// `ctrd_snapshot_remove` removes both.
/// When both steps fail the message gives both reasons. The handle stays
/// valid to free (and to read its id). Blocks for a few round trips. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL, unknown flags), `CTRD_ERR_NOT_FOUND`,
/// `CTRD_ERR_FAILED_PRECONDITION`, `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_container_delete(k: *mut ctrd_container, flags: u32) -> ctrd_status {
    ffi_status! {
        let k = handle::arc_from_ptr(k, "container")?;
        if flags & !CTRD_DELETE_KEEP_SNAPSHOT != 0 {
            return Err(Error::invalid(format!("unknown flags {flags:#x}")));
        }
        let keep = flags & CTRD_DELETE_KEEP_SNAPSHOT != 0;
        let (client, id) = (k.client.clone(), k.id().to_string());
        runtime::block_on(async move { client.delete_container(&id, keep).await })
    }
}

/// Frees a container handle (the container itself stays; see
/// `ctrd_container_delete`). NULL is a no-op. Must not race with another call
/// on the same handle.
#[no_mangle]
pub extern "C" fn ctrd_container_free(k: *mut ctrd_container) {
    ffi_value!((), { handle::free_arc(k) })
}

/// Prepares snapshot `key` whose parent is the unpacked rootfs of `image`
/// (the chain id of its layers, for this machine's platform when the image is
/// an index), ready to be a container's `snapshot_key`.
///
/// `snapshotter` NULL = "overlayfs". A lease protects the new snapshot from
/// containerd's garbage collector until a container made by
/// `ctrd_container_create` refers to it (or for 24 hours); a snapshot no
/// container will use is removed with `ctrd_snapshot_remove`. On failure
/// nothing is left behind. Blocks for several round trips. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND` (no such image),
/// `CTRD_ERR_FAILED_PRECONDITION` (image not unpacked for that snapshotter),
/// `CTRD_ERR_ALREADY_EXISTS` (key taken), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_snapshot_prepare_from_image(
    c: *mut ctrd_client,
    image: *const c_char,
    snapshotter: *const c_char,
    key: *const c_char,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: C strings or NULL (C contract).
        let (image, snapshotter, key) = unsafe {
            (
                ptr::str_arg(image, "image")?.to_string(),
                snapshotter_arg(snapshotter)?,
                ptr::str_arg(key, "key")?.to_string(),
            )
        };
        if key.is_empty() {
            return Err(Error::invalid("key is empty"));
        }
        let client = client.inner.clone();
        runtime::block_on(async move {
            client
                .prepare_snapshot_from_image(&image, &snapshotter, &key)
                .await
        })
    }
}

/// Removes snapshot `key` (and the lease `ctrd_snapshot_prepare_from_image`
/// put on it). `snapshotter` NULL = "overlayfs". A snapshot already gone is no
/// error. Blocks for two round trips. Errors: `CTRD_ERR_INVALID_ARGUMENT`,
/// `CTRD_ERR_FAILED_PRECONDITION` (e.g. it has children),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_snapshot_remove(
    c: *mut ctrd_client,
    snapshotter: *const c_char,
    key: *const c_char,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: C strings or NULL (C contract).
        let (snapshotter, key) = unsafe {
            (
                snapshotter_arg(snapshotter)?,
                ptr::str_arg(key, "key")?.to_string(),
            )
        };
        if key.is_empty() {
            return Err(Error::invalid("key is empty"));
        }
        let client = client.inner.clone();
        runtime::block_on(async move { client.remove_snapshot(&snapshotter, &key).await })
    }
}

/// # Safety
/// `p` is NULL or a C string (C contract).
unsafe fn snapshotter_arg(p: *const c_char) -> Result<String, Error> {
    // SAFETY: forwarded contract.
    match unsafe { ptr::opt_str_arg(p, "snapshotter") }? {
        None => Ok(core::image::DEFAULT_SNAPSHOTTER.to_string()),
        Some("") => Err(Error::invalid(
            "snapshotter is empty (NULL means overlayfs)",
        )),
        Some(s) => Ok(s.to_string()),
    }
}

/// A runnable default Linux spec for container `id`, as JSON: containerd's
/// defaults (mounts, namespaces, capabilities, masked paths, rlimits, cgroups
/// path `/<namespace>/<id>` for the client's namespace), merged with the
/// config of `image` (entrypoint + cmd, env, working dir, user) when `image`
/// is not NULL; `argv` (NULL-terminated, at least one item) replaces the
/// process args when not NULL.
///
/// On success `*json` receives a string owned by the caller (free it with
/// `ctrd_string_free`). Without an image, makes no call and does not start
/// the library's runtime (so it works in a child after fork() too); with one,
/// blocks for a few round trips. Errors: `CTRD_ERR_INVALID_ARGUMENT` (also
/// an empty `argv`),
/// `CTRD_ERR_NOT_FOUND` (no such image, or its user is not in its
/// /etc/passwd), `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_spec_generate(
    c: *mut ctrd_client,
    id: *const c_char,
    image: *const c_char,
    argv: *const *const c_char,
    json: *mut *mut c_char,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        let json = ptr::Out::new(json, "json")?;
        // SAFETY: C strings and a NULL-terminated array of them, each or
        // NULL (C contract).
        let (id, image, argv) = unsafe {
            (
                ptr::str_arg(id, "id")?.to_string(),
                ptr::opt_str_arg(image, "image")?.map(str::to_string),
                ptr::opt_str_array_arg(argv, "argv")?
                    .map(|a| a.into_iter().map(str::to_string).collect::<Vec<_>>()),
            )
        };
        if argv.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid(
                "argv is empty: give at least the command, or NULL to keep the default",
            ));
        }
        let client = client.inner.clone();
        let spec = match image {
            // No image: nothing to ask the daemon, so the spec is made right
            // here without the runtime (this also works in a forked child).
            None => runtime::ready_now(client.generate_spec(&id, None, argv)).unwrap_or_else(
                || Err(Error::internal("generating a spec without an image waited for a call")),
            )?,
            Some(image) => runtime::block_on(async move {
                client.generate_spec(&id, Some(&image), argv).await
            })?,
        };
        json.write(ptr::c_string(spec)?);
        Ok(())
    }
}

/// Changes a spec with an RFC 7386 JSON merge patch, e.g.
/// `{"process":{"terminal":true,"env":["PATH=/bin","A=1"]},"hostname":"box"}`:
/// objects merge key by key, `null` removes a key, anything else replaces
/// (arrays are replaced whole). Both inputs are checked, and so is the result
/// (it must still be an OCI runtime spec).
///
/// On success `*out` receives the patched spec, owned by the caller (free it
/// with `ctrd_string_free`). Makes no call; thread-safe. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid UTF-8 or JSON, not a spec).
#[no_mangle]
pub extern "C" fn ctrd_spec_patch(
    spec_json: *const c_char,
    patch_json: *const c_char,
    out: *mut *mut c_char,
) -> ctrd_status {
    ffi_status! {
        // SAFETY: C strings or NULL (C contract).
        let (spec, patch) = unsafe {
            (
                ptr::str_arg(spec_json, "spec_json")?,
                ptr::str_arg(patch_json, "patch_json")?,
            )
        };
        let out = ptr::Out::new(out, "out")?;
        out.write(ptr::c_string(core::spec::merge_patch(spec, patch)?)?);
        Ok(())
    }
}
