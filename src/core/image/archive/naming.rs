//! How images are named in archives: a `docker save` archive's `RepoTags`
//! (normalised as pulls normalise references), the names ctr writes into
//! and reads from an OCI layout's `index.json` annotations, and the
//! familiar names of docker's `manifest.json`.

use std::collections::HashMap;

use crate::core::error::Result;
use crate::core::registry::reference::ImageRef;

/// The annotation containerd names an image by in an archive's index.
pub const IMAGE_NAME_ANNOTATION: &str = "io.containerd.image.name";
/// The OCI annotation for the reference (a tag) of an index entry.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// A docker-save `RepoTags` entry as containerd's importer names the image:
/// normalised by `reference.ParseDockerRef`, here the one normaliser pulls
/// use too (`busybox` → `docker.io/library/busybox:latest`), so import
/// accepts exactly the names a pull does.
pub(super) fn repo_tag_name(tag: &str) -> Result<String> {
    ImageRef::parse(tag).map(|r| r.name)
}

/// The OCI reference name ctr writes for image `name`: the object of the
/// reference, after its locator (`docker.io/library/x:1` → `1`;
/// `example.com/x@sha256:…` → `@sha256:…`); the whole name when it has no
/// locator; `None` when there is no object.
pub fn oci_ref_name(name: &str) -> Option<String> {
    let Some((host, path)) = name.split_once('/') else {
        return Some(name.to_string());
    };
    if host.is_empty() || name.contains("://") {
        return Some(name.to_string());
    }
    let i = path.find([':', '@'])?;
    let object = if path.as_bytes()[i] == b':' {
        &path[i + 1..]
    } else {
        &path[i..]
    };
    (!object.is_empty()).then(|| object.to_string())
}

/// The name an index.json entry gives its image, as ctr's import reads it:
/// `io.containerd.image.name`, else `org.opencontainers.image.ref.name`. A
/// full reference there is the name as it is; a bare tag (no `/`, `:` or
/// `@`) is named `import-<date>:<tag>` as ctr names it without
/// `--base-name` (the UTC date, `YYYY-MM-DD`).
pub(super) fn entry_name(annotations: &HashMap<String, String>, date: &str) -> Option<String> {
    if let Some(n) = annotations
        .get(IMAGE_NAME_ANNOTATION)
        .filter(|n| !n.is_empty())
    {
        return Some(n.clone());
    }
    let r = annotations
        .get(REF_NAME_ANNOTATION)
        .filter(|r| !r.is_empty())?;
    if r.contains(['/', ':', '@']) {
        Some(r.clone())
    } else {
        Some(format!("import-{date}:{r}"))
    }
}

/// Image `name` as docker's manifest.json names it (`RepoTags`), as
/// containerd's exporter familiarises it: `docker.io/library/x:1` → `x:1`,
/// `docker.io/u/x:1` → `u/x:1`, others whole (with `:latest` when they have
/// neither tag nor digest). `None` for a name docker could not read.
pub(super) fn familiar_name(name: &str) -> Option<String> {
    let full = repo_tag_name(name).ok()?;
    Some(
        full.strip_prefix("docker.io/library/")
            .or_else(|| full.strip_prefix("docker.io/"))
            .unwrap_or(&full)
            .to_string(),
    )
}

/// Today's UTC date, `YYYY-MM-DD`.
pub(super) fn today() -> String {
    let now = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    now[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_tags_are_named_as_pulls_name_references() {
        let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let cases = [
            ("busybox", Some("docker.io/library/busybox:latest")),
            ("busybox:1.36", Some("docker.io/library/busybox:1.36")),
            ("library/busybox:1", Some("docker.io/library/busybox:1")),
            ("user/app", Some("docker.io/user/app:latest")),
            ("index.docker.io/user/app:2", Some("docker.io/user/app:2")),
            ("example.com/a/b", Some("example.com/a/b:latest")),
            ("localhost/x:y", Some("localhost/x:y")),
            ("localhost:5000/x", Some("localhost:5000/x:latest")),
            // A capitalised first component is a host, for pulls too.
            ("Upper/x", Some("Upper/x:latest")),
            ("Busybox", None),
            ("Upper/X", None),
            ("busybox:", None),
            ("", None),
            ("a//b", None),
            // The path grammar: separators `.`, `_`, `__`, dashes.
            ("a..b", None),
            ("a___b", None),
            ("a.-b", None),
            ("a__b/c--d", Some("docker.io/a__b/c--d:latest")),
            ("x@sha256:short", None),
            // Digests pulls cannot verify are refused here too.
            (
                "x@sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                None,
            ),
            ("h_.io/a", None),
            (hex, None),
        ];
        for (input, want) in cases {
            let named = repo_tag_name(input).ok();
            assert_eq!(named.as_deref(), want, "{input:?}");
            assert_eq!(
                named,
                ImageRef::parse(input).ok().map(|r| r.name),
                "{input:?}"
            );
        }
        let d = format!("x@sha256:{hex}");
        assert_eq!(
            repo_tag_name(&d).unwrap(),
            format!("docker.io/library/x@sha256:{hex}")
        );
        assert_eq!(
            familiar_name("docker.io/library/x:1").as_deref(),
            Some("x:1")
        );
        assert_eq!(familiar_name("Upper/x").as_deref(), Some("Upper/x:latest"));
    }

    #[test]
    fn oci_ref_names_are_the_reference_object() {
        assert_eq!(oci_ref_name("docker.io/library/x:1").as_deref(), Some("1"));
        assert_eq!(
            oci_ref_name("localhost:5000/a/b:tag").as_deref(),
            Some("tag")
        );
        assert_eq!(
            oci_ref_name("example.com/x@sha256:abc").as_deref(),
            Some("@sha256:abc")
        );
        assert_eq!(oci_ref_name("example.com/x"), None);
        assert_eq!(oci_ref_name("plain").as_deref(), Some("plain"));
    }

    #[test]
    fn entry_names_follow_ctr() {
        let ann = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let date = "2026-01-02";
        assert_eq!(
            entry_name(
                &ann(&[
                    (IMAGE_NAME_ANNOTATION, "docker.io/a/b:1"),
                    (REF_NAME_ANNOTATION, "1")
                ]),
                date
            )
            .as_deref(),
            Some("docker.io/a/b:1")
        );
        assert_eq!(
            entry_name(&ann(&[(REF_NAME_ANNOTATION, "v2")]), date).as_deref(),
            Some("import-2026-01-02:v2")
        );
        assert_eq!(
            entry_name(&ann(&[(REF_NAME_ANNOTATION, "example.com/x:3")]), date).as_deref(),
            Some("example.com/x:3")
        );
        assert_eq!(entry_name(&ann(&[]), date), None);
        assert_eq!(entry_name(&ann(&[(IMAGE_NAME_ANNOTATION, "")]), date), None);
        assert_eq!(today().len(), 10);
    }
}
