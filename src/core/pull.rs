//! Pulling an image from a registry into containerd: what a pull is asked to
//! do. (Registry access, fetching and the image record follow.)

use std::path::PathBuf;

/// How to pull (or import) an image; `Default` is a pull of this machine's
/// platform over https, unpacked into overlayfs, with the docker config's
/// credentials.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// "os/arch[/variant]", e.g. "linux/arm64/v8"; `None` = this machine's.
    pub platform: Option<String>,
    /// `None` = overlayfs.
    pub snapshotter: Option<String>,
    /// Fetch the content only.
    pub no_unpack: bool,
    /// With `secret`: the registry credentials; `None` = the docker config's.
    pub username: Option<String>,
    /// The password, or an identity token when `username` is empty.
    pub secret: Option<String>,
    /// http:// instead of https://.
    pub plain_http: bool,
    /// Accept any TLS certificate.
    pub skip_verify: bool,
    /// A PEM bundle of CAs trusted besides the system's.
    pub ca_file: Option<PathBuf>,
}
