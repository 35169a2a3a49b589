//! The files of archives: an unnamed temporary file (a spool), and where
//! an export writes: a temporary file renamed over its destination when
//! complete, or a FIFO, character device or the caller's descriptor written
//! as the archive is made, under the low-speed rule.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::io_error;
use crate::core::error::{Code, Error, Result};
use crate::core::image::content::fresh_id;
use crate::core::stall::{Meter, STALL_BYTES, STALL_WINDOW};

/// How long a FIFO's other end is waited for when the client has no
/// timeout: the low-speed rule's window (a peer that moves no byte in it
/// would be cut as stalled anyway).
pub(super) const NO_PEER: Duration = STALL_WINDOW;

/// Waits until `fd` is ready for `events`, at most `limit`; `false` when
/// the time ran out.
pub(super) fn wait_ready(
    fd: BorrowedFd,
    events: PollFlags,
    limit: Duration,
) -> std::io::Result<bool> {
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
pub(super) fn unnamed_temp_file(what: &str) -> Result<File> {
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

/// Where an archive is written: a new file renamed over its destination
/// when complete, or a stream written as the archive is made.
pub(super) enum Dest {
    Temp(TempFile),
    /// A FIFO, a character device or the caller's descriptor; `regular`
    /// when it is a regular file (synced at the end).
    Stream {
        file: File,
        regular: bool,
    },
}

impl Dest {
    pub(super) fn stream(file: File, regular: bool) -> Result<Dest> {
        Ok(Dest::Stream { file, regular })
    }

    /// The writer thread's handle on it, and whether to sync it at the end.
    pub(super) fn writer(&self) -> Result<(StreamWriter, bool)> {
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

    pub(super) fn finish(self) -> Result<()> {
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
pub(super) fn open_dest(path: &Path, wait: Duration) -> Result<Dest> {
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
pub(super) fn open_stream(
    path: &Path,
    meta: &std::fs::Metadata,
    what: &str,
    wait: Duration,
) -> Result<File> {
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
pub(super) struct StreamWriter {
    pub(super) file: File,
    pub(super) small: bool,
    pub(super) meter: Meter,
}

impl StreamWriter {
    pub(super) fn new(file: File) -> StreamWriter {
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
pub(super) struct TempFile {
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
        assert!(StreamWriter::new(File::from(std::os::fd::OwnedFd::from(w))).small);
        assert!(!StreamWriter::new(unnamed_temp_file("test").unwrap()).small);
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
}
