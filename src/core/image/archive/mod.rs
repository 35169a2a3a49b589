//! Image archives, as containerd's `archive` package and `ctr images
//! import/export` read and write them, done by the library itself (so they
//! work the same on every containerd version):
//!
//! - import: an OCI image layout tar (`oci-layout`, `index.json`,
//!   `blobs/<alg>/<hex>`) or a `docker save` tar (`manifest.json` with
//!   `Config`, `RepoTags`, `Layers`). The tar is read twice on a blocking
//!   thread: once for its table of entries and small metadata files, once
//!   per blob to stream it, chunk by chunk, into the content store (never a
//!   whole layer in memory). Everything is written under a lease deleted at
//!   the end; image records are made only once all their content is in (and
//!   unpacked, unless asked not to).
//! - export: an OCI image layout tar with one `index.json` entry per image
//!   (annotated with `io.containerd.image.name` and
//!   `org.opencontainers.image.ref.name` as ctr writes them), a docker
//!   `manifest.json` as ctr writes it (for `docker load`), each blob once,
//!   streamed from the content store into a temporary file next to the
//!   destination that is renamed over it on success.

mod export;
mod files;
mod import;
mod naming;
mod source;

use serde::{Deserialize, Serialize};

use crate::core::error::{Code, Error, Result};
use crate::core::image::oci::{sha256_hex, BadDigest};

const OCI_LAYOUT_FILE: &str = "oci-layout";
const OCI_INDEX_FILE: &str = "index.json";
const DOCKER_MANIFEST_FILE: &str = "manifest.json";
const OCI_LAYOUT_VERSION: &str = "1.0.0";
/// Chunks a blob is read in, from the archive or the content store.
const CHUNK: usize = 1 << 20;
/// How many symlinks a docker-save path may go through.
const MAX_LINKS: usize = 16;

/// `sha256:<64 hex>` → the hex. Other algorithms are not supported.
fn parse_digest(d: &str) -> Result<&str> {
    sha256_hex(d).map_err(|bad| match bad {
        BadDigest::NoAlgorithm => Error::invalid(format!("{d:?} is not a digest")),
        BadDigest::BadAlgorithm | BadDigest::Unsupported => {
            let alg = d.split_once(':').map_or(d, |(alg, _)| alg);
            Error::new(
                Code::NotImplemented,
                format!("digest {d:?}: algorithm {alg:?} is not supported (only sha256)"),
            )
        }
        BadDigest::BadHex => Error::invalid(format!("{d:?} is not a sha256 digest")),
    })
}

/// An OCI layout's `oci-layout` file.
#[derive(Debug, Deserialize)]
struct JsonLayout {
    #[serde(rename = "imageLayoutVersion", default)]
    version: String,
}

/// An entry of a `docker save` archive's `manifest.json` (read on import,
/// written on export): docker's own format, which oci-spec does not have.
#[derive(Debug, Deserialize, Serialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

fn to_json<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| Error::internal(e.to_string()))
}

/// `what` and an I/O error, with the code the error's kind calls for.
fn io_error(what: &str, e: &std::io::Error) -> Error {
    let code = match e.kind() {
        std::io::ErrorKind::NotFound => Code::NotFound,
        std::io::ErrorKind::PermissionDenied => Code::PermissionDenied,
        std::io::ErrorKind::IsADirectory => Code::InvalidArgument,
        _ => Code::Io,
    };
    Error::new(code, format!("{what}: {e}"))
}

/// Runs `f` on a blocking thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("archive thread: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sha256_digests_are_read() {
        let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(parse_digest(&format!("sha256:{hex}")).unwrap(), hex);
        assert_eq!(
            parse_digest("sha512:00").unwrap_err().code,
            Code::NotImplemented
        );
        for bad in ["sha256:../../etc", "sha256:ABC", "nodigest", "sha256:"] {
            assert_eq!(parse_digest(bad).unwrap_err().code, Code::InvalidArgument);
        }
    }
}
