//! Image references as docker parses and normalises them (the distribution
//! reference grammar, `ParseDockerRef`): `busybox` is
//! `docker.io/library/busybox:latest`, `host:port/repo:tag` names its
//! registry, `repo@sha256:<hex>` a manifest by digest (a tag beside the
//! digest is dropped). Written out by hand rather than as the grammar's
//! regular expressions, which would bring a regex engine into the library.

use crate::core::daemon::ident::shown;
use crate::core::error::{Error, Result};
use crate::core::image::oci::{sha256_hex, BadDigest};

/// docker.io's name in references.
const DOCKER_HUB: &str = "docker.io";
/// The host that serves docker.io's distribution API.
const DOCKER_HUB_ENDPOINT: &str = "registry-1.docker.io";
/// Longest name (registry and repository), as docker's `NameTotalLengthMax`.
const MAX_NAME: usize = 255;
/// Longest tag.
const MAX_TAG: usize = 128;

/// An image reference as docker normalises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry as the reference names it (`docker.io`,
    /// `127.0.0.1:5000`).
    host: String,
    /// `library/busybox`.
    repository: String,
    /// The tag (`latest` when the reference has neither tag nor digest);
    /// `None` beside a digest.
    tag: Option<String>,
    digest: Option<String>,
    /// The image record's name: `docker.io/library/busybox:latest`,
    /// `host:port/repo@sha256:...` (a tag beside a digest is dropped, as
    /// docker's `ParseDockerRef` does).
    pub name: String,
}

impl ImageRef {
    /// Parses `s` (`busybox` → `docker.io/library/busybox:latest`); a
    /// malformed one is `InvalidArgument` naming it.
    pub fn parse(s: &str) -> Result<ImageRef> {
        parse(s)
            .map_err(|why| Error::invalid(format!("invalid image reference {}: {why}", shown(s))))
    }

    /// The registry host as the reference names it (`docker.io`,
    /// `127.0.0.1:5000`).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The host and port requests go to: docker.io's API is served by
    /// `registry-1.docker.io`.
    pub fn endpoint(&self) -> &str {
        if self.host == DOCKER_HUB {
            DOCKER_HUB_ENDPOINT
        } else {
            &self.host
        }
    }

    /// The repository (`library/busybox`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    /// The digest the reference names, if it names one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// What the manifest is asked for by: the digest, else the tag.
    pub fn tag_or_digest(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or("latest")
    }
}

/// `s` parsed, or why it is not a reference.
fn parse(s: &str) -> std::result::Result<ImageRef, &'static str> {
    if s.is_empty() {
        return Err("empty");
    }
    // As ParseNormalizedNamed: 64 hex digits are an image id, not a name.
    if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("64 hexadecimal digits name an image id, not a repository");
    }
    let (rest, digest) = match s.split_once('@') {
        Some((rest, digest)) => (rest, Some(digest)),
        None => (s, None),
    };
    // A colon after the last slash starts the tag; one before it is the
    // registry's port.
    let (name, tag) = match rest.rfind(':') {
        Some(i) if !rest[i + 1..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
        _ => (rest, None),
    };
    if name.is_empty() {
        return Err("no repository name");
    }
    if let Some(tag) = tag {
        if !valid_tag(tag) {
            return Err("invalid tag (letters, digits, '_', '.' and '-', at most 128)");
        }
    }
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    let (host, path) = split_host(name);
    if !valid_host(host) {
        return Err("invalid registry host");
    }
    // As docker's ParseNormalizedNamed, before the grammar.
    if path.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("repository name must be lowercase");
    }
    if !path.split('/').all(valid_path_component) {
        return Err("invalid repository name");
    }
    let host = if host == "index.docker.io" {
        DOCKER_HUB
    } else {
        host
    };
    let repository = if host == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path.to_string()
    };
    if host.len() + 1 + repository.len() > MAX_NAME {
        return Err("repository name must not be more than 255 characters");
    }
    let (tag, name) = match digest {
        Some(d) => (None, format!("{host}/{repository}@{d}")),
        None => {
            let tag = tag.unwrap_or("latest");
            (Some(tag.to_string()), format!("{host}/{repository}:{tag}"))
        }
    };
    Ok(ImageRef {
        host: host.to_string(),
        repository,
        tag,
        digest: digest.map(str::to_string),
        name,
    })
}

/// `name` split into registry and path, as distribution/reference's
/// `splitDockerDomain` does now: the first of several components is a
/// registry when it has a dot or a colon, is `localhost`, or has an
/// uppercase letter (repository components are lowercase, so `Upper/x` can
/// only name a host); else the registry is docker.io (and a single
/// component, `Busybox`, is a repository, refused for its capitals).
fn split_host(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

/// Whether `s` is `host[:port]`: a domain name (components of letters,
/// digits and inner hyphens, joined by dots) or a bracketed IPv6 address.
fn valid_host(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((ip6, after)) = rest.split_once(']') else {
            return false;
        };
        if ip6.is_empty() || !ip6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if let Some(port) = port {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    // Empty only after a bracketed address.
    (host.is_empty() && s.starts_with('['))
        || host.split('.').all(|c| {
            let b = c.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&x| x.is_ascii_alphanumeric() || x == b'-')
        })
}

/// Whether `c` is a path component: `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`.
fn valid_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
    }
    true
}

/// Whether `t` is a tag: `[\w][\w.-]{0,127}`.
fn valid_tag(t: &str) -> bool {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = t.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_TAG
        && word(b[0])
        && b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
}

/// Checks digest `d`: `algorithm:hex`, and sha256 (64 lowercase hex
/// digits) the one algorithm pulls verify.
fn check_digest(d: &str) -> std::result::Result<(), &'static str> {
    match sha256_hex(d) {
        Ok(_) => Ok(()),
        Err(BadDigest::NoAlgorithm | BadDigest::BadAlgorithm) => {
            Err("invalid digest (algorithm:hex)")
        }
        Err(BadDigest::Unsupported) => {
            Err("unsupported digest algorithm (only sha256 is supported)")
        }
        Err(BadDigest::BadHex) => Err("invalid sha256 digest (64 lowercase hex digits)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::Code;

    #[test]
    fn references_are_normalised_as_docker_does() {
        let n = |s: &str| ImageRef::parse(s).unwrap().name;
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(n("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            n("index.docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(n("docker.io/a/b/c:v1.0-rc_1"), "docker.io/a/b/c:v1.0-rc_1");
        assert_eq!(
            n("127.0.0.1:5000/ctrd/busybox"),
            "127.0.0.1:5000/ctrd/busybox:latest"
        );
        assert_eq!(n("localhost/x"), "localhost/x:latest");
        assert_eq!(n("[::1]:5000/x:t"), "[::1]:5000/x:t");
        assert_eq!(
            n("Registry.Example/a_b/c__d/e--f/g.h"),
            "Registry.Example/a_b/c__d/e--f/g.h:latest"
        );
        // A capitalised first component is a registry (distribution/reference
        // since v0.6), not a repository refused for its capitals.
        assert_eq!(n("UPPER/case"), "UPPER/case:latest");
        assert_eq!(ImageRef::parse("Reg/a/b").unwrap().host(), "Reg");
        let d = "sha256:".to_string() + &"a".repeat(64);
        assert!(ImageRef::parse(&"a".repeat(64)).is_err());
        assert_eq!(
            n(&"a".repeat(63)),
            format!("docker.io/library/{}:latest", "a".repeat(63))
        );
        assert_eq!(
            n(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            n(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        let r = ImageRef::parse(&format!("h:1/a@{d}")).unwrap();
        assert_eq!(
            (r.digest(), r.tag_or_digest()),
            (Some(d.as_str()), d.as_str())
        );
        let r = ImageRef::parse("localhost:5000/a/b:t").unwrap();
        assert_eq!((r.host(), r.repository()), ("localhost:5000", "a/b"));
        assert_eq!(
            (r.endpoint(), r.tag_or_digest(), r.digest()),
            ("localhost:5000", "t", None)
        );
        let r = ImageRef::parse("busybox").unwrap();
        assert_eq!(
            (r.host(), r.endpoint()),
            ("docker.io", "registry-1.docker.io")
        );
        assert_eq!(
            (r.repository(), r.tag_or_digest()),
            ("library/busybox", "latest")
        );
        for bad in [
            "",
            "Busybox",
            "UPPER/Case",
            "UPPER/case@sha256:x",
            "a b",
            "busybox:",
            "busybox@sha256:abc",
            ":tag",
            "a//b",
            "a/",
            "-a",
            "a-",
            "a..b",
            "a___b",
            "a.-b",
            "h:/a",
            "h:x1/a",
            "-h.io/a",
            "h_.io/a",
            "[::1/a",
            "busybox:-t",
            "busybox:t!",
            "busybox@sha512:abc",
            "busybox@md5",
            "émoji",
        ] {
            let e = ImageRef::parse(bad).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{bad:?}");
            assert!(e.message.contains(&format!("{bad:?}")), "{}", e.message);
        }
        let long_tag = format!("busybox:{}", "t".repeat(128));
        assert!(ImageRef::parse(&long_tag).is_ok());
        assert!(ImageRef::parse(&format!("{long_tag}t")).is_err());
        let upper = format!("busybox@sha256:{}", "A".repeat(64));
        assert!(ImageRef::parse(&upper).is_err());
        let long_name = format!("h.io/{}", "a".repeat(251));
        assert!(ImageRef::parse(&format!("h.io/{}", "a".repeat(250))).is_ok());
        assert!(ImageRef::parse(&long_name)
            .unwrap_err()
            .message
            .contains("255"));
    }
}
