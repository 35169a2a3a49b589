//! Image archives: `ctrd_image_import` and `ctrd_image_export`, which read
//! and write the archives of `ctr images import/export` (OCI image layouts,
//! and `docker save` tars for import) by the library itself.

use std::ffi::c_char;
use std::path::PathBuf;
use std::sync::Arc;

use crate::core::error::{Error, Result};
use crate::core::ident::shown;
use crate::core::progress::Progress;
use crate::ffi::boundary::ffi_status;
use crate::ffi::client::ctrd_client;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle;
use crate::ffi::progress;
use crate::ffi::ptr;
use crate::ffi::pull::{ctrd_pull_opts, pull_options};
use crate::runtime;

/// An archive path argument: non-empty and absolute.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string valid for the call.
unsafe fn path_arg(p: *const c_char, what: &str) -> Result<PathBuf> {
    // SAFETY: forwarded contract.
    let s = unsafe { ptr::str_arg(p, what) }?;
    if s.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    if !s.starts_with('/') {
        return Err(Error::invalid(format!(
            "{what} {} is not an absolute path",
            shown(s)
        )));
    }
    Ok(PathBuf::from(s))
}

/// Imports the images of the archive at `tar_path` into the client's
/// namespace, as `ctr images import` does: an OCI image layout tar
/// (`oci-layout`, `index.json`, `blobs/sha256/...`; what `ctr images
/// export` and `ctrd_image_export` write) or a `docker save` tar
/// (`manifest.json`). The library reads the file itself (the daemon need
/// not see it); `tar_path` must be absolute.
///
/// Images are named as ctr names them: in an OCI layout by each
/// `index.json` entry's `io.containerd.image.name` annotation, else its
/// `org.opencontainers.image.ref.name` (a full reference as it is; a bare
/// tag `T` as `import-YYYY-MM-DD:T`, today's UTC date, as ctr without
/// `--base-name`); in a docker archive by its `RepoTags`, normalised
/// (`busybox:latest` → `docker.io/library/busybox:latest`), with a Docker
/// schema2 manifest made as containerd makes it. Entries without a name
/// are skipped; an image of the same name is replaced.
///
/// `opts` (NULL = defaults) gives the platform imported from an index
/// (`platform`; NULL = this machine's: other platforms' content is not
/// read), the snapshotter to unpack into (NULL = "overlayfs"), `no_unpack`,
/// and a progress callback (phases "fetching" while blobs are read into the
/// content store, "unpacking", "done"; `ref` is `tar_path`). The registry
/// fields are ignored. Each blob's digest and size are checked as it is
/// written; content goes in under a lease deleted before the call returns,
/// and image records are made only once all their content is in (and
/// unpacked), so a failure leaves no image.
///
/// On success `*names` receives an array of the `*len` image names made
/// or updated, owned by the caller (free it with
/// `ctrd_string_array_free(*names, *len)`); on failure neither is written.
/// Blocks until the import is done (reading the whole archive; not bounded
/// by the client's timeout as a whole, each call to the daemon is), or
/// until `opts->timeout_ms` passed (`CTRD_ERR_DEADLINE_EXCEEDED`) or
/// `opts->cancel` was triggered (`CTRD_ERR_CANCELLED`, within a second):
/// then nothing is imported.
/// Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid UTF-8, a relative or
/// empty path, a bad `opts.platform`; an archive that is not a tar, is
/// truncated, is neither layout, names no image, lacks a blob, or holds a
/// blob that does not match its digest, the message naming the archive and
/// the blob), `CTRD_ERR_NOT_FOUND` (no file at `tar_path`, or an index
/// without a manifest for the platform), `CTRD_ERR_PERMISSION_DENIED`,
/// `CTRD_ERR_IO`, `CTRD_ERR_NOT_IMPLEMENTED` (a digest algorithm other than
/// sha256), `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_image_import(
    c: *mut ctrd_client,
    tar_path: *const c_char,
    opts: *const ctrd_pull_opts,
    names: *mut *mut *mut c_char,
    len: *mut usize,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: a C string or NULL (C contract).
        let path = unsafe { path_arg(tar_path, "tar_path") }?;
        // SAFETY: NULL or a valid ctrd_pull_opts for the call (C contract).
        let (options, callback) = unsafe { pull_options(opts) }?;
        let (names, len) = (ptr::Out::new(names, "names")?, ptr::Out::new(len, "len")?);
        let client = client.inner.clone();
        let counters = Arc::new(Progress::new());
        let shared = counters.clone();
        let reference = path.to_string_lossy().into_owned();
        let imported = progress::report(callback, &reference, counters, async move {
            client.import_archive(&path, &options, &shared).await
        })?;
        let (array, n) = ptr::c_string_array(imported)?;
        names.write(array);
        len.write(n);
        Ok(())
    }
}

/// Exports the images `names` (a NULL-terminated array of image names, at
/// least one) of the client's namespace into an OCI image layout tar at
/// `tar_path`, as `ctr images export` writes it and `ctr images import` and
/// `ctrd_image_import` read it: `oci-layout`, an `index.json` with one entry
/// per image (its target, annotated with `io.containerd.image.name` = the
/// name and `org.opencontainers.image.ref.name` = its tag), a docker
/// `manifest.json` (`Config`, `RepoTags`, `Layers` of each image's manifest
/// for this machine's platform, as ctr writes it, so `docker load` reads
/// the archive too), and each blob
/// once under `blobs/sha256/`: the image's index or manifest and every blob
/// below it that the content store has (an index's manifests for other
/// platforms are included when present and left out when not; this
/// machine's platform's manifest, config and layers must all be there).
///
/// The library writes the file itself: `tar_path` must be absolute, in an
/// existing directory. The archive is written to a temporary file in that
/// directory and renamed to `tar_path` (replacing a file there) only when
/// complete; a failure leaves no file behind. Blocks until the archive is
/// written (not bounded by the client's timeout as a whole; each call to
/// the daemon is). Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid
/// UTF-8, no names, an empty name, a relative or empty path, a directory),
/// `CTRD_ERR_NOT_FOUND` (an unknown image, named in the message, or a
/// missing blob of this platform; a missing directory),
/// `CTRD_ERR_PERMISSION_DENIED`, `CTRD_ERR_IO`, `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_image_export(
    c: *mut ctrd_client,
    names: *const *const c_char,
    tar_path: *const c_char,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: NULL or a NULL-terminated array of C strings (C contract).
        let list = unsafe { ptr::opt_str_array_arg(names, "names") }?
            .ok_or_else(|| Error::invalid("names is NULL"))?;
        if list.is_empty() {
            return Err(Error::invalid("names is empty (no image to export)"));
        }
        for (i, n) in list.iter().enumerate() {
            if n.is_empty() {
                return Err(Error::invalid(format!("names[{i}] is empty")));
            }
        }
        // SAFETY: a C string or NULL (C contract).
        let path = unsafe { path_arg(tar_path, "tar_path") }?;
        let list: Vec<String> = list.into_iter().map(str::to_string).collect();
        let client = client.inner.clone();
        runtime::block_on_shared(async move { client.export_archive(&list, &path).await })
    }
}
