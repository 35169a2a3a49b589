//! `ctrd_container`: containerd's Go `Container` (id, record, spec, info,
//! labels, spec updates, delete with snapshot cleanup, commit to an image),
//! container listing, rootfs snapshots from images and default specs.

use std::ffi::{c_char, CString};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::FutureExt as _;

use crate::core::container::{NewContainer, Record};
use crate::core::queue::OnCancel;
use crate::core::{self, Error};
use crate::ffi::boundary::{ffi_status, ffi_value};
use crate::ffi::client::ctrd_client;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipArc, OwnershipRef, SizedStruct};
use crate::ffi::ptr;
use crate::ffi::queue::{self, ctrd_queue, Payload};
use crate::runtime;

/// A container record in one namespace. Opaque; made by
/// `ctrd_container_create` or `ctrd_container_load`, freed by
/// `ctrd_container_free`. Keeps its client's connection alive and a copy of
/// the record (as the daemon last returned it to a call on this handle).
/// Thread-safe.
pub struct ctrd_container {
    pub(crate) client: Arc<core::Client>,
    pub(crate) id: CString,
    /// The record as the daemon returned it to the last call on this handle
    /// that read or changed it (create, load, refresh, updates).
    record: Mutex<Arc<Record>>,
}

impl Castable for ctrd_container {
    type Ownership = OwnershipArc;
}

impl ctrd_container {
    pub(crate) fn id(&self) -> &str {
        // Made from a validated id (ASCII), so always UTF-8.
        self.id.to_str().unwrap_or_default()
    }

    /// The handle's copy of the record.
    fn record(&self) -> Arc<Record> {
        // A panic elsewhere cannot leave the `Arc` half-written.
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set_record(&self, record: Record) {
        *self.record.lock().unwrap_or_else(PoisonError::into_inner) = Arc::new(record);
    }
}

/// What `ctrd_container_create` makes. Strings are borrowed for the call only.
/// Start from `ctrd_container_opts_default()` (every field zero but
/// `struct_size`). See `struct_size` for how the struct grows.
#[repr(C)]
pub struct ctrd_container_opts {
    /// `sizeof(ctrd_container_opts)` as the program was compiled: required
    /// (0 is `CTRD_ERR_INVALID_ARGUMENT`). New fields are only ever added
    /// at the end; from 1.0 on, the library reads no field past
    /// `struct_size`, so a program built against an older header keeps
    /// working, and one built against a newer header works with an older
    /// library as long as it leaves the newer fields zero.
    pub struct_size: usize,
    /// Required: the container id (letters, digits and "." "_" "-" between
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
    /// Optional: the runc shim's options as a JSON object whose keys are the
    /// Go field names of containerd's runc `Options`: `NoPivotRoot`,
    /// `NoNewKeyring`, `SystemdCgroup` (booleans), `ShimCgroup`,
    /// `BinaryName`, `Root`, `CriuPath`, `CriuImagePath`, `CriuWorkPath`
    /// (strings), `IoUid`, `IoGid` (32-bit unsigned numbers); e.g.
    /// `{"SystemdCgroup":true,"BinaryName":"/usr/bin/runc"}`. Sent in the
    /// record's runtime options as type `containerd.runc.v1.Options`, which
    /// the runc shims (`io.containerd.runc.v2`) read when the task is
    /// created. Checked before any call: an unknown key or a value of the
    /// wrong type is `CTRD_ERR_INVALID_ARGUMENT` naming the key; `null`
    /// leaves a field at its default. NULL = no options.
    pub runtime_options_json: *const c_char,
}

impl Castable for ctrd_container_opts {
    type Ownership = OwnershipRef;
}

// SAFETY: `#[repr(C)]`, starts with `struct_size: usize`, and every other
// field is a raw pointer: all valid as zeros.
unsafe impl SizedStruct for ctrd_container_opts {
    const C_NAME: &'static str = "ctrd_container_opts";
}

impl Default for ctrd_container_opts {
    /// What `ctrd_container_opts_default()` gives C: `struct_size` set,
    /// every other field NULL.
    fn default() -> Self {
        let null = std::ptr::null();
        ctrd_container_opts {
            struct_size: std::mem::size_of::<ctrd_container_opts>(),
            id: null,
            spec_json: null,
            image: null,
            snapshotter: null,
            snapshot_key: null,
            runtime: null,
            labels: std::ptr::null(),
            runtime_options_json: null,
        }
    }
}

/// `ctrd_container_delete` flag: keep the rootfs snapshot.
pub const CTRD_DELETE_KEEP_SNAPSHOT: u32 = 1;

fn new_handle(client: Arc<core::Client>, record: Record) -> Result<*mut ctrd_container, Error> {
    Ok(handle::to_arc_ptr(ctrd_container::new(client, record)?))
}

impl ctrd_container {
    fn new(client: Arc<core::Client>, record: Record) -> Result<ctrd_container, Error> {
        let id = CString::new(record.id.clone()).map_err(|e| Error::internal(e.to_string()))?;
        Ok(ctrd_container {
            client,
            id,
            record: Mutex::new(Arc::new(record)),
        })
    }
}

/// Creates a container record from `o` in the client's namespace, as
/// containerd's Go `NewContainer` does.
///
/// Everything in `o` is checked before any call: the id, the spec JSON
/// (must parse as an OCI runtime spec), the labels (`key=value`, no key
/// twice), the runtime options (unknown keys and values of the wrong type
/// are named), and the size of the whole record (containerd takes at most
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
        let (client, new) = create_args(c, o)?;
        let out = ptr::Out::new(out, "out")?;
        // Bad input fails here, before the runtime or the network.
        let req = client.create_request(&new)?;
        let c2 = client.clone();
        let record = runtime::block_on(async move { c2.send_create(req).await })?;
        out.write(new_handle(client, record)?);
        Ok(())
    }
}

/// As `ctrd_container_create`, through queue `q` (see `ctrd_queue`): checks
/// `o` now (as the blocking call does) and returns; the completion with
/// `tag` brings `.container` (the caller's) or the failure. Cancelled, the
/// container is deleted again once the daemon made it (its snapshot stays,
/// under a lease, as with `CTRD_DELETE_KEEP_SNAPSHOT`); see
/// `ctrd_queue_cancel`. Errors (then no completion comes): those of
/// `ctrd_container_create`'s checks (`CTRD_ERR_INVALID_ARGUMENT`), NULL
/// `q`, `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_container_create_submit(
    c: *mut ctrd_client,
    o: *const ctrd_container_opts,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let (client, new) = create_args(c, o)?;
        let req = client.create_request(&new)?;
        let (c2, id) = (client.clone(), new.id);
        let undo = queue::undo(move || async move { c2.delete_container(&id, true).await });
        queue::submit(q, tag, "ctrd_container_create_submit", undo, async move {
            let record = client.send_create(req).await?;
            Ok(Payload::Container(ctrd_container::new(client, record)?))
        })
    }
}

/// The client and the container of `ctrd_container_create`'s arguments.
fn create_args(
    c: *mut ctrd_client,
    o: *const ctrd_container_opts,
) -> Result<(Arc<core::Client>, NewContainer), Error> {
    let client = handle::ref_from_ptr(c, "client")?;
    let o = handle::read_sized(o, "opts")?.ok_or_else(|| Error::invalid("opts is NULL"))?;
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
            runtime_options_json: owned(ptr::opt_str_arg(
                o.runtime_options_json,
                "opts.runtime_options_json",
            )?),
        };
        new
    };
    Ok((client.inner.clone(), new))
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
        core::daemon::ident::validate("container id", &id)?;
        let client = client.inner.clone();
        let c2 = client.clone();
        let record = runtime::block_on(async move { c2.get_container(&id).await })?;
        out.write(new_handle(client, record)?);
        Ok(())
    }
}

/// As `ctrd_container_load`, through queue `q` (see `ctrd_queue`): the
/// completion with `tag` brings `.container` (the caller's); a cancel cuts
/// it at once. Errors (then no completion comes):
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `c` or `q`, bad id),
/// `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_container_load_submit(
    c: *mut ctrd_client,
    id: *const c_char,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?.inner.clone();
        // SAFETY: a C string or NULL (C contract).
        let id = unsafe { ptr::str_arg(id, "id") }?.to_string();
        core::daemon::ident::validate("container id", &id)?;
        queue::submit(q, tag, "ctrd_container_load_submit", OnCancel::Drop, async move {
            let record = client.get_container(&id).await?;
            Ok(Payload::Container(ctrd_container::new(client, record)?))
        })
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
        let ids = ptr::StringsOut::new(ids, len, "ids")?;
        let filters: Vec<String> = filter.map(str::to_string).into_iter().collect();
        let client = client.inner.clone();
        let records = runtime::block_on(async move { client.list_containers(filters).await })?;
        ids.write(records.into_iter().map(|r| r.id).collect())
    }
}

/// The container's id. Borrowed from the handle: valid until it is freed.
/// "" for NULL. Never blocks.
#[no_mangle]
pub extern "C" fn ctrd_container_id(k: *const ctrd_container) -> *const c_char {
    ffi_value!(c"".as_ptr(), { handle::borrowed_str(k, |k| k.id.as_ptr()) })
}

/// The container's OCI runtime spec as JSON, exactly as the daemon stores
/// it, from the handle's copy of the record: as it was when the handle was
/// made (create, load) or last refreshed or updated through it. Changes
/// made elsewhere show after `ctrd_container_refresh`.
///
/// On success `*json` receives a string owned by the caller (free it with
/// `ctrd_string_free`). Makes no call; thread-safe. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL), `CTRD_ERR_NOT_FOUND` (the record has
/// no spec).
#[no_mangle]
pub extern "C" fn ctrd_container_spec_json(
    k: *mut ctrd_container,
    json: *mut *mut c_char,
) -> ctrd_status {
    ffi_status! { record_json(k, json, core::container::spec_json) }
}

/// The whole container record as a JSON object, from the handle's copy (see
/// `ctrd_container_spec_json`; `ctrd_container_refresh` re-reads it):
/// `"id"`; `"labels"` (object); `"image"`; `"runtime"`: `{"name",
/// "options"}`, `"options"` present when set, as `{"typeUrl", "value"}`
/// (`value` the bytes in standard base64) plus, for
/// `containerd.runc.v1.Options`, `"decoded"`: every field by its Go name
/// (the form `runtime_options_json` of `ctrd_container_opts` takes);
/// `"snapshotter"`; `"snapshotKey"`; `"createdAt"` and `"updatedAt"`
/// (RFC 3339 in UTC, e.g. `"2024-05-01T10:00:00.123456789Z"`);
/// `"extensions"` (object of name to `{"typeUrl", "value"}`); and `"spec"`:
/// the OCI runtime spec as a JSON object (as `ctr containers info` shows it
/// under "Spec"; `{"typeUrl", "value"}` when the stored bytes are not
/// JSON). Unset fields (times, options) are left out. Object keys come
/// sorted.
///
/// On success `*json` receives a string owned by the caller (free it with
/// `ctrd_string_free`). Makes no call; thread-safe. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL).
#[no_mangle]
pub extern "C" fn ctrd_container_info_json(
    k: *mut ctrd_container,
    json: *mut *mut c_char,
) -> ctrd_status {
    ffi_status! { record_json(k, json, core::container::info_json) }
}

/// Writes to `json` what `show` makes of the handle's copy of the record.
fn record_json(
    k: *mut ctrd_container,
    json: *mut *mut c_char,
    show: fn(&Record) -> core::Result<String>,
) -> core::Result<()> {
    let k = handle::ref_from_ptr(k, "container")?;
    let json = ptr::Out::new(json, "json")?;
    json.write(ptr::c_string(show(&k.record())?)?);
    Ok(())
}

/// Re-reads the container's record from the daemon into the handle's copy,
/// so that `ctrd_container_info_json` and `ctrd_container_spec_json` show
/// changes made elsewhere (e.g. `ctr containers label`). On failure the copy
/// stays as it was.
///
/// Blocks for one round trip. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL),
/// `CTRD_ERR_NOT_FOUND` (the container was deleted), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_container_refresh(k: *mut ctrd_container) -> ctrd_status {
    ffi_status! {
        let k = handle::arc_from_ptr(k, "container")?;
        let (client, id) = (k.client.clone(), k.id().to_string());
        let record = runtime::block_on(async move { client.get_container(&id).await })?;
        k.set_record(record);
        Ok(())
    }
}

/// Sets and removes labels of the container, as containerd's Go
/// `SetLabels`: `labels` is a NULL-terminated array of `"key=value"` items
/// (at least one); `"key="` removes `key`. Labels not named stay as they
/// are: only `labels.<key>` of each key named is updated. The handle's copy
/// of the record becomes the daemon's reply.
///
/// Everything is checked before any call: each item must hold `=`, its key
/// must not be empty, and no key may come twice. `labels` is borrowed for
/// the call only. Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL, an empty array, a bad item, or a label
/// the daemon refuses, e.g. longer than 4096 bytes), `CTRD_ERR_NOT_FOUND`
/// (the container was deleted), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_container_set_labels(
    k: *mut ctrd_container,
    labels: *const *const c_char,
) -> ctrd_status {
    ffi_status! {
        let k = handle::arc_from_ptr(k, "container")?;
        // SAFETY: a NULL-terminated array of C strings, or NULL (C contract).
        let items: Vec<String> = unsafe { ptr::opt_str_array_arg(labels, "labels") }?
            .ok_or_else(|| Error::invalid("labels is NULL"))?
            .into_iter()
            .map(str::to_string)
            .collect();
        let client = k.client.clone();
        // Bad input fails here, before the runtime or the network.
        let req = client.set_labels_request(k.id(), &items)?;
        let record =
            runtime::block_on(async move { client.send_container_update(req).await })?;
        k.set_record(record);
        Ok(())
    }
}

/// Replaces the container's OCI runtime spec with `spec_json`, as
/// containerd's Go `Update` with a new spec: only the spec changes (a task
/// already running keeps the spec it started with; the next task gets this
/// one). The handle's copy of the record becomes the daemon's reply.
///
/// `spec_json` is checked before any call, as `ctrd_container_create`
/// checks it (it must parse as an OCI runtime spec, and the request must fit
/// in containerd's 16 MiB message limit), then stored exactly as given.
/// Blocks for one round trip. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL,
/// invalid UTF-8, not a spec, too large), `CTRD_ERR_NOT_FOUND` (the
/// container was deleted), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_container_update_spec(
    k: *mut ctrd_container,
    spec_json: *const c_char,
) -> ctrd_status {
    ffi_status! {
        let k = handle::arc_from_ptr(k, "container")?;
        // SAFETY: a C string or NULL (C contract).
        let spec = unsafe { ptr::str_arg(spec_json, "spec_json") }?;
        let client = k.client.clone();
        // Bad input fails here, before the runtime or the network.
        let req = client.update_spec_request(k.id(), spec)?;
        let record =
            runtime::block_on(async move { client.send_container_update(req).await })?;
        k.set_record(record);
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
        runtime::block_on(delete_work(k, flags)?)
    }
}

/// The delete of `ctrd_container_delete`'s arguments, checked.
fn delete_work(
    k: *mut ctrd_container,
    flags: u32,
) -> Result<impl std::future::Future<Output = core::Result<()>> + Send + 'static, Error> {
    let k = handle::ref_from_ptr(k, "container")?;
    if flags & !CTRD_DELETE_KEEP_SNAPSHOT != 0 {
        return Err(Error::invalid(format!("unknown flags {flags:#x}")));
    }
    let keep = flags & CTRD_DELETE_KEEP_SNAPSHOT != 0;
    let (client, id) = (k.client.clone(), k.id().to_string());
    Ok(async move { client.delete_container(&id, keep).await })
}

/// As `ctrd_container_delete`, through queue `q` (see `ctrd_queue`); the
/// completion with `tag` has no result but its status. Not cut by a cancel
/// once sent. Errors (then no completion comes):
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `k` or `q`, unknown flags),
/// `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_container_delete_submit(
    k: *mut ctrd_container,
    flags: u32,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let work = delete_work(k, flags)?.map(|done| done.map(|()| Payload::Done));
        queue::submit(q, tag, "ctrd_container_delete_submit", OnCancel::Finish, work)
    }
}

/// `ctrd_container_commit` flag: leave a running task running during the
/// diff instead of pausing it (changes made meanwhile may be half in the
/// layer).
pub const CTRD_COMMIT_NO_PAUSE: u32 = 1u32;

/// Makes a new image `image_name` of the container's changes, as `nerdctl
/// commit` does: the changes of the container's rootfs snapshot over its
/// image's layers become one more layer (gzip, written by the daemon's diff
/// service), the image's config gains its diff id in `rootfs.diff_ids` and
/// an entry in `history` (`created_by` "containerd-c commit"), and a new
/// manifest (for this machine's platform, of the same family as the base
/// image's, OCI or Docker) names the image's layers plus the new one. The
/// new image is unpacked onto the container's snapshotter, so that
/// `ctrd_snapshot_prepare_from_image` (or `ctr run`) can use it at once.
/// The name is taken as it is, as `ctrd_image_tag` takes it.
///
/// A running task is paused for the diff and resumed after it, whatever
/// happened (a task already paused stays paused; one created, stopped or
/// absent is not touched); with `CTRD_COMMIT_NO_PAUSE` in `flags` it is not
/// paused. Everything the commit makes is under a lease until the image
/// record exists; on failure the lease goes with a synchronous garbage
/// collection: no record, blob or snapshot of it is left.
///
/// On success `*out` receives the new image owned by the caller (free it
/// with `ctrd_image_free`); on failure `*out` is not written. `image_name`
/// is read during the call only. Blocks for a dozen round trips, each
/// bounded by the client's timeout; the diff and the layer's extraction by
/// that plus a second for each 10 MB. Thread-safe. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `k`, `image_name` or `out`, invalid
/// UTF-8, an empty name, unknown bits in `flags`), `CTRD_ERR_NOT_FOUND` (the
/// container is gone), `CTRD_ERR_ALREADY_EXISTS` (an image `image_name`
/// exists: the message names it), `CTRD_ERR_FAILED_PRECONDITION` (the
/// container has no image or no snapshot, its image or snapshot is gone, or
/// its snapshot is not on its image's layers: the message says which),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, and the daemon's
/// errors (e.g. a task that cannot be paused).
#[no_mangle]
pub extern "C" fn ctrd_container_commit(
    k: *mut ctrd_container,
    image_name: *const c_char,
    flags: u32,
    out: *mut *mut crate::ffi::image::ctrd_image,
) -> ctrd_status {
    ffi_status! {
        let k = handle::arc_from_ptr(k, "container")?;
        // SAFETY: a C string or NULL (C contract).
        let image_name = unsafe { ptr::str_arg(image_name, "image_name") }?.to_string();
        let out = ptr::Out::new(out, "out")?;
        let unknown = flags & !CTRD_COMMIT_NO_PAUSE;
        if unknown != 0 {
            return Err(Error::invalid(format!("unknown flags {unknown:#x}")));
        }
        core::image::records::validate_name("image_name", &image_name)?;
        let pause = flags & CTRD_COMMIT_NO_PAUSE == 0;
        let (client, id) = (k.client.clone(), k.id().to_string());
        let c2 = client.clone();
        let record = runtime::block_on_shared(async move {
            c2.commit_container(&id, &image_name, pause).await
        })?;
        out.write(crate::ffi::image::new_image_handle(client, record)?);
        Ok(())
    }
}

/// Frees a container handle (the container itself stays; see
/// `ctrd_container_delete`). NULL is a no-op. In a child after fork() it only
/// forgets the handle. Must not race with another call on the same handle.
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
        // SAFETY: C strings or NULL (C contract).
        let (client, image, snapshotter, key) = unsafe { prepare_args(c, image, snapshotter, key) }?;
        runtime::block_on(async move {
            client
                .prepare_snapshot_from_image(&image, &snapshotter, &key)
                .await
        })
    }
}

/// The client, image, snapshotter and key of
/// `ctrd_snapshot_prepare_from_image`'s arguments, checked.
///
/// # Safety
/// The strings are C strings or NULL (C contract).
unsafe fn prepare_args(
    c: *mut ctrd_client,
    image: *const c_char,
    snapshotter: *const c_char,
    key: *const c_char,
) -> Result<(Arc<core::Client>, String, String, String), Error> {
    let client = handle::ref_from_ptr(c, "client")?;
    // SAFETY: forwarded contract.
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
    Ok((client.inner.clone(), image, snapshotter, key))
}

/// As `ctrd_snapshot_prepare_from_image`, through queue `q` (see
/// `ctrd_queue`); the completion with `tag` has no result but its status.
/// Cancelled, the snapshot (and its lease) is removed again once the daemon
/// made it (see `ctrd_queue_cancel`). Errors (then no completion comes):
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `c`, `image`, `key` or `q`, empty
/// strings), `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`),
/// `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_snapshot_prepare_from_image_submit(
    c: *mut ctrd_client,
    image: *const c_char,
    snapshotter: *const c_char,
    key: *const c_char,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        // SAFETY: C strings or NULL (C contract).
        let (client, image, snapshotter, key) = unsafe { prepare_args(c, image, snapshotter, key) }?;
        let (c2, s2, k2) = (client.clone(), snapshotter.clone(), key.clone());
        let undo = queue::undo(move || async move { c2.remove_snapshot(&s2, &k2).await });
        queue::submit(q, tag, "ctrd_snapshot_prepare_from_image_submit", undo, async move {
            client
                .prepare_snapshot_from_image(&image, &snapshotter, &key)
                .await
                .map(|()| Payload::Done)
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
pub(crate) unsafe fn snapshotter_arg(p: *const c_char) -> Result<String, Error> {
    // SAFETY: forwarded contract.
    match unsafe { ptr::opt_str_arg(p, "snapshotter") }? {
        None => Ok(core::image::snapshot::DEFAULT_SNAPSHOTTER.to_string()),
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
/// process args when not NULL. The defaults are those of the daemon's
/// version, as its own `ctr` makes them: containerd 1.6 before 1.6.26 writes
/// `ociVersion` "1.0.2-dev"; later versions mask
/// `/sys/devices/virtual/powercap` too, and 1.7 and 2.0 write "1.2.0", 2.1
/// and later "1.2.1" (Debian's builds).
///
/// On success `*json` receives a string owned by the caller (free it with
/// `ctrd_string_free`). The first call of a client asks the daemon's version
/// (one round trip; `ctrd_client_server_version` also tells the client);
/// after that, without an image, it makes no call and does not start the
/// library's runtime (so it works in a child after fork() too); with an
/// image it blocks for a few round trips. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (also an empty `argv`),
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
        // Without an image, and once the daemon's version is known, there is
        // nothing to ask the daemon: the spec is made right here without the
        // runtime (this also works in a forked child).
        let at_once = match (&image, client.remembered_version()) {
            (None, Some(_)) => runtime::ready_now(client.generate_spec(&id, None, argv.clone())),
            _ => None,
        };
        let spec = match at_once {
            Some(spec) => spec?,
            None => runtime::block_on(async move {
                client.generate_spec(&id, image.as_deref(), argv).await
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
        out.write(ptr::c_string(core::container::spec::merge_patch(spec, patch)?)?);
        Ok(())
    }
}
