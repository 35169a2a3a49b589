//! FIFO sets for a task's stdio, as containerd's Go `cio` makes them: a fresh
//! private directory holding `<id>-stdin`, `<id>-stdout` and `<id>-stderr`.

use std::collections::hash_map::RandomState;
use std::fs::{DirBuilder, Permissions};
use std::hash::{BuildHasher, Hasher};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use nix::sys::stat::Mode;

use crate::core::daemon::ident;
use crate::core::error::{Code, Error, Result};

/// The stdio paths of a task or exec process; `None` = that stream unused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IoPaths {
    pub stdin: Option<PathBuf>,
    pub stdout: Option<PathBuf>,
    pub stderr: Option<PathBuf>,
    pub terminal: bool,
}

impl IoPaths {
    /// The directory of the first path set ("" when none), as the Go client's
    /// `getFifoDir`.
    pub fn dir(&self) -> Option<PathBuf> {
        [&self.stdin, &self.stdout, &self.stderr]
            .into_iter()
            .flatten()
            .find_map(|p| p.parent().map(PathBuf::from))
    }

    /// From the strings the daemon stores ("" = unused).
    pub fn from_daemon(stdin: &str, stdout: &str, stderr: &str, terminal: bool) -> IoPaths {
        let path = |s: &str| (!s.is_empty()).then(|| PathBuf::from(s));
        IoPaths {
            stdin: path(stdin),
            stdout: path(stdout),
            stderr: path(stderr),
            terminal,
        }
    }

    /// As the strings the daemon takes ("" = unused).
    pub fn to_daemon(&self) -> [String; 3] {
        let s = |p: &Option<PathBuf>| {
            p.as_ref()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        [s(&self.stdin), s(&self.stdout), s(&self.stderr)]
    }
}

/// Mode of the FIFOs and of the directories made for them.
const PRIVATE: u32 = 0o700;

/// An OS error on `path` as `Code::Io`: "{what} {path}: {error}".
fn os_error(what: &str, path: &Path, e: impl Into<std::io::Error>) -> Error {
    Error::new(Code::Io, format!("{what} {}: {}", path.display(), e.into()))
}

/// The directory FIFO sets go into when the caller names none: a private
/// runtime directory. `/run/containerd-c/fifo` for root, else
/// `$XDG_RUNTIME_DIR/containerd-c/fifo` when that is set and absolute, else
/// `<temp dir>/containerd-c-<uid>/fifo`.
pub fn default_base() -> PathBuf {
    default_base_and_root().0
}

/// The default base, and the directory in a shared (world-writable) temp
/// directory that must be private to this user, if the base is there.
fn default_base_and_root() -> (PathBuf, Option<PathBuf>) {
    let euid = nix::unistd::geteuid();
    if euid.is_root() {
        return (PathBuf::from("/run/containerd-c/fifo"), None);
    }
    match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(xdg) if xdg.is_absolute() => (xdg.join("containerd-c/fifo"), None),
        _ => {
            let root = std::env::temp_dir().join(format!("containerd-c-{euid}"));
            (root.join("fifo"), Some(root))
        }
    }
}

/// Creates `dir` and its missing parents with mode 0700 (less the umask).
fn create_dirs(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(PRIVATE)
        .create(dir)
        .map_err(|e| os_error("creating FIFO directory", dir, e))
}

/// Checks that `dir` (the root of the default base in a shared temp
/// directory) is a real directory owned by this user that nobody else may
/// enter: someone else could have made it first.
fn check_private(dir: &Path) -> Result<()> {
    let meta =
        std::fs::symlink_metadata(dir).map_err(|e| os_error("inspecting directory", dir, e))?;
    let euid = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != euid || meta.mode() & 0o077 != 0 {
        return Err(Error::new(
            Code::PermissionDenied,
            format!(
                "{} is not a private directory of uid {euid} (owner {}, mode {:o}{}): \
                 remove it or pass a directory",
                dir.display(),
                meta.uid(),
                meta.mode() & 0o7777,
                if meta.is_dir() {
                    ""
                } else {
                    ", not a directory"
                },
            ),
        ));
    }
    Ok(())
}

/// A name for a fresh directory: 16 hex digits, unpredictable (std's
/// `RandomState` is seeded from the OS) and unique within the process.
fn random_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(t.as_nanos());
    }
    format!("{:016x}", h.finish())
}

/// A task's stdio FIFOs in a fresh directory of their own, as Go's
/// `cio.NewFIFOSetInDir` makes them. Removed only by [`FifoSet::remove`]:
/// FIFOs removed while the task lives make re-attaching impossible.
#[derive(Debug)]
pub struct FifoSet {
    dir: PathBuf,
    paths: IoPaths,
}

impl FifoSet {
    /// Makes the FIFOs of container `id` in a fresh 0700 directory (random
    /// name) inside `base`: `<id>-stdin` (only `with_stdin`), `<id>-stdout`
    /// and `<id>-stderr` (not when `terminal`: stdout carries both), each a
    /// FIFO of mode 0700.
    ///
    /// `base` must be absolute and is created (0700) when missing; `None`
    /// means [`default_base`] (in a shared temp directory its
    /// `containerd-c-<uid>` must be a 0700 directory of this user).
    /// Errors: `InvalidArgument` (bad id, relative base), `Io` (an OS error,
    /// with the path), `PermissionDenied` (the default root belongs to
    /// someone else). On failure nothing is left behind but `base` itself.
    pub fn create(
        base: Option<&Path>,
        id: &str,
        with_stdin: bool,
        terminal: bool,
    ) -> Result<FifoSet> {
        ident::validate("id", id)?;
        let base = match base {
            Some(b) if !b.is_absolute() => {
                return Err(Error::invalid(format!(
                    "directory {} is not an absolute path",
                    ident::shown(&b.display().to_string())
                )))
            }
            Some(b) => b.to_path_buf(),
            None => {
                let (base, shared_root) = default_base_and_root();
                if let Some(root) = shared_root {
                    create_dirs(&root)?;
                    check_private(&root)?;
                }
                base
            }
        };
        create_dirs(&base)?;

        let dir = Self::fresh_dir(&base)?;
        let fifo = |stream: &str| dir.join(format!("{id}-{stream}"));
        let set = FifoSet {
            paths: IoPaths {
                stdin: with_stdin.then(|| fifo("stdin")),
                stdout: Some(fifo("stdout")),
                stderr: (!terminal).then(|| fifo("stderr")),
                terminal,
            },
            dir,
        };
        let made = [&set.paths.stdin, &set.paths.stdout, &set.paths.stderr]
            .into_iter()
            .flatten()
            .try_for_each(|p| {
                nix::unistd::mkfifo(p, Mode::from_bits_truncate(PRIVATE))
                    .map_err(|e| os_error("making FIFO", p, e))?;
                // Exactly 0700 whatever the umask.
                std::fs::set_permissions(p, Permissions::from_mode(PRIVATE))
                    .map_err(|e| os_error("setting the mode of FIFO", p, e))
            });
        match made {
            Ok(()) => Ok(set),
            Err(e) => {
                let _ = set.remove();
                Err(e)
            }
        }
    }

    /// Makes a new directory of mode 0700 with a random name in `base`.
    fn fresh_dir(base: &Path) -> Result<PathBuf> {
        for _ in 0..32 {
            let dir = base.join(random_name());
            match DirBuilder::new().mode(PRIVATE).create(&dir) {
                Ok(()) => {
                    std::fs::set_permissions(&dir, Permissions::from_mode(PRIVATE)).map_err(
                        |e| {
                            let _ = std::fs::remove_dir(&dir);
                            os_error("setting the mode of directory", &dir, e)
                        },
                    )?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(os_error("creating FIFO directory", &dir, e)),
            }
        }
        Err(Error::new(
            Code::Io,
            format!("no unused directory name found in {}", base.display()),
        ))
    }

    /// The directory holding the FIFOs (made for this set alone).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The FIFO paths, for a new task (`terminal` as given to `create`).
    pub fn paths(&self) -> IoPaths {
        self.paths.clone()
    }

    /// Removes the FIFOs and their directory (with anything else put in it).
    /// What is gone already is no error, so this may be called again.
    /// Errors: `Io` with the path.
    pub fn remove(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Err(e) if e.kind() != ErrorKind::NotFound => {
                Err(os_error("removing FIFO directory", &self.dir, e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;

    fn base() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn makes_the_layout_of_go_cio() {
        let b = base();
        let set = FifoSet::create(Some(b.path()), "web-1", true, false).unwrap();
        let p = set.paths();
        assert_eq!(set.dir().parent(), Some(b.path()));
        assert_eq!(p.dir().as_deref(), Some(set.dir()));
        for (path, name) in [
            (&p.stdin, "web-1-stdin"),
            (&p.stdout, "web-1-stdout"),
            (&p.stderr, "web-1-stderr"),
        ] {
            let path = path.as_ref().unwrap();
            assert_eq!(path.file_name().unwrap(), name);
            let meta = std::fs::metadata(path).unwrap();
            assert!(meta.file_type().is_fifo());
            assert_eq!(meta.mode() & 0o7777, 0o700);
        }
        assert_eq!(std::fs::metadata(set.dir()).unwrap().mode() & 0o7777, 0o700);
        set.remove().unwrap();
        assert!(!set.dir().exists());
        set.remove().unwrap();
    }

    #[test]
    fn terminal_has_no_stderr_and_stdin_only_when_asked() {
        let b = base();
        let set = FifoSet::create(Some(b.path()), "t", false, true).unwrap();
        let p = set.paths();
        assert!(p.terminal && p.stdin.is_none() && p.stderr.is_none());
        assert!(p.stdout.unwrap().exists());
        assert_eq!(std::fs::read_dir(set.dir()).unwrap().count(), 1);
        set.remove().unwrap();
    }

    #[test]
    fn each_set_gets_its_own_directory_and_missing_bases_are_made() {
        let b = base();
        let nested = b.path().join("a/b");
        let one = FifoSet::create(Some(&nested), "x", false, false).unwrap();
        let two = FifoSet::create(Some(&nested), "x", false, false).unwrap();
        assert_ne!(one.dir(), two.dir());
        one.remove().unwrap();
        two.remove().unwrap();
    }

    #[test]
    fn rejects_bad_input() {
        let e = FifoSet::create(Some(Path::new("rel")), "x", false, false).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(e.message.contains("not an absolute path"), "{}", e.message);
        let e = FifoSet::create(Some(Path::new("/tmp")), "a/b", false, false).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(e.message.starts_with("invalid id"), "{}", e.message);
        let e = FifoSet::create(Some(Path::new("/proc/nope")), "x", false, false).unwrap_err();
        assert_eq!(e.code, Code::Io);
        assert!(e.message.contains("/proc/nope"), "{}", e.message);
    }

    #[test]
    fn default_base_is_private() {
        let set = FifoSet::create(None, "dflt", false, false).unwrap();
        assert!(set.dir().starts_with(default_base()));
        set.remove().unwrap();
    }
}
