//! Image archives, as containerd's `archive` package and `ctr images
//! import/export` read and write them, done by the library itself (so they
//! work the same on every containerd version):
//!
//! - import: an OCI image layout tar (`oci-layout`, `index.json`,
//!   `blobs/<alg>/<hex>`) or a `docker save` tar (`manifest.json` with
//!   `Config`, `RepoTags`, `Layers`). The tar is read twice on a blocking
//!   thread: once for its table of entries and small metadata files, once
//!   per blob to stream it, chunk by chunk, into the content store (never a
//!   whole layer in memory). Everything is written under a lease deleted at
//!   the end; image records are made only once all their content is in (and
//!   unpacked, unless asked not to).
//! - export: an OCI image layout tar with one `index.json` entry per image
//!   (annotated with `io.containerd.image.name` and
//!   `org.opencontainers.image.ref.name` as ctr writes them), a docker
//!   `manifest.json` as ctr writes it (for `docker load`), each blob once,
//!   streamed from the content store into a temporary file next to the
//!   destination that is renamed over it on success.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::services::content::v1::ReadContentRequest;
use crate::api::types::Descriptor;
use crate::core::cancel::Stop;
use crate::core::daemon::client::Client;
use crate::core::daemon::ident::shown;
use crate::core::error::{Code, Error, Result};
use crate::core::files::check_fd_access;
use crate::core::image::content::{fresh_id, StoreBlobs};
use crate::core::image::oci::{
    check_metadata_size, digest_of, sha256_digest, sha256_hex, BadDigest, JsonDescriptor,
    JsonIndex, JsonManifest, DOCKER_CONFIG, DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST,
    OCI_INDEX, OCI_LAYER_ZSTD,
};
use crate::core::image::platform::{walk, Blobs, Node, PlatformContent, PlatformSpec, Walked};
use crate::core::image::progress::{Phase, Progress};
use crate::core::image::pull::PullOptions;
use crate::core::image::records::{children_labels, validate_name, ImageRecord};
use crate::core::registry::reference::ImageRef;
use crate::core::stall::{Meter, STALL_BYTES, STALL_WINDOW};

/// The annotation containerd names an image by in an archive's index.
pub const IMAGE_NAME_ANNOTATION: &str = "io.containerd.image.name";
/// The OCI annotation for the reference (a tag) of an index entry.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

const OCI_LAYOUT_FILE: &str = "oci-layout";
const OCI_INDEX_FILE: &str = "index.json";
const DOCKER_MANIFEST_FILE: &str = "manifest.json";
const OCI_LAYOUT_VERSION: &str = "1.0.0";
/// Chunks a blob is read in, from the archive or the content store.
const CHUNK: usize = 1 << 20;
/// Bytes asked of the content store per Read call when exporting: each call
/// is bounded by the client's timeout, so a large blob takes several.
const READ_WINDOW: i64 = 16 << 20;
/// How many symlinks a docker-save path may go through.
const MAX_LINKS: usize = 16;

// ---------------------------------------------------------------------
// Names and references.

/// A docker-save `RepoTags` entry as containerd's importer names the image:
/// normalised by `reference.ParseDockerRef`, here the one normaliser pulls
/// use too (`busybox` → `docker.io/library/busybox:latest`), so import
/// accepts exactly the names a pull does.
fn repo_tag_name(tag: &str) -> Result<String> {
    ImageRef::parse(tag).map(|r| r.name)
}

/// The OCI reference name ctr writes for image `name`: the object of the
/// reference, after its locator (`docker.io/library/x:1` → `1`;
/// `example.com/x@sha256:…` → `@sha256:…`); the whole name when it has no
/// locator; `None` when there is no object.
pub fn oci_ref_name(name: &str) -> Option<String> {
    let Some((host, path)) = name.split_once('/') else {
        return Some(name.to_string());
    };
    if host.is_empty() || name.contains("://") {
        return Some(name.to_string());
    }
    let i = path.find([':', '@'])?;
    let object = if path.as_bytes()[i] == b':' {
        &path[i + 1..]
    } else {
        &path[i..]
    };
    (!object.is_empty()).then(|| object.to_string())
}

/// The name an index.json entry gives its image, as ctr's import reads it:
/// `io.containerd.image.name`, else `org.opencontainers.image.ref.name`. A
/// full reference there is the name as it is; a bare tag (no `/`, `:` or
/// `@`) is named `import-<date>:<tag>` as ctr names it without
/// `--base-name` (the UTC date, `YYYY-MM-DD`).
fn entry_name(annotations: &HashMap<String, String>, date: &str) -> Option<String> {
    if let Some(n) = annotations
        .get(IMAGE_NAME_ANNOTATION)
        .filter(|n| !n.is_empty())
    {
        return Some(n.clone());
    }
    let r = annotations
        .get(REF_NAME_ANNOTATION)
        .filter(|r| !r.is_empty())?;
    if r.contains(['/', ':', '@']) {
        Some(r.clone())
    } else {
        Some(format!("import-{date}:{r}"))
    }
}

/// Image `name` as docker's manifest.json names it (`RepoTags`), as
/// containerd's exporter familiarises it: `docker.io/library/x:1` → `x:1`,
/// `docker.io/u/x:1` → `u/x:1`, others whole (with `:latest` when they have
/// neither tag nor digest). `None` for a name docker could not read.
fn familiar_name(name: &str) -> Option<String> {
    let full = repo_tag_name(name).ok()?;
    Some(
        full.strip_prefix("docker.io/library/")
            .or_else(|| full.strip_prefix("docker.io/"))
            .unwrap_or(&full)
            .to_string(),
    )
}

/// Today's UTC date, `YYYY-MM-DD`.
fn today() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now[..10].to_string()
}

/// `sha256:<64 hex>` → the hex. Other algorithms are not supported.
fn parse_digest(d: &str) -> Result<&str> {
    sha256_hex(d).map_err(|bad| match bad {
        BadDigest::NoAlgorithm => Error::invalid(format!("{d:?} is not a digest")),
        BadDigest::BadAlgorithm | BadDigest::Unsupported => {
            let alg = d.split_once(':').map_or(d, |(alg, _)| alg);
            Error::new(
                Code::NotImplemented,
                format!("digest {d:?}: algorithm {alg:?} is not supported (only sha256)"),
            )
        }
        BadDigest::BadHex => Error::invalid(format!("{d:?} is not a sha256 digest")),
    })
}

// ---------------------------------------------------------------------
// JSON.

#[derive(Debug, Deserialize)]
struct JsonLayout {
    #[serde(rename = "imageLayoutVersion", default)]
    version: String,
}

#[derive(Debug, Deserialize, Serialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

fn to_json<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::internal(e.to_string()))
}

// ---------------------------------------------------------------------
// Reading the archive (blocking: run these on a blocking thread).

/// A regular file of the archive: where its data starts and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Entry {
    offset: u64,
    size: u64,
}

/// The table of an archive: its regular files by cleaned path, its
/// symlinks, and the metadata files read whole.
#[derive(Debug, Default)]
struct Scan {
    files: HashMap<String, Entry>,
    symlinks: HashMap<String, String>,
    oci_layout: Option<Vec<u8>>,
    index: Option<Vec<u8>>,
    docker_manifest: Option<Vec<u8>>,
}

/// `what` and an I/O error, with the code the error's kind calls for.
fn io_error(what: &str, e: &std::io::Error) -> Error {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => Code::NotFound,
        std::io::ErrorKind::PermissionDenied => Code::PermissionDenied,
        std::io::ErrorKind::IsADirectory => Code::InvalidArgument,
        _ => Code::Io,
    };
    Error::new(code, format!("{what}: {e}"))
}

/// A path inside an archive as Go's `path.Clean` makes it, relative.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// The archive being read: a regular file read at offsets (the caller's
/// file from where its offset was, or a spool of a FIFO or pipe), shared by
/// the threads reading it.
#[derive(Clone)]
struct ArchiveFile {
    file: Arc<File>,
    /// Where the archive starts in `file`.
    base: u64,
    /// Its length from there.
    len: u64,
    /// `archive /path` or `archive fd N`, for messages.
    what: String,
}

impl ArchiveFile {
    /// A reader of the archive from `offset` (relative to its start).
    fn at(&self, offset: u64) -> At {
        At {
            src: self.clone(),
            pos: offset,
        }
    }
}

/// A reader of the archive at a position of its own (`pread`), so that the
/// blobs of one archive can be read by several threads.
struct At {
    src: ArchiveFile,
    pos: u64,
}

impl Read for At {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = self.src.len.saturating_sub(self.pos);
        let n = buf.len().min(left.min(usize::MAX as u64) as usize);
        if n == 0 {
            return Ok(0);
        }
        let got = self
            .src
            .file
            .read_at(&mut buf[..n], self.src.base + self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Seek for At {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let pos = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.src.len.checked_add_signed(d),
        };
        self.pos = pos.ok_or_else(|| std::io::Error::other("seek before the archive's start"))?;
        Ok(self.pos)
    }
}

/// How long a FIFO's other end is waited for when the client has no
/// timeout: the low-speed rule's window (a peer that moves no byte in it
/// would be cut as stalled anyway).
const NO_PEER: Duration = STALL_WINDOW;

/// Waits until `fd` is ready for `events`, at most `limit`; `false` when
/// the time ran out.
fn wait_ready(fd: BorrowedFd, events: PollFlags, limit: Duration) -> std::io::Result<bool> {
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(fd, events)];
        match poll(
            &mut fds,
            PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
        ) {
            Ok(0) if left.is_zero() => return Ok(false),
            Ok(0) => {}
            Ok(_) => return Ok(true),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// An unnamed temporary file in the temporary directory ($TMPDIR, else
/// /tmp), gone when closed whatever happens.
fn unnamed_temp_file(what: &str) -> Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::env::temp_dir();
    let fail = |e: std::io::Error| {
        io_error(
            &format!("{what}: a temporary file in {} to spool it", dir.display()),
            &e,
        )
    };
    match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(&dir)
    {
        Ok(f) => return Ok(f),
        // File systems without O_TMPFILE: a named file, unlinked at once.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {}
        Err(e) => return Err(fail(e)),
    }
    let path = dir.join(format!(".containerd-c-spool.{}", &fresh_id("x")[15..]));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(fail)?;
    let _ = std::fs::remove_file(&path);
    Ok(file)
}

/// How much is read past the end of a tar (its end-of-archive block) when
/// spooling: a writer's padding to its record size (GNU tar: 10 KiB), not
/// an endless stream (`/dev/zero`).
const AFTER_END: u64 = 1 << 20;

/// Follows the headers of a tar as it is spooled, to tell where it ends
/// and that it is a tar at all: each header's checksum is checked as it
/// comes, so a stream that is not a tar (`/dev/urandom`, a peer sending
/// garbage) is refused at its first bad header instead of being spooled to
/// its end.
#[derive(Debug)]
struct TarEnd {
    /// Where the next header starts; `None` only when the spool could not
    /// be read back (then it is spooled to its end of file).
    next: Option<u64>,
    /// Where the end-of-archive block ends, once seen.
    end: Option<u64>,
}

impl Default for TarEnd {
    fn default() -> TarEnd {
        TarEnd {
            next: Some(0),
            end: None,
        }
    }
}

/// The size of the entry whose header is `block`, when it is a header the
/// tar crate's reader (the scan after the spool) takes: its checksum field
/// holds the unsigned sum of its bytes, the field itself counted as spaces.
/// The tar crate checks that sum only inside its reader, as it reads a
/// whole archive, and has no check of one header as its bytes arrive: the
/// sum is made here, the fields are read with its `Header`.
fn tar_header_size(block: &[u8; 512]) -> Option<u64> {
    let header = tar::Header::from_byte_slice(block);
    let sum: u32 = block[..148]
        .iter()
        .chain(&block[156..])
        .map(|&b| u32::from(b))
        .sum::<u32>()
        + 8 * u32::from(b' ');
    if header.cksum().ok()? != sum {
        return None;
    }
    header.entry_size().ok()
}

impl TarEnd {
    /// Looks at the headers spooled into `file` (of `len` bytes) so far;
    /// `Err(offset)` at the first block where a header should be and is
    /// not (a bad checksum, or a size that is no number).
    fn advance(&mut self, file: &File, len: u64) -> std::result::Result<(), u64> {
        use std::os::unix::fs::FileExt;
        while self.end.is_none() {
            let Some(at) = self.next.filter(|at| at + 512 <= len) else {
                return Ok(());
            };
            let mut block = [0u8; 512];
            if file.read_exact_at(&mut block, at).is_err() {
                self.next = None;
                return Ok(());
            }
            if block.iter().all(|&b| b == 0) {
                self.end = Some(at + 512);
                return Ok(());
            }
            let next = tar_header_size(&block)
                .and_then(|n| n.checked_next_multiple_of(512))
                .and_then(|n| (at + 512).checked_add(n));
            self.next = Some(next.ok_or(at)?);
        }
        Ok(())
    }

    /// Whether enough was read: the tar ended `AFTER_END` bytes ago.
    fn done(&self, len: u64) -> bool {
        self.end.is_some_and(|end| len >= end + AFTER_END)
    }
}

/// The longest a spool waits on its stream at a time, so that a cancel or
/// the call's deadline is seen while the peer sends nothing.
const POLL_SLICE: Duration = Duration::from_millis(100);
/// Once a tar's end-of-archive block came, how long the stream may stay
/// quiet before the spool ends: the archive is complete (a writer that
/// keeps its end open is not waited for until the low-speed rule cuts it).
const QUIET_AFTER_END: Duration = Duration::from_secs(1);

/// Copies what `from` (a FIFO, pipe, socket or character device) gives,
/// to its end of file, into an unnamed temporary file, which is the
/// archive then: the importer reads archives at offsets. The first byte is
/// waited for at most `first` (a FIFO's writer may not have come: poll
/// tells nothing until one does); from then on the low-speed rule holds
/// (`core::stall`: fewer than 1 KiB in any 60 s is stalled). Each tar
/// header is checked as it comes (a stream that is not a tar is refused at
/// once, `InvalidArgument`). A tar is read up to `AFTER_END` bytes past its
/// end-of-archive block, no more (`/dev/zero` is an empty tar, not a disk
/// filled), or until the stream is quiet for `QUIET_AFTER_END` after it.
/// `stop` (the import's cancel and timeout) is looked at every
/// `POLL_SLICE` at most. Never changes `from`'s flags (it may be the
/// caller's).
fn spool(from: &File, what: &str, first: Duration, stop: &Stop) -> Result<ArchiveFile> {
    use std::os::unix::fs::FileExt;
    let out = unnamed_temp_file(what)?;
    let import = format!("import {what}");
    let mut buf = vec![0; CHUNK];
    let mut len = 0u64;
    let first_by = Instant::now() + first;
    // The low-speed rule's count, from the first byte on.
    let mut meter: Option<Meter> = None;
    let mut last = Instant::now();
    let mut tar = TarEnd::default();
    while !tar.done(len) {
        if let Some(e) = stop.check(&import) {
            return Err(e);
        }
        let left = match &meter {
            None => first_by.saturating_duration_since(Instant::now()),
            Some(m) => m.left(),
        };
        if left.is_zero() {
            return Err(match &meter {
                None => Error::new(
                    Code::DeadlineExceeded,
                    format!(
                        "{what}: nothing came in {:?} (no writer on the FIFO or pipe?)",
                        first
                    ),
                ),
                Some(m) => stalled(what, m, len),
            });
        }
        let ready = wait_ready(from.as_fd(), PollFlags::POLLIN, left.min(POLL_SLICE))
            .map_err(|e| io_error(&format!("{what}: waiting for data"), &e))?;
        if !ready {
            if tar.end.is_some() && last.elapsed() >= QUIET_AFTER_END {
                break;
            }
            continue;
        }
        match (&*from).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.write_all_at(&buf[..n], len)
                    .map_err(|e| io_error(&format!("{what}: spooling it"), &e))?;
                len += n as u64;
                last = Instant::now();
                let m = meter.get_or_insert_with(|| Meter::new(STALL_WINDOW));
                if !m.add(n) {
                    return Err(stalled(what, m, len));
                }
                tar.advance(&out, len).map_err(|at| {
                    Error::invalid(format!(
                        "{what}: not a tar archive (no valid tar header at offset {at})"
                    ))
                })?;
            }
            Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
            Err(e) => return Err(io_error(&format!("{what}: reading it"), &e)),
        }
    }
    Ok(ArchiveFile {
        file: Arc::new(out),
        base: 0,
        len,
        what: what.to_string(),
    })
}

/// The error of a spool cut by the low-speed rule after `len` bytes.
fn stalled(what: &str, meter: &Meter, len: u64) -> Error {
    Error::new(
        Code::Unavailable,
        format!(
            "{what}: stalled: fewer than {STALL_BYTES} bytes in {} s after {len} bytes",
            meter.window().as_secs_f64()
        ),
    )
}

/// The archive in `file`: a regular file is read in place from its current
/// offset (and left at its end); anything else but a directory is spooled
/// (`first`: how long the first byte is waited for; `stop`: the import's).
fn source_of(file: File, what: String, first: Duration, stop: &Stop) -> Result<ArchiveFile> {
    let meta = file.metadata().map_err(|e| io_error(&what, &e))?;
    let kind = meta.file_type();
    if kind.is_dir() {
        return Err(Error::invalid(format!("{what}: it is a directory")));
    }
    if !kind.is_file() {
        return spool(&file, &what, first, stop);
    }
    let mut f = &file;
    let base = f.stream_position().map_err(|e| io_error(&what, &e))?;
    let _ = f.seek(SeekFrom::End(0));
    Ok(ArchiveFile {
        file: Arc::new(file),
        base,
        len: meta.len().saturating_sub(base),
        what,
    })
}

/// Opens the archive at `path` without waiting for a FIFO's writer (a
/// FIFO is then waited on for at most `first`, and spooled under `stop`).
fn open_source(path: &Path, first: Duration, stop: &Stop) -> Result<ArchiveFile> {
    use std::os::unix::fs::OpenOptionsExt;
    let what = format!("archive {}", path.display());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| io_error(&what, &e))?;
    source_of(file, what, first, stop)
}

/// The archive's table (first pass).
fn scan(src: &ArchiveFile) -> Result<Scan> {
    let what = &src.what;
    let len = src.len;
    let bad = |e: std::io::Error| Error::invalid(format!("{what}: not a valid tar: {e}"));
    let mut archive = tar::Archive::new(BufReader::new(src.at(0)));
    let mut out = Scan::default();
    for entry in archive.entries_with_seek().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let name = clean(&name);
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {}
            tar::EntryType::Symlink => {
                if let Some(target) = entry.link_name().map_err(bad)? {
                    let target = target.to_string_lossy();
                    let dir = name.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                    let joined = if target.starts_with('/') {
                        clean(&target)
                    } else {
                        clean(&format!("{dir}/{target}"))
                    };
                    out.symlinks.insert(name, joined);
                }
                continue;
            }
            _ => continue,
        }
        let e = Entry {
            offset: entry.raw_file_position(),
            size: entry.size(),
        };
        if e.offset.checked_add(e.size).is_none_or(|end| end > len) {
            return Err(Error::invalid(format!(
                "{what}: truncated: {name} has {} bytes, the archive ends before them",
                e.size
            )));
        }
        let meta = match name.as_str() {
            OCI_LAYOUT_FILE => Some(&mut out.oci_layout),
            OCI_INDEX_FILE => Some(&mut out.index),
            DOCKER_MANIFEST_FILE => Some(&mut out.docker_manifest),
            _ => None,
        };
        if let Some(slot) = meta {
            *slot = Some(read_entry(src, &name, e)?);
        }
        out.files.insert(name, e);
    }
    Ok(out)
}

/// Reads `entry` of the archive whole (a small file).
fn read_entry(src: &ArchiveFile, name: &str, entry: Entry) -> Result<Vec<u8>> {
    let what = format!("{}: {name}", src.what);
    check_metadata_size(&what, entry.size)?;
    let mut data = Vec::with_capacity(entry.size as usize);
    src.at(entry.offset)
        .take(entry.size)
        .read_to_end(&mut data)
        .map_err(|e| io_error(&what, &e))?;
    if data.len() as u64 != entry.size {
        return Err(Error::invalid(format!("{what}: the archive is truncated")));
    }
    Ok(data)
}

/// The sha256 digest and first bytes of `entry` (a docker-save file whose
/// digest its name does not give).
fn hash_entry(src: &ArchiveFile, name: &str, entry: Entry) -> Result<(String, Vec<u8>)> {
    let what = format!("{}: {name}", src.what);
    let mut reader = src.at(entry.offset).take(entry.size);
    let mut hasher = Sha256::new();
    let mut buf = vec![0; CHUNK];
    let mut head = Vec::new();
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| io_error(&what, &e))?;
        if n == 0 {
            break;
        }
        if head.len() < 4 {
            head.extend_from_slice(&buf[..n.min(4 - head.len())]);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    if total != entry.size {
        return Err(Error::invalid(format!("{what}: the archive is truncated")));
    }
    Ok((digest_of(&hasher.finalize()), head))
}

/// Streams `entry` of the archive in chunks into `tx`; stops early when the
/// receiver is gone.
fn stream_entry(
    src: &ArchiveFile,
    name: &str,
    entry: Entry,
    tx: tokio::sync::mpsc::Sender<Result<Vec<u8>>>,
) {
    let what = format!("{}: {name}", src.what);
    let run = || -> Result<()> {
        let mut file = src.at(entry.offset);
        let mut left = entry.size;
        while left > 0 {
            let mut buf = vec![0; (left as usize).min(CHUNK)];
            let mut got = 0;
            while got < buf.len() {
                match file.read(&mut buf[got..]) {
                    Ok(0) => {
                        return Err(Error::invalid(format!("{what}: the archive is truncated")))
                    }
                    Ok(n) => got += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(io_error(&what, &e)),
                }
            }
            left -= got as u64;
            if tx.blocking_send(Ok(buf)).is_err() {
                return Ok(());
            }
        }
        Ok(())
    };
    if let Err(e) = run() {
        let _ = tx.blocking_send(Err(e));
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("archive thread: {e}")))?
}

// ---------------------------------------------------------------------
// Import.

/// Where a blob to import comes from.
#[derive(Debug, Clone)]
enum Source {
    /// A file of the archive.
    Archive { name: String, entry: Entry },
    /// Made here (a docker-save archive's manifest).
    Made(Vec<u8>),
    /// Not in the archive, but in the content store already.
    Store,
}

#[derive(Debug, Clone)]
struct Blob {
    digest: String,
    size: u64,
    source: Source,
    layer: bool,
}

/// What an import writes and makes.
#[derive(Debug, Default)]
struct Plan {
    blobs: Vec<Blob>,
    seen: HashSet<String>,
    /// The gc labels of each index and manifest, by digest.
    labels: HashMap<String, HashMap<String, String>>,
    /// The images: name, target, and what to unpack.
    images: Vec<(String, Descriptor, PlatformContent)>,
}

impl Plan {
    fn add(&mut self, blob: Blob) {
        if self.seen.insert(blob.digest.clone()) {
            self.blobs.push(blob);
        }
    }
}

/// The archive being imported, and how to reach its blobs.
struct Importer<'a> {
    client: &'a Client,
    src: ArchiveFile,
    what: String,
    scan: Scan,
    platform: PlatformSpec,
}

impl Importer<'_> {
    fn invalid(&self, message: impl std::fmt::Display) -> Error {
        Error::invalid(format!("{}: {message}", self.what))
    }

    /// The archive file `name` (through symlinks).
    fn file(&self, name: &str) -> Option<(String, Entry)> {
        let mut name = clean(name);
        for _ in 0..MAX_LINKS {
            if let Some(e) = self.scan.files.get(&name) {
                return Some((name, *e));
            }
            name = self.scan.symlinks.get(&name)?.clone();
        }
        None
    }

    /// Where blob `d` comes from: `blobs/<alg>/<hex>` in the archive, else
    /// the content store if it has it.
    async fn source(&self, d: &Descriptor) -> Result<Source> {
        let hex = parse_digest(&d.digest).map_err(|e| self.invalid(e.message))?;
        let name = format!("blobs/sha256/{hex}");
        if let Some((name, entry)) = self.file(&name) {
            if entry.size != d.size as u64 {
                return Err(self.invalid(format!(
                    "{name} has {} bytes, but its descriptor ({}) says {}",
                    entry.size, d.media_type, d.size
                )));
            }
            return Ok(Source::Archive { name, entry });
        }
        match self.client.content_info(&d.digest).await? {
            Some(info) if info.size == d.size => Ok(Source::Store),
            _ => Err(self.invalid(format!(
                "blob {} ({}) is neither in the archive ({name}) nor in the content store",
                d.digest, d.media_type
            ))),
        }
    }

    /// Reads a small blob (a manifest or index).
    async fn read_small(&self, d: &Descriptor, source: &Source) -> Result<Vec<u8>> {
        match source {
            Source::Archive { name, entry } => {
                let (src, name, entry) = (self.src.clone(), name.clone(), *entry);
                blocking(move || read_entry(&src, &name, entry)).await
            }
            Source::Made(data) => Ok(data.clone()),
            Source::Store => {
                self.client
                    .read_blob(&d.media_type, &d.digest, d.size)
                    .await
            }
        }
    }

    fn json<T: serde::de::DeserializeOwned>(&self, what: &str, d: &str, data: &[u8]) -> Result<T> {
        serde_json::from_slice(data)
            .map_err(|e| self.invalid(format!("{what} {d} is not valid: {e}")))
    }

    /// Plans the import of the image `name` whose target is `target`: the
    /// blobs reachable from it for the platform, as containerd's import
    /// walks them: the path to the platform's manifest (the best match, as
    /// pulls choose it), and besides it an index's entries exactly for this
    /// platform or without one (as containerd's importer with
    /// `platforms.DefaultStrict`), not every fallback (amd64's 386), which
    /// an archive made on another machine often lacks.
    async fn walk(&self, plan: &mut Plan, name: &str, target: &Descriptor) -> Result<()> {
        let what = format!("{}: image {}", self.what, shown(name));
        let mut blobs = ImportBlobs {
            importer: self,
            plan,
            sources: HashMap::new(),
        };
        let content = match walk(&mut blobs, &what, target, &self.platform).await? {
            Walked::Other(_) => {
                return Err(self.invalid(format!(
                    "image {}: {} ({}) is neither an image index nor a manifest",
                    shown(name),
                    target.digest,
                    target.media_type
                )))
            }
            walked => walked.content(&what, &self.platform)?,
        };
        plan.images
            .push((name.to_string(), target.clone(), content));
        Ok(())
    }

    /// Plans an OCI image layout's import.
    async fn plan_oci(&self) -> Result<Plan> {
        let layout: JsonLayout = self.json(
            "oci-layout",
            "file",
            self.scan.oci_layout.as_deref().unwrap_or_default(),
        )?;
        if layout.version != OCI_LAYOUT_VERSION {
            return Err(self.invalid(format!(
                "unsupported OCI layout version {:?} (this library reads {OCI_LAYOUT_VERSION})",
                layout.version
            )));
        }
        let data = self
            .scan
            .index
            .as_deref()
            .ok_or_else(|| self.invalid("an OCI layout without index.json"))?;
        let index: JsonIndex = self.json("index.json", "file", data)?;
        let date = today();
        let mut plan = Plan::default();
        for m in &index.manifests {
            if m.platform
                .as_ref()
                .is_some_and(|p| !self.platform.matches(p))
            {
                continue;
            }
            let Some(name) = entry_name(&m.annotations, &date) else {
                continue;
            };
            if plan.images.iter().any(|(n, _, _)| *n == name) {
                continue;
            }
            self.walk(&mut plan, &name, &m.descriptor()).await?;
        }
        Ok(plan)
    }

    /// Plans a docker-save archive's import: a Docker schema2 manifest is
    /// made for each entry of manifest.json, as containerd's importer makes
    /// it (so the digests match ctr's import of the same archive).
    async fn plan_docker(&self) -> Result<Plan> {
        let data = self.scan.docker_manifest.as_deref().unwrap_or_default();
        let entries: Vec<DockerEntry> = self.json("manifest.json", "file", data)?;
        let mut plan = Plan::default();
        for entry in &entries {
            let mut names = Vec::new();
            for tag in entry.repo_tags.iter().flatten() {
                let name = repo_tag_name(tag).map_err(|e| {
                    self.invalid(format!("manifest.json: RepoTags entry: {}", e.message))
                })?;
                if !names.contains(&name) && !plan.images.iter().any(|(n, _, _)| *n == name) {
                    names.push(name);
                }
            }
            if names.is_empty() {
                continue;
            }
            let (config, config_blob) = self.docker_blob(&entry.config, DOCKER_CONFIG).await?;
            let mut layers = Vec::new();
            let mut layer_blobs = Vec::new();
            for l in &entry.layers {
                let (d, blob) = self.docker_blob(l, "").await?;
                layers.push(d);
                layer_blobs.push(blob);
            }
            let manifest = serde_json::to_vec(&JsonManifest {
                schema_version: 2,
                media_type: DOCKER_MANIFEST.into(),
                config: JsonDescriptor::from_descriptor(&config),
                layers: layers.iter().map(JsonDescriptor::from_descriptor).collect(),
            })
            .map_err(|e| Error::internal(e.to_string()))?;
            let digest = sha256_digest(&manifest);
            let size = manifest.len() as i64;
            let children: Vec<Descriptor> = std::iter::once(config.clone())
                .chain(layers.iter().cloned())
                .collect();
            plan.labels
                .entry(digest.clone())
                .or_default()
                .extend(children_labels(&children));
            plan.add(config_blob);
            for b in layer_blobs {
                plan.add(b);
            }
            plan.add(Blob {
                digest: digest.clone(),
                size: size as u64,
                source: Source::Made(manifest),
                layer: false,
            });
            let manifest_desc = Descriptor {
                media_type: DOCKER_MANIFEST.into(),
                digest,
                size,
                annotations: Default::default(),
            };
            for name in names {
                let mut target = manifest_desc.clone();
                target
                    .annotations
                    .insert(IMAGE_NAME_ANNOTATION.into(), name.clone());
                if let Some(r) = oci_ref_name(&name) {
                    target.annotations.insert(REF_NAME_ANNOTATION.into(), r);
                }
                let content = PlatformContent {
                    manifest: manifest_desc.clone(),
                    config: config.clone(),
                    layers: layers.clone(),
                    walked: std::iter::once(manifest_desc.clone())
                        .chain(std::iter::once(config.clone()))
                        .chain(layers.iter().cloned())
                        .collect(),
                };
                plan.images.push((name, target, content));
            }
        }
        Ok(plan)
    }

    /// The descriptor and blob of docker-save file `name`: a config when
    /// `media_type` is given, else a layer whose type its first bytes tell.
    async fn docker_blob(&self, name: &str, media_type: &str) -> Result<(Descriptor, Blob)> {
        let (name, entry) = self.file(name).ok_or_else(|| {
            self.invalid(format!(
                "manifest.json names {}, which the archive lacks",
                shown(name)
            ))
        })?;
        let (src, n) = (self.src.clone(), name.clone());
        let (digest, head) = blocking(move || hash_entry(&src, &n, entry)).await?;
        let media_type = if !media_type.is_empty() {
            media_type
        } else if head.starts_with(&[0x1f, 0x8b]) {
            DOCKER_LAYER_GZIP
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            OCI_LAYER_ZSTD
        } else {
            DOCKER_LAYER
        };
        let d = Descriptor {
            media_type: media_type.into(),
            digest: digest.clone(),
            size: entry.size as i64,
            annotations: Default::default(),
        };
        let blob = Blob {
            digest,
            size: entry.size,
            source: Source::Archive { name, entry },
            layer: media_type != DOCKER_CONFIG,
        };
        Ok((d, blob))
    }

    /// Writes `blob` into the content store under `lease`, checking its
    /// digest as it goes.
    async fn write(&self, lease: &str, blob: &Blob, progress: &Progress) -> Result<()> {
        let (name, entry, made) = match &blob.source {
            Source::Store => {
                progress.add_bytes(blob.size);
                return Ok(());
            }
            Source::Archive { name, entry } => (name.clone(), Some(*entry), None),
            Source::Made(data) => (format!("manifest {}", blob.digest), None, Some(data)),
        };
        let reference = format!("{lease}-{}", &blob.digest[7..]);
        let Some(mut writer) = self
            .client
            .content_writer(lease, &reference, &blob.digest, blob.size)
            .await?
        else {
            progress.add_bytes(blob.size);
            return Ok(());
        };
        if writer.offset() != 0 {
            writer.restart().await?;
        }
        let mut hasher = Sha256::new();
        let mut written = 0u64;
        let result = async {
            if let Some(data) = made {
                hasher.update(data);
                writer.write(data).await?;
                written += data.len() as u64;
                progress.add_bytes(data.len() as u64);
            } else if let Some(entry) = entry {
                let (tx, mut rx) = tokio::sync::mpsc::channel(2);
                let (src, n) = (self.src.clone(), name.clone());
                let reader = tokio::task::spawn_blocking(move || stream_entry(&src, &n, entry, tx));
                while let Some(chunk) = rx.recv().await {
                    let chunk = chunk?;
                    hasher.update(&chunk);
                    writer.write(&chunk).await?;
                    written += chunk.len() as u64;
                    progress.add_bytes(chunk.len() as u64);
                }
                reader
                    .await
                    .map_err(|e| Error::internal(format!("archive reader: {e}")))?;
            }
            Ok::<_, Error>(())
        }
        .await;
        if let Err(e) = result {
            progress.sub_bytes(written);
            return Err(e);
        }
        let actual = digest_of(&hasher.finalize());
        if actual != blob.digest || written != blob.size {
            progress.sub_bytes(written);
            return Err(self.invalid(format!(
                "{name} does not match its digest {}: its {written} bytes have digest {actual}",
                blob.digest
            )));
        }
        writer.commit(HashMap::new()).await
    }
}

/// An archive as the source of an import's walk: each blob reached is
/// found (in the archive, else in the content store) and planned, with the
/// labels that keep an index's or manifest's children.
struct ImportBlobs<'i, 'c> {
    importer: &'i Importer<'c>,
    plan: &'i mut Plan,
    /// Where each blob reached comes from.
    sources: HashMap<String, Source>,
}

impl ImportBlobs<'_, '_> {
    fn source(&self, d: &Descriptor) -> Result<Source> {
        self.sources
            .get(&d.digest)
            .cloned()
            .ok_or_else(|| Error::internal(format!("{} was not reached", d.digest)))
    }
}

impl Blobs for ImportBlobs<'_, '_> {
    async fn read(&mut self, d: &Descriptor) -> Result<(Descriptor, Vec<u8>)> {
        let source = self.source(d)?;
        let data = self.importer.read_small(d, &source).await?;
        Ok((d.clone(), data))
    }

    async fn enter(&mut self, d: &Descriptor, _on_path: bool) -> Result<bool> {
        let source = self.importer.source(d).await?;
        self.sources.insert(d.digest.clone(), source);
        Ok(true)
    }

    async fn found(
        &mut self,
        d: &Descriptor,
        _bytes: &[u8],
        node: Node<'_>,
        _on_path: bool,
    ) -> Result<()> {
        let source = self.source(d)?;
        let labels = match node {
            Node::Index { manifests, chosen } => manifests
                .iter()
                .enumerate()
                .filter(|(i, m)| Some(*i) == chosen || self.also(m))
                .enumerate()
                .map(|(n, (_, m))| {
                    (
                        format!("containerd.io/gc.ref.content.m.{n}"),
                        m.digest.clone(),
                    )
                })
                .collect(),
            Node::Manifest { config, layers } => {
                let children: Vec<Descriptor> =
                    std::iter::once(config).chain(layers).cloned().collect();
                children_labels(&children)
            }
            _ => HashMap::new(),
        };
        if !labels.is_empty() {
            self.plan
                .labels
                .entry(d.digest.clone())
                .or_default()
                .extend(labels);
        }
        self.plan.add(Blob {
            digest: d.digest.clone(),
            size: d.size as u64,
            source,
            layer: matches!(node, Node::Layer),
        });
        Ok(())
    }

    fn also(&self, m: &JsonDescriptor) -> bool {
        m.platform
            .as_ref()
            .is_none_or(|p| self.importer.platform.rank(p) == Some(0))
    }

    fn reaches_blobs(&self) -> bool {
        true
    }

    fn bad(&self, e: Error) -> Error {
        Error::invalid(e.message)
    }
}

impl Client {
    /// Imports the images of the archive at `path` (an OCI image layout or
    /// a `docker save` tar): their content for `opts.platform` (this
    /// machine's by default), unpacked into `opts.snapshotter` unless
    /// `opts.no_unpack`. Returns the names of the images made or updated.
    /// Content goes in under a lease deleted at the end, so a failure
    /// leaves no image and nothing the garbage collector keeps. A FIFO (or
    /// character device) is read to its end first, into an unnamed
    /// temporary file; its writer is waited for at most the client's
    /// timeout (`NO_PEER` without one). `opts.cancel` and `opts.timeout`
    /// cover the whole call, that read too.
    pub async fn import_archive(
        &self,
        path: &Path,
        opts: &PullOptions,
        progress: &Progress,
    ) -> Result<Vec<String>> {
        let stop = Stop::new(opts.cancel.clone(), opts.timeout);
        let p = path.to_path_buf();
        let first = self.timeout().unwrap_or(NO_PEER);
        let s = stop.clone();
        // Under the stop from the start: a signal triggered before the call
        // keeps it from opening anything.
        let what = format!("import archive {}", path.display());
        let src = stop
            .run(&what, blocking(move || open_source(&p, first, &s)))
            .await?;
        self.import_source(src, &stop, opts, progress).await
    }

    /// Imports the archive read from `fd` (to its end; a regular file from
    /// its offset, anything else spooled into an unnamed temporary file),
    /// as `import_archive`. `fd` is this call's own (a duplicate of the
    /// caller's), closed at the end.
    pub async fn import_archive_fd(
        &self,
        fd: OwnedFd,
        opts: &PullOptions,
        progress: &Progress,
    ) -> Result<Vec<String>> {
        let stop = Stop::new(opts.cancel.clone(), opts.timeout);
        let what = format!("archive fd {}", fd.as_raw_fd());
        check_fd_access(&fd, &what, false)?;
        let first = self.timeout().unwrap_or(NO_PEER);
        let s = stop.clone();
        let cut = format!("import {what}");
        let src = stop
            .run(
                &cut,
                blocking(move || source_of(File::from(fd), what, first, &s)),
            )
            .await?;
        self.import_source(src, &stop, opts, progress).await
    }

    /// Imports `src` under `stop` (made when the call started).
    async fn import_source(
        &self,
        src: ArchiveFile,
        stop: &Stop,
        opts: &PullOptions,
        progress: &Progress,
    ) -> Result<Vec<String>> {
        let what = format!("import {}", src.what);
        let platform = match &opts.platform {
            Some(p) => PlatformSpec::parse(p).map_err(|e| e.context("opts.platform"))?,
            None => PlatformSpec::host(),
        };
        // Cancel and timeout cover the whole call (from before the spool);
        // the lease's clean-up after a cut runs outside them.
        let (importer, plan) = stop
            .run(&what, async {
                let s = src.clone();
                let scan = blocking(move || scan(&s)).await.map_err(|e| {
                    if e.message.starts_with("archive ") {
                        Error::new(e.code, format!("import {}", e.message))
                    } else {
                        e.context(&what)
                    }
                })?;
                let importer = Importer {
                    client: self,
                    src,
                    what: what.clone(),
                    scan,
                    platform,
                };
                let plan = if importer.scan.oci_layout.is_some() {
                    importer.plan_oci().await?
                } else if importer.scan.docker_manifest.is_some() {
                    importer.plan_docker().await?
                } else {
                    return Err(importer.invalid(
                        "neither an OCI image layout (oci-layout, index.json) nor a docker save \
                         archive (manifest.json)",
                    ));
                };
                if plan.images.is_empty() {
                    return Err(importer.invalid(
                        "no image is named in it (io.containerd.image.name or \
                         org.opencontainers.image.ref.name annotations in index.json, RepoTags \
                         in manifest.json)",
                    ));
                }
                Ok((importer, plan))
            })
            .await?;
        let lease = fresh_id("import");
        self.create_lease(&lease).await?;
        let result = stop
            .run(&what, importer.run(&lease, &plan, opts, progress))
            .await;
        // After a failure, the daemon answers once its garbage collector
        // removed what the lease alone kept (content, unpacked layers).
        let deleted = self.delete_lease_with(&lease, result.is_err()).await;
        let names = result?;
        deleted?;
        Ok(names)
    }

    /// Exports the images `names` into an OCI image layout tar at `path`
    /// (replacing a file there only once the archive is complete): for each
    /// image its target and every blob below it that the content store has;
    /// the blobs of this machine's platform must all be there.
    ///
    /// An existing FIFO or character device at `path` (or a symlink to
    /// one) is opened and written as the archive is made, as ctr does (a
    /// FIFO's reader is waited for at most the client's timeout, `NO_PEER`
    /// without one); a regular file is replaced atomically (keeping its
    /// mode, and its owner where the caller may give it), and so is a
    /// symlink to a regular file: the symlink itself is replaced by the
    /// archive, its target is left as it is; nothing else is replaced (a
    /// directory, a socket, a block device, a symlink to nothing:
    /// `InvalidArgument`).
    pub async fn export_archive(&self, names: &[String], path: &Path) -> Result<()> {
        let what = format!("export to {}", path.display());
        if names.is_empty() {
            return Err(Error::invalid(format!("{what}: no image names")));
        }
        let p = path.to_path_buf();
        let wait = self.timeout().unwrap_or(NO_PEER);
        let dest = blocking(move || open_dest(&p, wait)).await?;
        self.export_to(names, dest, &what).await
    }

    /// Exports the images `names` as `export_archive`, written into `fd`
    /// (this call's own duplicate of the caller's, closed at the end): a
    /// regular file from its offset, a pipe, a socket, a device.
    pub async fn export_archive_fd(&self, names: &[String], fd: OwnedFd) -> Result<()> {
        let what = format!("export to fd {}", fd.as_raw_fd());
        if names.is_empty() {
            return Err(Error::invalid(format!("{what}: no image names")));
        }
        check_fd_access(&fd, &what, true)?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| io_error(&what, &e))?;
        if meta.is_dir() {
            return Err(Error::invalid(format!("{what}: it is a directory")));
        }
        self.export_to(names, Dest::stream(file, meta.is_file())?, &what)
            .await
    }

    /// Writes the archive of `names` into `dest`.
    async fn export_to(&self, names: &[String], dest: Dest, what: &str) -> Result<()> {
        let mut entries = Vec::new();
        let mut blobs: Vec<Descriptor> = Vec::new();
        let mut seen = HashSet::new();
        let mut done_names = HashSet::new();
        // manifest.json: per manifest (in first-seen order), its files and
        // the names of the images whose manifest for this platform it is.
        let mut docker: Vec<(String, DockerEntry)> = Vec::new();
        for name in names {
            validate_name("image name", name)?;
            if !done_names.insert(name.clone()) {
                continue;
            }
            let record = self.get_image(name).await.map_err(|e| e.context(what))?;
            let chosen = self
                .export_walk(&record, &mut blobs, &mut seen)
                .await
                .map_err(|e| e.context(what))?;
            if let Some((manifest, config, layers)) = chosen {
                let blob_path = |d: &str| format!("blobs/sha256/{}", &d[7..]);
                let at = match docker.iter().position(|(m, _)| *m == manifest) {
                    Some(at) => at,
                    None => {
                        docker.push((
                            manifest,
                            DockerEntry {
                                config: blob_path(&config),
                                repo_tags: Some(Vec::new()),
                                layers: layers.iter().map(|l| blob_path(l)).collect(),
                            },
                        ));
                        docker.len() - 1
                    }
                };
                if let Some(tag) = familiar_name(name) {
                    docker[at]
                        .1
                        .repo_tags
                        .get_or_insert_with(Vec::new)
                        .push(tag);
                }
            }
            let mut entry = JsonDescriptor::from_descriptor(&record.target);
            entry
                .annotations
                .insert(IMAGE_NAME_ANNOTATION.into(), name.clone());
            match oci_ref_name(name) {
                Some(r) => entry.annotations.insert(REF_NAME_ANNOTATION.into(), r),
                None => entry.annotations.remove(REF_NAME_ANNOTATION),
            };
            entries.push(entry);
        }
        let index = to_json(&JsonIndex {
            schema_version: 2,
            media_type: OCI_INDEX.into(),
            manifests: entries,
        })?;
        let manifest_json = if docker.is_empty() {
            None
        } else {
            let list: Vec<&DockerEntry> = docker.iter().map(|(_, e)| e).collect();
            Some(to_json(&list)?)
        };
        let result = self
            .write_archive(&dest, index, manifest_json, &blobs)
            .await;
        match result {
            Ok(()) => dest.finish(),
            Err(e) => Err(e.context(what)),
        }
    }

    /// Adds to `blobs` what `record` needs: its target and what is below it
    /// (present content only, except on this platform's path). Returns the
    /// manifest for this platform, if there is one, as a manifest.json
    /// entry would name it: its digest, its config and layer digests.
    async fn export_walk(
        &self,
        record: &ImageRecord,
        blobs: &mut Vec<Descriptor>,
        seen: &mut HashSet<String>,
    ) -> Result<Option<(String, String, Vec<String>)>> {
        let image = self.image_what(&record.name);
        let mut walker = ExportBlobs {
            client: self,
            image: &image,
            blobs,
            seen,
        };
        let walked = walk(&mut walker, &image, &record.target, &PlatformSpec::host()).await?;
        Ok(match walked {
            Walked::Manifest(c) => Some((
                c.manifest.digest,
                c.config.digest,
                c.layers.into_iter().map(|l| l.digest).collect(),
            )),
            _ => None,
        })
    }

    /// Writes the archive into `out`: oci-layout, index.json, manifest.json
    /// (when given), then each blob streamed from the content store.
    async fn write_archive(
        &self,
        out: &Dest,
        index: Vec<u8>,
        manifest_json: Option<Vec<u8>>,
        blobs: &[Descriptor],
    ) -> Result<()> {
        let (file, sync) = out.writer()?;
        let (tx, rx) = tokio::sync::mpsc::channel::<Item>(2);
        let writer = tokio::task::spawn_blocking(move || write_tar(file, sync, rx));
        let sending = async {
            let layout = format!("{{\"imageLayoutVersion\":\"{OCI_LAYOUT_VERSION}\"}}");
            send_whole(&tx, OCI_LAYOUT_FILE, 0o444, layout.into_bytes()).await;
            send_whole(&tx, OCI_INDEX_FILE, 0o644, index).await;
            if let Some(data) = manifest_json {
                send_whole(&tx, DOCKER_MANIFEST_FILE, 0o644, data).await;
            }
            for d in blobs {
                let hex = parse_digest(&d.digest)?;
                let (chunks, rx) = tokio::sync::mpsc::channel(2);
                let item = Item::File {
                    name: format!("blobs/sha256/{hex}"),
                    mode: 0o444,
                    size: d.size as u64,
                    chunks: rx,
                };
                if tx.send(item).await.is_err() {
                    return Ok(());
                }
                self.stream_blob(d, &chunks).await?;
            }
            Ok::<_, Error>(())
        }
        .await;
        drop(tx);
        let written = writer
            .await
            .map_err(|e| Error::internal(format!("archive writer: {e}")))?;
        // The daemon's failure explains the writer's (an incomplete blob).
        sending?;
        written
    }

    /// Sends blob `d` from the content store in chunks, a window of bytes
    /// per Read call.
    async fn stream_blob(
        &self,
        d: &Descriptor,
        chunks: &tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Result<()> {
        let size = d.size;
        let mut offset = 0i64;
        while offset < size {
            let req = ReadContentRequest {
                digest: d.digest.clone(),
                offset,
                size: READ_WINDOW.min(size - offset),
            };
            let mut content = self.content();
            let what = format!("read content {}", d.digest);
            let mut stream = self.call(&what, content.read(self.request(req))).await?;
            let start = offset;
            loop {
                let message = self
                    .call(&what, async {
                        stream
                            .message()
                            .await
                            .map(|m| tonic::Response::new(m.map(|m| m.data)))
                    })
                    .await?;
                let Some(data) = message else { break };
                if data.is_empty() {
                    continue;
                }
                offset += data.len() as i64;
                if offset > size {
                    break;
                }
                if chunks.send(data).await.is_err() {
                    // The writer failed: it says why.
                    return Ok(());
                }
            }
            if offset == start || offset > size {
                return Err(Error::new(
                    Code::Unknown,
                    format!(
                        "{what}: the content store gave {offset} bytes where its size is {size}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// The content store as the source of an export's walk: every blob below
/// the target that the store has (all of those on this platform's path
/// must be there), each once for the whole archive.
struct ExportBlobs<'c, 's> {
    client: &'c Client,
    /// The image, for messages.
    image: &'s str,
    blobs: &'s mut Vec<Descriptor>,
    seen: &'s mut HashSet<String>,
}

impl Blobs for ExportBlobs<'_, '_> {
    async fn read(&mut self, d: &Descriptor) -> Result<(Descriptor, Vec<u8>)> {
        StoreBlobs(self.client).read(d).await
    }

    async fn enter(&mut self, d: &Descriptor, required: bool) -> Result<bool> {
        parse_digest(&d.digest).map_err(|e| e.context(self.image))?;
        // Blobs already included (by another image) are walked again for
        // this image's own manifest.json entry.
        if self.seen.contains(&d.digest) {
            return Ok(true);
        }
        match self.client.content_info(&d.digest).await? {
            Some(_) => {}
            None if required => {
                return Err(Error::new(
                    Code::NotFound,
                    format!(
                        "{}: blob {} ({}) is not in the content store",
                        self.image, d.digest, d.media_type
                    ),
                ))
            }
            None => return Ok(false),
        }
        self.seen.insert(d.digest.clone());
        self.blobs.push(d.clone());
        Ok(true)
    }

    fn also(&self, _m: &JsonDescriptor) -> bool {
        true
    }

    fn reaches_blobs(&self) -> bool {
        true
    }
}

impl Importer<'_> {
    /// Writes the planned content under `lease`, labels it, unpacks it and
    /// makes the image records.
    async fn run(
        &self,
        lease: &str,
        plan: &Plan,
        opts: &PullOptions,
        progress: &Progress,
    ) -> Result<Vec<String>> {
        let total: u64 = plan.blobs.iter().map(|b| b.size).sum();
        let layers = plan.blobs.iter().filter(|b| b.layer).count();
        progress.set_phase(Phase::Fetching);
        progress.set_totals(total, layers as u32);
        for blob in &plan.blobs {
            self.write(lease, blob, progress).await?;
            if blob.layer {
                progress.layer_fetched();
            }
        }
        for (digest, labels) in &plan.labels {
            self.client
                .set_content_labels(digest, labels.clone())
                .await?;
        }
        if !opts.no_unpack {
            let snapshotter = opts
                .snapshotter
                .as_deref()
                .unwrap_or(crate::core::image::snapshot::DEFAULT_SNAPSHOTTER);
            let mut unpacked = HashSet::new();
            for (name, _, content) in &plan.images {
                if !unpacked.insert(content.manifest.digest.clone()) {
                    continue;
                }
                self.client
                    .unpack(content, snapshotter, Some(lease), Some(progress))
                    .await
                    .map_err(|e| e.context(format!("{}: image {}", self.what, shown(name))))?;
            }
        }
        let mut names = Vec::new();
        for (name, target, _) in &plan.images {
            self.client.put_image(name, target.clone()).await?;
            names.push(name.clone());
        }
        Ok(names)
    }
}

// ---------------------------------------------------------------------
// Writing the archive.

/// What the tar writer thread is handed.
enum Item {
    /// A file of `size` bytes, its data to come in `chunks`.
    File {
        name: String,
        mode: u32,
        size: u64,
        chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    },
}

/// Sends a whole small file to the writer thread (whose failure, if any,
/// its result tells).
async fn send_whole(tx: &tokio::sync::mpsc::Sender<Item>, name: &str, mode: u32, data: Vec<u8>) {
    let (chunks, rx) = tokio::sync::mpsc::channel(1);
    let item = Item::File {
        name: name.to_string(),
        mode,
        size: data.len() as u64,
        chunks: rx,
    };
    if tx.send(item).await.is_ok() {
        let _ = chunks.send(data).await;
    }
}

/// A file's data as the writer thread reads it: exactly `left` bytes, an
/// error when the sender stops short (or gives more).
struct ChunkReader {
    chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    current: Vec<u8>,
    pos: usize,
    left: u64,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pos == self.current.len() {
            if self.left == 0 {
                return Ok(0);
            }
            match self.chunks.blocking_recv() {
                Some(chunk) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                None => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("{} bytes short", self.left),
                    ))
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        if n as u64 > self.left {
            return Err(std::io::Error::other("more data than the size"));
        }
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The tar writer thread: a header per item as ctr writes them (the item's
/// mode, 0755 for the blobs directories, owner 0, time 0), then its data;
/// the end-of-archive blocks; the file synced.
/// The thread blocks SIGPIPE (a reader gone is EPIPE, not the process
/// killed), for good: it is the library's.
fn write_tar(
    file: StreamWriter,
    sync: bool,
    mut items: tokio::sync::mpsc::Receiver<Item>,
) -> Result<()> {
    let _ = SigSet::from(Signal::SIGPIPE).thread_block();
    let mut tar = tar::Builder::new(std::io::BufWriter::with_capacity(CHUNK, file));
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    };
    let fail = |what: &str, e: std::io::Error| {
        let code = if e.kind() == ErrorKind::TimedOut {
            Code::Unavailable
        } else {
            Code::Io
        };
        Error::new(code, format!("write {what}: {e}"))
    };
    let mut dirs = false;
    while let Some(item) = items.blocking_recv() {
        let Item::File {
            name,
            mode,
            size,
            chunks,
        } = item;
        if name.starts_with("blobs/") && !dirs {
            for dir in ["blobs/", "blobs/sha256/"] {
                let mut h = header(tar::EntryType::Directory, 0o755, 0);
                tar.append_data(&mut h, dir, std::io::empty())
                    .map_err(|e| fail(dir, e))?;
            }
            dirs = true;
        }
        let mut h = header(tar::EntryType::Regular, mode, size);
        let data = ChunkReader {
            chunks,
            current: Vec::new(),
            pos: 0,
            left: size,
        };
        tar.append_data(&mut h, &name, data)
            .map_err(|e| fail(&name, e))?;
    }
    let out = tar
        .into_inner()
        .map_err(|e| fail("the end of the archive", e))?;
    let file = out
        .into_inner()
        .map_err(|e| fail("the archive", e.into_error()))?;
    if sync {
        file.file.sync_all().map_err(|e| fail("the archive", e))?;
    }
    Ok(())
}

/// Where an archive is written: a new file renamed over its destination
/// when complete, or a stream written as the archive is made.
enum Dest {
    Temp(TempFile),
    /// A FIFO, a character device or the caller's descriptor; `regular`
    /// when it is a regular file (synced at the end).
    Stream {
        file: File,
        regular: bool,
    },
}

impl Dest {
    fn stream(file: File, regular: bool) -> Result<Dest> {
        Ok(Dest::Stream { file, regular })
    }

    /// The writer thread's handle on it, and whether to sync it at the end.
    fn writer(&self) -> Result<(StreamWriter, bool)> {
        let (file, sync) = match self {
            Dest::Temp(t) => (t.file()?, true),
            Dest::Stream { file, regular } => (
                file.try_clone().map_err(|e| {
                    Error::new(Code::Io, format!("duplicating the archive fd: {e}"))
                })?,
                *regular,
            ),
        };
        Ok((StreamWriter::new(file), sync))
    }

    fn finish(self) -> Result<()> {
        match self {
            Dest::Temp(t) => t.persist(),
            Dest::Stream { .. } => Ok(()),
        }
    }
}

/// What exporting to `path` writes into (see `Client::export_archive`);
/// `wait`: how long a FIFO's reader is waited for. Nothing is opened
/// before its kind is known (stat, which the kernel resolves as it would
/// the open; never realpath, which reads symlinks itself past the kernel's
/// `fs.protected_symlinks`). A regular file, or a symlink to one, is
/// replaced by renaming a new file over `path` itself: a symlink is
/// replaced, its target never written.
fn open_dest(path: &Path, wait: Duration) -> Result<Dest> {
    use std::os::unix::fs::FileTypeExt;
    let what = format!("export to {}", path.display());
    let link = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return TempFile::create(path, None).map(Dest::Temp)
        }
        Err(e) => return Err(io_error(&what, &e)),
        Ok(m) => m,
    };
    let meta = if link.file_type().is_symlink() {
        std::fs::metadata(path).map_err(|e| match e.kind() {
            ErrorKind::NotFound => Error::invalid(format!(
                "{what}: a symlink to nothing (not replaced: archives replace regular files only)"
            )),
            _ => io_error(&what, &e),
        })?
    } else {
        link
    };
    let kind = meta.file_type();
    let refuse = |it: &str| {
        Err(Error::invalid(format!(
            "{what}: it is {it} (archives are written to regular files, FIFOs and character \
             devices; nothing else is replaced)"
        )))
    };
    if kind.is_file() {
        TempFile::create(path, Some(&meta)).map(Dest::Temp)
    } else if kind.is_dir() {
        refuse("a directory")
    } else if kind.is_fifo() || kind.is_char_device() {
        Dest::stream(open_stream(path, &meta, &what, wait)?, false)
    } else if kind.is_socket() {
        refuse("a socket")
    } else {
        refuse("a block device")
    }
}

/// Opens the FIFO or character device at `path`, which `meta` (its stat)
/// found, once for writing: `O_WRONLY|O_NONBLOCK|O_NOCTTY|O_CLOEXEC`, never
/// created; then checks that the open file is that very one (the same
/// kind, device and inode), so that a path swapped after the stat is not
/// written. A FIFO without a reader yet (`ENXIO`) is opened again until
/// one comes, for at most `wait`.
fn open_stream(path: &Path, meta: &std::fs::Metadata, what: &str, wait: Duration) -> Result<File> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
    let fifo = meta.file_type().is_fifo();
    let deadline = Instant::now() + wait;
    let file = loop {
        // std adds O_CLOEXEC, and no O_CREAT without `create`.
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(path)
        {
            Ok(f) => break f,
            Err(e) if fifo && e.raw_os_error() == Some(libc::ENXIO) => {
                if Instant::now() >= deadline {
                    return Err(Error::new(
                        Code::DeadlineExceeded,
                        format!("{what}: no reader opened the FIFO in {wait:?}"),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(io_error(what, &e)),
        }
    };
    let got = file.metadata().map_err(|e| io_error(what, &e))?;
    let same_kind = if fifo {
        got.file_type().is_fifo()
    } else {
        got.file_type().is_char_device()
    };
    if !same_kind || got.dev() != meta.dev() || got.ino() != meta.ino() {
        return Err(Error::invalid(format!(
            "{what}: it changed while it was opened (not written)"
        )));
    }
    Ok(file)
}

/// The archive's output: each write waits until the descriptor takes
/// bytes, under the low-speed rule (`core::stall`), so a reader that stops
/// reading cuts the export instead of hanging it. A blocking descriptor
/// that is not a regular file (a pipe, a socket, a tty, a serial line) is
/// written `PIPE_BUF` bytes at a time, so that one large write does not
/// block past what poll said it may take.
struct StreamWriter {
    file: File,
    small: bool,
    meter: Meter,
}

impl StreamWriter {
    fn new(file: File) -> StreamWriter {
        let regular = file.metadata().is_ok_and(|m| m.file_type().is_file());
        let blocking = fcntl(&file, FcntlArg::F_GETFL)
            .is_ok_and(|f| !OFlag::from_bits_truncate(f).contains(OFlag::O_NONBLOCK));
        StreamWriter {
            file,
            small: !regular && blocking,
            meter: Meter::new(STALL_WINDOW),
        }
    }
}

impl Write for StreamWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        loop {
            if self.meter.stalled()
                || !wait_ready(self.file.as_fd(), PollFlags::POLLOUT, self.meter.left())?
            {
                return Err(std::io::Error::new(
                    ErrorKind::TimedOut,
                    format!(
                        "stalled: the reader took fewer than {STALL_BYTES} bytes in {} s",
                        self.meter.window().as_secs_f64()
                    ),
                ));
            }
            let n = if self.small {
                buf.len().min(libc::PIPE_BUF)
            } else {
                buf.len()
            };
            match (&self.file).write(&buf[..n]) {
                Err(e) if matches!(e.kind(), ErrorKind::Interrupted | ErrorKind::WouldBlock) => {}
                Ok(n) => {
                    // A window that ended with too few is seen by the next
                    // write.
                    self.meter.add(n);
                    return Ok(n);
                }
                r => return r,
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The archive being written: a temporary file in the directory of its
/// destination (the path as given, never a directory realpath finds),
/// removed unless persisted.
struct TempFile {
    temp: PathBuf,
    dest: PathBuf,
    file: Option<File>,
    done: bool,
}

impl TempFile {
    /// A new file to be renamed over `dest`: `0666` less the umask, or,
    /// when it replaces the file `replaced` (its stat), made `0600` and
    /// given that file's owner (when the caller may: `EPERM` is not an
    /// error) and mode, so a private archive does not become readable.
    fn create(dest: &Path, replaced: Option<&std::fs::Metadata>) -> Result<TempFile> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
        let what = format!("export to {}", dest.display());
        let file_name = dest
            .file_name()
            .ok_or_else(|| Error::invalid(format!("{what}: the path names no file")))?;
        if dest.is_dir() {
            return Err(Error::invalid(format!("{what}: it is a directory")));
        }
        let dir = dest.parent().unwrap_or(Path::new("/"));
        let temp = dir.join(format!(
            ".{}.{}.tmp",
            file_name.to_string_lossy(),
            &fresh_id("x")[15..]
        ));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if replaced.is_some() { 0o600 } else { 0o666 })
            .open(&temp)
            .map_err(|e| io_error(&format!("{what}: create {}", temp.display()), &e))?;
        let t = TempFile {
            temp,
            dest: dest.to_path_buf(),
            file: Some(file),
            done: false,
        };
        if let (Some(m), Some(file)) = (replaced, &t.file) {
            let fail = |e: std::io::Error| {
                io_error(&format!("{what}: giving {} its mode", t.temp.display()), &e)
            };
            // The owner first: a chown clears set-id bits the mode may give.
            match std::os::unix::fs::fchown(file, Some(m.uid()), Some(m.gid())) {
                Err(e) if e.raw_os_error() != Some(libc::EPERM) => return Err(fail(e)),
                _ => {}
            }
            file.set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))
                .map_err(fail)?;
        }
        Ok(t)
    }

    fn file(&self) -> Result<File> {
        self.file
            .as_ref()
            .ok_or_else(|| Error::internal("archive file taken"))?
            .try_clone()
            .map_err(|e| io_error(&format!("export to {}", self.dest.display()), &e))
    }

    fn persist(mut self) -> Result<()> {
        self.file = None;
        std::fs::rename(&self.temp, &self.dest).map_err(|e| {
            io_error(
                &format!(
                    "export to {}: rename {} to it",
                    self.dest.display(),
                    self.temp.display()
                ),
                &e,
            )
        })?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tags_are_named_as_pulls_name_references() {
        let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let cases = [
            ("busybox", Some("docker.io/library/busybox:latest")),
            ("busybox:1.36", Some("docker.io/library/busybox:1.36")),
            ("library/busybox:1", Some("docker.io/library/busybox:1")),
            ("user/app", Some("docker.io/user/app:latest")),
            ("index.docker.io/user/app:2", Some("docker.io/user/app:2")),
            ("example.com/a/b", Some("example.com/a/b:latest")),
            ("localhost/x:y", Some("localhost/x:y")),
            ("localhost:5000/x", Some("localhost:5000/x:latest")),
            // A capitalised first component is a host, for pulls too.
            ("Upper/x", Some("Upper/x:latest")),
            ("Busybox", None),
            ("Upper/X", None),
            ("busybox:", None),
            ("", None),
            ("a//b", None),
            // The path grammar: separators `.`, `_`, `__`, dashes.
            ("a..b", None),
            ("a___b", None),
            ("a.-b", None),
            ("a__b/c--d", Some("docker.io/a__b/c--d:latest")),
            ("x@sha256:short", None),
            // Digests pulls cannot verify are refused here too.
            (
                "x@sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                None,
            ),
            ("h_.io/a", None),
            (hex, None),
        ];
        for (input, want) in cases {
            let named = repo_tag_name(input).ok();
            assert_eq!(named.as_deref(), want, "{input:?}");
            assert_eq!(
                named,
                ImageRef::parse(input).ok().map(|r| r.name),
                "{input:?}"
            );
        }
        let d = format!("x@sha256:{hex}");
        assert_eq!(
            repo_tag_name(&d).unwrap(),
            format!("docker.io/library/x@sha256:{hex}")
        );
        assert_eq!(
            familiar_name("docker.io/library/x:1").as_deref(),
            Some("x:1")
        );
        assert_eq!(familiar_name("Upper/x").as_deref(), Some("Upper/x:latest"));
    }

    #[test]
    fn oci_ref_names_are_the_reference_object() {
        assert_eq!(oci_ref_name("docker.io/library/x:1").as_deref(), Some("1"));
        assert_eq!(
            oci_ref_name("localhost:5000/a/b:tag").as_deref(),
            Some("tag")
        );
        assert_eq!(
            oci_ref_name("example.com/x@sha256:abc").as_deref(),
            Some("@sha256:abc")
        );
        assert_eq!(oci_ref_name("example.com/x"), None);
        assert_eq!(oci_ref_name("plain").as_deref(), Some("plain"));
    }

    #[test]
    fn entry_names_follow_ctr() {
        let ann = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let date = "2026-01-02";
        assert_eq!(
            entry_name(
                &ann(&[
                    (IMAGE_NAME_ANNOTATION, "docker.io/a/b:1"),
                    (REF_NAME_ANNOTATION, "1")
                ]),
                date
            )
            .as_deref(),
            Some("docker.io/a/b:1")
        );
        assert_eq!(
            entry_name(&ann(&[(REF_NAME_ANNOTATION, "v2")]), date).as_deref(),
            Some("import-2026-01-02:v2")
        );
        assert_eq!(
            entry_name(&ann(&[(REF_NAME_ANNOTATION, "example.com/x:3")]), date).as_deref(),
            Some("example.com/x:3")
        );
        assert_eq!(entry_name(&ann(&[]), date), None);
        assert_eq!(entry_name(&ann(&[(IMAGE_NAME_ANNOTATION, "")]), date), None);
        assert_eq!(today().len(), 10);
    }

    #[test]
    fn paths_are_cleaned_as_go_does() {
        assert_eq!(clean("./blobs/sha256/ab"), "blobs/sha256/ab");
        assert_eq!(clean("/index.json"), "index.json");
        assert_eq!(clean("a/../b//c/."), "b/c");
        assert_eq!(clean("../../x"), "x");
    }

    #[test]
    fn a_spooled_tar_ends_at_its_end_of_archive_block() {
        use std::os::unix::fs::FileExt;
        let mut b = tar::Builder::new(Vec::new());
        for (name, size) in [("a", 700usize), ("b", 0), ("c", 512)] {
            let mut h = tar::Header::new_ustar();
            h.set_size(size as u64);
            b.append_data(&mut h, name, &vec![7u8; size][..]).unwrap();
        }
        let data = b.into_inner().unwrap();
        // headers and data: 512 + 1024, 512, 512 + 512; then two zero blocks
        assert_eq!(data.len(), 3072 + 1024);
        let file = tempfile_in_tmp();
        let mut tar = TarEnd::default();
        // Fed in pieces that split headers.
        for (i, piece) in data.chunks(300).enumerate() {
            file.write_all_at(piece, (i * 300) as u64).unwrap();
            tar.advance(&file, ((i * 300) + piece.len()) as u64)
                .unwrap();
        }
        assert_eq!(tar.end, Some(3072 + 512));
        assert!(!tar.done(data.len() as u64));
        assert!(tar.done(3072 + 512 + AFTER_END));
        // Not a tar: refused at its first block.
        let file = tempfile_in_tmp();
        file.write_all_at(&[b'x'; 1024], 0).unwrap();
        let mut tar = TarEnd::default();
        assert_eq!(tar.advance(&file, 1024), Err(0));
        // A header whose checksum is wrong, after a good entry: refused at
        // its offset; a byte changed in the good one is seen too.
        let mut bad = data.clone();
        bad[1536 + 100] ^= 1;
        let file = tempfile_in_tmp();
        file.write_all_at(&bad, 0).unwrap();
        assert_eq!(
            TarEnd::default().advance(&file, bad.len() as u64),
            Err(1536)
        );
        let mut bad = data.clone();
        bad[0] ^= 1;
        file.write_all_at(&bad, 0).unwrap();
        assert_eq!(TarEnd::default().advance(&file, bad.len() as u64), Err(0));
    }

    #[test]
    fn tar_headers_are_checked_as_the_tar_crate_reads_them() {
        let mut h = tar::Header::new_ustar();
        h.set_path("\u{e9}t\u{e9}").unwrap();
        h.set_size(1 << 40);
        h.set_cksum();
        let mut block: [u8; 512] = *h.as_bytes();
        assert_eq!(tar_header_size(&block), Some(1 << 40));
        // The same header with the signed sum (bytes over 0x7f count as
        // negative), as some old tars wrote it: the tar crate refuses it.
        let signed: i64 = block
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    i64::from(b as i8)
                }
            })
            .sum();
        block[148..156].copy_from_slice(format!("{signed:06o}\0 ").as_bytes());
        assert_eq!(tar_header_size(&block), None);
        let mut reader = tar::Archive::new(&block[..]);
        assert!(reader.entries().unwrap().next().unwrap().is_err());
        block[148..156].copy_from_slice(b"        ");
        assert_eq!(tar_header_size(&block), None);
        // A size in base-256 (GNU's for 8 GiB and more).
        let mut h = tar::Header::new_gnu();
        h.set_size(1 << 36);
        h.set_cksum();
        assert_eq!(tar_header_size(h.as_bytes()), Some(1 << 36));
    }

    #[test]
    fn blocking_descriptors_but_regular_files_are_written_in_small_pieces() {
        use std::os::unix::fs::OpenOptionsExt;
        let open = |path: &str, flags: i32| {
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(flags)
                .open(path)
                .unwrap()
        };
        // A blocking character device (a tty or serial line is one too):
        // one large write could block past what poll said it may take.
        assert!(StreamWriter::new(open("/dev/null", 0)).small);
        assert!(!StreamWriter::new(open("/dev/null", libc::O_NONBLOCK)).small);
        let (_r, w) = std::io::pipe().unwrap();
        assert!(StreamWriter::new(File::from(OwnedFd::from(w))).small);
        assert!(!StreamWriter::new(tempfile_in_tmp()).small);
    }

    #[test]
    fn a_stream_destination_is_written_only_if_it_is_the_file_stat_found() {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::env::temp_dir().join(format!("ctrd-open-stream-{}", &fresh_id("x")[15..]));
        std::fs::create_dir(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        for f in [&a, &b] {
            nix::unistd::mkfifo(f, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        }
        // A reader on `a`, so that a writer's open does not fail with ENXIO.
        let _reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&a)
            .unwrap();
        let meta = |p: &Path| std::fs::metadata(p).unwrap();
        let wait = Duration::from_millis(100);
        assert!(open_stream(&a, &meta(&a), "x", wait).is_ok());
        // `a` swapped for another FIFO after the stat: not written.
        let e = open_stream(&a, &meta(&b), "x", wait).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(e.message.contains("changed"), "{}", e.message);
        // Nor a device that is not the one found.
        let null = Path::new("/dev/null");
        assert!(open_stream(null, &meta(null), "x", wait).is_ok());
        let e = open_stream(null, &meta(Path::new("/dev/zero")), "x", wait).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        // A FIFO without a reader: waited for `wait`, then DeadlineExceeded.
        let e = open_stream(&b, &meta(&b), "x", wait).unwrap_err();
        assert_eq!(e.code, Code::DeadlineExceeded);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn tempfile_in_tmp() -> File {
        unnamed_temp_file("test").unwrap()
    }

    #[test]
    fn only_sha256_digests_are_read() {
        let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(parse_digest(&format!("sha256:{hex}")).unwrap(), hex);
        assert_eq!(
            parse_digest("sha512:00").unwrap_err().code,
            Code::NotImplemented
        );
        for bad in ["sha256:../../etc", "sha256:ABC", "nodigest", "sha256:"] {
            assert_eq!(parse_digest(bad).unwrap_err().code, Code::InvalidArgument);
        }
    }

    #[test]
    fn docker_manifests_are_serialised_as_containerd_writes_them() {
        let d = |t: &str, digest: &str, size| {
            JsonDescriptor::from_descriptor(&Descriptor {
                media_type: t.into(),
                digest: digest.into(),
                size,
                annotations: Default::default(),
            })
        };
        let m = JsonManifest {
            schema_version: 2,
            media_type: DOCKER_MANIFEST.into(),
            config: d(DOCKER_CONFIG, "sha256:c", 10),
            layers: vec![d(DOCKER_LAYER_GZIP, "sha256:l", 20)],
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:c","size":10},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:l","size":20}]}"#
        );
    }
}
