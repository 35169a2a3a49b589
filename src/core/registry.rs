//! The registry side of a pull: image references normalised as docker and
//! ctr do, credentials (the caller's, else the docker config's), and the
//! distribution API (token or basic auth, manifests, ranged blob streams)
//! through `oci-client`, over rustls with the system's CAs plus the caller's.
//! Every failure becomes an [`Error`] whose code says what kind it was:
//! 401 → `Unauthenticated`, 403 → `PermissionDenied`, unknown repository,
//! tag, manifest or blob → `NotFound`, a registry that cannot be reached →
//! `Unavailable`, an untrusted certificate → `Unavailable` with a message
//! that says so.

use std::time::Duration;

use oci_client::client::{
    BlobResponse, Certificate, CertificateEncoding, ClientConfig, ClientProtocol, SizedStream,
};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::Reference;

use crate::api::types::Descriptor;
use crate::core::error::{Code, Error, Result};
use crate::core::ident::shown;
use crate::core::image::INDEX_TYPES;
use crate::core::images::MANIFEST_TYPES;
use crate::core::pull::PullOptions;

/// Largest manifest or index read into memory.
const MAX_MANIFEST: usize = 4 << 20;
/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the registry may send nothing while a request or blob is under
/// way.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The manifest media types a pull accepts (the Accept header), as
/// containerd's resolver sends them.
const ACCEPTED: [&str; 5] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "*/*",
];

/// An image reference as docker normalises it.
#[derive(Debug, Clone)]
pub struct ImageRef {
    reference: Reference,
    /// The image record's name: `docker.io/library/busybox:latest`,
    /// `host:port/repo@sha256:...` (a tag beside a digest is dropped, as
    /// docker's `ParseDockerRef` does).
    pub name: String,
}

impl ImageRef {
    /// Parses `s` (`busybox` → `docker.io/library/busybox:latest`); a
    /// malformed one is `InvalidArgument` naming it.
    pub fn parse(s: &str) -> Result<ImageRef> {
        let reference = Reference::try_from(s)
            .map_err(|e| Error::invalid(format!("invalid image reference {}: {e}", shown(s))))?;
        let reference = match reference.digest() {
            Some(d) if reference.tag().is_some() => Reference::with_digest(
                reference.registry().to_string(),
                reference.repository().to_string(),
                d.to_string(),
            ),
            _ => reference,
        };
        // As docker's ParseNormalizedNamed.
        if reference
            .repository()
            .chars()
            .any(|c| c.is_ascii_uppercase())
        {
            return Err(Error::invalid(format!(
                "invalid image reference {}: repository name must be lowercase",
                shown(s)
            )));
        }
        let name = reference.whole();
        Ok(ImageRef { reference, name })
    }

    /// The registry host as the reference names it (`docker.io`,
    /// `127.0.0.1:5000`).
    pub fn host(&self) -> &str {
        self.reference.registry()
    }

    /// The repository (`library/busybox`).
    pub fn repository(&self) -> &str {
        self.reference.repository()
    }
}

/// The key of `host` in a docker config's `auths` (and what a credential
/// helper is asked for): docker.io's is its v1 index URL.
fn config_keys(host: &str) -> Vec<String> {
    if host == "docker.io" || host == "index.docker.io" {
        vec![
            "https://index.docker.io/v1/".to_string(),
            "index.docker.io".to_string(),
            "docker.io".to_string(),
        ]
    } else {
        vec![
            host.to_string(),
            format!("https://{host}"),
            format!("http://{host}"),
        ]
    }
}

/// The credentials for `host`: the options' when given, else the docker
/// config's (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`:
/// `auths`, `credHelpers`, `credsStore`), else anonymous. Runs credential
/// helpers, so call it off the runtime's threads.
fn credentials(opts: &PullOptions, host: &str, what: &str) -> Result<RegistryAuth> {
    use docker_credential::{CredentialRetrievalError as E, DockerCredential};
    match (&opts.username, &opts.secret) {
        (Some(user), Some(secret)) if user.is_empty() => {
            return Ok(RegistryAuth::Bearer(secret.clone()))
        }
        (Some(user), Some(secret)) => return Ok(RegistryAuth::Basic(user.clone(), secret.clone())),
        (Some(_), None) => {
            return Err(Error::invalid(format!(
                "{what}: a username without a secret"
            )))
        }
        (None, Some(_)) => {
            return Err(Error::invalid(format!(
                "{what}: a secret without a username (\"\" for an identity token)"
            )))
        }
        (None, None) => {}
    }
    for key in config_keys(host) {
        match docker_credential::get_credential(&key) {
            Ok(DockerCredential::UsernamePassword(u, p)) => return Ok(RegistryAuth::Basic(u, p)),
            Ok(DockerCredential::IdentityToken(t)) => return Ok(RegistryAuth::Bearer(t)),
            Err(E::ConfigNotFound | E::ConfigReadError) => return Ok(RegistryAuth::Anonymous),
            Err(E::NoCredentialConfigured) => continue,
            // A helper without credentials for this host: anonymous, as docker.
            Err(E::HelperFailure { stdout, .. }) if stdout.contains("credentials not found") => {
                return Ok(RegistryAuth::Anonymous)
            }
            Err(e) => {
                return Err(Error::new(
                    Code::Unauthenticated,
                    format!("{what}: credentials for {host} from the docker config: {e}"),
                ))
            }
        }
    }
    Ok(RegistryAuth::Anonymous)
}

/// Installs ring as rustls' process-wide crypto provider unless the
/// process has one already.
fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may win the race: either provider is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// A registry session for one image: the HTTP client, the reference and the
/// credentials.
pub struct Remote {
    client: oci_client::Client,
    image: ImageRef,
    auth: RegistryAuth,
    /// Names the pull in messages: `pull "ref"`.
    what: String,
}

/// A manifest or index as the registry served it.
pub struct Fetched {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

impl Remote {
    /// Connects to `image`'s registry as `opts` say: credentials, TLS
    /// (system CAs plus `ca_file`, or none with `skip_verify`), or plain
    /// HTTP. Blocks in credential helpers on a blocking thread.
    pub async fn new(image: &ImageRef, opts: &PullOptions, what: &str) -> Result<Remote> {
        ensure_crypto_provider();
        let mut extra = Vec::new();
        if let Some(path) = &opts.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| Error::invalid(format!("{what}: ca_file {}: {e}", path.display())))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(Error::invalid(format!(
                    "{what}: ca_file {} holds no PEM certificate",
                    path.display()
                )));
            }
            extra.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data: pem,
            });
        }
        let config = ClientConfig {
            protocol: if opts.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: opts.skip_verify,
            extra_root_certificates: extra,
            platform_resolver: None,
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: concat!("containerd-c/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let client = oci_client::Client::try_from(config)
            .map_err(|e| Error::invalid(format!("{what}: the registry client: {e}")))?;
        let (o, host, w) = (opts.clone(), image.host().to_string(), what.to_string());
        let auth = tokio::task::spawn_blocking(move || credentials(&o, &host, &w))
            .await
            .map_err(|e| Error::internal(format!("{what}: credentials: {e}")))??;
        let remote = Remote {
            client,
            image: image.clone(),
            auth,
            what: what.to_string(),
        };
        // The auth flow first (a token from a 401's realm, or basic), so
        // that its failures say what they are.
        remote
            .client
            .auth(
                &remote.image.reference,
                &remote.auth,
                oci_client::RegistryOperation::Pull,
            )
            .await
            .map_err(|e| remote.error(e, "authenticate"))?;
        Ok(remote)
    }

    /// The manifest or index the reference names (`digest` = None) or the
    /// one with `digest`.
    pub async fn manifest(&self, digest: Option<&str>) -> Result<Fetched> {
        let (reference, step) = match digest {
            Some(d) => (
                self.image.reference.clone_with_digest(d.to_string()),
                format!("fetch manifest {d}"),
            ),
            None => (self.image.reference.clone(), "resolve".to_string()),
        };
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(&reference, &self.auth, &ACCEPTED)
            .await
            .map_err(|e| self.error(e, &step))?;
        if bytes.len() > MAX_MANIFEST {
            return Err(Error::new(
                Code::Unknown,
                format!(
                    "{}: {step}: {} bytes, more than the {MAX_MANIFEST} this library reads",
                    self.what,
                    bytes.len()
                ),
            ));
        }
        let media_type = manifest_media_type(&bytes)
            .map_err(|e| Error::new(e.code, format!("{}: {step}: {}", self.what, e.message)))?;
        Ok(Fetched {
            descriptor: Descriptor {
                media_type,
                digest,
                size: bytes.len() as i64,
                annotations: Default::default(),
            },
            bytes: bytes.to_vec(),
        })
    }

    /// A stream of blob `d`'s bytes from `offset` on: `(stream, true)` when
    /// the registry sent just that range, `(stream, false)` when it sent the
    /// whole blob (the range is not supported).
    pub async fn blob(&self, d: &Descriptor, offset: u64) -> Result<(SizedStream, bool)> {
        let desc = OciDescriptor {
            media_type: d.media_type.clone(),
            digest: d.digest.clone(),
            size: d.size,
            ..Default::default()
        };
        let step = format!("fetch blob {}", d.digest);
        if offset == 0 {
            let s = self
                .client
                .pull_blob_stream(&self.image.reference, &desc)
                .await
                .map_err(|e| self.error(e, &step))?;
            return Ok((s, false));
        }
        match self
            .client
            .pull_blob_stream_partial(&self.image.reference, &desc, offset, None)
            .await
            .map_err(|e| self.error(e, &step))?
        {
            BlobResponse::Partial(s) => Ok((s, true)),
            BlobResponse::Full(s) => Ok((s, false)),
        }
    }

    /// The error of a failed stream read of blob `digest`.
    pub fn stream_error(&self, digest: &str, e: std::io::Error) -> Error {
        let mismatch = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<DigestError>())
            .is_some_and(|d| matches!(d, DigestError::VerificationError { .. }));
        let code = if mismatch {
            // The registry's bytes are not the blob asked for.
            Code::FailedPrecondition
        } else if is_transport(&e) {
            Code::Unavailable
        } else {
            Code::Unknown
        };
        Error::new(
            code,
            format!(
                "{}: fetch blob {digest}: {}",
                self.what,
                chain(&e as &(dyn std::error::Error + 'static))
            ),
        )
    }

    /// `e` as an [`Error`] of the right code, naming the pull and `step`.
    fn error(&self, e: OciDistributionError, step: &str) -> Error {
        let anonymous = matches!(self.auth, RegistryAuth::Anonymous);
        map_error(e, &self.what, step, self.image.host(), anonymous)
    }
}

/// `e` as an [`Error`] of the right code: "`what`: `step`: ...". `host` is
/// the registry's; `anonymous` whether no credentials were sent.
fn map_error(
    e: OciDistributionError,
    what: &str,
    step: &str,
    host: &str,
    anonymous: bool,
) -> Error {
    let (code, text) = match &e {
        OciDistributionError::UnauthorizedError { .. } if anonymous => (
            Code::Unauthenticated,
            format!("{host} asks for credentials (401 Unauthorized) and none were found"),
        ),
        OciDistributionError::UnauthorizedError { .. } => (
            Code::Unauthenticated,
            format!("{host} refused the credentials (401 Unauthorized)"),
        ),
        OciDistributionError::AuthenticationFailure(reason) => (
            Code::Unauthenticated,
            format!("{host}: the token request failed: {}", reason.trim()),
        ),
        OciDistributionError::RegistryError { envelope, .. } => {
            let code = envelope
                .errors
                .first()
                .map(|e| match e.code {
                    OciErrorCode::Unauthorized => Code::Unauthenticated,
                    OciErrorCode::Denied => Code::PermissionDenied,
                    OciErrorCode::BlobUnknown
                    | OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::NotFound => Code::NotFound,
                    OciErrorCode::Toomanyrequests => Code::Unavailable,
                    _ => Code::Unknown,
                })
                .unwrap_or(Code::Unknown);
            let words: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| {
                    if e.message.is_empty() {
                        format!("{:?}", e.code)
                    } else {
                        e.message.clone()
                    }
                })
                .collect();
            let text = if code == Code::NotFound {
                format!("not found ({})", words.join("; "))
            } else {
                words.join("; ")
            };
            (code, text)
        }
        OciDistributionError::ServerError { code, message, .. } => {
            let c = match *code {
                401 => Code::Unauthenticated,
                403 => Code::PermissionDenied,
                404 => Code::NotFound,
                408 | 429 | 502..=504 => Code::Unavailable,
                400 if message.contains("HTTP request to an HTTPS server") => Code::Unavailable,
                _ => Code::Unknown,
            };
            let message = message.trim();
            let text = match c {
                Code::NotFound => format!("not found (HTTP {code})"),
                _ if message.is_empty() => format!("HTTP {code}"),
                _ => format!("HTTP {code}: {}", first_line(message)),
            };
            (c, text)
        }
        OciDistributionError::ImageManifestNotFoundError(m) => {
            (Code::NotFound, format!("not found ({m})"))
        }
        OciDistributionError::RequestError(r) => request_error(r, host),
        OciDistributionError::IoError(io) if is_transport(io) => (
            Code::Unavailable,
            chain(io as &(dyn std::error::Error + 'static)),
        ),
        OciDistributionError::DigestError(DigestError::VerificationError { .. }) => {
            (Code::FailedPrecondition, e.to_string())
        }
        OciDistributionError::DigestError(_) => (Code::Unknown, e.to_string()),
        _ => (Code::Unknown, e.to_string()),
    };
    Error::new(code, format!("{what}: {step}: {text}"))
}

/// The first line of `s`.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// A transport failure's code and words: untrusted certificates say so.
fn request_error(r: &reqwest::Error, host: &str) -> (Code, String) {
    let err: &(dyn std::error::Error + 'static) = r;
    if let Some(why) = certificate_problem(err) {
        return (
            Code::Unavailable,
            format!("the TLS certificate of {host} is not trusted: {why} (give the CA as ca_file, or skip_verify)"),
        );
    }
    let code = if r.is_timeout() {
        Code::DeadlineExceeded
    } else if r.is_connect() || r.is_request() || r.is_body() || is_transport(err) {
        Code::Unavailable
    } else {
        Code::Unknown
    };
    (code, chain(err))
}

/// Walks `e`'s causes, looking into `io::Error`s too (whose `source` skips
/// the error they wrap).
fn causes<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Vec<&'a (dyn std::error::Error + 'static)> {
    let mut out = Vec::new();
    let mut next = Some(e);
    while let Some(e) = next {
        if out.len() > 32 {
            break;
        }
        out.push(e);
        next = match e
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    out
}

/// What rustls said about the server's certificate, if that was the
/// failure.
fn certificate_problem(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    causes(e)
        .into_iter()
        .find_map(|c| match c.downcast_ref::<rustls::Error>() {
            Some(rustls::Error::InvalidCertificate(why)) => Some(format!("{why:?}")),
            _ => None,
        })
}

/// Whether `e` is a network failure (refused, reset, closed early, timed
/// out) rather than an answer.
fn is_transport(e: &(dyn std::error::Error + 'static)) -> bool {
    use std::io::ErrorKind as K;
    causes(e).into_iter().any(|c| {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::BrokenPipe
                    | K::TimedOut
                    | K::UnexpectedEof
                    | K::HostUnreachable
                    | K::NetworkUnreachable
                    | K::AddrNotAvailable
            );
        }
        if let Some(r) = c.downcast_ref::<reqwest::Error>() {
            return r.is_connect() || r.is_timeout() || r.is_body() || r.is_request();
        }
        if let Some(h) = c.downcast_ref::<hyper::Error>() {
            return h.is_incomplete_message() || h.is_closed() || h.is_canceled();
        }
        false
    })
}

/// `e` and its causes, each said once.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in causes(e) {
        let s = c.to_string();
        if !s.is_empty() && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
    }
    parts.join(": ")
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

    #[test]
    fn references_are_normalised_as_docker_does() {
        let n = |s: &str| ImageRef::parse(s).unwrap().name;
        assert_eq!(n("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(n("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(n("user/app"), "docker.io/user/app:latest");
        assert_eq!(
            n("127.0.0.1:5000/ctrd/busybox"),
            "127.0.0.1:5000/ctrd/busybox:latest"
        );
        let d = "sha256:".to_string() + &"a".repeat(64);
        assert_eq!(
            n(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        assert_eq!(
            n(&format!("busybox:1@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
        let r = ImageRef::parse("localhost:5000/a/b:t").unwrap();
        assert_eq!((r.host(), r.repository()), ("localhost:5000", "a/b"));
        for bad in [
            "",
            "Busybox",
            "a b",
            "busybox:",
            "busybox@sha256:abc",
            ":tag",
            "a//b",
        ] {
            let e = ImageRef::parse(bad).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{bad:?}");
            assert!(e.message.contains(&format!("{bad:?}")), "{}", e.message);
        }
    }

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

    #[test]
    fn registry_answers_become_codes() {
        use oci_client::errors::{OciEnvelope, OciError};
        let envelope = |code| OciDistributionError::RegistryError {
            envelope: OciEnvelope {
                errors: vec![OciError {
                    code,
                    message: "the registry's words".into(),
                    detail: serde_json::Value::Null,
                }],
            },
            url: "http://h/v2/r/manifests/t".into(),
        };
        let server = |code: u16, message: &str| OciDistributionError::ServerError {
            code,
            url: "http://h/v2/".into(),
            message: message.into(),
        };
        let cases = [
            (envelope(OciErrorCode::Denied), Code::PermissionDenied),
            (envelope(OciErrorCode::Unauthorized), Code::Unauthenticated),
            (envelope(OciErrorCode::ManifestUnknown), Code::NotFound),
            (envelope(OciErrorCode::NameUnknown), Code::NotFound),
            (envelope(OciErrorCode::BlobUnknown), Code::NotFound),
            (envelope(OciErrorCode::Toomanyrequests), Code::Unavailable),
            (server(403, "forbidden"), Code::PermissionDenied),
            (server(401, ""), Code::Unauthenticated),
            (server(404, "404 page not found"), Code::NotFound),
            (server(503, "down"), Code::Unavailable),
            (server(500, "oops"), Code::Unknown),
            (
                OciDistributionError::UnauthorizedError { url: "u".into() },
                Code::Unauthenticated,
            ),
            (
                OciDistributionError::AuthenticationFailure("no".into()),
                Code::Unauthenticated,
            ),
        ];
        for (e, want) in cases {
            let shown = e.to_string();
            let got = map_error(e, "pull \"h/r:t\"", "resolve", "h", false);
            assert_eq!(got.code, want, "{shown}: {}", got.message);
            assert!(
                got.message.starts_with("pull \"h/r:t\": resolve: "),
                "{}",
                got.message
            );
        }
        let e = map_error(envelope(OciErrorCode::Denied), "p", "s", "h", false);
        assert!(e.message.contains("the registry's words"), "{}", e.message);
        let e = map_error(
            OciDistributionError::UnauthorizedError { url: "u".into() },
            "p",
            "s",
            "h",
            true,
        );
        assert!(e.message.contains("none were found"), "{}", e.message);
    }

    #[test]
    fn docker_hub_has_its_own_config_key() {
        assert_eq!(config_keys("docker.io")[0], "https://index.docker.io/v1/");
        assert_eq!(config_keys("127.0.0.1:5000")[0], "127.0.0.1:5000");
    }
}
