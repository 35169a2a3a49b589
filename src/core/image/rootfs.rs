//! An image's files read straight from its snapshot's layer directories on
//! this host (the spec's user lookup reads `/etc/passwd` and `/etc/group`
//! this way), as a process chrooted into the container's root would see
//! them, never as the host sees those directories.
//!
//! The path is walked one component at a time over the layer directories,
//! top layer first, as overlayfs merges them: the first layer that has an
//! entry gives it; a whiteout (a character device 0:0) there means the entry
//! is absent; a directory merges with the directories of the same name in
//! lower layers, down to the first layer where that name is an opaque
//! directory (xattr `trusted.overlay.opaque`, or `user.overlay.opaque` for a
//! `userxattr` mount, set to `y`) or anything but a directory. Symlinks are
//! read, never followed by the host: their targets are resolved against the
//! image's root (an absolute target starts from it, `..` stops at it), at
//! most [`MAX_SYMLINKS`] of them per path. A crafted image cannot make the
//! walk long or hold many descriptors: it takes at most [`MAX_COMPONENTS`]
//! components, symlink targets' included, and goes at most [`MAX_DEPTH`]
//! directories deep (each level holds a descriptor per merged layer, kept
//! for `..`). Every step goes through directory
//! descriptors opened with `O_NOFOLLOW`, and the file found is read by
//! `files::read_small_at` (a regular file of at most 1 MiB, opened with
//! `O_NOFOLLOW`), so that nothing outside the layer directories is reached,
//! even should an entry be swapped for a symlink meanwhile. A bind mount (one
//! directory, as the native snapshotter's) is the same walk over one layer.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::{self, AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::api::types::Mount;
use crate::core::error::{Code, Error, Result};
use crate::core::files;

/// The most symlinks followed in resolving one path (Linux's limit).
pub const MAX_SYMLINKS: usize = 40;

/// The most path components walked in resolving one path, those of the
/// symlink targets followed included (each costs a lookup in every layer).
pub const MAX_COMPONENTS: usize = 4096;

/// The most directories deep a path may go below the image's root (each
/// level holds a descriptor per merged layer until the walk ends).
pub const MAX_DEPTH: usize = 256;

/// The xattr that makes an overlay directory opaque.
pub const TRUSTED_OPAQUE: &str = "trusted.overlay.opaque";
/// The same for a mount with the `userxattr` option.
pub const USER_OPAQUE: &str = "user.overlay.opaque";

/// The layer directories of a root filesystem, top first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layers {
    dirs: Vec<PathBuf>,
    opaque_xattr: &'static str,
}

/// What a name is in a merged directory.
enum Entry {
    Absent,
    /// A directory: the layer directories merged in it, top first.
    Dir(Vec<OwnedFd>),
    Symlink(Vec<u8>),
    /// A regular file in the layer directory of this index.
    File(usize),
    /// A device, FIFO or socket.
    Other,
}

impl Layers {
    /// `dirs` top first, opaque directories marked by `opaque_xattr`.
    pub fn new(dirs: Vec<PathBuf>, opaque_xattr: &'static str) -> Layers {
        Layers { dirs, opaque_xattr }
    }

    /// The layers of a snapshot's mounts: a bind mount's source, an overlay
    /// mount's upperdir then lowerdirs.
    pub fn of_mounts(mounts: &[Mount]) -> Result<Layers> {
        let mut dirs = Vec::new();
        let mut opaque_xattr = TRUSTED_OPAQUE;
        for m in mounts {
            match m.r#type.as_str() {
                "bind" => dirs.push(PathBuf::from(&m.source)),
                "overlay" => {
                    for o in &m.options {
                        if let Some(upper) = o.strip_prefix("upperdir=") {
                            dirs.insert(0, PathBuf::from(upper));
                        } else if let Some(lower) = o.strip_prefix("lowerdir=") {
                            dirs.extend(lower.split(':').map(PathBuf::from));
                        } else if o == "userxattr" {
                            opaque_xattr = USER_OPAQUE;
                        }
                    }
                }
                other => {
                    return Err(Error::new(
                        Code::NotImplemented,
                        format!("reading files through a {other:?} mount"),
                    ))
                }
            }
        }
        Ok(Layers { dirs, opaque_xattr })
    }

    /// The bytes of the file at `path` (relative to the image's root) as the
    /// image has it, `None` when it has no such file (a symlink to nowhere
    /// included). A symlink loop, a path of more than [`MAX_COMPONENTS`]
    /// components (symlink targets included) or [`MAX_DEPTH`] directories
    /// deep, a path through a non-directory, anything
    /// but a regular file of at most 1 MiB, or a layer that cannot be read
    /// is `InvalidArgument`, its message `"{what} /{path}: why"`.
    pub fn read(&self, path: &str, what: &str) -> Result<Option<Vec<u8>>> {
        let shown = format!("/{}", path.trim_start_matches('/'));
        let fail = |why: String| Error::invalid(format!("{what} {shown}: {why}"));
        let mut root = Vec::with_capacity(self.dirs.len());
        for d in &self.dirs {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            let fd = fs::open(d, flags, Mode::empty())
                .map_err(|e| fail(format!("layer directory {}: {e}", d.display())))?;
            root.push(fd);
        }
        // The directories walked into, root first: each its name in the
        // image and its merged layer directories.
        let mut stack: Vec<(String, Vec<OwnedFd>)> = vec![(String::new(), root)];
        let mut rest: VecDeque<Vec<u8>> = path
            .as_bytes()
            .split(|&b| b == b'/')
            .map(<[u8]>::to_vec)
            .collect();
        let mut links = 0;
        let mut components = 0;
        while let Some(name) = rest.pop_front() {
            if name.is_empty() {
                continue;
            }
            components += 1;
            if components > MAX_COMPONENTS {
                return Err(fail(format!(
                    "too many path components (more than {MAX_COMPONENTS}, symbolic links' included)"
                )));
            }
            match &name[..] {
                b"." => continue,
                b".." => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let (at, dir) = stack.last().expect("the root is never popped");
            let here = format!("{at}/{}", String::from_utf8_lossy(&name));
            let entry = self
                .lookup(dir, OsStr::from_bytes(&name))
                .map_err(|e| fail(format!("{here}: {e}")))?;
            let last = rest.is_empty();
            match (entry, last) {
                (Entry::Absent, _) => return Ok(None),
                (Entry::Symlink(target), _) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(fail(format!(
                            "more than {MAX_SYMLINKS} symbolic links (a loop?)"
                        )));
                    }
                    if target.is_empty() {
                        return Ok(None);
                    }
                    if target[0] == b'/' {
                        stack.truncate(1);
                    }
                    for c in target.split(|&b| b == b'/').rev() {
                        rest.push_front(c.to_vec());
                    }
                }
                (Entry::Dir(merged), false) => {
                    if stack.len() > MAX_DEPTH {
                        return Err(fail(format!(
                            "{here}: more than {MAX_DEPTH} directories deep"
                        )));
                    }
                    stack.push((here, merged))
                }
                (Entry::File(layer), true) => {
                    return files::read_small_at(
                        dir[layer].as_fd(),
                        OsStr::from_bytes(&name),
                        &shown,
                        what,
                    )
                }
                (Entry::Dir(_) | Entry::Other, true) => {
                    return Err(fail("not a regular file".to_string()))
                }
                (Entry::File(_) | Entry::Other, false) => {
                    return Err(fail(format!("{here} is not a directory")))
                }
            }
        }
        // The path ended at a directory ("", ".", "..", "etc/").
        Err(fail("not a regular file".to_string()))
    }

    /// `name` in the directory merged from `dir` (layer directories, top
    /// first).
    fn lookup(&self, dir: &[OwnedFd], name: &OsStr) -> io::Result<Entry> {
        let mut merged = Vec::new();
        for (layer, fd) in dir.iter().enumerate() {
            let st = match fs::statat(fd, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            };
            let file_type = FileType::from_raw_mode(st.st_mode);
            if file_type != FileType::Directory {
                if !merged.is_empty() {
                    // Hides this layer's and lower layers' directories.
                    break;
                }
                return Ok(match file_type {
                    FileType::CharacterDevice if st.st_rdev == 0 => Entry::Absent,
                    FileType::Symlink => {
                        Entry::Symlink(fs::readlinkat(fd, name, Vec::new())?.into_bytes())
                    }
                    FileType::RegularFile => Entry::File(layer),
                    _ => Entry::Other,
                });
            }
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let sub = fs::openat(fd, name, flags, Mode::empty())?;
            let opaque = self.opaque(&sub)?;
            merged.push(sub);
            if opaque {
                break;
            }
        }
        Ok(if merged.is_empty() {
            Entry::Absent
        } else {
            Entry::Dir(merged)
        })
    }

    /// Whether directory `dir` hides the lower layers' entries.
    fn opaque(&self, dir: &OwnedFd) -> io::Result<bool> {
        let mut value = [0u8; 2];
        match fs::fgetxattr(dir, self.opaque_xattr, &mut value[..]) {
            Ok(n) => Ok(&value[..n] == b"y"),
            Err(Errno::NODATA | Errno::NOTSUP | Errno::RANGE) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::path::Path;

    /// `n` empty layer directories in a fresh temp dir, top first.
    fn layer_dirs(n: usize) -> (tempfile::TempDir, Vec<PathBuf>) {
        let tmp = tempfile::tempdir().unwrap();
        let dirs: Vec<PathBuf> = (0..n).map(|i| tmp.path().join(format!("l{i}"))).collect();
        for d in &dirs {
            std::fs::create_dir(d).unwrap();
        }
        (tmp, dirs)
    }

    /// Writes `contents` at `path` under `dir`, making its parents.
    fn put(dir: &Path, path: &str, contents: &str) {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    /// Makes `path` under `dir` a symlink to `target`, making its parents.
    fn link(dir: &Path, path: &str, target: &str) {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        symlink(target, p).unwrap();
    }

    fn read(layers: &Layers, path: &str) -> Option<String> {
        layers
            .read(path, "the image's file")
            .unwrap()
            .map(|b| String::from_utf8(b).unwrap())
    }

    fn trusted(dirs: &[PathBuf]) -> Layers {
        Layers::new(dirs.to_vec(), TRUSTED_OPAQUE)
    }

    /// A file on the host, outside every layer, that no read may return.
    fn host_marker() -> (tempfile::TempDir, PathBuf) {
        let host = tempfile::tempdir().unwrap();
        let marker = host.path().join("shadow");
        std::fs::write(&marker, "HOST FILE\n").unwrap();
        (host, marker)
    }

    #[test]
    fn upper_layers_win_and_directories_merge() {
        let (_tmp, dirs) = layer_dirs(3);
        put(&dirs[2], "etc/passwd", "bottom");
        put(&dirs[2], "etc/group", "bottom group");
        put(&dirs[1], "etc/passwd", "middle");
        put(&dirs[0], "etc/hosts", "top");
        let layers = trusted(&dirs);
        assert_eq!(read(&layers, "etc/passwd").as_deref(), Some("middle"));
        assert_eq!(read(&layers, "etc/group").as_deref(), Some("bottom group"));
        assert_eq!(read(&layers, "/etc/./hosts").as_deref(), Some("top"));
        assert_eq!(read(&layers, "etc/none"), None);
        assert_eq!(read(&layers, "none/passwd"), None);
        // One directory (a bind mount) is the same walk.
        let one = trusted(&dirs[2..]);
        assert_eq!(read(&one, "etc/passwd").as_deref(), Some("bottom"));
    }

    #[test]
    fn absolute_symlinks_resolve_in_the_image() {
        let (host, marker) = host_marker();
        let marker_in_image = marker.to_str().unwrap().trim_start_matches('/');
        let (_tmp, dirs) = layer_dirs(2);
        // The host's /etc/shadow exists; the image's is its own.
        link(&dirs[0], "etc/passwd", "/etc/shadow");
        put(&dirs[1], "etc/shadow", "image shadow");
        // A host file the image does not have: absent, not read.
        link(&dirs[0], "etc/group", marker.to_str().unwrap());
        let layers = trusted(&dirs);
        assert_eq!(read(&layers, "etc/passwd").as_deref(), Some("image shadow"));
        assert_eq!(read(&layers, "etc/group"), None);
        // And the image's own file at that path when it has one.
        put(&dirs[1], marker_in_image, "image file");
        assert_eq!(read(&layers, "etc/group").as_deref(), Some("image file"));
        drop(host);
    }

    #[test]
    fn dotdot_stops_at_the_image_root() {
        let (host, marker) = host_marker();
        let (_tmp, dirs) = layer_dirs(1);
        // On the host etc/../../../.. is /, and this path the marker.
        link(&dirs[0], "etc", "../../../..");
        let through_etc = format!("etc{}", marker.display());
        assert!(std::fs::metadata(dirs[0].join(&through_etc)).is_ok());
        let layers = trusted(&dirs);
        assert_eq!(read(&layers, &through_etc), None);
        assert_eq!(read(&layers, "etc/passwd"), None);
        put(&dirs[0], "passwd", "the image's /passwd");
        assert_eq!(
            read(&layers, "etc/passwd").as_deref(),
            Some("the image's /passwd")
        );
        // A relative target climbing out of the root, then back down.
        let up = format!("../../../../../../../..{}", marker.display());
        link(&dirs[0], "etc2/group", &up);
        assert_eq!(read(&layers, "etc2/group"), None);
        drop(host);
    }

    #[test]
    fn relative_symlinks_within_the_image_work() {
        let (_tmp, dirs) = layer_dirs(2);
        link(&dirs[0], "etc/passwd", "../usr/share/passwd");
        link(&dirs[0], "usr", "/opt/usr");
        put(&dirs[1], "opt/usr/share/passwd", "shared passwd");
        link(&dirs[1], "etc/group", "./sub/../group.real");
        put(&dirs[1], "etc/group.real", "real group");
        std::fs::create_dir(dirs[1].join("etc/sub")).unwrap();
        let layers = trusted(&dirs);
        assert_eq!(
            read(&layers, "etc/passwd").as_deref(),
            Some("shared passwd")
        );
        assert_eq!(read(&layers, "etc/group").as_deref(), Some("real group"));
    }

    #[test]
    fn whiteouts_make_files_absent() {
        let (_tmp, dirs) = layer_dirs(3);
        put(&dirs[2], "etc/group", "bottom group");
        put(&dirs[2], "etc/passwd", "bottom passwd");
        std::fs::create_dir(dirs[0].join("etc")).unwrap();
        let whiteout = |p: PathBuf| {
            nix::sys::stat::mknod(
                &p,
                nix::sys::stat::SFlag::S_IFCHR,
                nix::sys::stat::Mode::from_bits_truncate(0o600),
                0,
            )
            .unwrap()
        };
        whiteout(dirs[0].join("etc/group"));
        // A whiteout of a directory in the middle layer hides it below.
        whiteout(dirs[1].join("etc"));
        put(&dirs[0], "etc/hosts", "top hosts");
        let layers = trusted(&dirs);
        assert_eq!(read(&layers, "etc/group"), None);
        assert_eq!(read(&layers, "etc/passwd"), None);
        assert_eq!(read(&layers, "etc/hosts").as_deref(), Some("top hosts"));
        // Without the middle layer the bottom's passwd shows.
        let two = trusted(&[dirs[0].clone(), dirs[2].clone()]);
        assert_eq!(read(&two, "etc/passwd").as_deref(), Some("bottom passwd"));
        assert_eq!(read(&two, "etc/group"), None);
    }

    #[test]
    fn opaque_directories_hide_lower_layers() {
        for xattr in [TRUSTED_OPAQUE, USER_OPAQUE] {
            let (_tmp, dirs) = layer_dirs(2);
            put(&dirs[1], "etc/passwd", "lower passwd");
            put(&dirs[1], "etc/group", "lower group");
            put(&dirs[0], "etc/group", "upper group");
            let etc = std::fs::File::open(dirs[0].join("etc")).unwrap();
            fs::fsetxattr(&etc, xattr, b"y", fs::XattrFlags::empty()).unwrap();
            let layers = Layers::new(dirs.clone(), xattr);
            assert_eq!(read(&layers, "etc/passwd"), None, "{xattr}");
            assert_eq!(read(&layers, "etc/group").as_deref(), Some("upper group"));
            // The other kind of mount does not take this xattr.
            let other = if xattr == TRUSTED_OPAQUE {
                USER_OPAQUE
            } else {
                TRUSTED_OPAQUE
            };
            let layers = Layers::new(dirs.clone(), other);
            assert_eq!(read(&layers, "etc/passwd").as_deref(), Some("lower passwd"));
        }
    }

    #[test]
    fn symlink_loops_fail_naming_the_path() {
        let (_tmp, dirs) = layer_dirs(1);
        link(&dirs[0], "etc/passwd", "passwd2");
        link(&dirs[0], "etc/passwd2", "/etc/passwd");
        let layers = trusted(&dirs);
        let e = layers.read("etc/passwd", "the image's file").unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert_eq!(
            e.message,
            "the image's file /etc/passwd: more than 40 symbolic links (a loop?)"
        );
        // 40 links in a row are followed, 41 are not.
        for i in 0..41 {
            link(&dirs[0], &format!("chain/{i}"), &format!("{}", i + 1));
        }
        put(&dirs[0], "chain/41", "end");
        assert_eq!(read(&layers, "chain/1").as_deref(), Some("end"));
        let e = layers.read("chain/0", "f").unwrap_err();
        assert!(e.message.contains("more than 40 symbolic links"), "{e}");
    }

    #[test]
    fn long_paths_through_symlinks_fail_promptly() {
        let (_tmp, dirs) = layer_dirs(1);
        put(&dirs[0], "etc/passwd", "passwd");
        // Three links of 2000 components each ("./" is 2 bytes, so each
        // target stays under PATH_MAX): 6000 components in all.
        let dots = "./".repeat(2000);
        link(&dirs[0], "a", &format!("{dots}b"));
        link(&dirs[0], "b", &format!("{dots}c"));
        link(&dirs[0], "c", &format!("{dots}etc/passwd"));
        let layers = trusted(&dirs);
        assert_eq!(read(&layers, "b").as_deref(), Some("passwd"));
        let start = std::time::Instant::now();
        let e = layers.read("a", "the image's file").unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(
            e.message
                .starts_with("the image's file /a: too many path components"),
            "{e}"
        );
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn deep_paths_are_bounded() {
        let (_tmp, dirs) = layer_dirs(2);
        let deep = |n: usize| format!("{}f", "d/".repeat(n));
        put(&dirs[0], &deep(MAX_DEPTH), "deep");
        put(&dirs[1], &deep(MAX_DEPTH + 1), "too deep");
        let layers = trusted(&dirs);
        assert_eq!(read(&layers, &deep(MAX_DEPTH)).as_deref(), Some("deep"));
        let e = layers.read(&deep(MAX_DEPTH + 1), "f").unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(e.message.contains("more than 256 directories deep"), "{e}");
    }

    #[test]
    fn only_regular_files_through_directories() {
        let (_tmp, dirs) = layer_dirs(1);
        put(&dirs[0], "etc/passwd", "x");
        nix::unistd::mkfifo(
            &dirs[0].join("etc/group"),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        let layers = trusted(&dirs);
        for (path, why) in [
            ("etc", "not a regular file"),
            ("etc/", "not a regular file"),
            ("etc/group", "not a regular file"),
            ("etc/passwd/x", "/etc/passwd is not a directory"),
            ("etc/passwd/", "/etc/passwd is not a directory"),
        ] {
            let e = layers.read(path, "f").unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert_eq!(e.message, format!("f /{path}: {why}"));
        }
    }

    #[test]
    fn overlay_and_bind_mounts_give_the_layers() {
        let mount = |t: &str, source: &str, options: &[&str]| Mount {
            r#type: t.to_string(),
            source: source.to_string(),
            target: String::new(),
            options: options.iter().map(|o| o.to_string()).collect(),
        };
        let overlay = mount("overlay", "overlay", &["index=off", "lowerdir=/a:/b"]);
        assert_eq!(
            Layers::of_mounts(&[overlay]).unwrap(),
            Layers::new(vec!["/a".into(), "/b".into()], TRUSTED_OPAQUE)
        );
        let overlay = mount(
            "overlay",
            "overlay",
            &["userxattr", "lowerdir=/b", "upperdir=/u", "workdir=/w"],
        );
        assert_eq!(
            Layers::of_mounts(&[overlay]).unwrap(),
            Layers::new(vec!["/u".into(), "/b".into()], USER_OPAQUE)
        );
        let bind = mount("bind", "/s", &["ro", "rbind"]);
        assert_eq!(
            Layers::of_mounts(&[bind]).unwrap(),
            Layers::new(vec!["/s".into()], TRUSTED_OPAQUE)
        );
        let e = Layers::of_mounts(&[mount("erofs", "/x", &[])]).unwrap_err();
        assert_eq!(e.code, Code::NotImplemented);
    }
}
