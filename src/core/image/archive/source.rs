//! Reading an archive (blocking: run these on a blocking thread): the
//! archive as a file read at offsets by several threads, a FIFO's or
//! pipe's stream spooled into a temporary file first (its tar headers
//! checked as they come), the table of its entries, and its files read
//! whole, hashed or streamed in chunks.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, ErrorKind, Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::PollFlags;
use sha2::{Digest, Sha256};

use super::files::{unnamed_temp_file, wait_ready};
use super::{io_error, CHUNK, DOCKER_MANIFEST_FILE, OCI_INDEX_FILE, OCI_LAYOUT_FILE};
use crate::core::cancel::Stop;
use crate::core::error::{Code, Error, Result};
use crate::core::image::oci::{check_metadata_size, digest_of};
use crate::core::stall::{Meter, STALL_BYTES, STALL_WINDOW};

/// A regular file of the archive: where its data starts and its size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Entry {
    pub(super) offset: u64,
    pub(super) size: u64,
}

/// The table of an archive: its regular files by cleaned path, its
/// symlinks, and the metadata files read whole.
#[derive(Debug, Default)]
pub(super) struct Scan {
    pub(super) files: HashMap<String, Entry>,
    pub(super) symlinks: HashMap<String, String>,
    pub(super) oci_layout: Option<Vec<u8>>,
    pub(super) index: Option<Vec<u8>>,
    pub(super) docker_manifest: Option<Vec<u8>>,
}

/// A path inside an archive as Go's `path.Clean` makes it, relative.
pub(super) fn clean(p: &str) -> String {
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
pub(super) struct ArchiveFile {
    pub(super) file: Arc<File>,
    /// Where the archive starts in `file`.
    pub(super) base: u64,
    /// Its length from there.
    pub(super) len: u64,
    /// `archive /path` or `archive fd N`, for messages.
    pub(super) what: String,
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
pub(super) struct At {
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

/// How much is read past the end of a tar (its end-of-archive block) when
/// spooling: a writer's padding to its record size (GNU tar: 10 KiB), not
/// an endless stream (`/dev/zero`).
pub(super) const AFTER_END: u64 = 1 << 20;

/// Follows the headers of a tar as it is spooled, to tell where it ends
/// and that it is a tar at all: each header's checksum is checked as it
/// comes, so a stream that is not a tar (`/dev/urandom`, a peer sending
/// garbage) is refused at its first bad header instead of being spooled to
/// its end.
///
/// Not the tar crate's reader: that one pulls from a `Read` until the
/// archive's end, which a spool cannot wait for (a stream may never end:
/// `/dev/zero`, a writer that keeps its end open); this follows headers
/// in what has arrived so far, block by block, and reads each header's
/// fields with the tar crate's `Header` (see `tar_header_size`).
#[derive(Debug)]
pub(super) struct TarEnd {
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
pub(super) fn tar_header_size(block: &[u8; 512]) -> Option<u64> {
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
pub(super) const POLL_SLICE: Duration = Duration::from_millis(100);
/// Once a tar's end-of-archive block came, how long the stream may stay
/// quiet before the spool ends: the archive is complete (a writer that
/// keeps its end open is not waited for until the low-speed rule cuts it).
pub(super) const QUIET_AFTER_END: Duration = Duration::from_secs(1);

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
pub(super) fn spool(from: &File, what: &str, first: Duration, stop: &Stop) -> Result<ArchiveFile> {
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
pub(super) fn stalled(what: &str, meter: &Meter, len: u64) -> Error {
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
pub(super) fn source_of(
    file: File,
    what: String,
    first: Duration,
    stop: &Stop,
) -> Result<ArchiveFile> {
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
pub(super) fn open_source(path: &Path, first: Duration, stop: &Stop) -> Result<ArchiveFile> {
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
pub(super) fn scan(src: &ArchiveFile) -> Result<Scan> {
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
pub(super) fn read_entry(src: &ArchiveFile, name: &str, entry: Entry) -> Result<Vec<u8>> {
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
pub(super) fn hash_entry(src: &ArchiveFile, name: &str, entry: Entry) -> Result<(String, Vec<u8>)> {
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
pub(super) fn stream_entry(
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let file = unnamed_temp_file("test").unwrap();
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
        let file = unnamed_temp_file("test").unwrap();
        file.write_all_at(&[b'x'; 1024], 0).unwrap();
        let mut tar = TarEnd::default();
        assert_eq!(tar.advance(&file, 1024), Err(0));
        // A header whose checksum is wrong, after a good entry: refused at
        // its offset; a byte changed in the good one is seen too.
        let mut bad = data.clone();
        bad[1536 + 100] ^= 1;
        let file = unnamed_temp_file("test").unwrap();
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
}
