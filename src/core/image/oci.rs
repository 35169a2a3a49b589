//! OCI and Docker image JSON (descriptors, indexes, manifests, configs) as
//! far as this library reads and writes it; field order as Go's `ocispec`
//! types, so JSON made here matches containerd's bytes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::api::types::Descriptor;

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

#[derive(Debug, Deserialize)]
pub(crate) struct JsonIndex {
    #[serde(default)]
    pub(crate) manifests: Vec<JsonDescriptor>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct JsonManifest {
    pub(crate) config: JsonDescriptor,
    #[serde(default)]
    pub(crate) layers: Vec<JsonDescriptor>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct JsonConfig {
    pub(crate) rootfs: JsonRootfs,
}

#[derive(Debug, Deserialize)]
pub(crate) struct JsonRootfs {
    #[serde(default)]
    pub(crate) diff_ids: Vec<String>,
}
