//! The one walk from an image's target (an index or a manifest) through
//! indexes to the manifest of a platform, its config and layers, whatever
//! the blobs come from: the registry (pulls), the content store (image
//! queries, unpack, export) or an archive (import), each a `Blobs`; the
//! depth limit, the media types opened and the platform choice
//! (`platform::best_manifest`) are the walk's, the same for all of them.

use crate::api::types::Descriptor;
use crate::core::error::{Code, Error, Result};
use crate::core::image::oci::{
    JsonDescriptor, JsonIndex, JsonManifest, INDEX_TYPES, MANIFEST_TYPES,
};
use crate::core::image::platform::{best_manifest, platforms, PlatformSpec};

/// How many indexes and manifests a path may have: indexes nest at most 7
/// deep.
const MAX_DEPTH: usize = 8;

/// What the image's target resolves to for this machine's platform.
#[derive(Debug, Clone)]
pub struct PlatformContent {
    /// The manifest chosen.
    pub manifest: Descriptor,
    /// Its config.
    pub config: Descriptor,
    /// Its layers, in order.
    pub layers: Vec<Descriptor>,
    /// Every descriptor on the way: the indexes walked through, the
    /// manifest, its config and its layers.
    pub walked: Vec<Descriptor>,
}

impl PlatformContent {
    /// The size of everything walked, as the Go client's `Image.Size` (and
    /// `ctr images ls`) counts it.
    pub fn size(&self) -> u64 {
        self.walked.iter().map(|d| d.size as u64).sum()
    }
}

/// `d`'s size when it is not negative.
pub(crate) fn check_size(what: &str, d: &Descriptor) -> Result<()> {
    if d.size < 0 {
        return Err(Error::new(
            Code::Unknown,
            format!(
                "{what}: invalid size {} in {} ({})",
                d.size, d.digest, d.media_type
            ),
        ));
    }
    Ok(())
}

/// What a descriptor of a walk is, once it is read (an index or a manifest)
/// or reached (anything else).
#[derive(Debug)]
pub(crate) enum Node<'a> {
    /// An index: all its entries, and the one for the platform.
    Index {
        manifests: &'a [JsonDescriptor],
        chosen: Option<usize>,
    },
    /// A manifest: its config and layers.
    Manifest {
        config: &'a Descriptor,
        layers: &'a [Descriptor],
    },
    /// A manifest's config.
    Config,
    /// A manifest's layer.
    Layer,
    /// An index entry of a type the walk does not open.
    Other,
}

/// Where a walk's blobs come from, and what it does on its way.
pub(crate) trait Blobs {
    /// Reads index or manifest `d` whole. Returns `d` as the source knows
    /// it (a registry answers with its own descriptor) and its bytes.
    async fn read(&mut self, d: &Descriptor) -> Result<(Descriptor, Vec<u8>)>;

    /// Sees `d` before it is read (`on_path`: on the way to the platform's
    /// manifest); `false` leaves it, and what is below it, out.
    async fn enter(&mut self, _d: &Descriptor, _on_path: bool) -> Result<bool> {
        Ok(true)
    }

    /// Sees what `d` is (its bytes, for an index or a manifest).
    async fn found(
        &mut self,
        _d: &Descriptor,
        _bytes: &[u8],
        _node: Node<'_>,
        _on_path: bool,
    ) -> Result<()> {
        Ok(())
    }

    /// Whether index entry `m`, not the platform's, is walked too (off the
    /// path); by default none is, and the walk is only the path.
    fn also(&self, _m: &JsonDescriptor) -> bool {
        false
    }

    /// Whether the config and layers of a manifest are reached (`enter`,
    /// `found`) too; by default they are only listed.
    fn reaches_blobs(&self) -> bool {
        false
    }

    /// The error for content that is not what it should be (JSON that does
    /// not parse, a negative size, indexes nested too deep): `Unknown`, as
    /// the daemon's content is; an archive's is the caller's
    /// (`InvalidArgument`).
    fn bad(&self, e: Error) -> Error {
        e
    }
}

/// Where the path to the platform's manifest ended.
#[derive(Debug)]
pub(crate) enum Walked {
    /// At the manifest.
    Manifest(PlatformContent),
    /// At an index without an entry for the platform; the platforms it
    /// has, for messages.
    NoPlatform {
        index: Descriptor,
        platforms: Vec<String>,
    },
    /// At a descriptor of another type (`target` itself, or the chosen
    /// entry of an index).
    Other(Descriptor),
}

impl Walked {
    /// The platform's content: `NotFound` when an index lacks the platform,
    /// `NotImplemented` when the path ends at something not a manifest.
    pub(crate) fn content(self, what: &str, want: &PlatformSpec) -> Result<PlatformContent> {
        match self {
            Walked::Manifest(content) => Ok(content),
            Walked::NoPlatform { index, platforms } => Err(Error::new(
                Code::NotFound,
                format!(
                    "{what}: no manifest for {want} in index {} (it has: {})",
                    index.digest,
                    if platforms.is_empty() {
                        "nothing".to_string()
                    } else {
                        platforms.join(", ")
                    }
                ),
            )),
            Walked::Other(d) => Err(Error::new(
                Code::NotImplemented,
                format!(
                    "{what}: {} has media type {:?}, neither an image index nor a manifest \
                     this library reads",
                    d.digest, d.media_type
                ),
            )),
        }
    }
}

/// Walks from `target` (an index or a manifest) through indexes to the
/// manifest for `want`, as containerd's Go client chooses it, reading
/// indexes and manifests from `blobs`; depth first, in order, with the
/// entries `blobs.also` takes besides the path. `what` starts the errors.
pub(crate) async fn walk<B: Blobs>(
    blobs: &mut B,
    what: &str,
    target: &Descriptor,
    want: &PlatformSpec,
) -> Result<Walked> {
    let mut end: Option<Walked> = None;
    let mut path = Vec::new();
    // (descriptor, depth, on the path, what it is to its parent)
    let mut stack = vec![(target.clone(), 0usize, true, None)];
    while let Some((d, depth, on_path, child)) = stack.pop() {
        if child.is_none() && depth >= MAX_DEPTH {
            return Err(blobs.bad(Error::new(
                Code::Unknown,
                format!("{what}: indexes nest more than {MAX_DEPTH} deep"),
            )));
        }
        check_size(what, &d).map_err(|e| blobs.bad(e))?;
        if !blobs.enter(&d, on_path).await? {
            continue;
        }
        if let Some(node) = child {
            // A config or layer.
            blobs.found(&d, &[], node, on_path).await?;
            continue;
        }
        let media_type = d.media_type.as_str();
        if !INDEX_TYPES.contains(&media_type) && !MANIFEST_TYPES.contains(&media_type) {
            blobs.found(&d, &[], Node::Other, on_path).await?;
            if on_path {
                end = Some(Walked::Other(d));
            }
            continue;
        }
        let (d, bytes) = blobs.read(&d).await?;
        let parse_error = |kind: &str, e: serde_json::Error| {
            blobs.bad(Error::new(
                Code::Unknown,
                format!("{what}: {kind} {} is not valid: {e}", d.digest),
            ))
        };
        if INDEX_TYPES.contains(&d.media_type.as_str()) {
            let index: JsonIndex =
                serde_json::from_slice(&bytes).map_err(|e| parse_error("index", e))?;
            let chosen = best_manifest(&index.manifests, want);
            if on_path {
                path.push(d.clone());
                if chosen.is_none() {
                    end = Some(Walked::NoPlatform {
                        index: d.clone(),
                        platforms: platforms(&index.manifests),
                    });
                }
            }
            let node = Node::Index {
                manifests: &index.manifests,
                chosen,
            };
            blobs.found(&d, &bytes, node, on_path).await?;
            // Pushed in reverse so they are walked in order.
            for (i, m) in index.manifests.iter().enumerate().rev() {
                let chosen = Some(i) == chosen;
                if chosen || blobs.also(m) {
                    stack.push((m.descriptor(), depth + 1, on_path && chosen, None));
                }
            }
        } else {
            let manifest: JsonManifest =
                serde_json::from_slice(&bytes).map_err(|e| parse_error("manifest", e))?;
            let config = manifest.config.descriptor();
            let layers: Vec<Descriptor> = manifest
                .layers
                .iter()
                .map(JsonDescriptor::descriptor)
                .collect();
            check_size(what, &config).map_err(|e| blobs.bad(e))?;
            for l in &layers {
                check_size(what, l).map_err(|e| blobs.bad(e))?;
            }
            let node = Node::Manifest {
                config: &config,
                layers: &layers,
            };
            blobs.found(&d, &bytes, node, on_path).await?;
            if blobs.reaches_blobs() {
                for l in layers.iter().rev() {
                    stack.push((l.clone(), depth + 1, on_path, Some(Node::Layer)));
                }
                stack.push((config.clone(), depth + 1, on_path, Some(Node::Config)));
            }
            if on_path && end.is_none() {
                path.push(d.clone());
                path.push(config.clone());
                path.extend(layers.iter().cloned());
                end = Some(Walked::Manifest(PlatformContent {
                    manifest: d,
                    config,
                    layers,
                    walked: std::mem::take(&mut path),
                }));
            }
        }
    }
    // The path ends somewhere: at the target at least.
    Ok(end.unwrap_or(Walked::Other(target.clone())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::image::oci::OCI_INDEX;

    /// Blobs by digest, in memory.
    struct Memory(std::collections::HashMap<String, Vec<u8>>);

    impl Blobs for Memory {
        async fn read(&mut self, d: &Descriptor) -> Result<(Descriptor, Vec<u8>)> {
            Ok((d.clone(), self.0[&d.digest].clone()))
        }
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_walk_goes_through_indexes_to_the_platforms_manifest() {
        let d = |mt: &str, digest: &str, size| Descriptor {
            media_type: mt.into(),
            digest: digest.into(),
            size,
            annotations: Default::default(),
        };
        let manifest = br#"{"config":{"mediaType":"c","digest":"sha256:c","size":3},
            "layers":[{"mediaType":"l","digest":"sha256:l","size":4}]}"#;
        let inner = br#"{"manifests":[
            {"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:m",
             "size":2,"platform":{"os":"linux","architecture":"s390x"}}]}"#;
        let outer = br#"{"manifests":[
            {"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:inner",
             "size":1}]}"#;
        let mut blobs = Memory(
            [
                ("sha256:m", &manifest[..]),
                ("sha256:inner", &inner[..]),
                ("sha256:outer", &outer[..]),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_vec()))
            .collect(),
        );
        let target = d(OCI_INDEX, "sha256:outer", 10);
        let s390x = PlatformSpec::parse("linux/s390x").unwrap();
        let content = run(walk(&mut blobs, "w", &target, &s390x))
            .unwrap()
            .content("w", &s390x)
            .unwrap();
        assert_eq!(content.manifest.digest, "sha256:m");
        assert_eq!(content.config.digest, "sha256:c");
        let walked: Vec<&str> = content.walked.iter().map(|d| d.digest.as_str()).collect();
        assert_eq!(
            walked,
            [
                "sha256:outer",
                "sha256:inner",
                "sha256:m",
                "sha256:c",
                "sha256:l"
            ]
        );
        assert_eq!(content.size(), 10 + 1 + 2 + 3 + 4);
        // No entry for the platform: the index and what it has are told.
        let arm = PlatformSpec::parse("linux/arm64").unwrap();
        let e = run(walk(&mut blobs, "w", &target, &arm))
            .unwrap()
            .content("w", &arm)
            .unwrap_err();
        assert_eq!(e.code, Code::NotFound);
        assert_eq!(
            e.message,
            "w: no manifest for linux/arm64/v8 in index sha256:inner (it has: linux/s390x)"
        );
        // Something else than an index or a manifest.
        let e = run(walk(&mut blobs, "w", &d("x", "sha256:x", 1), &arm))
            .unwrap()
            .content("w", &arm)
            .unwrap_err();
        assert_eq!(e.code, Code::NotImplemented);
        // An index that names itself nests for ever.
        let looping = br#"{"manifests":[
            {"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:loop",
             "size":1}]}"#;
        blobs.0.insert("sha256:loop".into(), looping.to_vec());
        let e = run(walk(&mut blobs, "w", &d(OCI_INDEX, "sha256:loop", 1), &arm)).unwrap_err();
        assert_eq!(e.message, "w: indexes nest more than 8 deep");
    }

    #[test]
    fn size_counts_every_descriptor_walked() {
        let d = |size| Descriptor {
            size,
            ..Default::default()
        };
        let content = PlatformContent {
            manifest: d(10),
            config: d(20),
            layers: vec![d(300), d(4000)],
            walked: vec![d(1), d(10), d(20), d(300), d(4000)],
        };
        assert_eq!(content.size(), 4331);
    }
}
