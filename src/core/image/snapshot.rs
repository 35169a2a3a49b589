//! From an image name to its root filesystem: image record, manifest (the one
//! for this machine's platform when the image is an index), config, the
//! layers' diff ids, the chain id, and a snapshot prepared on top of it under
//! a lease so that the garbage collector cannot take it before a container
//! refers to it.

use oci_spec::image::ImageConfiguration;

use crate::api::services::images::v1::GetImageRequest;
use crate::api::services::snapshots::v1 as snapshots;
use crate::api::types::Descriptor;
use crate::core::daemon::client::Client;
use crate::core::daemon::ident::shown;
use crate::core::error::{Code, Error, Result};
use crate::core::image::content::fresh_id;
use crate::core::image::oci::sha256_digest;
use crate::core::image::records::ImageRecord;
use crate::core::image::rootfs::Layers;

pub use crate::core::daemon::lease::snapshot_lease_id;

/// The snapshotter used unless one is named.
pub const DEFAULT_SNAPSHOTTER: &str = "overlayfs";

/// The chain id of a stack of layers: the first diff id, then
/// `sha256(previous + " " + next)` for each further layer.
pub fn chain_id(diff_ids: &[String]) -> Option<String> {
    let mut ids = diff_ids.iter();
    let mut chain = ids.next()?.clone();
    for diff in ids {
        chain = sha256_digest(format!("{chain} {diff}").as_bytes());
    }
    Some(chain)
}

/// What an image resolves to on this machine.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    pub name: String,
    pub config: ImageConfiguration,
    /// Chain id of the unpacked rootfs (the parent of a new snapshot).
    pub chain_id: String,
}

/// What an image's target (an index or manifest digest) resolves to on this
/// machine: the same for ever, so kept (see `Client::resolved_images`).
#[derive(Debug, Clone)]
pub struct Resolution(std::sync::Arc<(ImageConfiguration, String)>);

impl Client {
    /// The descriptor an image record points at (its index or manifest).
    pub(crate) async fn image_target(&self, what: &str, name: &str) -> Result<Descriptor> {
        let req = GetImageRequest {
            name: name.to_string(),
        };
        self.call(what, self.images().get(self.request(req)))
            .await?
            .image
            .and_then(|i| i.target)
            .ok_or_else(|| Error::new(Code::Unknown, format!("{what}: the image has no target")))
    }

    /// Image record → manifest for this platform → config → chain id. The
    /// record is read every time; what its target resolves to is read once
    /// per client (content does not change under its digest).
    pub async fn resolve_image(&self, name: &str) -> Result<ResolvedImage> {
        let what = self.image_what(name);
        let image = self.image_target(&what, name).await?;
        let key = image.digest.clone();
        if let Some(Resolution(known)) = self.resolved_images.get(&key) {
            let (config, chain_id) = (*known).clone();
            return Ok(ResolvedImage {
                name: name.to_string(),
                config,
                chain_id,
            });
        }
        let content = self
            .platform_content(&ImageRecord {
                name: name.to_string(),
                target: image,
                labels: Default::default(),
            })
            .await?;
        let config: ImageConfiguration = self.read_json("image config", &content.config).await?;
        let chain_id = chain_id(config.rootfs().diff_ids())
            .ok_or_else(|| Error::invalid(format!("{what}: the image has no layers")))?;
        self.resolved_images.put(
            key,
            Resolution(std::sync::Arc::new((config.clone(), chain_id.clone()))),
        );
        Ok(ResolvedImage {
            name: name.to_string(),
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
        let on = format!("image {}: snapshotter {}", shown(image), shown(snapshotter));
        if !self
            .snapshot_exists(&on, snapshotter, &resolved.chain_id)
            .await?
        {
            return Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "image {} is not unpacked for snapshotter {} (no \
                     snapshot {}): unpack it first, e.g. `ctr images unpack --snapshotter \
                     {snapshotter} {image}`",
                    shown(image),
                    shown(snapshotter),
                    resolved.chain_id
                ),
            ));
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
    /// this host), resolving each path as inside the image (see
    /// [`crate::core::image::rootfs`]). `None` for a file the image does not have. What was read
    /// is kept per client: a rootfs's chain id names its content.
    pub async fn read_rootfs_files(
        &self,
        image: &ResolvedImage,
        snapshotter: &str,
        paths: &[&str],
    ) -> Result<Vec<Option<String>>> {
        let cache_key = format!("{snapshotter}\0{}\0{}", image.chain_id, paths.join("\0"));
        if let Some(files) = self.rootfs_files.get(&cache_key) {
            return Ok((*files).clone());
        }
        let files = self
            .read_rootfs_files_now(image, snapshotter, paths)
            .await?;
        self.rootfs_files
            .put(cache_key, std::sync::Arc::new(files.clone()));
        Ok(files)
    }

    async fn read_rootfs_files_now(
        &self,
        image: &ResolvedImage,
        snapshotter: &str,
        paths: &[&str],
    ) -> Result<Vec<Option<String>>> {
        let key = fresh_id("view");
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
            let layers = Layers::of_mounts(&v.mounts)?;
            paths
                .iter()
                .map(|p| match layers.read(p, "the image's file")? {
                    Some(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
                        Error::invalid(format!(
                            "the image's file /{}: not UTF-8",
                            p.trim_start_matches('/')
                        ))
                    }),
                    None => Ok(None),
                })
                .collect()
        });
        // Removes the view and its lease.
        let removed = self.remove_snapshot(snapshotter, &key).await;
        let files = result?;
        removed.map(|_| files)
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
        let want = sha256_digest(b"sha256:aaaa sha256:bbbb");
        assert_eq!(chain_id(&[a, b]).unwrap(), want);
    }
}
