//! The registry client of a pull: the distribution API (`/v2/`, manifests
//! and blobs of one repository) over the small HTTP client of [`http`].
//!
//! A [`Remote`] is a session for one image. Opening it finds the
//! credentials (`credentials`: the caller's, else the docker config's,
//! its credential helpers' or `auths`), then runs the auth flow the
//! registry's 401 asks for (`auth`: basic credentials, or a bearer token
//! from the realm the challenge names). Credentials go only where the
//! registry asks for them: its own origin, and a token realm it names that
//! is not plain http when the registry is https; a redirect elsewhere
//! (object storage) gets none, and a 401 from there is an error. Manifests
//! (`manifests`) are checked against the digest asked for and the one the
//! registry gives; blob streams (`blobs`) are ranged when resuming, and
//! checked against digest and size when whole.
//!
//! Every failure becomes an [`Error`] (`errors`) whose code says what kind
//! it was: 401 → `Unauthenticated`, 403 → `PermissionDenied`, unknown
//! repository, tag, manifest or blob → `NotFound`, a registry that cannot
//! be reached → `Unavailable`, an untrusted certificate → `Unavailable`
//! with a message that says so, bytes that are not what was asked for →
//! `FailedPrecondition`.
//!
//! Owns: the session's HTTP client and kept connections, the Authorization
//! a registry took, and the reading of docker configs and credential
//! helpers. [`reference`] is the one parser of image references.
//!
//! May call: [`http`] (its own), `core::files` (small files), `core::stall`
//! (the low-speed rule, through [`http`]), `core::error`, and the image
//! side's media-type lists and pull options. Never the daemon: what it
//! fetches goes to its caller ([`crate::core::image::pull`]).

mod auth;
mod blobs;
mod credentials;
mod errors;
#[cfg(test)]
mod fake;
pub mod hosts;
pub mod http;
mod manifests;
pub mod reference;

use std::sync::Mutex;

use crate::core::error::{Error, Result};
use crate::core::image::pull::PullOptions;
use crate::core::registry::http::{Http, Url};
pub use crate::core::registry::reference::ImageRef;
pub use blobs::BlobStream;
use credentials::{credentials, Credentials, DockerConfig};
use errors::{map_error, Failure};
pub use manifests::{manifest_media_type, Fetched};

/// A registry session for one image: the HTTP client, the reference, the
/// credentials and what the registry took.
pub struct Remote {
    http: Http,
    image: ImageRef,
    creds: Credentials,
    /// The registry's root (`https://host:port/`).
    base: Url,
    /// The Authorization the registry's requests carry: `Basic ...` or
    /// `Bearer <token>` once a 401 asked for it.
    authorization: Mutex<Option<String>>,
    /// Names the pull in messages: `pull "ref"`.
    what: String,
}

impl Remote {
    /// Connects to `image`'s registry as `opts` say: credentials, TLS
    /// (system CAs plus `ca_file`, or none with `skip_verify`), or plain
    /// HTTP; then runs the auth flow the registry asks for. Blocks in
    /// credential helpers on a blocking thread.
    pub async fn new(image: &ImageRef, opts: &PullOptions, what: &str) -> Result<Remote> {
        Remote::with_config(image, opts, what, DockerConfig::from_env()).await
    }

    /// [`Remote::new`] with the credentials not in the options from
    /// `config`.
    async fn with_config(
        image: &ImageRef,
        opts: &PullOptions,
        what: &str,
        config: DockerConfig,
    ) -> Result<Remote> {
        let http = Http::new(opts.ca_file.as_deref(), opts.skip_verify)
            .map_err(|e| Error::invalid(format!("{what}: {e}")))?;
        let (o, host, w) = (opts.clone(), image.host().to_string(), what.to_string());
        let creds = tokio::task::spawn_blocking(move || credentials(&o, &host, &w, &config))
            .await
            .map_err(|e| Error::internal(format!("{what}: credentials: {e}")))??;
        Remote::with_credentials(http, image, opts, what, creds).await
    }

    /// [`Remote::new`] once the credentials are known.
    async fn with_credentials(
        http: Http,
        image: &ImageRef,
        opts: &PullOptions,
        what: &str,
        creds: Credentials,
    ) -> Result<Remote> {
        let remote = Remote {
            http,
            image: image.clone(),
            creds,
            base: Url {
                tls: !opts.plain_http,
                authority: image.endpoint().to_string(),
                path: "/".to_string(),
            },
            authorization: Mutex::new(None),
            what: what.to_string(),
        };
        // The auth flow first (a token from a 401's realm, or basic), so
        // that its failures say what they are. Any other answer is the
        // manifest request's to tell.
        let mut answer = remote
            .get("/v2/", &[])
            .await
            .map_err(|f| remote.error(f, "authenticate"))?;
        answer.text().await;
        Ok(remote)
    }

    /// `f` as an [`Error`] of the right code, naming the pull and `step`.
    fn error(&self, f: Failure, step: &str) -> Error {
        let anonymous = matches!(self.creds, Credentials::Anonymous);
        map_error(f, &self.what, step, self.image.host(), anonymous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Descriptor;
    use crate::core::error::Code;
    use crate::core::image::content::hex;
    use crate::core::registry::auth::basic_auth;
    use crate::core::registry::fake::{fake_server, json, Reply, TRICKLE};
    use sha2::{Digest, Sha256};
    use std::io;

    pub(super) fn digest_of(bytes: &[u8]) -> String {
        format!("sha256:{}", hex(&Sha256::digest(bytes)))
    }

    pub(super) fn options(user: &str, secret: &str) -> PullOptions {
        PullOptions {
            username: Some(user.into()),
            secret: Some(secret.into()),
            plain_http: true,
            ..Default::default()
        }
    }

    /// A session with plain http registry `image`'s over `http`, with
    /// `creds` (not this machine's docker config).
    pub(super) async fn plain_remote(
        http: Http,
        image: &ImageRef,
        creds: Credentials,
    ) -> Result<Remote> {
        let opts = PullOptions {
            plain_http: true,
            ..Default::default()
        };
        Remote::with_credentials(http, image, &opts, "pull", creds).await
    }

    pub(super) async fn read_all(mut s: BlobStream) -> io::Result<Vec<u8>> {
        use futures_util::StreamExt;
        let mut out = Vec::new();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    pub(super) const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
    pub(super) const BLOB: &[u8] = b"the blob's bytes, several of them";

    /// Through a proxy (as HTTP_PROXY names one): plain http goes to it in
    /// absolute form with the proxy's credentials, and NO_PROXY's hosts
    /// are reached directly.
    #[tokio::test]
    async fn through_a_forward_proxy() {
        use hyper_util::client::proxy::matcher::Matcher;
        let registry = "registry.invalid:5000";
        let proxy_auth = basic_auth("pu", "pp");
        let (proxy, seen) = fake_server(move |r, _| {
            let right = r.path.starts_with(&format!("http://{registry}/v2/"))
                && r.header("proxy-authorization") == Some(&proxy_auth)
                && r.header("host") == Some(registry);
            match right {
                true => (200, vec![], MANIFEST.as_bytes().to_vec()),
                false => (502, vec![], b"bad proxy request".to_vec()),
            }
        })
        .await;
        let image = ImageRef::parse(&format!("{registry}/a:t")).unwrap();
        let proxies = Matcher::builder()
            .http(format!("http://pu:pp@{proxy}"))
            .build();
        let http = Http::new(None, false).unwrap().with_proxies(proxies);
        let remote = plain_remote(http, &image, Credentials::Anonymous)
            .await
            .unwrap();
        let m = remote.manifest(None).await.unwrap();
        assert_eq!(m.bytes, MANIFEST.as_bytes());
        assert_eq!(seen.lock().unwrap().len(), 2);

        // NO_PROXY: straight to the registry (nothing listens there), not
        // to the proxy.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let image = ImageRef::parse(&format!("{closed}/a:t")).unwrap();
        let proxies = Matcher::builder()
            .http(format!("http://{proxy}"))
            .no("127.0.0.1")
            .build();
        let http = Http::new(None, false).unwrap().with_proxies(proxies);
        let e = plain_remote(http, &image, Credentials::Anonymous)
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, Code::Unavailable, "{}", e.message);
        assert!(
            e.message.contains(&format!("connect to {closed}:")),
            "{}",
            e.message
        );
        assert_eq!(seen.lock().unwrap().len(), 2);
    }

    /// A registry whose token answer, manifest or blob comes a byte every
    /// 100 ms: each read is cut once a (shortened) low-speed window brought
    /// fewer than 1 KiB, as `Unavailable` naming the host, instead of
    /// holding the pull for ever.
    #[tokio::test]
    async fn trickled_answers_are_cut_as_stalled() {
        use std::time::{Duration, Instant};
        let blob = vec![7u8; 4096];
        let (d_blob, b2) = (digest_of(&blob), blob.clone());
        let (host, _) = fake_server(move |r, me| {
            let slow = |mut reply: Reply| {
                reply.1.push((TRICKLE, "100".into()));
                reply
            };
            match r.path.as_str() {
                "/v2/" if r.header("authorization") != Some("Bearer tok") => (
                    401,
                    vec![(
                        "WWW-Authenticate",
                        format!(r#"Bearer realm="http://{me}/token""#),
                    )],
                    vec![],
                ),
                "/v2/" => json(200, "{}"),
                p if p.starts_with("/token") && r.header("authorization").is_some() => {
                    slow(json(200, r#"{"token":"tok","padding":"................"}"#))
                }
                p if p.starts_with("/token") => json(200, r#"{"token":"tok"}"#),
                "/v2/a/manifests/slow" => slow((200, vec![], MANIFEST.as_bytes().to_vec())),
                p if p.starts_with("/v2/a/blobs/") => slow((200, vec![], b2.clone())),
                _ => json(404, "{}"),
            }
        })
        .await;
        let window = Duration::from_millis(1500);
        let http = || Http::new(None, false).unwrap().with_stall_window(window);
        let check = |e: Error, took: Duration, step: &str| {
            assert_eq!(e.code, Code::Unavailable, "{}", e.message);
            assert!(
                e.message.contains(step)
                    && e.message
                        .contains(&format!("the transfer from {host} stalled")),
                "{}",
                e.message
            );
            assert!(took >= window && took < window * 2, "{took:?}");
        };
        // The token answer (the realm asked with basic credentials).
        let image = ImageRef::parse(&format!("{host}/a:slow")).unwrap();
        let start = Instant::now();
        let creds = Credentials::Basic("u".into(), "p".into());
        let e = plain_remote(http(), &image, creds).await.err().unwrap();
        check(e, start.elapsed(), "authenticate");
        // The manifest.
        let remote = plain_remote(http(), &image, Credentials::Anonymous)
            .await
            .unwrap();
        let start = Instant::now();
        let e = remote.manifest(None).await.err().unwrap();
        check(e, start.elapsed(), "resolve");
        // A blob.
        let d = Descriptor {
            media_type: "application/octet-stream".into(),
            digest: d_blob.clone(),
            size: blob.len() as i64,
            annotations: Default::default(),
        };
        let start = Instant::now();
        let (s, _) = remote.blob(&d, 0).await.unwrap();
        let e = remote.stream_error(&d_blob, read_all(s).await.unwrap_err());
        check(e, start.elapsed(), &format!("fetch blob {d_blob}"));
    }
}
