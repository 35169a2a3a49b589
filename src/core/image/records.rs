//! Image records already in containerd, as containerd's Go `Image`: get,
//! list, make, tag and delete a record, and what an image holds for this machine's
//! platform (its size, its config, whether its layers are unpacked: the
//! platform's content as [`crate::core::image::walk`] walks to it).

use std::collections::HashMap;

use oci_spec::image::ImageConfiguration;

use crate::api::services::images::v1 as images;
use crate::api::types::Descriptor;
use crate::core::daemon::client::Client;
use crate::core::daemon::ident::shown;
use crate::core::error::{Code, Error, Result};
use crate::core::image::content::StoreBlobs;
use crate::core::image::oci::{is_config, is_layer, MANIFEST_TYPES};
use crate::core::image::platform::PlatformSpec;
use crate::core::image::snapshot::chain_id;
use crate::core::image::walk::{walk, PlatformContent};

/// An image record: its name, the descriptor it points at (an index or a
/// manifest) and its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageRecord {
    pub name: String,
    pub target: Descriptor,
    pub labels: HashMap<String, String>,
}

impl ImageRecord {
    fn from_api(image: images::Image) -> Result<ImageRecord> {
        let target = image.target.ok_or_else(|| {
            Error::new(
                Code::Unknown,
                format!("image {}: the record has no target", shown(&image.name)),
            )
        })?;
        Ok(ImageRecord {
            name: image.name,
            target,
            labels: image.labels,
        })
    }
}

/// An image name as containerd takes it: anything but empty (containerd
/// itself refuses an empty name; any other unknown name is not found).
pub fn validate_name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(format!("{what} is empty")));
    }
    Ok(())
}

/// The labels that keep `children` of a blob from the garbage collector, as
/// Go's `images.SetChildrenLabels` with `ChildGCLabels` sets them:
/// `gc.ref.content.config`, `gc.ref.content.m.<i>` for manifests,
/// `gc.ref.content.l.<i>` for layers, `gc.ref.content.<i>` for the rest.
pub(crate) fn children_labels(children: &[Descriptor]) -> HashMap<String, String> {
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
            "containerd.io/gc.ref.content."
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

impl Client {
    /// `image "name" in namespace "ns"`, for messages.
    pub fn image_what(&self, name: &str) -> String {
        format!(
            "image {} in namespace {}",
            shown(name),
            shown(self.namespace())
        )
    }

    /// The image record `name`.
    pub async fn get_image(&self, name: &str) -> Result<ImageRecord> {
        validate_name("image name", name)?;
        let what = self.image_what(name);
        let req = images::GetImageRequest {
            name: name.to_string(),
        };
        let image = self
            .call(&what, self.images().get(self.request(req)))
            .await?
            .image
            .ok_or_else(|| Error::new(Code::NotFound, format!("{what}: not found")))?;
        ImageRecord::from_api(image)
    }

    /// The image records matching any of `filters` (containerd's filter
    /// syntax: `name==...`, `labels."k"==v`, ...); all when empty.
    pub async fn list_images(&self, filters: Vec<String>) -> Result<Vec<ImageRecord>> {
        let what = format!("list images in namespace {}", shown(self.namespace()));
        let req = images::ListImagesRequest { filters };
        self.call(what, self.images().list(self.request(req)))
            .await?
            .images
            .into_iter()
            .map(ImageRecord::from_api)
            .collect()
    }

    /// Deletes the image record `name`; with `sync` the daemon answers only
    /// after its garbage collector ran (so the content and snapshots nothing
    /// else refers to are gone by then).
    pub async fn delete_image(&self, name: &str, sync: bool) -> Result<()> {
        validate_name("image name", name)?;
        let what = format!("delete {}", self.image_what(name));
        let req = images::DeleteImageRequest {
            name: name.to_string(),
            sync,
        };
        self.call(what, self.images().delete(self.request(req)))
            .await
            .map(|_| ())
    }

    /// Walks from the image's target to the manifest for this machine's
    /// platform, as the Go client's `Image.Size` and `Image.Config` do.
    pub async fn platform_content(&self, image: &ImageRecord) -> Result<PlatformContent> {
        let what = self.image_what(&image.name);
        let host = PlatformSpec::host();
        walk(&mut StoreBlobs(self), &what, &image.target, &host)
            .await?
            .content(&what, &host)
    }

    /// The size of the image's content for this machine's platform: the
    /// indexes on the way, the manifest, the config and the layers, as the
    /// Go client's `Image.Size` counts it.
    pub async fn image_size(&self, image: &ImageRecord) -> Result<u64> {
        Ok(self.platform_content(image).await?.size())
    }

    /// The OCI image config of this machine's platform, as stored.
    pub async fn image_config_json(&self, image: &ImageRecord) -> Result<String> {
        let content = self.platform_content(image).await?;
        let bytes = self
            .read_blob("image config", &content.config.digest, content.config.size)
            .await?;
        String::from_utf8(bytes).map_err(|e| {
            Error::new(
                Code::Unknown,
                format!(
                    "{}: config {} is not UTF-8: {e}",
                    self.image_what(&image.name),
                    content.config.digest
                ),
            )
        })
    }

    /// Whether the image's layers for this machine's platform are unpacked
    /// on `snapshotter`: the snapshot named by their chain id exists, as the
    /// Go client's `IsUnpacked` checks.
    pub async fn image_is_unpacked(&self, image: &ImageRecord, snapshotter: &str) -> Result<bool> {
        let what = self.image_what(&image.name);
        let content = self.platform_content(image).await?;
        let config: ImageConfiguration = self.read_json("image config", &content.config).await?;
        let chain = chain_id(config.rootfs().diff_ids())
            .ok_or_else(|| Error::new(Code::Unknown, format!("{what}: the image has no layers")))?;
        let on = format!("{what} on snapshotter {}", shown(snapshotter));
        self.snapshot_exists(&on, snapshotter, &chain).await
    }
}

impl Client {
    /// Points image `name` at `target`, making the record if it is new (as
    /// containerd's import: Update of the target, else Create).
    pub(crate) async fn put_image(&self, name: &str, target: Descriptor) -> Result<()> {
        let image = images::Image {
            name: name.to_string(),
            target: Some(target),
            ..Default::default()
        };
        self.write_image(image, &["target"], true).await
    }

    /// Checks that a record named `name` can be made: not empty, and small
    /// enough for the daemon to take with any target (before work that
    /// ends in making it).
    pub(crate) fn check_new_image(&self, name: &str) -> Result<()> {
        validate_name("image name", name)?;
        let probe = images::CreateImageRequest {
            image: Some(images::Image {
                name: name.to_string(),
                target: Some(Descriptor {
                    media_type: MANIFEST_TYPES[1].to_string(),
                    digest: format!("sha256:{}", "0".repeat(64)),
                    size: i64::MAX,
                    annotations: HashMap::new(),
                }),
                ..Default::default()
            }),
        };
        self.check_request_size(format!("create {}", self.image_what(name)), &probe)
    }

    /// Makes the record of a new image `name` pointing at `target`: an
    /// existing `name` is an `AlreadyExists` error (the daemon's words).
    pub(crate) async fn create_image(&self, name: &str, target: Descriptor) -> Result<ImageRecord> {
        let image = images::Image {
            name: name.to_string(),
            target: Some(target.clone()),
            ..Default::default()
        };
        self.write_image(image, &[], false).await?;
        Ok(ImageRecord {
            name: name.to_string(),
            target,
            labels: HashMap::new(),
        })
    }

    /// Gives the target of image `name` a second name `new_name`, with the
    /// same labels, as `ctr images tag` does. An existing `new_name` is an
    /// `AlreadyExists` error (the daemon's words) unless `force`, which
    /// points it at the source's target and labels in one update (where ctr
    /// deletes and creates it: never a moment without the name, and nothing
    /// lost if the call fails). Names are taken as they are, as ctr and
    /// containerd take them: tagging an image onto itself is
    /// `AlreadyExists`, and with `force` changes nothing.
    pub async fn tag_image(&self, name: &str, new_name: &str, force: bool) -> Result<()> {
        validate_name("image name", name)?;
        validate_name("new image name", new_name)?;
        let source = self.get_image(name).await?;
        let image = images::Image {
            name: new_name.to_string(),
            target: Some(source.target),
            labels: source.labels,
            ..Default::default()
        };
        self.write_image(image, &["target", "labels"], force).await
    }

    /// Writes the record `image`: created if it is new; if it exists, an
    /// `AlreadyExists` error, or with `replace` its `fields` updated (first,
    /// as the usual case there).
    async fn write_image(
        &self,
        image: images::Image,
        fields: &[&str],
        replace: bool,
    ) -> Result<()> {
        let what = self.image_what(&image.name);
        // Twice: an image made (or deleted) by someone else between our
        // Update and Create is updated (or made) then.
        for _ in 0..2 {
            if replace {
                let req = images::UpdateImageRequest {
                    image: Some(image.clone()),
                    update_mask: Some(prost_types::FieldMask {
                        paths: fields.iter().map(|f| f.to_string()).collect(),
                    }),
                };
                match self
                    .call(
                        format!("update {what}"),
                        self.images().update(self.request(req)),
                    )
                    .await
                {
                    Err(e) if e.code == Code::NotFound => {}
                    other => return other.map(|_| ()),
                }
            }
            let req = images::CreateImageRequest {
                image: Some(image.clone()),
            };
            match self
                .call(
                    format!("create {what}"),
                    self.images().create(self.request(req)),
                )
                .await
            {
                Err(e) if replace && e.code == Code::AlreadyExists => {}
                other => return other.map(|_| ()),
            }
        }
        Err(Error::new(
            Code::Unavailable,
            format!("{what}: made and deleted by someone else meanwhile"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_names_are_refused() {
        let e = validate_name("image name", "").unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert_eq!(e.message, "image name is empty");
        validate_name("image name", "docker.io/library/x:1").unwrap();
    }
}
