//! Export: an OCI image layout tar of images (their targets and every
//! blob below that the content store has; this platform's path must be
//! whole) with docker's `manifest.json` beside it, written by a thread of
//! its own as the blobs stream from the content store.

use std::collections::HashSet;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use nix::sys::signal::{SigSet, Signal};

use super::files::{open_dest, Dest, StreamWriter, NO_PEER};
use super::naming::{familiar_name, oci_ref_name, IMAGE_NAME_ANNOTATION, REF_NAME_ANNOTATION};
use super::{
    blocking, io_error, parse_digest, to_json, DockerEntry, CHUNK, DOCKER_MANIFEST_FILE,
    OCI_INDEX_FILE, OCI_LAYOUT_FILE, OCI_LAYOUT_VERSION,
};
use crate::api::types::Descriptor;
use crate::core::daemon::client::Client;
use crate::core::error::{Code, Error, Result};
use crate::core::files::check_fd_access;
use crate::core::image::content::StoreBlobs;
use crate::core::image::oci::{JsonDescriptor, JsonIndex, Versioned, OCI_INDEX};
use crate::core::image::platform::PlatformSpec;
use crate::core::image::records::{validate_name, ImageRecord};
use crate::core::image::walk::{walk, Blobs, Walked};

impl Client {
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
            header: Versioned::v2(OCI_INDEX),
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
                self.stream_content(d, &chunks).await?;
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
}

/// The content store as the source of an export's walk: every blob below
/// the target that the store has (all of those on this platform's path
/// must be there), each once for the whole archive.
pub(super) struct ExportBlobs<'c, 's> {
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

/// What the tar writer thread is handed.
pub(super) enum Item {
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
pub(super) async fn send_whole(
    tx: &tokio::sync::mpsc::Sender<Item>,
    name: &str,
    mode: u32,
    data: Vec<u8>,
) {
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
pub(super) struct ChunkReader {
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
pub(super) fn write_tar(
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
