//! Small files the library reads for itself (a CA file, the docker config,
//! an image's `/etc/passwd`): one reader that takes only a regular file of
//! at most [`MAX_SMALL_FILE`] bytes, so that `/dev/zero`, a FIFO or a
//! directory named as one fails at once instead of growing the process or
//! blocking it.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use crate::core::error::{Error, Result};

/// The most a small file may hold: 1 MiB.
pub const MAX_SMALL_FILE: u64 = 1 << 20;

/// The bytes of `path`, `None` when there is no such file. Anything but a
/// regular file of at most 1 MiB (a device, a FIFO, a directory, a larger
/// file) or a file that cannot be read is `InvalidArgument`, its message
/// `"{what} {path}: why"`. Never blocks on a FIFO: it is refused before it
/// is opened, and the open itself does not wait for a writer.
pub fn read_small(path: &Path, what: &str) -> Result<Option<Vec<u8>>> {
    match read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::invalid(format!("{what} {}: {e}", path.display()))),
    }
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    let regular = |meta: &std::fs::Metadata| -> io::Result<()> {
        if !meta.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        if meta.len() > MAX_SMALL_FILE {
            return Err(too_big());
        }
        Ok(())
    };
    let before = std::fs::metadata(path)?;
    regular(&before)?;
    // O_NONBLOCK: should the path have become a FIFO since, the open does
    // not wait for a writer (std opens with O_CLOEXEC).
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    regular(&meta)?;
    if (meta.dev(), meta.ino()) != (before.dev(), before.ino()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "replaced while it was being opened",
        ));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
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
}
