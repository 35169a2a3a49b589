//! From an image name to its root filesystem: image record, manifest (the one
//! for this machine's platform when the image is an index), config, the
//! layers' diff ids, the chain id, and a snapshot prepared on top of it under
//! a lease so that the garbage collector cannot take it before a container
//! refers to it.

use std::time::{Duration, SystemTime};

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use sha2::{Digest, Sha256};

use crate::api::services::content::v1::ReadContentRequest;
use crate::api::services::images::v1::GetImageRequest;
use crate::api::services::leases::v1 as leases;
use crate::api::services::snapshots::v1 as snapshots;
use crate::api::types::Descriptor;
use crate::core::client::Client;
use crate::core::error::{Code, Error, Result};
use crate::core::ident::shown;

/// The snapshotter used unless one is named.
pub const DEFAULT_SNAPSHOTTER: &str = "overlayfs";
/// How long a prepared snapshot's lease protects it when no container ever
/// refers to it (as containerd's Go client's default lease).
const LEASE_EXPIRY: Duration = Duration::from_secs(24 * 3600);
/// Largest manifest, index or config we read.
const MAX_BLOB: i64 = 4 << 20;

const INDEX_TYPES: [&str; 2] = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/// This machine's platform as OCI names it (architecture, variant).
pub fn platform() -> (&'static str, Option<&'static str>) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", Some("v8")),
        "x86" => ("386", None),
        "arm" => ("arm", None),
        "powerpc64" => ("ppc64le", None),
        other => (other, None),
    }
}

/// The chain id of a stack of layers: the first diff id, then
/// `sha256(previous + " " + next)` for each further layer.
pub fn chain_id(diff_ids: &[String]) -> Option<String> {
    let mut ids = diff_ids.iter();
    let mut chain = ids.next()?.clone();
    for diff in ids {
        let hash = Sha256::digest(format!("{chain} {diff}").as_bytes());
        chain = format!("sha256:{}", hex(&hash));
    }
    Some(chain)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id of the lease that protects snapshot `key` of `snapshotter` until a
/// container refers to it: derived from both, so it can be found again.
pub fn snapshot_lease_id(snapshotter: &str, key: &str) -> String {
    let hash = Sha256::digest(format!("{snapshotter}\0{key}").as_bytes());
    format!("containerd-c.snapshot.{}", &hex(&hash)[..32])
}

/// What an image resolves to on this machine.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    pub name: String,
    pub manifest: ImageManifest,
    pub config: ImageConfiguration,
    /// Chain id of the unpacked rootfs (the parent of a new snapshot).
    pub chain_id: String,
}

impl Client {
    /// Reads a blob from the content store.
    pub async fn read_blob(&self, what: &str, digest: &str, size: i64) -> Result<Vec<u8>> {
        if size > MAX_BLOB {
            return Err(Error::invalid(format!(
                "{what} {digest} has {size} bytes, more than the {MAX_BLOB} this library reads"
            )));
        }
        let req = ReadContentRequest {
            digest: digest.to_string(),
            offset: 0,
            size: 0,
        };
        let mut content = self.content();
        let call = async {
            let mut stream = content.read(self.request(req)).await?.into_inner();
            let mut data = Vec::new();
            while let Some(chunk) = stream.message().await? {
                data.extend_from_slice(&chunk.data);
            }
            Ok::<_, tonic::Status>(tonic::Response::new(data))
        };
        self.call(format!("read {what} {digest}"), call).await
    }

    async fn read_json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        d: &Descriptor,
    ) -> Result<T> {
        let bytes = self.read_blob(what, &d.digest, d.size).await?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(
                Code::Unknown,
                format!("{what} {} is not valid: {e}", d.digest),
            )
        })
    }

    /// The descriptor an image record points at (its index or manifest).
    async fn image_target(&self, what: &str, name: &str) -> Result<Descriptor> {
        let req = GetImageRequest {
            name: name.to_string(),
        };
        self.call(what, self.images().get(self.request(req)))
            .await?
            .image
            .and_then(|i| i.target)
            .ok_or_else(|| Error::new(Code::Unknown, format!("{what}: the image has no target")))
    }

    /// Image record → manifest for this platform → config → chain id.
    pub async fn resolve_image(&self, name: &str) -> Result<ResolvedImage> {
        let what = format!(
            "image {} in namespace {}",
            shown(name),
            shown(self.namespace())
        );
        let mut target = self.image_target(&what, name).await?;

        if INDEX_TYPES.contains(&target.media_type.as_str()) {
            let index: ImageIndex = self.read_json("index", &target).await?;
            let (arch, variant) = platform();
            let chosen = index
                .manifests()
                .iter()
                .filter(|m| {
                    m.platform().as_ref().is_some_and(|p| {
                        p.os().to_string() == "linux" && p.architecture().to_string() == arch
                    })
                })
                .max_by_key(|m| {
                    // Prefer the exact variant, then no variant.
                    let v = m.platform().as_ref().and_then(|p| p.variant().clone());
                    match (v.as_deref(), variant) {
                        (Some(a), Some(b)) if a == b => 2,
                        (None, _) => 1,
                        _ => 0,
                    }
                })
                .ok_or_else(|| {
                    Error::new(
                        Code::NotFound,
                        format!("{what}: the image index has no manifest for linux/{arch}"),
                    )
                })?;
            target = Descriptor {
                media_type: chosen.media_type().to_string(),
                digest: chosen.digest().to_string(),
                size: chosen.size() as i64,
                annotations: Default::default(),
            };
        }

        let manifest: ImageManifest = self.read_json("manifest", &target).await?;
        let cfg = manifest.config();
        let config_desc = Descriptor {
            media_type: cfg.media_type().to_string(),
            digest: cfg.digest().to_string(),
            size: cfg.size() as i64,
            annotations: Default::default(),
        };
        let config: ImageConfiguration = self.read_json("image config", &config_desc).await?;
        let chain_id = chain_id(config.rootfs().diff_ids())
            .ok_or_else(|| Error::invalid(format!("{what}: the image has no layers")))?;
        Ok(ResolvedImage {
            name: name.to_string(),
            manifest,
            config,
            chain_id,
        })
    }

    /// Prepares snapshot `key` on `snapshotter` whose parent is the unpacked
    /// rootfs of `image`, protected by a lease (see [`snapshot_lease_id`])
    /// until a container refers to it or the lease expires. On failure nothing
    /// is left: neither lease nor snapshot.
    pub async fn prepare_snapshot_from_image(
        &self,
        image: &str,
        snapshotter: &str,
        key: &str,
    ) -> Result<()> {
        let resolved = self.resolve_image(image).await?;
        let stat = snapshots::StatSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            key: resolved.chain_id.clone(),
        };
        if let Err(e) = self
            .call("stat", self.snapshots().stat(self.request(stat)))
            .await
        {
            return Err(if e.code == Code::NotFound {
                Error::new(
                    Code::FailedPrecondition,
                    format!(
                        "image {} is not unpacked for snapshotter {} (no \
                         snapshot {}): unpack it first, e.g. `ctr images unpack --snapshotter \
                         {snapshotter} {image}`",
                        shown(image),
                        shown(snapshotter),
                        resolved.chain_id
                    ),
                )
            } else {
                e.context(format!(
                    "image {}: snapshotter {}",
                    shown(image),
                    shown(snapshotter)
                ))
            });
        }

        let lease = snapshot_lease_id(snapshotter, key);
        let created = self.create_lease(&lease).await?;
        let prepare = snapshots::PrepareSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            key: key.to_string(),
            parent: resolved.chain_id.clone(),
            labels: Default::default(),
        };
        let req = self.request_with_lease(prepare, &lease)?;
        let what = format!(
            "prepare snapshot {} on {} from image {}",
            shown(key),
            shown(snapshotter),
            shown(image)
        );
        match self.call(what, self.snapshots().prepare(req)).await {
            Ok(_) => Ok(()),
            Err(e) => {
                if created {
                    let _ = self.delete_lease(&lease).await;
                }
                Err(e)
            }
        }
    }

    /// Makes lease `id` that expires after a day; `false` when it existed.
    async fn create_lease(&self, id: &str) -> Result<bool> {
        let expires = humantime::format_rfc3339_seconds(SystemTime::now() + LEASE_EXPIRY);
        let req = leases::CreateRequest {
            id: id.to_string(),
            labels: [("containerd.io/gc.expire".to_string(), expires.to_string())].into(),
        };
        match self
            .call(
                format!("create lease {id:?}"),
                self.leases().create(self.request(req)),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code == Code::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Puts snapshot `key` of `snapshotter` under its lease (see
    /// [`snapshot_lease_id`], a day long) so that the garbage collector keeps
    /// it while nothing else refers to it.
    pub async fn protect_snapshot(&self, snapshotter: &str, key: &str) -> Result<()> {
        let lease = snapshot_lease_id(snapshotter, key);
        self.create_lease(&lease).await?;
        let req = leases::AddResourceRequest {
            id: lease.clone(),
            resource: Some(leases::Resource {
                id: key.to_string(),
                r#type: format!("snapshots/{snapshotter}"),
            }),
        };
        let what = format!(
            "protect snapshot {} of {} with lease {lease:?}",
            shown(key),
            shown(snapshotter)
        );
        self.call(what, self.leases().add_resource(self.request(req)))
            .await?;
        Ok(())
    }

    /// Deletes lease `id`; one already gone is no error.
    pub async fn delete_lease(&self, id: &str) -> Result<()> {
        let req = leases::DeleteRequest {
            id: id.to_string(),
            sync: false,
        };
        match self
            .call(
                format!("delete lease {id:?}"),
                self.leases().delete(self.request(req)),
            )
            .await
        {
            Err(e) if e.code != Code::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes snapshot `key` and the lease that protected it; a snapshot
    /// already gone is no error.
    pub async fn remove_snapshot(&self, snapshotter: &str, key: &str) -> Result<()> {
        let req = snapshots::RemoveSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            key: key.to_string(),
        };
        let what = format!("remove snapshot {} from {}", shown(key), shown(snapshotter));
        let removed = match self
            .call(what, self.snapshots().remove(self.request(req)))
            .await
        {
            Err(e) if e.code != Code::NotFound => Err(e),
            _ => Ok(()),
        };
        let lease = self
            .delete_lease(&snapshot_lease_id(snapshotter, key))
            .await;
        removed.and(lease)
    }
}

impl Client {
    /// Reads small text files (paths relative to the root) from the unpacked
    /// rootfs of an image, through a short-lived read-only view snapshot whose
    /// layer directories this process reads directly (containerd runs on
    /// this host). `None` for a file the image does not have.
    pub async fn read_rootfs_files(
        &self,
        image: &ResolvedImage,
        snapshotter: &str,
        paths: &[&str],
    ) -> Result<Vec<Option<String>>> {
        let key = format!(
            "containerd-c.view.{}.{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let lease = snapshot_lease_id(snapshotter, &key);
        self.create_lease(&lease).await?;
        let view = snapshots::ViewSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            key: key.clone(),
            parent: image.chain_id.clone(),
            labels: Default::default(),
        };
        let req = self.request_with_lease(view, &lease)?;
        let viewed = self
            .call(
                format!("view the rootfs of image {}", shown(&image.name)),
                self.snapshots().view(req),
            )
            .await;
        let result = viewed.and_then(|v| {
            let mut dirs = Vec::new();
            for m in &v.mounts {
                match m.r#type.as_str() {
                    "bind" => dirs.push(m.source.clone()),
                    "overlay" => {
                        for o in &m.options {
                            if let Some(upper) = o.strip_prefix("upperdir=") {
                                dirs.insert(0, upper.to_string());
                            } else if let Some(lower) = o.strip_prefix("lowerdir=") {
                                dirs.extend(lower.split(':').map(str::to_string));
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
            paths
                .iter()
                .map(|p| {
                    for d in &dirs {
                        match std::fs::read_to_string(std::path::Path::new(d).join(p)) {
                            Ok(text) => return Ok(Some(text)),
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                            Err(e) => {
                                return Err(Error::from(e).context(format!("reading {d}/{p}")))
                            }
                        }
                    }
                    Ok(None)
                })
                .collect()
        });
        // Removes the view and its lease.
        let removed = self.remove_snapshot(snapshotter, &key).await;
        let files = result?;
        removed.map(|_| files)
    }
}

/// Media type of containerd's CRIU checkpoint of a task.
pub const CHECKPOINT_MEDIA_TYPE: &str =
    "application/vnd.containerd.container.criu.checkpoint.criu.tar";
const OCI_INDEX_TYPE: &str = "application/vnd.oci.image.index.v1+json";

impl Client {
    /// Writes `data` to the content store under the lease `lease`, with
    /// `labels`; content already there is fine. Returns its digest.
    pub async fn write_blob(
        &self,
        lease: &str,
        data: Vec<u8>,
        labels: std::collections::HashMap<String, String>,
    ) -> Result<String> {
        use crate::api::services::content::v1::{WriteAction, WriteContentRequest};
        let digest = format!("sha256:{}", hex(&Sha256::digest(&data)));
        let total = data.len() as i64;
        let reference = format!("containerd-c-{}", &digest[7..]);
        let messages = vec![
            WriteContentRequest {
                action: WriteAction::Write as i32,
                r#ref: reference.clone(),
                total,
                offset: 0,
                data,
                ..Default::default()
            },
            WriteContentRequest {
                action: WriteAction::Commit as i32,
                r#ref: reference,
                total,
                expected: digest.clone(),
                offset: total,
                labels,
                ..Default::default()
            },
        ];
        let req = self.request_with_lease(tokio_stream::iter(messages), lease)?;
        let mut content = self.content();
        let call = async {
            let mut answers = content.write(req).await?.into_inner();
            while answers.message().await?.is_some() {}
            Ok(tonic::Response::new(()))
        };
        match self.call(format!("write content {digest}"), call).await {
            Err(e) if e.code != Code::AlreadyExists => Err(e),
            _ => Ok(digest),
        }
    }

    /// Checkpoints the task of `container_id` (paused meanwhile) into a new
    /// checkpoint image `image_name`: an index of the descriptors the runtime
    /// wrote, labelled `containerd.io/checkpoint=true`, as the Go client's
    /// `Task.Checkpoint`.
    pub async fn checkpoint_task(&self, container_id: &str, image_name: &str) -> Result<()> {
        use crate::api::services::images::v1::{CreateImageRequest, Image};
        use crate::api::services::tasks::v1::CheckpointTaskRequest;
        let lease = format!(
            "containerd-c.checkpoint.{}",
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        self.create_lease(&lease).await?;
        let result = async {
            self.pause_task(container_id).await?;
            let req = CheckpointTaskRequest {
                container_id: container_id.to_string(),
                ..Default::default()
            };
            let checkpointed = self
                .call(
                    format!("checkpoint task {}", shown(container_id)),
                    self.tasks()
                        .checkpoint(self.request_with_lease(req, &lease)?),
                )
                .await;
            let resumed = self.resume_task(container_id).await;
            let descriptors = checkpointed?.descriptors;
            resumed?;
            let (arch, _) = platform();
            let manifests: Vec<serde_json::Value> = descriptors
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "mediaType": d.media_type, "digest": d.digest, "size": d.size,
                        "platform": {"os": "linux", "architecture": arch},
                    })
                })
                .collect();
            let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
            let labels = descriptors
                .iter()
                .enumerate()
                .map(|(i, d)| {
                    (
                        format!("containerd.io/gc.ref.content.m.{i}"),
                        d.digest.clone(),
                    )
                })
                .collect();
            let data = index.to_string().into_bytes();
            let size = data.len() as i64;
            let digest = self.write_blob(&lease, data, labels).await?;
            let image = Image {
                name: image_name.to_string(),
                labels: [("containerd.io/checkpoint".to_string(), "true".to_string())].into(),
                target: Some(Descriptor {
                    media_type: OCI_INDEX_TYPE.to_string(),
                    digest,
                    size,
                    annotations: Default::default(),
                }),
                ..Default::default()
            };
            let req = CreateImageRequest { image: Some(image) };
            self.call(
                format!("create checkpoint image {}", shown(image_name)),
                self.images().create(self.request(req)),
            )
            .await?;
            Ok(())
        }
        .await;
        let _ = self.delete_lease(&lease).await;
        result
    }

    /// The task checkpoint in checkpoint image `image_name` (made by
    /// [`Client::checkpoint_task`] or `ctr tasks checkpoint`).
    pub async fn checkpoint_descriptor(&self, image_name: &str) -> Result<Descriptor> {
        let what = format!(
            "checkpoint image {} in namespace {}",
            shown(image_name),
            shown(self.namespace())
        );
        let image = self.image_target(&what, image_name).await?;
        let index: serde_json::Value = self.read_json("checkpoint index", &image).await?;
        let found = index["manifests"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["mediaType"] == CHECKPOINT_MEDIA_TYPE)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "{what}: it holds no task checkpoint ({CHECKPOINT_MEDIA_TYPE})"
                ))
            })?;
        Ok(Descriptor {
            media_type: CHECKPOINT_MEDIA_TYPE.to_string(),
            digest: found["digest"].as_str().unwrap_or_default().to_string(),
            size: found["size"].as_i64().unwrap_or_default(),
            annotations: Default::default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        assert_eq!(chain_id(&[]), None);
        let a = "sha256:aaaa".to_string();
        assert_eq!(chain_id(std::slice::from_ref(&a)).unwrap(), a);
        let b = "sha256:bbbb".to_string();
        let want = format!(
            "sha256:{}",
            hex(&Sha256::digest(b"sha256:aaaa sha256:bbbb"))
        );
        assert_eq!(chain_id(&[a, b]).unwrap(), want);
    }

    #[test]
    fn lease_ids_are_valid_identifiers_and_stable() {
        let id = snapshot_lease_id("overlayfs", "some/key with spaces");
        crate::core::ident::validate("lease", &id).unwrap();
        assert_eq!(id, snapshot_lease_id("overlayfs", "some/key with spaces"));
        assert_ne!(id, snapshot_lease_id("native", "some/key with spaces"));
    }
}
