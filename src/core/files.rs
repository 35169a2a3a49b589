//! Small files the library reads for itself (a CA file, the docker config,
//! an image's `/etc/passwd`): one reader that takes only a regular file of
//! at most [`MAX_SMALL_FILE`] bytes, so that `/dev/zero`, a FIFO or a
//! directory named as one fails at once instead of growing the process or
//! blocking it; and the check of a descriptor a caller hands over (stdio,
//! archives).

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use rustix::fs;

use crate::core::error::{Error, Result};

/// The most a small file may hold: 1 MiB.
pub const MAX_SMALL_FILE: u64 = 1 << 20;

/// Checks that `fd` is open for reading (`write` false) or writing: not an
/// `O_PATH` descriptor, not open for the other direction only.
/// `InvalidArgument` otherwise, its message `"{what} is not ..."`.
pub fn check_fd_access(fd: impl AsFd, what: &str, write: bool) -> Result<()> {
    let flags = fcntl(fd.as_fd(), FcntlArg::F_GETFL)
        .map_err(|e| Error::invalid(format!("{what} is not usable: {e}")))?;
    let flags = OFlag::from_bits_truncate(flags);
    let mode = flags & OFlag::O_ACCMODE;
    let wanted = if write {
        OFlag::O_WRONLY
    } else {
        OFlag::O_RDONLY
    };
    if !flags.contains(OFlag::O_PATH) && (mode == OFlag::O_RDWR || mode == wanted) {
        return Ok(());
    }
    let how = if write { "writing" } else { "reading" };
    Err(Error::invalid(format!("{what} is not open for {how}")))
}

/// The bytes of `path`, `None` when there is no such file. Anything but a
/// regular file of at most 1 MiB (a device, a FIFO, a directory, a larger
/// file) or a file that cannot be read is `InvalidArgument`, its message
/// `"{what} {path}: why"`. Never blocks on a FIFO: it is refused before it
/// is opened, and the open itself does not wait for a writer.
pub fn read_small(path: &Path, what: &str) -> Result<Option<Vec<u8>>> {
    let read = read_checked(
        || std::fs::metadata(path).map(|m| Seen::of(&m)),
        // O_NONBLOCK: should the path have become a FIFO since the stat, the
        // open does not wait for a writer (std opens with O_CLOEXEC).
        || {
            File::options()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
        },
    );
    answer(read, &path.display(), what)
}

/// As [`read_small`], for the entry `name` of the directory `dir` (a single
/// path component), named `shown` in messages. The entry itself is never
/// followed: a symlink is refused (`O_NOFOLLOW`), so that a caller that
/// resolved the path itself (see `core::image::rootfs`) reads what it resolved.
pub fn read_small_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    shown: &str,
    what: &str,
) -> Result<Option<Vec<u8>>> {
    let read = read_checked(
        || {
            fs::statat(dir, name, fs::AtFlags::SYMLINK_NOFOLLOW)
                .map(|st| Seen {
                    file_type: fs::FileType::from_raw_mode(st.st_mode),
                    len: st.st_size as u64,
                    id: (st.st_dev, st.st_ino),
                })
                .map_err(io::Error::from)
        },
        || {
            let flags = fs::OFlags::RDONLY
                | fs::OFlags::NOFOLLOW
                | fs::OFlags::NONBLOCK
                | fs::OFlags::CLOEXEC
                | fs::OFlags::NOCTTY;
            Ok(File::from(fs::openat(dir, name, flags, fs::Mode::empty())?))
        },
    );
    answer(read, &shown, what)
}

fn answer(
    read: io::Result<Vec<u8>>,
    shown: &dyn std::fmt::Display,
    what: &str,
) -> Result<Option<Vec<u8>>> {
    match read {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::invalid(format!("{what} {shown}: {e}"))),
    }
}

/// What a stat says of a file, as far as reading it goes.
struct Seen {
    file_type: fs::FileType,
    len: u64,
    id: (u64, u64),
}

impl Seen {
    fn of(meta: &std::fs::Metadata) -> Seen {
        Seen {
            file_type: fs::FileType::from_raw_mode(meta.mode()),
            len: meta.len(),
            id: (meta.dev(), meta.ino()),
        }
    }

    /// A regular file of at most [`MAX_SMALL_FILE`] bytes.
    fn check(&self) -> io::Result<()> {
        if self.file_type != fs::FileType::RegularFile {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        if self.len > MAX_SMALL_FILE {
            return Err(too_big());
        }
        Ok(())
    }
}

/// The one reading of a small file: `stat` must find a small regular file,
/// `open` (which must not wait for a FIFO's writer) must open that very
/// file, and at most [`MAX_SMALL_FILE`] bytes are read.
fn read_checked(
    stat: impl FnOnce() -> io::Result<Seen>,
    open: impl FnOnce() -> io::Result<File>,
) -> io::Result<Vec<u8>> {
    let before = stat()?;
    before.check()?;
    let file = open()?;
    let meta = Seen::of(&file.metadata()?);
    meta.check()?;
    if meta.id != before.id {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "replaced while it was being opened",
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len as usize);
    file.take(MAX_SMALL_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SMALL_FILE {
        return Err(too_big());
    }
    Ok(bytes)
}

fn too_big() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("more than the {} MiB read", MAX_SMALL_FILE >> 20),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::Code;
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    /// RSS of this process, in KiB.
    fn rss_kib() -> u64 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }

    #[test]
    fn only_small_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'x'; (MAX_SMALL_FILE + 1) as usize]).unwrap();
        let zero = Path::new("/dev/zero");
        let rss = rss_kib();
        for (path, why) in [
            (zero, "not a regular file"),
            (&fifo, "not a regular file"),
            (dir.path(), "not a regular file"),
            (&big, "more than the 1 MiB read"),
        ] {
            let start = Instant::now();
            let e = read_small(path, "ca_file").unwrap_err();
            let took = start.elapsed();
            assert_eq!(e.code, Code::InvalidArgument, "{}", e.message);
            assert_eq!(
                e.message,
                format!("ca_file {}: {why}", path.display()),
                "{}",
                e.message
            );
            assert!(took < Duration::from_secs(1), "{}: {took:?}", e.message);
            eprintln!("{}: {took:?}", path.display());
        }
        // /dev/zero was not read into memory (it would be without end).
        assert!(
            rss_kib() < rss + (16 << 10),
            "{} KiB, {rss} before",
            rss_kib()
        );

        // Exactly 1 MiB is read whole; a missing file is None.
        let full = dir.path().join("full");
        std::fs::write(&full, vec![b'y'; MAX_SMALL_FILE as usize]).unwrap();
        assert_eq!(
            read_small(&full, "f").unwrap().unwrap().len() as u64,
            MAX_SMALL_FILE
        );
        assert_eq!(read_small(&dir.path().join("none"), "f").unwrap(), None);
    }

    #[test]
    fn entries_of_a_directory_are_read_without_following_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), "contents").unwrap();
        std::os::unix::fs::symlink(dir.path().join("file"), dir.path().join("link")).unwrap();
        nix::unistd::mkfifo(
            &dir.path().join("fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let fd = File::open(dir.path()).unwrap();
        let at = |name: &str| read_small_at(fd.as_fd(), OsStr::new(name), "/shown", "f");
        assert_eq!(at("file").unwrap().unwrap(), b"contents");
        assert_eq!(at("none").unwrap(), None);
        for name in ["link", "fifo"] {
            let e = at(name).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert_eq!(e.message, "f /shown: not a regular file");
        }
    }
}
