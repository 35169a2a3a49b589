//! Manifests and indexes: fetched by tag or digest (the media types a pull
//! accepts), read up to [`MAX_MANIFEST`], their digest checked against the
//! one asked for and the one the registry gives, and their media type
//! taken from the JSON.

use hyper::header::{self, HeaderName};

use super::errors::Failure;
use super::{Endpoint, Remote};
use crate::api::types::Descriptor;
use crate::core::error::{Code, Error, Result};
use crate::core::image::oci::sha256_digest;
use crate::core::image::oci::{INDEX_TYPES, MANIFEST_TYPES};

/// Largest manifest or index read into memory.
const MAX_MANIFEST: usize = 4 << 20;

/// The manifest media types a pull accepts (the Accept header), as
/// containerd's resolver sends them.
const ACCEPT_MANIFESTS: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, */*";

/// The digest a registry gives for a manifest it serves.
pub(super) const DOCKER_CONTENT_DIGEST: HeaderName =
    HeaderName::from_static("docker-content-digest");

/// A manifest or index as the registry served it.
pub struct Fetched {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

impl Remote {
    /// The manifest or index the reference names (`digest` = None) or the
    /// one with `digest`. Its digest is the sha256 of its bytes, which must
    /// be the digest asked for (or the reference's) and the one the
    /// registry gives.
    pub async fn manifest(&self, digest: Option<&str>) -> Result<Fetched> {
        let (reference, step) = match digest {
            Some(d) => (d, format!("fetch manifest {d}")),
            None => (self.image.tag_or_digest(), "resolve".to_string()),
        };
        let asked = digest.or(self.image.digest());
        // A tag is resolved only where hosts may resolve tags.
        let resolve = asked.is_none();
        let (bytes, digest, media_type) = self
            .on_hosts(resolve, &step, |host| {
                self.fetch_manifest(host, reference, asked)
            })
            .await?;
        let media_type = media_type
            .map_err(|e| Error::new(e.code, format!("{}: {step}: {}", self.what, e.message)))?;
        Ok(Fetched {
            descriptor: Descriptor {
                media_type,
                digest,
                size: bytes.len() as i64,
                annotations: Default::default(),
            },
            bytes,
        })
    }

    /// Manifest `reference`'s bytes, digest and media type. A kind this
    /// library does not pull (docker schema 1) is said first: its digest
    /// is not that of its bytes (the signatures are left out of it).
    async fn fetch_manifest(
        &self,
        host: &Endpoint,
        reference: &str,
        asked: Option<&str>,
    ) -> Result<(Vec<u8>, String, Result<String>), Failure> {
        let path = host.path(&format!(
            "{}/manifests/{reference}",
            self.image.repository()
        ));
        let mut answer = self
            .get(host, &path, &[(header::ACCEPT, ACCEPT_MANIFESTS)])
            .await?;
        if !answer.status.is_success() {
            return Err(Failure::status(&mut answer).await);
        }
        let bytes = answer
            .read(MAX_MANIFEST)
            .await
            .map_err(Failure::Read)?
            .ok_or_else(|| {
                Failure::Other(format!(
                    "more than the {MAX_MANIFEST} bytes this library reads"
                ))
            })?;
        let media_type = manifest_media_type(&bytes);
        match &media_type {
            Err(e) if e.code == Code::NotImplemented => {
                return Err(Failure::Unsupported(e.message.clone()))
            }
            _ => {}
        }
        let digest = sha256_digest(&bytes);
        if let Some(asked) = asked.filter(|a| *a != digest) {
            return Err(Failure::Mismatch(format!(
                "the registry's manifest has digest {digest}, not {asked}"
            )));
        }
        if let Some(said) = answer
            .header(DOCKER_CONTENT_DIGEST)
            .filter(|s| s.starts_with("sha256:") && *s != digest)
        {
            return Err(Failure::Mismatch(format!(
                "the registry gives digest {said}, its manifest's bytes have {digest}"
            )));
        }
        Ok((bytes, digest, media_type))
    }
}

/// The media type of manifest or index JSON `bytes`: its `mediaType`, else
/// what its fields say (OCI allows leaving it out).
pub fn manifest_media_type(bytes: &[u8]) -> Result<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "schemaVersion", default)]
        schema_version: i64,
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let head: Head = serde_json::from_slice(bytes)
        .map_err(|e| Error::new(Code::Unknown, format!("the manifest is not JSON: {e}")))?;
    if head.schema_version == 1 {
        return Err(Error::new(
            Code::NotImplemented,
            "a docker schema 1 manifest, which this library does not pull",
        ));
    }
    let media_type = match head.media_type {
        Some(m) if !m.is_empty() => m,
        _ if head.manifests.is_some() => INDEX_TYPES[0].to_string(),
        _ if head.config.is_some() => MANIFEST_TYPES[0].to_string(),
        _ => {
            return Err(Error::new(
                Code::Unknown,
                "neither a manifest nor an index (no mediaType, config or manifests)",
            ))
        }
    };
    if !INDEX_TYPES.contains(&media_type.as_str()) && !MANIFEST_TYPES.contains(&media_type.as_str())
    {
        return Err(Error::new(
            Code::NotImplemented,
            format!("media type {media_type:?}, neither an image index nor a manifest"),
        ));
    }
    Ok(media_type)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registry::credentials::Credentials;
    use crate::core::registry::fake::{fake_server, json};
    use crate::core::registry::http::Http;
    use crate::core::registry::tests::plain_remote;
    use crate::core::registry::ImageRef;

    #[test]
    fn media_types_come_from_the_json() {
        let t = |s: &str| manifest_media_type(s.as_bytes());
        assert_eq!(
            t(r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{}}"#).unwrap(),
            "application/vnd.docker.distribution.manifest.v2+json"
        );
        assert_eq!(
            t(r#"{"schemaVersion":2,"manifests":[]}"#).unwrap(),
            INDEX_TYPES[0]
        );
        assert_eq!(
            t(r#"{"schemaVersion":2,"config":{},"layers":[]}"#).unwrap(),
            MANIFEST_TYPES[0]
        );
        assert_eq!(
            t(r#"{"schemaVersion":1}"#).unwrap_err().code,
            Code::NotImplemented
        );
        assert_eq!(
            t(r#"{"schemaVersion":2,"mediaType":"x/y"}"#)
                .unwrap_err()
                .code,
            Code::NotImplemented
        );
        assert_eq!(t("nope").unwrap_err().code, Code::Unknown);
    }

    /// A docker schema 1 manifest by tag: its Docker-Content-Digest is not
    /// that of its bytes (signatures are left out), and what the caller
    /// hears is that the kind is not pulled, not a digest mismatch.
    #[tokio::test]
    async fn a_schema_1_manifest_is_not_implemented() {
        const V1: &str =
            r#"{"schemaVersion":1,"name":"a","tag":"old","fsLayers":[],"signatures":[{}]}"#;
        let (host, _) = fake_server(|r, _| match r.path.as_str() {
            "/v2/" => json(200, "{}"),
            _ => (
                200,
                vec![
                    (
                        "Content-Type",
                        "application/vnd.docker.distribution.manifest.v1+prettyjws".into(),
                    ),
                    (
                        "Docker-Content-Digest",
                        format!("sha256:{}", "c".repeat(64)),
                    ),
                ],
                V1.as_bytes().to_vec(),
            ),
        })
        .await;
        for reference in ["a:old".to_string(), format!("a@sha256:{}", "d".repeat(64))] {
            let image = ImageRef::parse(&format!("{host}/{reference}")).unwrap();
            let http = Http::new(None, false).unwrap();
            let remote = plain_remote(http, &image, Credentials::Anonymous)
                .await
                .unwrap();
            let e = remote.manifest(None).await.err().unwrap();
            assert_eq!(e.code, Code::NotImplemented, "{reference}: {}", e.message);
            assert!(e.message.contains("schema 1"), "{}", e.message);
        }
    }
}
