//! Commit: a container's changes as a new image, as `nerdctl commit` makes
//! one with containerd's Go client (`rootfs.CreateDiff`).
//!
//! The container's snapshot must sit on its image's unpacked layers (its
//! parent is their chain id, for this machine's platform). Under a lease of
//! the commit's own: the task, when it runs, is paused; the daemon's differ
//! compares a view of the parent (the lower side) with the container's
//! snapshot (the upper side) and writes the changes as a gzip layer to the
//! content store, labelled with its diff id (`containerd.io/uncompressed`);
//! the task is resumed, whatever happened. Then the base image's config
//! gains that diff id in `rootfs.diff_ids` and an entry in `history`, a
//! manifest of the base's layers plus the new one (media types of the
//! base's family, OCI or Docker) is written with the labels that keep its
//! children, the new image is unpacked onto the container's snapshotter
//! (only the new layer is extracted: the base's are there) and its record
//! made. The lease goes at the end; on failure it goes with a synchronous
//! garbage collection, so that nothing the commit made is left: no record,
//! no blob, no snapshot.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::api::services::diff::v1 as diff;
use crate::api::services::snapshots::v1 as snapshots;
use crate::api::types::{Descriptor, Mount};
use crate::core::daemon::client::Client;
use crate::core::daemon::ident::shown;
use crate::core::error::{Code, Error, Result};
use crate::core::image::content::fresh_id;
use crate::core::image::oci::{
    sha256_hex, JsonDescriptor, JsonManifest, Versioned, DOCKER_LAYER_GZIP, DOCKER_MANIFEST,
    OCI_LAYER_GZIP,
};
use crate::core::image::records::{children_labels, ImageRecord};
use crate::core::image::snapshot::chain_id;
use crate::core::image::unpack::LABEL_UNCOMPRESSED;
use crate::core::image::walk::PlatformContent;

/// `created_by` of the history entry a commit adds.
pub const COMMIT_CREATED_BY: &str = "containerd-c commit";

/// The layer media type of a manifest of type `manifest_type`: Docker's
/// gzip layer in a Docker manifest, OCI's otherwise (the bytes are alike).
fn layer_media_type(manifest_type: &str) -> &'static str {
    if manifest_type == DOCKER_MANIFEST {
        DOCKER_LAYER_GZIP
    } else {
        OCI_LAYER_GZIP
    }
}

/// The diff ids of an image config (`rootfs.diff_ids`), each a sha256
/// digest; `what` starts the error.
pub fn config_diff_ids(what: &str, config: &Value) -> Result<Vec<String>> {
    let bad = |why: &str| Error::new(Code::Unknown, format!("{what}: the image config {why}"));
    let ids = match config.pointer("/rootfs/diff_ids") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(ids)) => ids,
        Some(_) => return Err(bad("has rootfs.diff_ids that is not a list")),
    };
    ids.iter()
        .map(|id| match id.as_str() {
            Some(s) if sha256_hex(s).is_ok() => Ok(s.to_string()),
            _ => Err(bad(&format!(
                "has a diff id that is not a sha256 digest: {id}"
            ))),
        })
        .collect()
}

/// The base config with one more layer: `diff_id` appended to
/// `rootfs.diff_ids`, a history entry for it (`created`, `created_by`,
/// `comment`), and `created` set to `created`. Every other field stays.
pub fn committed_config(
    base: &Value,
    diff_id: &str,
    created: &str,
    comment: &str,
) -> Result<Value> {
    let Value::Object(base) = base else {
        return Err(Error::new(
            Code::Unknown,
            "the image config is not a JSON object",
        ));
    };
    let mut config = base.clone();
    config.insert("created".into(), json!(created));
    let rootfs = config
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers"}));
    let Value::Object(rootfs) = rootfs else {
        return Err(Error::new(
            Code::Unknown,
            "the image config's rootfs is not a JSON object",
        ));
    };
    rootfs.entry("type").or_insert_with(|| json!("layers"));
    push(rootfs.entry("diff_ids"), json!(diff_id), "rootfs.diff_ids")?;
    let entry = json!({"created": created, "created_by": COMMIT_CREATED_BY, "comment": comment});
    push(config.entry("history"), entry, "history")?;
    Ok(Value::Object(config))
}

/// Appends `v` to the list at `slot` (made when absent or null).
fn push(slot: serde_json::map::Entry<'_>, v: Value, name: &str) -> Result<()> {
    let list = slot.or_insert_with(|| json!([]));
    if list.is_null() {
        *list = json!([]);
    }
    match list {
        Value::Array(items) => {
            items.push(v);
            Ok(())
        }
        _ => Err(Error::new(
            Code::Unknown,
            format!("the image config's {name} is not a list"),
        )),
    }
}

/// What the commit starts from: the container's snapshot and the base
/// image's content for this machine's platform.
struct Base {
    snapshotter: String,
    key: String,
    /// The snapshot's kind and parent (the base's top chain id; "" when
    /// the image has no layers).
    kind: i32,
    parent: String,
    content: PlatformContent,
    config: Value,
}

impl Client {
    /// Makes image `image_name` of container `id`'s changes, as the module
    /// documentation says; the task is paused for the diff when it runs,
    /// unless `pause` is false. Returns the new image's record.
    ///
    /// Errors: `InvalidArgument` (an empty name), `NotFound` (no such
    /// container), `AlreadyExists` (an image `image_name` exists),
    /// `FailedPrecondition` (the container has no image or no snapshot, its
    /// image or snapshot is gone, or the snapshot is not on the image's
    /// layers), and the daemon's errors; nothing is left after any.
    pub async fn commit_container(
        &self,
        id: &str,
        image_name: &str,
        pause: bool,
    ) -> Result<ImageRecord> {
        self.check_new_image(image_name)?;
        let record = self.get_container(id).await?;
        let what = format!(
            "commit {} as image {}",
            self.container_what(id),
            shown(image_name)
        );
        // Checked before anything is made (and again when the record is).
        match self.get_image(image_name).await {
            Ok(_) => {
                return Err(Error::new(
                    Code::AlreadyExists,
                    format!("{what}: {} already exists", self.image_what(image_name)),
                ))
            }
            Err(e) if e.code == Code::NotFound => {}
            Err(e) => return Err(e.context(&what)),
        }
        let base = self.commit_base(&what, &record).await?;
        let lease = fresh_id("commit");
        self.create_lease(&lease)
            .await
            .map_err(|e| e.context(&what))?;
        let result = self
            .commit_leased(&what, id, image_name, pause, &base, &lease)
            .await;
        // As a pull: on success the lease's removal is best effort (it
        // expires in a day); on failure the collector takes what it kept.
        let _ = self.delete_lease_with(&lease, result.is_err()).await;
        result.map_err(|e| e.context(&what))
    }

    /// The container's snapshot and image, checked: a snapshot on the
    /// image's layers.
    async fn commit_base(
        &self,
        what: &str,
        record: &crate::core::container::Record,
    ) -> Result<Base> {
        let precondition =
            |why: String| Error::new(Code::FailedPrecondition, format!("{what}: {why}"));
        if record.image.is_empty() {
            return Err(precondition(
                "the container has no image (a commit adds a layer to the container's image)"
                    .into(),
            ));
        }
        if record.snapshot_key.is_empty() {
            return Err(precondition(
                "the container has no snapshot (its rootfs is not a snapshot of its image)".into(),
            ));
        }
        let image = match self.get_image(&record.image).await {
            Err(e) if e.code == Code::NotFound => {
                return Err(precondition(format!(
                    "the container's image {} is gone",
                    shown(&record.image)
                )))
            }
            image => image.map_err(|e| e.context(what))?,
        };
        let content = self
            .platform_content(&image)
            .await
            .map_err(|e| e.context(what))?;
        let bytes = self
            .read_blob("image config", &content.config.digest, content.config.size)
            .await
            .map_err(|e| e.context(what))?;
        let config: Value = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                Code::Unknown,
                format!(
                    "{what}: image config {} is not valid: {e}",
                    content.config.digest
                ),
            )
        })?;
        let diff_ids = config_diff_ids(what, &config)?;
        if diff_ids.len() != content.layers.len() {
            return Err(Error::new(
                Code::Unknown,
                format!(
                    "{what}: the manifest of image {} has {} layers but its config {} has {} \
                     diff ids",
                    shown(&record.image),
                    content.layers.len(),
                    content.config.digest,
                    diff_ids.len()
                ),
            ));
        }
        let top = chain_id(&diff_ids).unwrap_or_default();
        let (snapshotter, key) = (record.snapshotter.clone(), record.snapshot_key.clone());
        let req = snapshots::StatSnapshotRequest {
            snapshotter: snapshotter.clone(),
            key: key.clone(),
        };
        let stat = format!("stat snapshot {} on {}", shown(&key), shown(&snapshotter));
        let info = match self
            .call(stat, self.snapshots().stat(self.request(req)))
            .await
        {
            Err(e) if e.code == Code::NotFound => {
                return Err(precondition(format!(
                    "the container's snapshot {} on {} is gone",
                    shown(&key),
                    shown(&snapshotter)
                )))
            }
            info => info.map_err(|e| e.context(what))?.info.unwrap_or_default(),
        };
        if info.parent != top {
            return Err(precondition(format!(
                "the container's snapshot {} is not on the layers of its image {} (its \
                 parent is {}, the image's layers are {})",
                shown(&key),
                shown(&record.image),
                if info.parent.is_empty() {
                    "none"
                } else {
                    &info.parent
                },
                if top.is_empty() { "none" } else { &top }
            )));
        }
        Ok(Base {
            snapshotter,
            key,
            kind: info.kind,
            parent: info.parent,
            content,
            config,
        })
    }

    /// The commit's work under `lease`: the diff (the task paused), the
    /// config and manifest, the unpack, the record.
    async fn commit_leased(
        &self,
        what: &str,
        id: &str,
        image_name: &str,
        pause: bool,
        base: &Base,
        lease: &str,
    ) -> Result<ImageRecord> {
        let paused = pause && self.pause_for_commit(id).await?;
        let layer = match self.diff_snapshot(base, lease).await {
            Ok(layer) => fail_point(image_name, Step::AfterDiff).map(|_| layer),
            failed => failed,
        };
        if paused {
            let resumed = self.resume_task(id).await;
            if let Err(r) = resumed {
                return Err(match layer {
                    Ok(_) => r,
                    Err(e) => Error::new(e.code, format!("{}; and {}", e.message, r.message)),
                });
            }
        }
        let (layer, diff_id) = layer?;

        let created = humantime::format_rfc3339_nanos(SystemTime::now()).to_string();
        let comment = format!("committed from container {id}");
        let config = committed_config(&base.config, &diff_id, &created, &comment)?;
        let config = serde_json::to_vec(&config).map_err(|e| Error::internal(e.to_string()))?;
        let size = config.len() as i64;
        let config = Descriptor {
            media_type: base.content.config.media_type.clone(),
            digest: self.write_blob(lease, config, HashMap::new()).await?,
            size,
            annotations: HashMap::new(),
        };

        let mut layers = base.content.layers.clone();
        layers.push(layer);
        let mut children = vec![config.clone()];
        children.extend(layers.iter().cloned());
        let media_type = base.content.manifest.media_type.clone();
        let manifest = JsonManifest {
            header: Versioned::v2(&media_type),
            config: JsonDescriptor::from_descriptor(&config),
            layers: layers.iter().map(JsonDescriptor::from_descriptor).collect(),
        };
        let manifest = serde_json::to_vec(&manifest).map_err(|e| Error::internal(e.to_string()))?;
        let size = manifest.len() as i64;
        let manifest = Descriptor {
            media_type,
            digest: self
                .write_blob(lease, manifest, children_labels(&children))
                .await?,
            size,
            annotations: HashMap::new(),
        };

        let mut walked = vec![manifest.clone()];
        walked.extend(children);
        let content = PlatformContent {
            manifest: manifest.clone(),
            config,
            layers,
            walked,
        };
        self.unpack(&content, &base.snapshotter, Some(lease), None)
            .await
            .map_err(|e| e.context(what))?;
        fail_point(image_name, Step::BeforeRecord)?;
        self.create_image(image_name, manifest).await
    }

    /// Pauses the task of container `id` when it runs: `true` when it was
    /// paused here (and must be resumed); `false` when there is no task or
    /// it does not run (created, stopped, paused already).
    async fn pause_for_commit(&self, id: &str) -> Result<bool> {
        match self.get_process(id, "").await {
            Err(e) if e.code == Code::NotFound => return Ok(false),
            Ok(p) if p.state != super::State::Running => return Ok(false),
            got => got?,
        };
        self.pause_task(id).await?;
        Ok(true)
    }

    /// The container's changes as a layer in the content store (under
    /// `lease`): its descriptor and diff id. The daemon's differ compares a
    /// view of the snapshot's parent with the snapshot itself (its mounts
    /// when active, a view when committed); the views made go at the end.
    async fn diff_snapshot(&self, base: &Base, lease: &str) -> Result<(Descriptor, String)> {
        let mut views = Vec::new();
        let result = self.diff_with_views(base, lease, &mut views).await;
        for key in views {
            // Under the lease: one not removed goes with it.
            let req = snapshots::RemoveSnapshotRequest {
                snapshotter: base.snapshotter.clone(),
                key: key.clone(),
            };
            let _ = self
                .call(
                    format!("remove snapshot {}", shown(&key)),
                    self.snapshots().remove(self.request(req)),
                )
                .await;
        }
        result
    }

    async fn diff_with_views(
        &self,
        base: &Base,
        lease: &str,
        views: &mut Vec<String>,
    ) -> Result<(Descriptor, String)> {
        let lower = self.view(base, &base.parent, lease, views).await?;
        let upper = if base.kind == snapshots::Kind::Committed as i32 {
            self.view(base, &base.key, lease, views).await?
        } else {
            let req = snapshots::MountsRequest {
                snapshotter: base.snapshotter.clone(),
                key: base.key.clone(),
            };
            self.call(
                format!("mounts of snapshot {}", shown(&base.key)),
                self.snapshots().mounts(self.request(req)),
            )
            .await?
            .mounts
        };
        // The diff takes time with the changes' size: the client's timeout
        // plus a second for each 10 MB of the snapshot (as an extraction).
        let req = snapshots::UsageRequest {
            snapshotter: base.snapshotter.clone(),
            key: base.key.clone(),
        };
        let usage = self
            .call(
                format!("usage of snapshot {}", shown(&base.key)),
                self.snapshots().usage(self.request(req)),
            )
            .await?;
        let limit = self
            .timeout()
            .map(|t| t + Duration::from_secs(u64::try_from(usage.size).unwrap_or(0) / 10_000_000));
        let req = diff::DiffRequest {
            left: lower,
            right: upper,
            media_type: OCI_LAYER_GZIP.to_string(),
            r#ref: String::new(),
            labels: HashMap::new(),
            source_date_epoch: None,
        };
        let mut req = self.request_with_lease(req, lease)?;
        if let Some(limit) = limit {
            req.set_timeout(limit);
        }
        let written = self
            .call_within(
                format!("diff snapshot {}", shown(&base.key)),
                limit,
                self.diff().diff(req),
            )
            .await?
            .diff
            .filter(|d| !d.digest.is_empty())
            .ok_or_else(|| Error::new(Code::Unknown, "the daemon's differ gave no layer"))?;
        // The differ labels the blob with the digest of the tar it
        // compressed: the layer's diff id.
        let info = self.content_info(&written.digest).await?.ok_or_else(|| {
            Error::new(
                Code::Unknown,
                format!(
                    "the layer {} the differ wrote is not in the content store",
                    written.digest
                ),
            )
        })?;
        let diff_id = info
            .labels
            .get(LABEL_UNCOMPRESSED)
            .or_else(|| written.annotations.get(LABEL_UNCOMPRESSED))
            .filter(|d| sha256_hex(d).is_ok())
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    Code::Unknown,
                    format!(
                        "the layer {} the differ wrote has no {LABEL_UNCOMPRESSED} label with a \
                         sha256 digest",
                        written.digest
                    ),
                )
            })?;
        let layer = Descriptor {
            media_type: layer_media_type(&base.content.manifest.media_type).to_string(),
            digest: written.digest,
            size: info.size,
            annotations: HashMap::new(),
        };
        Ok((layer, diff_id))
    }

    /// A read-only view of snapshot `parent` ("" for an empty one) under
    /// `lease`, its key added to `views`: its mounts.
    async fn view(
        &self,
        base: &Base,
        parent: &str,
        lease: &str,
        views: &mut Vec<String>,
    ) -> Result<Vec<Mount>> {
        let key = fresh_id("commit-view");
        let req = snapshots::ViewSnapshotRequest {
            snapshotter: base.snapshotter.clone(),
            key: key.clone(),
            parent: parent.to_string(),
            labels: HashMap::new(),
        };
        let req = self.request_with_lease(req, lease)?;
        let viewed = self
            .call(
                format!("view snapshot {}", shown(parent)),
                self.snapshots().view(req),
            )
            .await?;
        views.push(key);
        Ok(viewed.mounts)
    }
}

/// Where a test may make a commit fail (see `test_hooks`, with the
/// feature `test-hooks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The layer is written, the task still paused.
    AfterDiff,
    /// The image is written and unpacked, its record not made.
    BeforeRecord,
}

/// The failure a test asked for at `step` of the commit of `image_name`;
/// none outside tests.
fn fail_point(image_name: &str, step: Step) -> Result<()> {
    #[cfg(feature = "test-hooks")]
    test_hooks::take(image_name, step)?;
    let _ = (image_name, step);
    Ok(())
}

/// Test hooks (the cargo feature `test-hooks`, never in a release build).
#[cfg(feature = "test-hooks")]
pub mod test_hooks {
    use std::sync::Mutex;

    use super::Step;
    use crate::core::error::{Error, Result};

    static FAILS: Mutex<Vec<(String, Step)>> = Mutex::new(Vec::new());

    /// The next commit to image `image_name` fails at `step` (once), with
    /// `Internal` "test hook: commit failed at <step>".
    pub fn fail_commit(image_name: &str, step: Step) {
        FAILS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((image_name.to_string(), step));
    }

    pub(super) fn take(image_name: &str, step: Step) -> Result<()> {
        let mut fails = FAILS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match fails
            .iter()
            .position(|(n, s)| n == image_name && *s == step)
        {
            Some(i) => {
                fails.remove(i);
                Err(Error::internal(format!(
                    "test hook: commit failed at {step:?}"
                )))
            }
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn a_commit_adds_a_diff_id_and_a_history_entry_and_keeps_the_rest() {
        let base = json!({
            "architecture": "amd64", "os": "linux", "created": "2020-01-01T00:00:00Z",
            "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
            "rootfs": {"type": "layers", "diff_ids": [A]},
            "history": [{"created_by": "ADD x /"}],
            "x-extra": 1,
        });
        let t = "2024-05-01T10:00:00.5Z";
        let c = committed_config(&base, B, t, "from c1").unwrap();
        assert_eq!(config_diff_ids("w", &c).unwrap(), [A, B]);
        assert_eq!(c["created"], t);
        assert_eq!(c["history"].as_array().unwrap().len(), 2);
        assert_eq!(
            c["history"][1],
            json!({"created": t, "created_by": COMMIT_CREATED_BY, "comment": "from c1"})
        );
        for k in ["architecture", "os", "config", "x-extra"] {
            assert_eq!(c[k], base[k], "{k}");
        }
        // No history, no diff ids: made.
        let bare = json!({"os": "linux", "history": null});
        let c = committed_config(&bare, A, t, "").unwrap();
        assert_eq!(c["rootfs"], json!({"type": "layers", "diff_ids": [A]}));
        assert_eq!(c["history"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn configs_of_the_wrong_shape_are_refused() {
        assert!(committed_config(&json!([1]), A, "t", "").is_err());
        let e = committed_config(&json!({"rootfs": {"diff_ids": "x"}}), A, "t", "").unwrap_err();
        assert!(
            e.message.contains("rootfs.diff_ids is not a list"),
            "{}",
            e.message
        );
        let e = committed_config(&json!({"history": {}}), A, "t", "").unwrap_err();
        assert!(e.message.contains("history is not a list"), "{}", e.message);
        let e = config_diff_ids("w", &json!({"rootfs": {"diff_ids": ["sha256:12"]}})).unwrap_err();
        assert_eq!(e.code, Code::Unknown);
        assert!(
            e.message.starts_with("w: the image config has a diff id"),
            "{}",
            e.message
        );
        assert_eq!(
            config_diff_ids("w", &json!({})).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn the_layer_follows_the_manifests_family() {
        assert_eq!(layer_media_type(DOCKER_MANIFEST), DOCKER_LAYER_GZIP);
        assert_eq!(
            layer_media_type("application/vnd.oci.image.manifest.v1+json"),
            OCI_LAYER_GZIP
        );
    }
}
