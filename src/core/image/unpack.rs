//! Unpacking an image's layers into a snapshotter, through the daemon's diff
//! and snapshot services, as containerd's Go unpacker does (and
//! `rootfs.ApplyLayers` before it), so it works the same on containerd 1.6,
//! 1.7 and 2.x.
//!
//! For each layer, in order: the chain id of the layers so far names the
//! committed snapshot. One that exists already is skipped. Otherwise an
//! active snapshot is prepared on the previous chain id under a key of its
//! own (`extract-<nanoseconds>-<random> <chain id>`, Go's form), the daemon's
//! differ extracts the layer blob onto its mounts (decompressing gzip or
//! zstd as the blob's media type says) and answers with the digest of the
//! uncompressed tar, which must be the layer's diff id in the image config;
//! then the snapshot is committed under the chain id. A commit that finds
//! the chain id already there (another unpack of the same layers at the same
//! time) is no error. The prepared snapshot is removed on every failure. The
//! layer blob then gets the `containerd.io/uncompressed` label (its diff id,
//! now verified), and at the end the config blob gets
//! `containerd.io/gc.ref.snapshot.<snapshotter>` = the top chain id: that
//! label keeps the unpacked snapshots from the garbage collector for as long
//! as the image (which refers to its config) exists.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use oci_spec::image::ImageConfiguration;

use crate::api::services::diff::v1 as diff;
use crate::api::services::snapshots::v1 as snapshots;
use crate::api::types::{Descriptor, Mount};
use crate::core::daemon::client::Client;
use crate::core::daemon::ident::shown;
use crate::core::error::{Code, Error, Result};
use crate::core::image::content::fresh_id;
use crate::core::image::progress::{Phase, Progress};
use crate::core::image::records::ImageRecord;
use crate::core::image::snapshot::chain_id;
use crate::core::image::walk::PlatformContent;

/// Content label of a layer blob: the digest of its uncompressed tar (its
/// diff id), set once an extraction verified it.
pub const LABEL_UNCOMPRESSED: &str = "containerd.io/uncompressed";
/// Snapshot label naming the chain id a snapshot is (or will be committed
/// as), which remote snapshotters read; set on prepare and commit.
pub const LABEL_SNAPSHOT_REF: &str = "containerd.io/snapshot.ref";
/// Layer annotations with this prefix are passed on as snapshot labels (as
/// Go's `snapshots.FilterInheritedLabels`).
const INHERITED_LABEL_PREFIX: &str = "containerd.io/snapshot/";
/// Attempts at preparing an extraction snapshot when its key is taken.
const PREPARE_TRIES: usize = 3;

/// The content label of an image config that keeps the image's unpacked
/// snapshots on `snapshotter` alive for the garbage collector.
pub fn gc_ref_snapshot_label(snapshotter: &str) -> String {
    format!("containerd.io/gc.ref.snapshot.{snapshotter}")
}

/// What an unpack of content still being fetched waits on: how many blobs
/// of [config, layers...] are in the store from the first on (see
/// [`Client::unpack_while_fetching`]); `None` when all are there.
struct Gate(Option<tokio::sync::Mutex<tokio::sync::watch::Receiver<usize>>>);

impl Gate {
    /// Waits until the first `n` blobs are in the store.
    async fn wait(&self, n: usize, what: &str) -> Result<()> {
        let Some(rx) = &self.0 else { return Ok(()) };
        let mut rx = rx.lock().await;
        rx.wait_for(|have| *have >= n)
            .await
            .map(|_| ())
            .map_err(|_| {
                Error::new(
                    Code::Cancelled,
                    format!(
                        "{what}: the fetch ended before blob {n} of the image was in the store"
                    ),
                )
            })
    }
}

/// A random 64-bit value (std's hasher keys are random per instance).
fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64,
    );
    h.finish()
}

/// `<nanoseconds of this second>-<4 URL-safe base64 characters>`, the unique
/// part Go's unpacker puts in its keys.
fn unique_part() -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let random = random_u64().to_le_bytes();
    let b64 = base64::engine::general_purpose::URL_SAFE.encode(&random[..3]);
    format!("{nanos}-{b64}")
}

/// The key of the active snapshot a layer is extracted into before it is
/// committed as `chain`: `extract-<unique> <chain>`, as Go's
/// `snapshots.UnpackKeyFormat`.
pub fn extraction_key(chain: &str) -> String {
    format!("extract-{} {chain}", unique_part())
}

/// The chain id of every prefix of `diff_ids`: the snapshot names of the
/// layers, bottom first.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut chains: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match chains.last() {
            None => d.clone(),
            Some(prev) => chain_id(&[prev.clone(), d.clone()]).unwrap_or_default(),
        };
        chains.push(next);
    }
    chains
}

/// Snapshot labels for the extraction of `layer` as `chain`.
fn snapshot_labels(layer: &Descriptor, chain: &str) -> HashMap<String, String> {
    let mut labels: HashMap<String, String> = layer
        .annotations
        .iter()
        .filter(|(k, _)| k.starts_with(INHERITED_LABEL_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_SNAPSHOT_REF.to_string(), chain.to_string());
    labels
}

/// One layer's place, for messages: `layer 2 of 5 (sha256:...)`.
fn layer_what(i: usize, n: usize, layer: &Descriptor) -> String {
    format!("layer {} of {n} ({})", i + 1, layer.digest)
}

impl Client {
    /// A request with the namespace and, when given, the lease.
    fn leased<T>(&self, message: T, lease: Option<&str>) -> Result<tonic::Request<T>> {
        match lease {
            Some(lease) => self.request_with_lease(message, lease),
            None => Ok(self.request(message)),
        }
    }

    /// Unpacks the layers of `content` (an image's manifest for one
    /// platform, see [`Client::platform_content`]) onto `snapshotter`, as
    /// the module documentation says. Snapshots are prepared and committed
    /// under `lease` when given (the caller's lease keeps what was committed
    /// from the garbage collector until the config's label does; without
    /// one, the caller must make sure no collection runs meanwhile).
    /// `progress`, when given, enters [`Phase::Unpacking`], gets the layer
    /// total and counts each layer done (skipped ones too).
    ///
    /// An image without layers has nothing to unpack: success. Each call to
    /// the daemon is bounded by the client's timeout; an extraction by that
    /// plus a second for each 10 MB of the layer.
    /// On failure the snapshot being prepared is removed; layers committed
    /// before stay (under the lease).
    pub async fn unpack(
        &self,
        content: &PlatformContent,
        snapshotter: &str,
        lease: Option<&str>,
        progress: Option<&Progress>,
    ) -> Result<()> {
        let what = format!("unpack manifest {}", content.manifest.digest);
        self.unpack_as(&what, content, snapshotter, lease, progress, &Gate(None))
            .await
    }

    /// [`Client::unpack`] of content still being fetched: the config and
    /// each layer are read once `in_store` counts them among the blobs of
    /// [config, layers...] in the content store from the first on (it only
    /// grows). Stops with `Cancelled` at the next layer it waits for once
    /// the sender is gone without sending it. Under `lease`; `progress`
    /// counts unpacked layers but is not moved to [`Phase::Unpacking`]: the
    /// fetch does that when it is done.
    pub async fn unpack_while_fetching(
        &self,
        content: &PlatformContent,
        snapshotter: &str,
        lease: &str,
        progress: &Progress,
        in_store: tokio::sync::watch::Receiver<usize>,
    ) -> Result<()> {
        let what = format!("unpack manifest {}", content.manifest.digest);
        let gate = Gate(Some(tokio::sync::Mutex::new(in_store)));
        self.unpack_as(
            &what,
            content,
            snapshotter,
            Some(lease),
            Some(progress),
            &gate,
        )
        .await
    }

    /// Unpacks `image` for this machine's platform onto `snapshotter`,
    /// under a lease of its own that is deleted at the end, as containerd's
    /// Go `Image.Unpack`: once the config carries the
    /// `containerd.io/gc.ref.snapshot.<snapshotter>` label, the image keeps
    /// its snapshots. On failure the lease is deleted with a synchronous
    /// garbage collection, so that the layers it alone kept are gone too.
    /// Unpacking an image already unpacked only checks and labels again.
    pub async fn unpack_image(&self, image: &ImageRecord, snapshotter: &str) -> Result<()> {
        let what = format!("unpack {}", self.image_what(&image.name));
        if snapshotter.is_empty() {
            return Err(Error::invalid(format!("{what}: the snapshotter is empty")));
        }
        let content = self
            .platform_content(image)
            .await
            .map_err(|e| e.context(&what))?;
        let lease = fresh_id("unpack");
        self.create_lease(&lease).await?;
        let result = self
            .unpack_as(
                &what,
                &content,
                snapshotter,
                Some(&lease),
                None,
                &Gate(None),
            )
            .await;
        let deleted = self.delete_lease_with(&lease, result.is_err()).await;
        result?;
        deleted
    }

    async fn unpack_as(
        &self,
        what: &str,
        content: &PlatformContent,
        snapshotter: &str,
        lease: Option<&str>,
        progress: Option<&Progress>,
        gate: &Gate,
    ) -> Result<()> {
        if snapshotter.is_empty() {
            return Err(Error::invalid(format!("{what}: the snapshotter is empty")));
        }
        let what = format!("{what} on snapshotter {}", shown(snapshotter));
        gate.wait(1, &what).await?;
        let config: ImageConfiguration = self
            .read_json("image config", &content.config)
            .await
            .map_err(|e| e.context(&what))?;
        let diff_ids = config.rootfs().diff_ids();
        let layers = &content.layers;
        if layers.len() != diff_ids.len() {
            return Err(Error::new(
                Code::Unknown,
                format!(
                    "{what}: the manifest has {} layers but the config {} has {} diff ids",
                    layers.len(),
                    content.config.digest,
                    diff_ids.len()
                ),
            ));
        }
        if let Some(p) = progress.filter(|_| gate.0.is_none()) {
            p.set_phase(Phase::Unpacking);
            let n = u32::try_from(layers.len()).unwrap_or(u32::MAX);
            let now = p.snapshot();
            if now.layers_total != n {
                p.set_totals(now.bytes_total, n);
            }
        }
        let chains = chain_ids(diff_ids);
        let Some(top) = chains.last().cloned() else {
            return Ok(());
        };
        // A layer whose parent vanished (the garbage collector took a
        // lower layer found unpacked before) sends the loop one layer down
        // to make it again, as Go's `rootfs.ApplyLayers` does; bounded, so
        // a collector racing every step cannot keep it going.
        let (mut i, mut counted, mut steps_back) = (0, 0, 0);
        while i < layers.len() {
            let layer = &layers[i];
            let parent = if i == 0 { "" } else { chains[i - 1].as_str() };
            gate.wait(i + 2, &what).await?;
            let step = Layer {
                what: format!("{what}: {}", layer_what(i, layers.len(), layer)),
                snapshotter,
                lease,
                layer,
                diff_id: &diff_ids[i],
                chain: &chains[i],
                parent,
            };
            match self.unpack_layer(&step).await? {
                Unpacked::Done => {
                    i += 1;
                    if i > counted {
                        counted = i;
                        if let Some(p) = progress {
                            p.layer_unpacked();
                        }
                    }
                }
                Unpacked::ParentMissing(e) => {
                    if i == 0 || steps_back >= layers.len() {
                        return Err(e);
                    }
                    steps_back += 1;
                    i -= 1;
                }
            }
        }
        let label = gc_ref_snapshot_label(snapshotter);
        self.set_content_labels(&content.config.digest, [(label, top)].into())
            .await
            .map_err(|e| e.context(&what))
    }

    /// Whether snapshot `key` exists on `snapshotter` (`what` starts the
    /// error of a stat that fails otherwise).
    pub(crate) async fn snapshot_exists(
        &self,
        what: &str,
        snapshotter: &str,
        key: &str,
    ) -> Result<bool> {
        let req = snapshots::StatSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            key: key.to_string(),
        };
        match self
            .call(
                format!("{what}: stat snapshot {key}"),
                self.snapshots().stat(self.request(req)),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code == Code::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Prepares the extraction snapshot of `step` on its parent.
    async fn prepare_extraction(&self, step: &Layer<'_>) -> Result<Prepared> {
        let labels = snapshot_labels(step.layer, step.chain);
        let mut last = None;
        for _ in 0..PREPARE_TRIES {
            let key = extraction_key(step.chain);
            let req = snapshots::PrepareSnapshotRequest {
                snapshotter: step.snapshotter.to_string(),
                key: key.clone(),
                parent: step.parent.to_string(),
                labels: labels.clone(),
            };
            let req = self.leased(req, step.lease)?;
            let prepare = format!("{}: prepare snapshot {}", step.what, shown(&key));
            match self.call(prepare, self.snapshots().prepare(req)).await {
                Ok(reply) => return Ok(Prepared::Ready(key, reply.mounts)),
                // The key is taken: unless the layer is there by now, try
                // another key.
                Err(e) if e.code == Code::AlreadyExists => {
                    if self
                        .snapshot_exists(&step.what, step.snapshotter, step.chain)
                        .await?
                    {
                        return Ok(Prepared::Exists);
                    }
                    last = Some(e);
                }
                Err(e) if e.code == Code::NotFound && !step.parent.is_empty() => {
                    return Ok(Prepared::ParentMissing(e))
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::internal(format!("{}: no key to prepare", step.what))))
    }

    /// Removes the extraction snapshot `key` after a failure (a failure to
    /// remove it is left out of the error: the first failure is the news).
    async fn abort_extraction(&self, step: &Layer<'_>, key: &str) {
        let req = snapshots::RemoveSnapshotRequest {
            snapshotter: step.snapshotter.to_string(),
            key: key.to_string(),
        };
        let _ = self
            .call(
                format!("{}: remove snapshot {}", step.what, shown(key)),
                self.snapshots().remove(self.request(req)),
            )
            .await;
    }

    /// One layer: skipped when its chain id exists, else prepared,
    /// extracted, checked and committed; then its blob labelled. A parent
    /// gone since it was found is for the caller to make again.
    async fn unpack_layer(&self, step: &Layer<'_>) -> Result<Unpacked> {
        if self
            .snapshot_exists(&step.what, step.snapshotter, step.chain)
            .await?
        {
            return Ok(Unpacked::Done);
        }
        let (key, mounts) = match self.prepare_extraction(step).await? {
            Prepared::Ready(key, mounts) => (key, mounts),
            Prepared::Exists => return Ok(Unpacked::Done),
            Prepared::ParentMissing(e) => return Ok(Unpacked::ParentMissing(e)),
        };
        let applied = match self.extract_and_commit(step, &key, mounts).await {
            Ok(Some(applied)) => applied,
            // Another unpack committed the same layers first.
            Ok(None) => {
                self.abort_extraction(step, &key).await;
                return Ok(Unpacked::Done);
            }
            Err(e) => {
                self.abort_extraction(step, &key).await;
                return Err(e);
            }
        };
        self.set_content_labels(
            &step.layer.digest,
            [(LABEL_UNCOMPRESSED.to_string(), applied)].into(),
        )
        .await
        .map_err(|e| e.context(&step.what))?;
        Ok(Unpacked::Done)
    }

    /// Extracts the layer onto `mounts`, checks the diff id, commits the
    /// snapshot `key` as the chain id: the verified diff id, or `None` when
    /// the commit found the chain id there already.
    async fn extract_and_commit(
        &self,
        step: &Layer<'_>,
        key: &str,
        mounts: Vec<Mount>,
    ) -> Result<Option<String>> {
        let req = diff::ApplyRequest {
            diff: Some(step.layer.clone()),
            mounts,
            payloads: Default::default(),
        };
        let mut req = self.leased(req, step.lease)?;
        // Extraction takes time with the layer's size: the client's timeout
        // plus a second for each 10 MB.
        let limit = self.timeout().map(|t| {
            t + Duration::from_secs(u64::try_from(step.layer.size).unwrap_or(0) / 10_000_000)
        });
        if let Some(limit) = limit {
            req.set_timeout(limit);
        }
        let apply = format!(
            "{}: extract the layer ({})",
            step.what, step.layer.media_type
        );
        let applied = self
            .call_within(apply, limit, self.diff().apply(req))
            .await?
            .applied
            .map(|d| d.digest)
            .unwrap_or_default();
        if applied != *step.diff_id {
            return Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "{}: the layer's content has diff id {}, but the image config says {}",
                    step.what,
                    if applied.is_empty() {
                        "(none given)"
                    } else {
                        &applied
                    },
                    step.diff_id
                ),
            ));
        }
        let req = snapshots::CommitSnapshotRequest {
            snapshotter: step.snapshotter.to_string(),
            name: step.chain.to_string(),
            key: key.to_string(),
            labels: snapshot_labels(step.layer, step.chain),
        };
        let req = self.leased(req, step.lease)?;
        let commit = format!("{}: commit snapshot {}", step.what, step.chain);
        match self.call(commit, self.snapshots().commit(req)).await {
            Ok(_) => Ok(Some(applied)),
            Err(e) if e.code == Code::AlreadyExists => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// How preparing a layer's extraction snapshot went.
enum Prepared {
    /// Prepared: its key and mounts.
    Ready(String, Vec<Mount>),
    /// The chain id turned out to exist meanwhile.
    Exists,
    /// The parent snapshot is gone (the daemon's not found).
    ParentMissing(Error),
}

/// How one layer's unpacking went.
enum Unpacked {
    /// Unpacked now or before.
    Done,
    /// Its parent is gone: the layer below must be made again.
    ParentMissing(Error),
}

/// What one layer's unpacking needs.
struct Layer<'a> {
    /// `unpack ... on snapshotter "x": layer 2 of 5 (sha256:...)`.
    what: String,
    snapshotter: &'a str,
    lease: Option<&'a str>,
    layer: &'a Descriptor,
    diff_id: &'a str,
    chain: &'a str,
    /// The previous layer's chain id; "" for the first.
    parent: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_are_those_of_every_prefix() {
        let ids: Vec<String> = ["sha256:aa", "sha256:bb", "sha256:cc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let chains = chain_ids(&ids);
        assert_eq!(chains.len(), 3);
        for (i, c) in chains.iter().enumerate() {
            assert_eq!(Some(c.clone()), chain_id(&ids[..=i]));
        }
        assert!(chain_ids(&[]).is_empty());
    }

    #[test]
    fn extraction_keys_have_go_s_form_and_differ() {
        let a = extraction_key("sha256:abc");
        let b = extraction_key("sha256:abc");
        assert_ne!(a, b);
        let (head, chain) = a.split_once(' ').unwrap();
        assert_eq!(chain, "sha256:abc");
        let rest = head.strip_prefix("extract-").unwrap();
        let (nanos, random) = rest.split_once('-').unwrap();
        assert!(nanos.parse::<u32>().unwrap() < 1_000_000_000);
        assert_eq!(random.len(), 4);
        assert!(random
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    }

    #[test]
    fn snapshot_labels_name_the_chain_and_inherit_snapshot_annotations() {
        let layer = Descriptor {
            annotations: [
                ("containerd.io/snapshot/remote.ref".to_string(), "r".into()),
                ("org.opencontainers.image.title".to_string(), "t".into()),
            ]
            .into(),
            ..Default::default()
        };
        let labels = snapshot_labels(&layer, "sha256:top");
        assert_eq!(labels.len(), 2);
        assert_eq!(labels[LABEL_SNAPSHOT_REF], "sha256:top");
        assert_eq!(labels["containerd.io/snapshot/remote.ref"], "r");
    }

    #[test]
    fn lease_ids_are_valid_and_unique() {
        let (a, b) = (fresh_id("unpack"), fresh_id("unpack"));
        assert_ne!(a, b);
        crate::core::daemon::ident::validate("lease", &a).unwrap();
        assert_eq!(
            gc_ref_snapshot_label("overlayfs"),
            "containerd.io/gc.ref.snapshot.overlayfs"
        );
    }
}
