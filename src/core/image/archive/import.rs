//! Import: an archive's images planned (an OCI layout's `index.json`
//! entries walked for the platform, or a `docker save` archive's
//! `manifest.json` entries made into Docker manifests as containerd's
//! importer makes them), their blobs written into the content store under
//! a lease (each checked against its digest as it is streamed), unpacked,
//! and the image records made.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::files::NO_PEER;
use super::naming::{
    entry_name, oci_ref_name, repo_tag_name, today, IMAGE_NAME_ANNOTATION, REF_NAME_ANNOTATION,
};
use super::source::{
    clean, hash_entry, open_source, read_entry, scan, source_of, stream_entry, ArchiveFile, Entry,
    Scan,
};
use super::{
    blocking, parse_digest, to_json, DockerEntry, JsonLayout, MAX_LINKS, OCI_LAYOUT_VERSION,
};
use crate::api::types::Descriptor;
use crate::core::cancel::Stop;
use crate::core::daemon::client::Client;
use crate::core::daemon::ident::shown;
use crate::core::error::{Code, Error, Result};
use crate::core::files::check_fd_access;
use crate::core::image::content::fresh_id;
use crate::core::image::oci::{
    digest_of, sha256_digest, JsonDescriptor, JsonIndex, JsonManifest, Versioned, DOCKER_CONFIG,
    DOCKER_LAYER, DOCKER_LAYER_GZIP, DOCKER_MANIFEST, OCI_LAYER_ZSTD,
};
use crate::core::image::platform::PlatformSpec;
use crate::core::image::progress::{Phase, Progress};
use crate::core::image::pull::PullOptions;
use crate::core::image::records::children_labels;
use crate::core::image::walk::{walk, Blobs, Node, PlatformContent, Walked};

/// Where a blob to import comes from.
#[derive(Debug, Clone)]
pub(super) enum Source {
    /// A file of the archive.
    Archive { name: String, entry: Entry },
    /// Made here (a docker-save archive's manifest).
    Made(Vec<u8>),
    /// Not in the archive, but in the content store already.
    Store,
}

#[derive(Debug, Clone)]
pub(super) struct Blob {
    digest: String,
    size: u64,
    source: Source,
    layer: bool,
}

/// What an import writes and makes.
#[derive(Debug, Default)]
pub(super) struct Plan {
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
pub(super) struct Importer<'a> {
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
            let manifest = to_json(&JsonManifest {
                header: Versioned::v2(DOCKER_MANIFEST),
                config: JsonDescriptor::from_descriptor(&config),
                layers: layers.iter().map(JsonDescriptor::from_descriptor).collect(),
            })?;
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
        match result {
            // Another writer (an import of the same archive at once)
            // committed the blob meanwhile: it is in the store, checked by
            // the daemon, as when it was there at the start.
            Err(e) if e.code == Code::AlreadyExists => {
                progress.add_bytes(blob.size.saturating_sub(written));
                return Ok(());
            }
            Err(e) => {
                progress.sub_bytes(written);
                return Err(e);
            }
            Ok(()) => {}
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
pub(super) struct ImportBlobs<'i, 'c> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            header: Versioned::v2(DOCKER_MANIFEST),
            config: d(DOCKER_CONFIG, "sha256:c", 10),
            layers: vec![d(DOCKER_LAYER_GZIP, "sha256:l", 20)],
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","digest":"sha256:c","size":10},"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","digest":"sha256:l","size":20}]}"#
        );
    }
}
