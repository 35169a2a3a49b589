//! The OCI and Docker image model as far as this library reads and writes
//! it: the media types, digests, the cap on metadata read whole, and the
//! JSON of descriptors, indexes, manifests and configs (field order as Go's
//! `ocispec` types, so JSON made here matches containerd's bytes).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::api::types::Descriptor;

/// An OCI image index.
pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// A Docker manifest list (Docker's index).
pub(crate) const DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// An OCI image manifest.
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// A Docker schema2 manifest.
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// A Docker image config.
pub(crate) const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// A Docker layer, uncompressed.
pub(crate) const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// A Docker layer, gzip-compressed.
pub(crate) const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// An OCI layer, gzip-compressed (what containerd's differ writes).
pub(crate) const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// An OCI layer, zstd-compressed.
pub(crate) const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Media types of an image index (OCI) or manifest list (Docker), OCI's
/// first.
pub(crate) const INDEX_TYPES: [&str; 2] = [OCI_INDEX, DOCKER_MANIFEST_LIST];
/// Media types of an image manifest this library reads, OCI's first.
pub(crate) const MANIFEST_TYPES: [&str; 2] = [OCI_MANIFEST, DOCKER_MANIFEST];

/// Whether `mt` is a layer's media type (Go's `images.IsLayerType`).
pub(crate) fn is_layer(mt: &str) -> bool {
    mt.starts_with("application/vnd.oci.image.layer.")
        || mt.starts_with("application/vnd.docker.image.rootfs.")
}

/// Whether `mt` is an image config's (Go's `images.IsKnownConfig`).
pub(crate) fn is_config(mt: &str) -> bool {
    matches!(
        mt,
        DOCKER_CONFIG
            | "application/vnd.oci.image.config.v1+json"
            | "application/vnd.docker.plugin.v1+json"
            | "application/vnd.cncf.helm.config.v1+json"
    )
}

/// Largest metadata JSON read whole into memory: an index, a manifest, a
/// config, an archive's index.json, manifest.json or oci-layout.
pub const MAX_METADATA: u64 = 4 << 20;

/// Refuses `what` of `size` bytes for reading whole into memory when it is
/// larger than [`MAX_METADATA`]: before a byte of it is read.
pub(crate) fn check_metadata_size(what: &str, size: u64) -> crate::core::error::Result<()> {
    if size > MAX_METADATA {
        return Err(crate::core::error::Error::invalid(format!(
            "{what} has {size} bytes, more than the {MAX_METADATA} this library reads"
        )));
    }
    Ok(())
}

/// What is wrong with a digest (see [`sha256_hex`]); each caller words its
/// own message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadDigest {
    /// No `algorithm:` part.
    NoAlgorithm,
    /// An algorithm outside the grammar (`[A-Za-z][A-Za-z0-9]*` components
    /// joined by `+ . _ -`).
    BadAlgorithm,
    /// A well-formed algorithm other than sha256.
    Unsupported,
    /// sha256, but not 64 lowercase hex digits after it.
    BadHex,
}

/// The hex of digest `d` when it is `sha256:<64 lowercase hex>`, the one
/// algorithm this library verifies. One checker for references, archives
/// and descriptors (oci-spec's `Digest` takes every algorithm and tells
/// what is wrong only in words, so it cannot tell an unsupported algorithm
/// from a malformed digest as the messages here do).
pub(crate) fn sha256_hex(d: &str) -> std::result::Result<&str, BadDigest> {
    let (algorithm, hex) = d.split_once(':').ok_or(BadDigest::NoAlgorithm)?;
    if algorithm != "sha256" {
        let grammar = !algorithm.is_empty()
            && algorithm.split(['+', '.', '_', '-']).all(|c| {
                c.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
                    && c.bytes().all(|x| x.is_ascii_alphanumeric())
            });
        return Err(if grammar {
            BadDigest::Unsupported
        } else {
            BadDigest::BadAlgorithm
        });
    }
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(BadDigest::BadHex);
    }
    Ok(hex)
}

/// The sha256 digest of `data`, `sha256:<hex>`.
pub(crate) fn sha256_digest(data: &[u8]) -> String {
    digest_of(Sha256::digest(data).as_slice())
}

/// `sha256:<hex>` of a finished sha256 `hash`.
pub(crate) fn digest_of(hash: &[u8]) -> String {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

// The JSON model of indexes and manifests is this library's own rather
// than oci-spec's `ImageIndex`, `ImageManifest` and `Descriptor`: those
// refuse, while the JSON is parsed, what containerd reads and this library
// reports later in its own words and codes (a descriptor without a media
// type, a digest the one checker here refuses, a negative size, a
// platform without os or architecture, an index or manifest without
// `schemaVersion`). Image configs are oci-spec's `ImageConfiguration`.

/// A descriptor's platform.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct JsonPlatform {
    #[serde(default)]
    pub(crate) architecture: String,
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) variant: Option<String>,
}

/// A descriptor as JSON has it; serialised in the field order of Go's
/// `ocispec.Descriptor`, so manifests made here match containerd's bytes.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct JsonDescriptor {
    #[serde(rename = "mediaType", default)]
    pub(crate) media_type: String,
    pub(crate) digest: String,
    pub(crate) size: i64,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub(crate) annotations: HashMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) platform: Option<JsonPlatform>,
}

impl JsonDescriptor {
    pub(crate) fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: self.digest.clone(),
            size: self.size,
            annotations: self.annotations.clone(),
        }
    }

    pub(crate) fn from_descriptor(d: &Descriptor) -> JsonDescriptor {
        JsonDescriptor {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            annotations: d.annotations.clone(),
            platform: None,
        }
    }
}

/// What an index or manifest starts with, as Go's `specs.Versioned` and
/// the `mediaType` after it.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct Versioned {
    #[serde(rename = "schemaVersion", default)]
    pub(crate) schema_version: u32,
    #[serde(
        rename = "mediaType",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub(crate) media_type: String,
}

impl Versioned {
    /// Schema version 2 of media type `media_type`, as written.
    pub(crate) fn v2(media_type: &str) -> Versioned {
        Versioned {
            schema_version: 2,
            media_type: media_type.to_string(),
        }
    }
}

/// An index (or manifest list) as read and written here (written: an
/// archive's `index.json`, in the field order of Go's `ocispec.Index`).
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct JsonIndex {
    #[serde(flatten)]
    pub(crate) header: Versioned,
    #[serde(default)]
    pub(crate) manifests: Vec<JsonDescriptor>,
}

/// A manifest as read and written here (written: a Docker schema2
/// manifest as containerd's importer makes it from a `docker save`
/// archive, byte for byte, so its digest is the one ctr's import gives).
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct JsonManifest {
    #[serde(flatten)]
    pub(crate) header: Versioned,
    pub(crate) config: JsonDescriptor,
    #[serde(default)]
    pub(crate) layers: Vec<JsonDescriptor>,
}
