//! Image archives: `ctrd_image_import` and `ctrd_image_export`, which read
//! and write the archives of `ctr images import/export` (OCI image layouts,
//! and `docker save` tars for import) by the library itself.

use std::ffi::{c_char, c_int};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use crate::core;
use crate::core::daemon::ident::shown;
use crate::core::error::{Error, Result};
use crate::core::image::progress::Progress;
use crate::core::image::pull::PullOptions;
use crate::core::queue::OnCancel;
use crate::ffi::boundary::ffi_status;
use crate::ffi::client::ctrd_client;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle;
use crate::ffi::progress;
use crate::ffi::ptr;
use crate::ffi::pull::{check_platform, ctrd_pull_opts, pull_options, queued_signal};
use crate::ffi::queue::{self, ctrd_queue, Payload};
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

/// A caller's descriptor argument for an archive: open; this call works on
/// its own duplicate (the caller's is neither closed nor changed).
fn archive_fd(fd: c_int) -> Result<OwnedFd> {
    if fd < 0 {
        return Err(Error::invalid(format!("fd {fd} is not a file descriptor")));
    }
    crate::ffi::io::fd_arg(fd, "fd")?
        .ok_or_else(|| Error::invalid(format!("fd {fd} is not a file descriptor")))
}

/// The names argument of an export: a NULL-terminated array of at least
/// one non-empty name.
///
/// # Safety
/// `names` is NULL or a NULL-terminated array of C strings valid for the
/// call.
unsafe fn export_names(names: *const *const c_char) -> Result<Vec<String>> {
    // SAFETY: forwarded contract.
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
    Ok(list.into_iter().map(str::to_string).collect())
}

/// Imports the images of the archive at `tar_path` into the client's
/// namespace, as `ctr images import` does: an OCI image layout tar
/// (`oci-layout`, `index.json`, `blobs/sha256/...`; what `ctr images
/// export` and `ctrd_image_export` write) or a `docker save` tar
/// (`manifest.json`). The library reads the file itself (the daemon need
/// not see it); `tar_path` must be absolute. A FIFO or character device
/// there is read to its end first (into an unnamed temporary file in
/// `$TMPDIR`, else /tmp: the archive is read at offsets), as
/// `ctrd_image_import_fd` reads a pipe; it is opened without waiting, and
/// its writer is waited for at most the client's timeout (60 s without
/// one): then `CTRD_ERR_DEADLINE_EXCEEDED`. Once bytes came, 60 s without
/// any is `CTRD_ERR_UNAVAILABLE` (stalled). Each tar header is checked
/// (its checksum) as it comes: a stream that is not a tar fails at its
/// first bad header (`CTRD_ERR_INVALID_ARGUMENT`, naming the offset), not
/// after it was all read. Once the tar's end-of-archive block came, a
/// second without more ends the read (the archive is complete, though its
/// writer keeps its end open).
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
/// then nothing is imported. Both cover the whole call, reading a FIFO or
/// pipe to its end too.
/// Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid UTF-8, a relative or
/// empty path, a bad `opts.platform`; an archive that is not a tar, is
/// truncated, is neither layout, names no image, lacks a blob, or holds a
/// blob that does not match its digest, the message naming the archive and
/// the blob; a directory), `CTRD_ERR_NOT_FOUND` (no file at `tar_path`, or an index
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
        let opts = unsafe { pull_options(opts) }?;
        let reference = path.to_string_lossy().into_owned();
        import_with(client, opts, &reference, names, len, |client, options, shared| async move {
            client.import_archive(&path, &options, &shared).await
        })
    }
}

/// As `ctrd_image_import`, through queue `q` (see `ctrd_queue`): checks
/// `tar_path` and `opts` now and returns; the completion with `tag` brings
/// `.names` and `.names_len` (the caller's) or the failure. `opts` is read
/// during this call only; its progress callback, cancel signal and timeout
/// work as for the blocking import, and `ctrd_queue_cancel` stops it as
/// its signal does (nothing is imported). Errors (then no completion
/// comes): `CTRD_ERR_INVALID_ARGUMENT` (NULL `c`, `tar_path` or `q`, a
/// relative or empty path, a malformed platform, bad options),
/// `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_image_import_submit(
    c: *mut ctrd_client,
    tar_path: *const c_char,
    opts: *const ctrd_pull_opts,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?.inner.clone();
        // SAFETY: a C string or NULL (C contract).
        let path = unsafe { path_arg(tar_path, "tar_path") }?;
        // SAFETY: NULL or a valid ctrd_pull_opts for the call (C contract).
        let (mut options, callback) = unsafe { pull_options(opts) }?;
        let reference = path.to_string_lossy().into_owned();
        check_platform(&options, &format!("import {reference:?}"))?;
        let signal = queued_signal(&mut options);
        let counters = Arc::new(Progress::new());
        let on_cancel = OnCancel::Signal(signal);
        queue::submit(q, tag, "ctrd_image_import_submit", on_cancel, async move {
            let work = client.import_archive(&path, &options, &counters);
            let names = progress::report_async(callback, reference, counters.clone(), work).await?;
            Ok(Payload::Names(names))
        })
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
/// The library writes the file itself: `tar_path` must be absolute. What
/// is at `tar_path` decides how:
/// - nothing, or a regular file: the archive is written to a temporary
///   file in that directory (which must exist) and renamed to `tar_path`
///   (replacing the file there) only when complete; a failure leaves no
///   file behind. A replaced file's mode is kept (and its owner, where the
///   caller may give it); a new file is 0666 less the umask. A symlink to
///   a regular file is itself replaced so: `tar_path` becomes a regular
///   file holding the archive, and the file the symlink named is neither
///   written nor replaced (a symlink planted at `tar_path` cannot redirect
///   the archive over another file).
/// - a FIFO or a character device (or a symlink to one): opened and
///   written as the archive is made, as `ctr images export` does; never
///   replaced. It is opened once, non-blocking and never as a controlling
///   terminal, and written only if the open file is the one found there. A FIFO's reader is waited for at most the client's timeout
///   (60 s without one): then `CTRD_ERR_DEADLINE_EXCEEDED`; a reader that
///   takes nothing for 60 s cuts the export (`CTRD_ERR_UNAVAILABLE`). A
///   device that fails a write (`/dev/full`) is `CTRD_ERR_IO` with the
///   system's words. What a failure leaves in a FIFO is a truncated tar.
/// - anything else (a directory, a socket, a block device, a symlink to
///   nothing): `CTRD_ERR_INVALID_ARGUMENT`; nothing is replaced.
///
/// SIGPIPE: written on a library thread that blocks it (a reader gone is
/// `CTRD_ERR_IO`, "Broken pipe"). Blocks until the archive is
/// written (not bounded by the client's timeout as a whole; each call to
/// the daemon is). Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, invalid
/// UTF-8, no names, an empty name, a relative or empty path, a directory,
/// see above), `CTRD_ERR_NOT_FOUND` (an unknown image, named in the
/// message, or a missing blob of this platform; a missing directory),
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
        let list = unsafe { export_names(names) }?;
        // SAFETY: a C string or NULL (C contract).
        let path = unsafe { path_arg(tar_path, "tar_path") }?;
        let client = client.inner.clone();
        runtime::block_on_shared(async move { client.export_archive(&list, &path).await })
    }
}

/// Imports the images of the archive read from descriptor `fd`, as
/// `ctrd_image_import` imports a file: `docker save | prog`. `fd` stays the
/// caller's: it is read to its end and neither closed nor changed (its
/// flags are left as they are; blocking and non-blocking both work). A
/// regular file is read in place from its current offset (which is left at
/// its end); anything else (a pipe, a FIFO, a socket) is read to its end
/// first, into an unnamed temporary file in `$TMPDIR`, else /tmp (the
/// archive is read at offsets; a tar is read up to 1 MiB past its
/// end-of-archive block, no further). The first byte is waited for at most the
/// client's timeout (60 s without one: `CTRD_ERR_DEADLINE_EXCEEDED`), each
/// later one at most 60 s (`CTRD_ERR_UNAVAILABLE`, stalled); headers are
/// checked, the read ends a second after the end-of-archive block, and
/// `opts->cancel` and `opts->timeout_ms` cover it, as for a FIFO in
/// `ctrd_image_import`. `opts`,
/// `names` and `len` as `ctrd_image_import` (progress `ref`: "archive fd
/// N"); out-params written only on success.
///
/// Threads: any; blocks until the import is done. Errors: as
/// `ctrd_image_import`, and `CTRD_ERR_INVALID_ARGUMENT` for an `fd` that is
/// -1 or not open, not open for reading, or a directory; `CTRD_ERR_IO` for
/// a failed read (the message naming the fd).
#[no_mangle]
pub extern "C" fn ctrd_image_import_fd(
    c: *mut ctrd_client,
    fd: c_int,
    opts: *const ctrd_pull_opts,
    names: *mut *mut *mut c_char,
    len: *mut usize,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        let fd = archive_fd(fd)?;
        // SAFETY: NULL or a valid ctrd_pull_opts for the call (C contract).
        let opts = unsafe { pull_options(opts) }?;
        let reference = format!("archive fd {}", std::os::fd::AsRawFd::as_raw_fd(&fd));
        import_with(client, opts, &reference, names, len, |client, options, shared| async move {
            client.import_archive_fd(fd, &options, &shared).await
        })
    }
}

/// What both imports share once their arguments are read: runs `import`
/// (given the client's core, the options and the progress counters) with
/// progress reported under `reference`, and writes the names it made to
/// `names` and `len` (only on success).
fn import_with<F, Fut>(
    client: &ctrd_client,
    (options, callback): (PullOptions, Option<progress::Callback>),
    reference: &str,
    names: *mut *mut *mut c_char,
    len: *mut usize,
    import: F,
) -> Result<()>
where
    F: FnOnce(Arc<core::Client>, PullOptions, Arc<Progress>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>>> + Send + 'static,
{
    let names = ptr::StringsOut::new(names, len, "names")?;
    let counters = Arc::new(Progress::new());
    let work = import(client.inner.clone(), options, counters.clone());
    let imported = progress::report(callback, reference, counters, work)?;
    names.write(imported)
}

/// Exports the images `names` as `ctrd_image_export` does, the archive
/// written into descriptor `fd` as it is made: `prog | gzip`. `fd` stays
/// the caller's: written and neither closed nor changed (blocking and
/// non-blocking both work). A regular file is written from its current
/// offset (not truncated) and synced; a pipe, FIFO, socket or device is
/// written as it is. A reader that takes nothing for 60 s cuts the export
/// (`CTRD_ERR_UNAVAILABLE`); a reader gone is `CTRD_ERR_IO` ("Broken
/// pipe"): the library's writer thread blocks SIGPIPE, the caller's signal
/// handling is not involved. What a failure leaves written is a truncated
/// tar.
///
/// Threads: any; blocks until the archive is written. Errors: as
/// `ctrd_image_export`, and `CTRD_ERR_INVALID_ARGUMENT` for an `fd` that is
/// -1 or not open, not open for writing, or a directory; `CTRD_ERR_IO` for
/// a failed write (the system's words).
#[no_mangle]
pub extern "C" fn ctrd_image_export_fd(
    c: *mut ctrd_client,
    names: *const *const c_char,
    fd: c_int,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: NULL or a NULL-terminated array of C strings (C contract).
        let list = unsafe { export_names(names) }?;
        let fd = archive_fd(fd)?;
        let client = client.inner.clone();
        runtime::block_on_shared(async move { client.export_archive_fd(&list, fd).await })
    }
}
