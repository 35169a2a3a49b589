//! Platforms: this machine's as OCI names it, a platform named, normalised
//! and matched as containerd's Go `platforms` package does
//! (`PlatformSpec`), and the one matcher (`best_manifest`) that picks an
//! index's entry for a platform (pulls, image queries, import, export, all
//! through `core::image::walk`).

use crate::core::daemon::ident::shown;
use crate::core::error::{Error, Result};
use crate::core::image::oci::{JsonDescriptor, JsonPlatform};

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

/// The platforms an index offers ("os/arch[/variant]", "unknown" for an
/// entry without one), for messages.
pub(crate) fn platforms(manifests: &[JsonDescriptor]) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::Code;
    use crate::core::image::oci::JsonIndex;

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
}
