//! Pulling an image from a registry into containerd, done by the library
//! itself as containerd's Go client does (so it works alike on every
//! containerd): registry access in `registry`, blobs through the content
//! store's writer, the image record through the images service, the unpack
//! through the diff service.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use futures_util::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::api::services::images::v1 as images;
use crate::api::types::Descriptor;
use crate::core::client::Client;
use crate::core::content::hex;
use crate::core::error::{Code, Error, Result};
use crate::core::image::INDEX_TYPES;
use crate::core::images::{
    choose_in_index, manifest_children, ImageRecord, PlatformContent, PlatformSpec, MANIFEST_TYPES,
};
use crate::core::progress::{Phase, Progress};
use crate::core::registry::{Fetched, ImageRef, Remote};

/// How to pull (or import) an image; `Default` is a pull of this machine's
/// platform over https, unpacked into overlayfs, with the docker config's
/// credentials.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// "os/arch[/variant]", e.g. "linux/arm64/v8"; `None` = this machine's.
    pub platform: Option<String>,
    /// `None` = overlayfs.
    pub snapshotter: Option<String>,
    /// Fetch the content only.
    pub no_unpack: bool,
    /// With `secret`: the registry credentials; `None` = the docker config's.
    pub username: Option<String>,
    /// The password, or an identity token when `username` is empty.
    pub secret: Option<String>,
    /// http:// instead of https://.
    pub plain_http: bool,
    /// Accept any TLS certificate.
    pub skip_verify: bool,
    /// A PEM bundle of CAs trusted besides the system's.
    pub ca_file: Option<PathBuf>,
}

/// Indexes nest at most this deep.
const MAX_DEPTH: usize = 8;
/// Blobs (config and layers) fetched at once.
const CONCURRENT_FETCHES: usize = 3;

const LABEL_SOURCE: &str = "containerd.io/distribution.source.";
const LABEL_GC_CONTENT: &str = "containerd.io/gc.ref.content.";

/// Whether `mt` is a layer's media type (Go's `images.IsLayerType`).
fn is_layer(mt: &str) -> bool {
    mt.starts_with("application/vnd.oci.image.layer.")
        || mt.starts_with("application/vnd.docker.image.rootfs.")
}

/// Whether `mt` is an image config's (Go's `images.IsKnownConfig`).
fn is_config(mt: &str) -> bool {
    matches!(
        mt,
        "application/vnd.docker.container.image.v1+json"
            | "application/vnd.oci.image.config.v1+json"
            | "application/vnd.docker.plugin.v1+json"
            | "application/vnd.cncf.helm.config.v1+json"
    )
}

/// The ingest ref of blob `d`, as Go's `remotes.MakeRefKey` makes it (so a
/// write another client's pull left unfinished is resumed, and ours by it).
fn ref_key(d: &Descriptor) -> String {
    let mt = d.media_type.as_str();
    let kind = if MANIFEST_TYPES.contains(&mt) {
        "manifest"
    } else if INDEX_TYPES.contains(&mt) {
        "index"
    } else if is_layer(mt) {
        "layer"
    } else if is_config(mt) {
        "config"
    } else {
        "unknown"
    };
    format!("{kind}-{}", d.digest)
}

/// The labels that keep `children` of a blob from the garbage collector, as
/// Go's `images.SetChildrenLabels` with `ChildGCLabels` sets them:
/// `gc.ref.content.config`, `gc.ref.content.m.<i>` for manifests,
/// `gc.ref.content.l.<i>` for layers, `gc.ref.content.<i>` for the rest.
fn children_labels(children: &[Descriptor]) -> HashMap<String, String> {
    let mut labels = HashMap::new();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for c in children {
        let mt = c.media_type.as_str();
        let key = if is_config(mt) {
            "containerd.io/gc.ref.content.config"
        } else if MANIFEST_TYPES.contains(&mt) {
            "containerd.io/gc.ref.content.m."
        } else if is_layer(mt) {
            "containerd.io/gc.ref.content.l."
        } else {
            LABEL_GC_CONTENT
        };
        let n = counts.entry(key).or_default();
        let label = if *n > 0 || key.ends_with('.') {
            format!("{key}{n}")
        } else {
            key.to_string()
        };
        *n += 1;
        labels.insert(label, c.digest.clone());
    }
    labels
}

/// A fresh lease id for one pull.
fn pull_lease_id() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let seed = format!(
        "{now}\0{}\0{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    format!("containerd-c.pull.{}", &hex(&Sha256::digest(seed))[..24])
}

/// One pull in progress.
struct Pull<'a> {
    client: &'a Client,
    remote: Remote,
    image: ImageRef,
    lease: String,
    progress: Arc<Progress>,
    what: String,
}

impl Client {
    /// Pulls image `reference` (normalised as docker does: `busybox` is
    /// `docker.io/library/busybox:latest`) from its registry into the
    /// content store, as containerd's Go `client.Pull`: under a lease of its
    /// own, the manifest or index (and for an index, the manifest of the
    /// platform asked for), then the config and layers (3 at a time,
    /// streamed; blobs already there are not fetched; a write left
    /// unfinished is resumed with a ranged request where the registry
    /// allows); labels that keep children from the garbage collector and
    /// name the source; then the unpack unless `opts.no_unpack`; then the
    /// image record (created, or updated when it exists). The lease goes at
    /// the end, also on failure, so a failed pull leaves nothing behind.
    pub async fn pull(
        &self,
        reference: &str,
        opts: &PullOptions,
        progress: Arc<Progress>,
    ) -> Result<ImageRecord> {
        let image = ImageRef::parse(reference)?;
        let what = format!("pull {:?}", image.name);
        let platform = match &opts.platform {
            Some(p) => PlatformSpec::parse(p).map_err(|e| e.context(&what))?,
            None => PlatformSpec::host(),
        };
        if opts.snapshotter.as_deref() == Some("") {
            return Err(Error::invalid(format!("{what}: the snapshotter is empty")));
        }
        progress.set_phase(Phase::Resolving);
        let remote = Remote::new(&image, opts, &what).await?;
        let top = remote.manifest(None).await?;
        let lease = pull_lease_id();
        self.create_lease(&lease)
            .await
            .map_err(|e| e.context(&what))?;
        let pull = Pull {
            client: self,
            remote,
            image,
            lease: lease.clone(),
            progress,
            what: what.clone(),
        };
        let result = pull.run(top, &platform, opts).await;
        let deleted = self.delete_lease(&lease).await;
        let record = result?;
        deleted.map_err(|e| e.context(&what))?;
        Ok(record)
    }
}

impl Pull<'_> {
    async fn run(
        &self,
        top: Fetched,
        platform: &PlatformSpec,
        opts: &PullOptions,
    ) -> Result<ImageRecord> {
        let target = top.descriptor.clone();
        let mut walked = Vec::new();
        let mut current = top;
        let mut depth = 0;
        // Indexes down to the manifest for the platform.
        let (manifest, config, layers) = loop {
            depth += 1;
            if depth > MAX_DEPTH {
                return Err(Error::new(
                    Code::Unknown,
                    format!("{}: indexes nest more than {MAX_DEPTH} deep", self.what),
                ));
            }
            let d = current.descriptor.clone();
            if INDEX_TYPES.contains(&d.media_type.as_str()) {
                let choice = choose_in_index(&current.bytes, platform)
                    .map_err(|e| e.context(format!("{}: index {}", self.what, d.digest)))?;
                let chosen = choice.chosen.clone().ok_or_else(|| {
                    Error::new(
                        Code::NotFound,
                        format!(
                            "{}: no manifest for platform {platform} in index {} (it has: {})",
                            self.what,
                            d.digest,
                            if choice.platforms.is_empty() {
                                "nothing".to_string()
                            } else {
                                choice.platforms.join(", ")
                            }
                        ),
                    )
                })?;
                self.store_bytes(&current, children_labels(&choice.children))
                    .await?;
                walked.push(d);
                let next = self.remote.manifest(Some(&chosen.digest)).await?;
                if next.descriptor.size != chosen.size {
                    return Err(Error::new(
                        Code::Unknown,
                        format!(
                            "{}: manifest {} has {} bytes, the index says {}",
                            self.what, chosen.digest, next.descriptor.size, chosen.size
                        ),
                    ));
                }
                current = next;
            } else {
                let (config, layers) = manifest_children(&current.bytes)
                    .map_err(|e| e.context(format!("{}: manifest {}", self.what, d.digest)))?;
                let mut children = vec![config.clone()];
                children.extend(layers.iter().cloned());
                self.store_bytes(&current, children_labels(&children))
                    .await?;
                walked.push(d.clone());
                break (d, config, layers);
            }
        };
        // Totals: everything of this platform, as `Image.Size` counts it.
        let total: u64 = walked
            .iter()
            .chain(std::iter::once(&config))
            .chain(layers.iter())
            .map(|d| d.size as u64)
            .sum();
        self.progress.set_phase(Phase::Fetching);
        self.progress.set_totals(total, layers.len() as u32);
        let mut blobs = vec![(config.clone(), false)];
        blobs.extend(layers.iter().map(|l| (l.clone(), true)));
        futures_util::stream::iter(blobs.into_iter().map(Ok))
            .try_for_each_concurrent(CONCURRENT_FETCHES, |(d, is_layer)| async move {
                self.fetch_blob(&d).await?;
                if is_layer {
                    self.progress.layer_done();
                }
                Ok::<(), Error>(())
            })
            .await?;
        // As Go's client since 1.7: unpacked first, so the record appears
        // only with everything in place.
        if !opts.no_unpack {
            self.progress.set_phase(Phase::Unpacking);
            let content = PlatformContent {
                manifest,
                config,
                layers,
                walked,
            };
            let snapshotter = opts
                .snapshotter
                .as_deref()
                .unwrap_or(crate::core::image::DEFAULT_SNAPSHOTTER);
            self.unpack(&content, snapshotter).await?;
        }
        self.put_image(target).await
    }

    /// The distribution-source label for this image's repository, merged
    /// with `existing` (a comma-separated list, as Go keeps it).
    fn source_label(&self, existing: Option<&String>) -> (String, String) {
        let key = format!("{LABEL_SOURCE}{}", self.image.host());
        let repo = self.image.repository();
        let mut repos: Vec<&str> = existing
            .map(|v| v.split(',').filter(|r| !r.is_empty()).collect())
            .unwrap_or_default();
        if !repos.contains(&repo) {
            repos.push(repo);
        }
        repos.sort_unstable();
        (key, repos.join(","))
    }

    /// Labels `digest`, already in the store, with `labels` and the
    /// source, where it lacks them.
    async fn label_present(&self, digest: &str, mut labels: HashMap<String, String>) -> Result<()> {
        let info = self
            .client
            .content_info(digest)
            .await
            .map_err(|e| e.context(&self.what))?;
        let have = info.map(|i| i.labels).unwrap_or_default();
        let (key, value) =
            self.source_label(have.get(&format!("{LABEL_SOURCE}{}", self.image.host())));
        labels.insert(key, value);
        labels.retain(|k, v| have.get(k) != Some(v));
        self.client
            .set_content_labels(digest, labels)
            .await
            .map_err(|e| e.context(&self.what))
    }

    /// Writes a manifest or index fetched whole, with `labels`.
    async fn store_bytes(&self, f: &Fetched, mut labels: HashMap<String, String>) -> Result<()> {
        let d = &f.descriptor;
        let size = d.size as u64;
        let writer = self
            .client
            .content_writer(&self.lease, &ref_key(d), &d.digest, size)
            .await
            .map_err(|e| e.context(&self.what))?;
        match writer {
            None => self.label_present(&d.digest, labels).await?,
            Some(mut w) => {
                if w.offset() != 0 {
                    w.restart().await.map_err(|e| e.context(&self.what))?;
                }
                w.write(&f.bytes).await.map_err(|e| e.context(&self.what))?;
                let (k, v) = self.source_label(None);
                labels.insert(k, v);
                w.commit(labels).await.map_err(|e| e.context(&self.what))?;
            }
        }
        self.progress.add_bytes(size);
        Ok(())
    }

    /// Fetches blob `d` into the content store unless it is there.
    async fn fetch_blob(&self, d: &Descriptor) -> Result<()> {
        let size = d.size as u64;
        let writer = self
            .client
            .content_writer(&self.lease, &ref_key(d), &d.digest, size)
            .await
            .map_err(|e| e.context(&self.what))?;
        let Some(mut w) = writer else {
            self.progress.add_bytes(size);
            return self.label_present(&d.digest, HashMap::new()).await;
        };
        let mut offset = w.offset();
        if offset >= size && offset > 0 {
            // All there but not committed: start again rather than trust it.
            w.restart().await.map_err(|e| e.context(&self.what))?;
            offset = 0;
        }
        self.progress.add_bytes(offset);
        let (mut stream, partial) = match self.remote.blob(d, offset).await {
            Ok(s) => s,
            Err(e) => {
                self.progress.sub_bytes(offset);
                return Err(e);
            }
        };
        if offset > 0 && !partial {
            // The registry sent it all: the ref starts again.
            w.restart().await.map_err(|e| e.context(&self.what))?;
            self.progress.sub_bytes(offset);
        }
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.remote.stream_error(&d.digest, e))?;
            w.write(&chunk).await.map_err(|e| e.context(&self.what))?;
            self.progress.add_bytes(chunk.len() as u64);
        }
        let (k, v) = self.source_label(None);
        w.commit([(k, v)].into())
            .await
            .map_err(|e| e.context(&self.what))
    }

    /// Creates the image record, or updates it when it exists (as Go's
    /// `createNewImage`).
    async fn put_image(&self, target: Descriptor) -> Result<ImageRecord> {
        let image = images::Image {
            name: self.image.name.clone(),
            labels: HashMap::new(),
            target: Some(target.clone()),
            created_at: None,
            updated_at: None,
        };
        let what = format!("{}: create image record", self.what);
        for _ in 0..3 {
            let req = images::CreateImageRequest {
                image: Some(image.clone()),
            };
            match self
                .client
                .call(&what, self.client.images().create(self.client.request(req)))
                .await
            {
                Ok(_) => return self.record(target),
                Err(e) if e.code == Code::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            let req = images::UpdateImageRequest {
                image: Some(image.clone()),
                update_mask: None,
            };
            match self
                .client
                .call(&what, self.client.images().update(self.client.request(req)))
                .await
            {
                Ok(_) => return self.record(target),
                // Deleted meanwhile: create it again.
                Err(e) if e.code == Code::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Err(Error::new(
            Code::Unavailable,
            format!("{what}: it kept being deleted and created by others"),
        ))
    }

    /// Unpacks the layers into `snapshotter` (the diff service's Apply),
    /// under the pull's lease.
    async fn unpack(&self, content: &PlatformContent, snapshotter: &str) -> Result<()> {
        self.client
            .unpack(
                content,
                snapshotter,
                Some(&self.lease),
                Some(&self.progress),
            )
            .await
            .map_err(|e| e.context(&self.what))
    }

    fn record(&self, target: Descriptor) -> Result<ImageRecord> {
        Ok(ImageRecord {
            name: self.image.name.clone(),
            target,
            labels: HashMap::new(),
        })
    }
}
