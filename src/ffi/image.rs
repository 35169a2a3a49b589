//! `ctrd_image`: containerd's Go `Image` for images already in containerd
//! (get, list, name, target digest, size, config, unpacked or not, unpack,
//! tag, delete).

use std::ffi::{c_char, CString};
use std::sync::Arc;

use crate::core::image::records::{self, ImageRecord};
use crate::core::{self, Error};
use crate::ffi::boundary::{ffi_status, ffi_value};
use crate::ffi::client::ctrd_client;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipArc};
use crate::ffi::ptr;
use crate::runtime;

/// An image record in one namespace. Opaque; made by `ctrd_image_get`, freed
/// by `ctrd_image_free`. Keeps its client's connection alive and a copy of
/// the record as the daemon returned it when the handle was made: its name
/// and target (the index or manifest the image points at). Thread-safe.
pub struct ctrd_image {
    pub(crate) client: Arc<core::Client>,
    name: CString,
    digest: CString,
    pub(crate) record: ImageRecord,
}

impl Castable for ctrd_image {
    type Ownership = OwnershipArc;
}

/// `ctrd_image_delete` flag: return only after the daemon's garbage
/// collector ran, so that content and snapshots nothing else refers to are
/// gone by then.
pub const CTRD_IMAGE_DELETE_SYNC: u32 = 1u32;

/// `ctrd_image_tag` flag: an image already named `new_name` is pointed at
/// the source's target (and given its labels) instead of being an error.
pub const CTRD_IMAGE_TAG_FORCE: u32 = 1u32;

/// A new handle for `record`, owned by the C caller.
pub(crate) fn new_image_handle(
    client: Arc<core::Client>,
    record: ImageRecord,
) -> Result<*mut ctrd_image, Error> {
    Ok(handle::to_arc_ptr(ctrd_image::new(client, record)?))
}

impl ctrd_image {
    /// The image of `record`.
    pub(crate) fn new(client: Arc<core::Client>, record: ImageRecord) -> Result<ctrd_image, Error> {
        let name = CString::new(record.name.clone()).map_err(|e| Error::internal(e.to_string()))?;
        let digest = CString::new(record.target.digest.clone())
            .map_err(|e| Error::internal(e.to_string()))?;
        Ok(ctrd_image {
            client,
            name,
            digest,
            record,
        })
    }
}

/// Gets the image `name` (e.g. "docker.io/library/busybox:latest", as
/// `ctr images ls` lists it) from the client's namespace.
///
/// On success `*out` receives a new image owned by the caller (free it with
/// `ctrd_image_free`). Blocks for one round trip, bounded by the client's
/// timeout. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid UTF-8, empty
/// name), `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_image_get(
    c: *mut ctrd_client,
    name: *const c_char,
    out: *mut *mut ctrd_image,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: a C string or NULL (C contract).
        let name = unsafe { ptr::str_arg(name, "name") }?.to_string();
        let out = ptr::Out::new(out, "out")?;
        records::validate_name("name", &name)?;
        let client = client.inner.clone();
        let c2 = client.clone();
        let record = runtime::block_on(async move { c2.get_image(&name).await })?;
        out.write(new_image_handle(client, record)?);
        Ok(())
    }
}

/// Lists the names of the images in the client's namespace that match
/// `filter`, containerd's filter syntax (e.g.
/// `name==docker.io/library/busybox:latest`, `labels."k"==v`,
/// `target.mediatype~=index`); NULL lists all.
///
/// On success `*names` receives an array of `*len` strings owned by the
/// caller (free it with `ctrd_string_array_free(*names, *len)`); an empty
/// list may be NULL with `*len` 0. Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL out-params, invalid UTF-8, or a filter
/// the daemon cannot parse), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_image_list(
    c: *mut ctrd_client,
    filter: *const c_char,
    names: *mut *mut *mut c_char,
    len: *mut usize,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: a C string or NULL (C contract).
        let filter = unsafe { ptr::opt_str_arg(filter, "filter") }?;
        let names = ptr::StringsOut::new(names, len, "names")?;
        let filters: Vec<String> = filter.map(str::to_string).into_iter().collect();
        let client = client.inner.clone();
        let records = runtime::block_on(async move { client.list_images(filters).await })?;
        names.write(records.into_iter().map(|r| r.name).collect())
    }
}

/// The image's name. Borrowed from the handle: valid until it is freed. ""
/// for NULL. Never blocks; thread-safe.
#[no_mangle]
pub extern "C" fn ctrd_image_name(i: *const ctrd_image) -> *const c_char {
    ffi_value!(c"".as_ptr(), {
        handle::borrowed_str(i, |i| i.name.as_ptr())
    })
}

/// The digest of the image's target (its index or manifest), e.g.
/// "sha256:3f57...", as `ctr images ls` shows it under DIGEST, from the
/// record as it was when the handle was made. Borrowed from the handle:
/// valid until it is freed. "" for NULL. Never blocks; thread-safe.
#[no_mangle]
pub extern "C" fn ctrd_image_digest(i: *const ctrd_image) -> *const c_char {
    ffi_value!(c"".as_ptr(), {
        handle::borrowed_str(i, |i| i.digest.as_ptr())
    })
}

/// The size in bytes of the image's content for this machine's platform, as
/// containerd's Go `Image.Size` counts it (and `ctr images ls` shows it
/// under SIZE): the index (when the target is one), the manifest chosen
/// (linux on this machine's architecture), its config and its layers, as
/// their descriptors give them (compressed layers; not the unpacked size).
///
/// On success `*bytes` receives the size. Blocks for a round trip per index
/// and manifest read. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL),
/// `CTRD_ERR_NOT_FOUND` (a blob is missing from the content store, or the
/// index has no manifest for this platform), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_image_size(i: *mut ctrd_image, bytes: *mut u64) -> ctrd_status {
    ffi_status! {
        let i = handle::arc_from_ptr(i, "image")?;
        let bytes = ptr::Out::new(bytes, "bytes")?;
        let size = runtime::block_on(async move { i.client.image_size(&i.record).await })?;
        bytes.write(size);
        Ok(())
    }
}

/// The OCI image config of the image for this machine's platform (entrypoint,
/// env, working dir, user, layers' diff ids, history), as JSON exactly as
/// stored in the content store.
///
/// On success `*json` receives a string owned by the caller (free it with
/// `ctrd_string_free`). Blocks for a few round trips. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL), `CTRD_ERR_NOT_FOUND` (a blob is
/// missing, or no manifest for this platform), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_image_config_json(
    i: *mut ctrd_image,
    json: *mut *mut c_char,
) -> ctrd_status {
    ffi_status! {
        let i = handle::arc_from_ptr(i, "image")?;
        let json = ptr::Out::new(json, "json")?;
        let config = runtime::block_on(async move { i.client.image_config_json(&i.record).await })?;
        json.write(ptr::c_string(config)?);
        Ok(())
    }
}

/// Whether the image's layers for this machine's platform are unpacked on
/// `snapshotter` (NULL = "overlayfs"), as containerd's Go `IsUnpacked`
/// tells (and `ctr images check` under UNPACKED): the snapshot named by the
/// chain id of the layers exists in the client's namespace.
///
/// On success `*unpacked` receives the answer. Blocks for a few round
/// trips. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid UTF-8, an
/// empty snapshotter, or one the daemon does not have), `CTRD_ERR_NOT_FOUND`
/// (a blob is missing, or no manifest for this platform),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_image_is_unpacked(
    i: *mut ctrd_image,
    snapshotter: *const c_char,
    unpacked: *mut bool,
) -> ctrd_status {
    ffi_status! {
        let i = handle::arc_from_ptr(i, "image")?;
        // SAFETY: a C string or NULL (C contract).
        let snapshotter = unsafe { crate::ffi::container::snapshotter_arg(snapshotter) }?;
        let unpacked = ptr::Out::new(unpacked, "unpacked")?;
        let answer = runtime::block_on(async move {
            i.client.image_is_unpacked(&i.record, &snapshotter).await
        })?;
        unpacked.write(answer);
        Ok(())
    }
}

/// Unpacks the image's layers for this machine's platform onto
/// `snapshotter` (NULL = "overlayfs") in the client's namespace, as
/// containerd's Go `Image.Unpack` (and `ctr images unpack`) does, through
/// the daemon's diff and snapshot services: each layer not unpacked yet is
/// extracted by the daemon (gzip, zstd and uncompressed tar layers, as the
/// daemon's differ supports them) into a snapshot committed under the
/// layers' chain id, after checking that its content matches the diff id
/// the image config gives. Then the layer blobs carry the label
/// `containerd.io/uncompressed` (their diff id) and the config blob
/// `containerd.io/gc.ref.snapshot.<snapshotter>` (the top chain id), which
/// keeps the snapshots for as long as the image exists. Afterwards
/// `ctrd_image_is_unpacked` says true. Layers already unpacked are skipped,
/// so unpacking again does no extraction; concurrent unpacks of the same
/// layers (from this or another client) are safe.
///
/// Works under a temporary lease of its own, deleted before the call
/// returns. On failure nothing is left behind: the snapshot being prepared
/// is removed, and the lease is deleted with a synchronous garbage
/// collection, which removes the layers committed by this call that
/// nothing else keeps. The handle is only borrowed.
///
/// Blocks until all layers are extracted: a few round trips per layer,
/// each bounded by the client's timeout (one layer's extraction is one
/// call: raise the timeout with `ctrd_client_set_timeout_ms` for very large
/// layers). Thread-safe. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL image,
/// invalid UTF-8, an empty snapshotter, or one the daemon does not have:
/// the daemon's words), `CTRD_ERR_NOT_FOUND` (a blob is missing, or no
/// manifest for this platform), `CTRD_ERR_FAILED_PRECONDITION` (a layer's
/// content does not match its diff id in the config: the message names the
/// layer and both digests), `CTRD_ERR_UNKNOWN` (the manifest and config
/// disagree on the number of layers, or the daemon could not extract a
/// layer, e.g. a media type it does not support: the daemon's words),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_image_unpack(i: *mut ctrd_image, snapshotter: *const c_char) -> ctrd_status {
    ffi_status! {
        let i = handle::arc_from_ptr(i, "image")?;
        // SAFETY: a C string or NULL (C contract).
        let snapshotter = unsafe { crate::ffi::container::snapshotter_arg(snapshotter) }?;
        runtime::block_on_shared(async move { i.client.unpack_image(&i.record, &snapshotter).await })
    }
}

/// Gives image `name` a second name `new_name` in the client's namespace,
/// as `ctr images tag` does: a new image record with the same target (the
/// same index or manifest digest, so the same content and snapshots) and
/// the same labels. Names are taken as they are, as `ctrd_image_get` and
/// ctr take them (no Docker-style normalising: "busybox" is not
/// "docker.io/library/busybox:latest"). The two records are independent
/// afterwards: deleting one leaves the other and its content.
///
/// If an image named `new_name` exists, the call fails with
/// `CTRD_ERR_ALREADY_EXISTS`, unless `flags` has `CTRD_IMAGE_TAG_FORCE`:
/// then that record is pointed at the source's target and given its labels
/// in one update (it is never missing meanwhile; the content only it
/// referred to is left to the garbage collector). Tagging an image with its
/// own name is `CTRD_ERR_ALREADY_EXISTS`, and with `CTRD_IMAGE_TAG_FORCE`
/// changes nothing. On failure no record is made or changed.
///
/// No ownership passes: the strings are only read during the call; no
/// handle is made (get one with `ctrd_image_get(new_name)`). Handles of
/// `new_name` made before keep the record as it was. Blocks for two round
/// trips (three with `CTRD_IMAGE_TAG_FORCE` when `new_name` is new), each
/// bounded by the client's timeout. Thread-safe. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL client or name, invalid UTF-8, an
/// empty name, unknown bits in `flags`: the message gives them),
/// `CTRD_ERR_NOT_FOUND` (no image `name`: the daemon's words),
/// `CTRD_ERR_ALREADY_EXISTS` (an image `new_name` exists: the message names
/// it), `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_image_tag(
    c: *mut ctrd_client,
    name: *const c_char,
    new_name: *const c_char,
    flags: u32,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: C strings or NULL (C contract).
        let name = unsafe { ptr::str_arg(name, "name") }?.to_string();
        // SAFETY: as above.
        let new_name = unsafe { ptr::str_arg(new_name, "new_name") }?.to_string();
        let unknown = flags & !CTRD_IMAGE_TAG_FORCE;
        if unknown != 0 {
            return Err(Error::invalid(format!("unknown flags {unknown:#x}")));
        }
        records::validate_name("name", &name)?;
        records::validate_name("new_name", &new_name)?;
        let force = flags & CTRD_IMAGE_TAG_FORCE != 0;
        let client = client.inner.clone();
        runtime::block_on(async move { client.tag_image(&name, &new_name, force).await })
    }
}

/// Deletes the image record `name` from the client's namespace, as
/// containerd's Go `ImageService().Delete`. The content and snapshots only
/// it referred to are left to the daemon's garbage collector; with
/// `CTRD_IMAGE_DELETE_SYNC` in `flags` the call returns only after the
/// collector ran. Handles of the image stay valid to free (and to read
/// their name and digest); calls needing its content may then fail.
///
/// Blocks for one round trip (with `CTRD_IMAGE_DELETE_SYNC`, as long as the
/// collection takes). Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid
/// UTF-8, empty name, unknown flags), `CTRD_ERR_NOT_FOUND`,
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_image_delete(
    c: *mut ctrd_client,
    name: *const c_char,
    flags: u32,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: a C string or NULL (C contract).
        let name = unsafe { ptr::str_arg(name, "name") }?.to_string();
        if flags & !CTRD_IMAGE_DELETE_SYNC != 0 {
            return Err(Error::invalid(format!("unknown flags {flags:#x}")));
        }
        records::validate_name("name", &name)?;
        let sync = flags & CTRD_IMAGE_DELETE_SYNC != 0;
        let client = client.inner.clone();
        runtime::block_on(async move { client.delete_image(&name, sync).await })
    }
}

/// Frees an image handle (the image itself stays; see `ctrd_image_delete`).
/// NULL is a no-op. In a child after fork() it only forgets the handle. Must
/// not race with another call on the same handle.
#[no_mangle]
pub extern "C" fn ctrd_image_free(i: *mut ctrd_image) {
    ffi_value!((), { handle::free_arc(i) })
}
