//! Platforms and the walk from an image's target down to the manifest of
//! a platform. A platform is named and matched as containerd's Go
//! `platforms` package does (`PlatformSpec`); the one matcher
//! (`best_manifest`) picks an index's entry for it; the one walk (`walk`)
//! goes from a target (index or manifest) through indexes to that
//! manifest, its config and layers, whatever the blobs come from: the
//! registry (pulls), the content store (image queries, unpack, export) or
//! an archive (import), each a `Blobs`.

use crate::api::types::Descriptor;
use crate::core::daemon::ident::shown;
use crate::core::error::{Code, Error, Result};
use crate::core::image::oci::{
    JsonDescriptor, JsonIndex, JsonManifest, JsonPlatform, INDEX_TYPES, MANIFEST_TYPES,
};

/// How many indexes and manifests a path may have: indexes nest at most 7
/// deep.
const MAX_DEPTH: usize = 8;

/// This machine's platform as OCI names it (architecture, variant).
pub fn platform() -> (&'static str, Option<&'static str>) {
    oci_arch(std::env::consts::ARCH, cfg!(target_endian = "little"))
}

/// Rust's name of an architecture as Go's `GOARCH` (and so OCI) names it,
/// with its default variant; `little_endian` tells the architectures Go
/// names by their byte order apart (`powerpc64` is `ppc64` big-endian,
/// `ppc64le` little-endian).
fn oci_arch(arch: &'static str, little_endian: bool) -> (&'static str, Option<&'static str>) {
    let le = |big, little| if little_endian { little } else { big };
    let name = match arch {
        "x86_64" => "amd64",
        "aarch64" => return ("arm64", Some("v8")),
        "x86" => "386",
        "powerpc64" => le("ppc64", "ppc64le"),
        "powerpc" => "ppc",
        "mips" => le("mips", "mipsle"),
        "mips64" => le("mips64", "mips64le"),
        "loongarch64" => "loong64",
        "sparc64" => "sparc64",
        other => other,
    };
    (name, None)
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

/// The platforms an index offers ("os/arch[/variant]", "unknown" for an
/// entry without one), for messages.
fn platforms(manifests: &[JsonDescriptor]) -> Vec<String> {
    manifests
        .iter()
        .map(|d| match &d.platform {
            Some(p) => {
                PlatformSpec::normalized(&p.os, &p.architecture, p.variant.as_deref()).to_string()
            }
            None => "unknown".to_string(),
        })
        .collect()
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

    /// The entry of index JSON `json` chosen for `want`.
    fn choose(json: &str, want: &PlatformSpec) -> Option<String> {
        let index: JsonIndex = serde_json::from_str(json).unwrap();
        best_manifest(&index.manifests, want).map(|i| index.manifests[i].digest.clone())
    }

    #[test]
    fn architectures_are_named_as_go_names_them_by_byte_order() {
        let cases = [
            ("x86_64", true, ("amd64", None)),
            ("aarch64", true, ("arm64", Some("v8"))),
            ("x86", true, ("386", None)),
            ("arm", true, ("arm", None)),
            ("powerpc64", true, ("ppc64le", None)),
            ("powerpc64", false, ("ppc64", None)),
            ("mips64", true, ("mips64le", None)),
            ("mips64", false, ("mips64", None)),
            ("mips", true, ("mipsle", None)),
            ("s390x", false, ("s390x", None)),
            ("riscv64", true, ("riscv64", None)),
            ("loongarch64", true, ("loong64", None)),
        ];
        for (arch, le, want) in cases {
            assert_eq!(oci_arch(arch, le), want, "{arch} little-endian={le}");
        }
    }

    #[test]
    fn the_platform_of_this_machine_is_chosen() {
        let host = PlatformSpec::host();
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
        assert_eq!(choose(&json, &host).as_deref(), Some("sha256:this"));
        // Without a match, a manifest without a platform; else none.
        let json = r#"{"manifests":[
            {"mediaType":"m","digest":"sha256:other","size":2,
             "platform":{"os":"linux","architecture":"s390x-not-this"}},
            {"mediaType":"m","digest":"sha256:none","size":1}]}"#;
        assert_eq!(choose(json, &host).as_deref(), Some("sha256:none"));
        let json = r#"{"manifests":[
            {"mediaType":"m","digest":"sha256:other","size":2,
             "platform":{"os":"linux","architecture":"s390x-not-this"}}]}"#;
        assert!(choose(json, &host).is_none());
        assert!(choose(r#"{"manifests":[]}"#, &host).is_none());
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
        let json = r#"{"manifests":[
            {"mediaType":"m","digest":"sha256:amd","size":1,
             "platform":{"os":"linux","architecture":"amd64"}},
            {"mediaType":"m","digest":"sha256:arm","size":2,
             "platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
            {"mediaType":"m","digest":"sha256:att","size":3,
             "platform":{"os":"unknown","architecture":"unknown"}}]}"#;
        let pick = |s: &str| choose(json, &PlatformSpec::parse(s).unwrap());
        assert_eq!(pick("linux/arm64").as_deref(), Some("sha256:arm"));
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some("sha256:arm"));
        assert_eq!(pick("linux/x86_64").as_deref(), Some("sha256:amd"));
        assert_eq!(pick("linux/s390x"), None);
        let index: JsonIndex = serde_json::from_str(json).unwrap();
        assert_eq!(
            platforms(&index.manifests),
            ["linux/amd64", "linux/arm64/v8", "unknown/unknown"]
        );
    }

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
