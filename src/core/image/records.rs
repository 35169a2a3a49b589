//! Image records already in containerd, as containerd's Go `Image`: get,
//! list and delete a record, and what an image holds for this machine's
//! platform (its size, its config, whether its layers are unpacked).
//!
//! The platform is chosen as the Go client's default matcher does: in an
//! index, the manifests for linux on this machine's architecture (the exact
//! variant first), then the manifests without a platform; the first of those.

use std::collections::HashMap;

use crate::api::services::images::v1 as images;
use crate::api::services::snapshots::v1 as snapshots;
use crate::api::types::Descriptor;
use crate::core::daemon::client::Client;
use crate::core::daemon::ident::shown;
use crate::core::error::{Code, Error, Result};
use crate::core::image::oci::{
    is_config, is_layer, JsonConfig, JsonDescriptor, JsonIndex, JsonManifest, JsonPlatform,
    INDEX_TYPES, MANIFEST_TYPES,
};
use crate::core::image::snapshot::{chain_id, platform};

/// How deep indexes may nest (an index of indexes of manifests is 2).
const MAX_DEPTH: usize = 8;

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

/// A platform as Go's `platforms.Normalize` leaves it: "linux", "amd64",
/// arm64's default variant spelt "v8", amd64's "v1" dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// This machine's platform (linux).
    pub fn host() -> PlatformSpec {
        let (arch, variant) = platform();
        PlatformSpec::normalized("linux", arch, variant)
    }

    /// Parses "os/arch[/variant]" (or just "os" or "arch", as Go's
    /// `platforms.Parse`: a known OS gets this machine's architecture, an
    /// architecture gets linux), then normalises it.
    pub fn parse(s: &str) -> Result<PlatformSpec> {
        let bad = |why: &str| Error::invalid(format!("platform {}: {why}", shown(s)));
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() > 3 {
            return Err(bad("more than os/arch/variant"));
        }
        for p in &parts {
            if p.is_empty() {
                return Err(bad("an empty part (expected os/arch[/variant])"));
            }
            if !p
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
            {
                return Err(bad("a part with characters other than [A-Za-z0-9_.-]"));
            }
        }
        Ok(match parts[..] {
            [one] if KNOWN_OS.contains(&one.to_ascii_lowercase().as_str()) => {
                let (arch, variant) = platform();
                PlatformSpec::normalized(one, arch, variant)
            }
            [one] => PlatformSpec::normalized("linux", one, None),
            [os, arch] => PlatformSpec::normalized(os, arch, None),
            [os, arch, variant] => PlatformSpec::normalized(os, arch, Some(variant)),
            _ => return Err(bad("empty")),
        })
    }

    /// As Go's `platforms.Normalize`.
    pub fn normalized(os: &str, arch: &str, variant: Option<&str>) -> PlatformSpec {
        let os = match os.to_ascii_lowercase().as_str() {
            "macos" => "darwin".to_string(),
            other => other.to_string(),
        };
        let arch = arch.to_ascii_lowercase();
        let variant = variant
            .map(str::to_ascii_lowercase)
            .filter(|v| !v.is_empty());
        let (arch, variant) = match (arch.as_str(), variant.as_deref()) {
            ("i386", _) => ("386", None),
            ("x86_64" | "x86-64" | "amd64", Some("v1")) => ("amd64", None),
            ("x86_64" | "x86-64" | "amd64", v) => ("amd64", v),
            ("aarch64" | "arm64", None | Some("8" | "v8" | "v8.0")) => ("arm64", Some("v8")),
            ("aarch64" | "arm64", v) => ("arm64", v),
            ("armhf", _) => ("arm", Some("v7")),
            ("armel", _) => ("arm", Some("v6")),
            ("arm", None | Some("7")) => ("arm", Some("v7")),
            ("arm", Some("5")) => ("arm", Some("v5")),
            ("arm", Some("6")) => ("arm", Some("v6")),
            ("arm", Some("8")) => ("arm", Some("v8")),
            (a, v) => (a, v),
        };
        PlatformSpec {
            os,
            arch: arch.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// The platforms a machine of this platform runs, best first, as
    /// containerd's `platforms.Only` orders them (its `platformVector`):
    /// - amd64/vN: amd64/vN down to amd64 (v1), then 386;
    /// - arm/vN: arm/vN down to arm/v5;
    /// - arm64/vX (v8 by default): the arm64 variants it implies (v8.2:
    ///   v8.2, v8.1, v8; v9.N: v9.N down to v9, then v8.(N+5) down to v8),
    ///   then arm/v8 down to arm/v5 (32-bit arm), as containerd's `Only`
    ///   does whatever the CPU (it does not look for AArch32 support);
    /// - anything else: itself alone.
    ///
    /// Unlike Go, an arm64 variant it does not know still matches itself.
    pub fn compatible(&self) -> Vec<PlatformSpec> {
        let with = |arch: &str, variant: Option<String>| PlatformSpec {
            os: self.os.clone(),
            arch: arch.to_string(),
            variant,
        };
        let number = |v: Option<&str>| -> Option<u32> { v?.strip_prefix('v')?.parse().ok() };
        let mut out = vec![self.clone()];
        match self.arch.as_str() {
            "amd64" => {
                if let Some(n) = number(self.variant.as_deref()) {
                    for n in (1..n).rev() {
                        out.push(with("amd64", (n > 1).then(|| format!("v{n}"))));
                    }
                }
                out.push(with("386", None));
            }
            "arm" => {
                if let Some(n) = number(self.variant.as_deref()) {
                    for n in (5..n).rev() {
                        out.push(with("arm", Some(format!("v{n}"))));
                    }
                }
            }
            "arm64" => {
                let variant = self.variant.as_deref().unwrap_or("v8");
                let version = variant.strip_prefix('v').and_then(|v| {
                    let (major, minor) = v.split_once('.').unwrap_or((v, "0"));
                    Some((major.parse::<u32>().ok()?, minor.parse::<u32>().ok()?))
                });
                // (major, its highest minor) pairs, as Go's arm64variantToVersion.
                let steps: Vec<(u32, u32)> = match version {
                    Some((8, minor @ 0..=9)) => vec![(8, minor)],
                    Some((9, minor @ 0..=7)) => vec![(9, minor), (8, (minor + 5).min(9))],
                    _ => Vec::new(),
                };
                if !steps.is_empty() {
                    out.clear();
                }
                for (major, top) in steps {
                    for minor in (0..=top).rev() {
                        let v = if minor == 0 {
                            format!("v{major}")
                        } else {
                            format!("v{major}.{minor}")
                        };
                        out.push(with("arm64", Some(v)));
                    }
                }
                if variant.starts_with("v8") || variant.starts_with("v9") {
                    out.extend(with("arm", Some("v8".into())).compatible());
                }
            }
            _ => {}
        }
        out
    }

    /// Where `p` (normalised) stands among the platforms this one runs: 0
    /// for this platform itself, higher for fallbacks (`compatible`);
    /// `None` when it does not run here.
    pub(crate) fn rank(&self, p: &JsonPlatform) -> Option<usize> {
        let theirs = PlatformSpec::normalized(&p.os, &p.architecture, p.variant.as_deref());
        self.compatible().iter().position(|c| *c == theirs)
    }

    /// Whether a descriptor's platform `p` runs on this platform.
    pub(crate) fn matches(&self, p: &JsonPlatform) -> bool {
        self.rank(p).is_some()
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The operating systems `PlatformSpec::parse` knows alone.
const KNOWN_OS: [&str; 11] = [
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "linux",
    "macos",
    "netbsd",
    "openbsd",
    "windows",
];

/// The entry of `manifests` (an index's) for `want`, as containerd's
/// `images.Manifest` picks it with `platforms.Only`: the one whose platform
/// comes first in `want.compatible()` (the first of equals, as Go's stable
/// sort keeps them); else the first without a platform (Go keeps those,
/// sorted last). The one matcher of pulls, image records, import and
/// export.
pub(crate) fn best_manifest(manifests: &[JsonDescriptor], want: &PlatformSpec) -> Option<usize> {
    let compatible = want.compatible();
    let mut best: Option<(usize, usize)> = None;
    for (i, d) in manifests.iter().enumerate() {
        let rank = match &d.platform {
            None => usize::MAX,
            Some(p) => {
                let theirs = PlatformSpec::normalized(&p.os, &p.architecture, p.variant.as_deref());
                match compatible.iter().position(|c| *c == theirs) {
                    Some(r) => r,
                    None => continue,
                }
            }
        };
        if best.is_none_or(|(b, _)| rank < b) {
            best = Some((rank, i));
        }
    }
    best.map(|(_, i)| i)
}

/// The manifest of `index` for `want`.
fn choose_for<'a>(index: &'a JsonIndex, want: &PlatformSpec) -> Option<&'a JsonDescriptor> {
    best_manifest(&index.manifests, want).map(|i| &index.manifests[i])
}

/// The manifest of `index` for this machine.
fn choose(index: &JsonIndex) -> Option<&JsonDescriptor> {
    choose_for(index, &PlatformSpec::host())
}

/// An index's manifests as a pull sees them.
#[derive(Debug, Clone)]
pub struct IndexChoice {
    /// Every manifest (or nested index) of the index, in order.
    pub children: Vec<Descriptor>,
    /// The one for the platform asked for, if any.
    pub chosen: Option<Descriptor>,
    /// The platforms the index offers ("os/arch[/variant]", "unknown" for
    /// a manifest without one), for messages.
    pub platforms: Vec<String>,
}

/// Reads index JSON `bytes` and picks the manifest for `want`.
pub fn choose_in_index(bytes: &[u8], want: &PlatformSpec) -> Result<IndexChoice> {
    let index: JsonIndex = serde_json::from_slice(bytes)
        .map_err(|e| Error::new(Code::Unknown, format!("the index is not valid: {e}")))?;
    let chosen = choose_for(&index, want).map(JsonDescriptor::descriptor);
    let platforms = index
        .manifests
        .iter()
        .map(|d| match &d.platform {
            Some(p) => {
                PlatformSpec::normalized(&p.os, &p.architecture, p.variant.as_deref()).to_string()
            }
            None => "unknown".to_string(),
        })
        .collect();
    Ok(IndexChoice {
        children: index
            .manifests
            .iter()
            .map(JsonDescriptor::descriptor)
            .collect(),
        chosen,
        platforms,
    })
}

/// A manifest's config and layers, read from its JSON `bytes`.
pub fn manifest_children(bytes: &[u8]) -> Result<(Descriptor, Vec<Descriptor>)> {
    let m: JsonManifest = serde_json::from_slice(bytes)
        .map_err(|e| Error::new(Code::Unknown, format!("the manifest is not valid: {e}")))?;
    let config = m.config.descriptor();
    check_size("manifest", &config)?;
    let layers: Vec<Descriptor> = m.layers.iter().map(JsonDescriptor::descriptor).collect();
    for l in &layers {
        check_size("manifest", l)?;
    }
    Ok((config, layers))
}

fn check_size(what: &str, d: &Descriptor) -> Result<()> {
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
        let (target, mut walked) = self.platform_manifest(&what, image.target.clone()).await?;
        let manifest: JsonManifest = self.read_json("manifest", &target).await?;
        let config = manifest.config.descriptor();
        check_size(&what, &config)?;
        walked.push(config.clone());
        let layers: Vec<Descriptor> = manifest.layers.iter().map(|l| l.descriptor()).collect();
        for l in &layers {
            check_size(&what, l)?;
        }
        walked.extend(layers.iter().cloned());
        Ok(PlatformContent {
            manifest: target,
            config,
            layers,
            walked,
        })
    }

    /// From `target` (an index or a manifest) down through indexes to the
    /// manifest for this machine's platform, as Go's client chooses it:
    /// that manifest, and the descriptors walked (indexes, then it). `what`
    /// starts the errors.
    pub(crate) async fn platform_manifest(
        &self,
        what: &str,
        mut target: Descriptor,
    ) -> Result<(Descriptor, Vec<Descriptor>)> {
        let mut walked = Vec::new();
        for _ in 0..MAX_DEPTH {
            check_size(what, &target)?;
            walked.push(target.clone());
            let media_type = target.media_type.as_str();
            if INDEX_TYPES.contains(&media_type) {
                let index: JsonIndex = self.read_json("index", &target).await?;
                let chosen = choose(&index).ok_or_else(|| {
                    Error::new(
                        Code::NotFound,
                        format!(
                            "{what}: no manifest for {} in index {}",
                            PlatformSpec::host(),
                            target.digest
                        ),
                    )
                })?;
                target = chosen.descriptor();
            } else if MANIFEST_TYPES.contains(&media_type) {
                return Ok((target, walked));
            } else {
                return Err(Error::new(
                    Code::NotImplemented,
                    format!(
                        "{what}: {} has media type {:?}, neither an image index nor a manifest \
                         this library reads",
                        target.digest, target.media_type
                    ),
                ));
            }
        }
        Err(Error::new(
            Code::Unknown,
            format!("{what}: indexes nest more than {MAX_DEPTH} deep"),
        ))
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
        let config: JsonConfig = self.read_json("image config", &content.config).await?;
        let chain = chain_id(&config.rootfs.diff_ids)
            .ok_or_else(|| Error::new(Code::Unknown, format!("{what}: the image has no layers")))?;
        let req = snapshots::StatSnapshotRequest {
            snapshotter: snapshotter.to_string(),
            key: chain.clone(),
        };
        let stat = format!(
            "{what}: stat snapshot {chain} on snapshotter {}",
            shown(snapshotter)
        );
        match self
            .call(stat, self.snapshots().stat(self.request(req)))
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code == Code::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Client {
    /// Points image `name` at `target`, making the record if it is new (as
    /// containerd's import: Update of the target, else Create).
    pub(crate) async fn put_image(&self, name: &str, target: Descriptor) -> Result<()> {
        let what = self.image_what(name);
        let image = images::Image {
            name: name.to_string(),
            target: Some(target),
            ..Default::default()
        };
        // Twice: an image made by someone else between our Update and
        // Create is updated then.
        for _ in 0..2 {
            let req = images::UpdateImageRequest {
                image: Some(image.clone()),
                update_mask: Some(prost_types::FieldMask {
                    paths: vec!["target".into()],
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
                Err(e) if e.code == Code::AlreadyExists => {}
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

    fn index(json: &str) -> JsonIndex {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_platform_of_this_machine_is_chosen() {
        let (arch, variant) = platform();
        let variant = variant
            .map(|v| format!(r#","variant":"{v}""#))
            .unwrap_or_default();
        let json = format!(
            r#"{{"manifests":[
              {{"mediaType":"m","digest":"sha256:none","size":1}},
              {{"mediaType":"m","digest":"sha256:other","size":2,
                "platform":{{"os":"linux","architecture":"s390x-not-this"}}}},
              {{"mediaType":"m","digest":"sha256:win","size":3,
                "platform":{{"os":"windows","architecture":"{arch}"}}}},
              {{"mediaType":"m","digest":"sha256:this","size":4,
                "platform":{{"os":"linux","architecture":"{arch}"{variant}}}}},
              {{"mediaType":"m","digest":"sha256:this-again","size":5,
                "platform":{{"os":"linux","architecture":"{arch}"{variant}}}}}
            ]}}"#
        );
        assert_eq!(choose(&index(&json)).unwrap().digest, "sha256:this");
        // Without a match, a manifest without a platform; else none.
        let json = r#"{"manifests":[
            {"mediaType":"m","digest":"sha256:other","size":2,
             "platform":{"os":"linux","architecture":"s390x-not-this"}},
            {"mediaType":"m","digest":"sha256:none","size":1}]}"#;
        assert_eq!(choose(&index(json)).unwrap().digest, "sha256:none");
        let json = r#"{"manifests":[
            {"mediaType":"m","digest":"sha256:other","size":2,
             "platform":{"os":"linux","architecture":"s390x-not-this"}}]}"#;
        assert!(choose(&index(json)).is_none());
        assert!(choose(&index(r#"{"manifests":[]}"#)).is_none());
    }

    #[test]
    fn fallback_platforms_are_matched_and_ranked_as_containerd_does() {
        // (host, index entries, the one chosen; None: nothing runs)
        let cases: &[(&str, &[&str], Option<&str>)] = &[
            (
                "linux/arm/v7",
                &["linux/arm/v5", "linux/arm/v6"],
                Some("linux/arm/v6"),
            ),
            (
                "linux/arm/v7",
                &["linux/arm/v6", "linux/arm/v7"],
                Some("linux/arm/v7"),
            ),
            ("linux/arm/v7", &["linux/arm/v5"], Some("linux/arm/v5")),
            ("linux/arm/v7", &["linux/arm/v8", "linux/arm64"], None),
            ("linux/arm/v6", &["linux/arm/v7"], None),
            (
                "linux/arm/v5",
                &["linux/arm/v6", "linux/arm/v5"],
                Some("linux/arm/v5"),
            ),
            ("linux/armhf", &["linux/arm/v6"], Some("linux/arm/v6")),
            (
                "linux/arm64",
                &["linux/arm/v7", "linux/arm64/v8"],
                Some("linux/arm64/v8"),
            ),
            (
                "linux/arm64",
                &["linux/arm/v7", "linux/arm/v6"],
                Some("linux/arm/v7"),
            ),
            ("linux/aarch64", &["linux/arm64"], Some("linux/arm64")),
            ("linux/arm64", &["linux/arm64/v8.2"], None),
            (
                "linux/arm64/v8.2",
                &["linux/arm64", "linux/arm64/v8.1"],
                Some("linux/arm64/v8.1"),
            ),
            (
                "linux/arm64/v9",
                &["linux/arm64/v8.6", "linux/arm64/v8.5"],
                Some("linux/arm64/v8.5"),
            ),
            (
                "linux/arm64/v9",
                &["linux/arm/v5", "linux/arm64"],
                Some("linux/arm64"),
            ),
            (
                "linux/amd64",
                &["linux/386", "linux/amd64"],
                Some("linux/amd64"),
            ),
            ("linux/amd64", &["linux/386"], Some("linux/386")),
            ("linux/amd64", &["linux/amd64/v2"], None),
            (
                "linux/amd64/v3",
                &["linux/amd64", "linux/amd64/v2"],
                Some("linux/amd64/v2"),
            ),
            (
                "linux/amd64/v3",
                &["linux/amd64/v4", "linux/amd64/v1"],
                Some("linux/amd64/v1"),
            ),
            (
                "linux/amd64/v2",
                &["linux/386", "linux/amd64/v1"],
                Some("linux/amd64/v1"),
            ),
            ("linux/386", &["linux/amd64"], None),
            (
                "linux/ppc64le",
                &["linux/ppc64", "linux/ppc64le"],
                Some("linux/ppc64le"),
            ),
            ("linux/ppc64", &["linux/ppc64le"], None),
            ("linux/amd64", &["windows/amd64"], None),
        ];
        for (host, entries, want) in cases {
            let host_spec = PlatformSpec::parse(host).unwrap();
            let manifests: Vec<JsonDescriptor> = entries
                .iter()
                .map(|e| {
                    let p = PlatformSpec::parse(e).unwrap();
                    let platform = JsonPlatform {
                        os: p.os,
                        architecture: p.arch,
                        variant: e.split('/').nth(2).map(str::to_string),
                    };
                    serde_json::from_value(serde_json::json!({
                        "mediaType": "m", "digest": format!("sha256:{e}"), "size": 1,
                        "platform": platform,
                    }))
                    .unwrap()
                })
                .collect();
            let got = best_manifest(&manifests, &host_spec).map(|i| entries[i]);
            assert_eq!(got, *want, "host {host}, index {entries:?}");
        }
        let arm64 = PlatformSpec::parse("linux/arm64").unwrap();
        let shown: Vec<String> = arm64.compatible().iter().map(|p| p.to_string()).collect();
        assert_eq!(
            shown,
            [
                "linux/arm64/v8",
                "linux/arm/v8",
                "linux/arm/v7",
                "linux/arm/v6",
                "linux/arm/v5"
            ]
        );
    }

    #[test]
    fn platforms_are_normalised_as_go_does() {
        let p = |s: &str| PlatformSpec::parse(s).unwrap().to_string();
        assert_eq!(p("linux/x86_64"), "linux/amd64");
        assert_eq!(p("linux/amd64/v1"), "linux/amd64");
        assert_eq!(p("linux/amd64/v3"), "linux/amd64/v3");
        assert_eq!(p("linux/aarch64"), "linux/arm64/v8");
        assert_eq!(p("Linux/arm64/8"), "linux/arm64/v8");
        assert_eq!(p("linux/arm"), "linux/arm/v7");
        assert_eq!(p("linux/armhf"), "linux/arm/v7");
        assert_eq!(p("linux/arm/6"), "linux/arm/v6");
        assert_eq!(p("linux/i386"), "linux/386");
        assert_eq!(p("linux/ppc64le"), "linux/ppc64le");
        assert_eq!(p("arm64"), "linux/arm64/v8");
        assert_eq!(p("linux"), PlatformSpec::host().to_string());
        for bad in ["", "linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            let e = PlatformSpec::parse(bad).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{bad:?}");
            assert!(e.message.starts_with("platform "), "{}", e.message);
        }
    }

    #[test]
    fn a_requested_platform_is_chosen() {
        let json = br#"{"manifests":[
            {"mediaType":"m","digest":"sha256:amd","size":1,
             "platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"m","digest":"sha256:arm","size":2,
             "platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"mediaType":"m","digest":"sha256:att","size":3,
             "platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        let pick = |s: &str| {
            choose_in_index(json, &PlatformSpec::parse(s).unwrap())
                .unwrap()
                .chosen
                .map(|d| d.digest)
        };
        assert_eq!(pick("linux/arm64").as_deref(), Some("sha256:arm"));
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some("sha256:arm"));
        assert_eq!(pick("linux/x86_64").as_deref(), Some("sha256:amd"));
        assert_eq!(pick("linux/s390x"), None);
        let c = choose_in_index(json, &PlatformSpec::host()).unwrap();
        assert_eq!(c.children.len(), 3);
        assert_eq!(
            c.platforms,
            ["linux/amd64", "linux/arm64/v8", "unknown/unknown"]
        );
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

    #[test]
    fn empty_names_are_refused() {
        let e = validate_name("image name", "").unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert_eq!(e.message, "image name is empty");
        validate_name("image name", "docker.io/library/x:1").unwrap();
    }
}
