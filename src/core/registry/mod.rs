//! The registry client of pulls and pushes: the distribution API (`/v2/`,
//! manifests and blobs of one repository) over the small HTTP client of
//! [`http`].
//!
//! A [`Remote`] is a session for one image. Opening it reads the
//! registry's host directory (`hosts`: containerd's `certs.d`, mirrors and
//! TLS settings per host), which makes the hosts the content is asked
//! from, in order: the mirrors, then the registry itself (or the `server`
//! replacing it), each with its own HTTP client (CAs, client certificate),
//! headers and capabilities; without one, the registry alone. It finds each
//! host's credentials (`credentials`: the caller's, else the docker
//! config's for the host's name, its credential helpers' or `auths`), then,
//! with a single host, runs the auth flow the registry's 401 asks for
//! (`auth`: basic credentials, or a bearer token from the realm the
//! challenge names); with mirrors each host's runs at its first request.
//! Bearer tokens are kept per realm, service and scope (`tokens`): asked
//! once for all the requests of a pull, again before they expire, and once
//! more when a 401 refuses the one sent (then the 401 is final). A
//! host that fails passes to the next, as containerd does; the error of the
//! last lists them all. Credentials go only where a host asks for them:
//! its own origin, and a token realm it names that is not plain http when
//! the host is https; a redirect elsewhere (object storage) gets none, and
//! a 401 from there is an error. Failures in passing (429, 502, 503, 504,
//! a connection reset before an answer) are tried again (`retry`: backoff
//! or the registry's `Retry-After`, a bounded number of times, never
//! waiting past the call's deadline of [`CallLimits`], each retry counted
//! there for the caller's progress). Manifests
//! (`manifests`) are checked against the digest asked for and the one the
//! registry gives; blob streams (`blobs`) are ranged when resuming, resumed
//! with a range where a connection fails midway, and checked against
//! digest and size when whole. A push's session
//! ([`Remote::for_push`]: its token scope pull and push, plus pull at the
//! repositories blobs are mounted from) goes to the first host with the
//! `push` capability (`upload`: HEAD, POST with a cross-repository mount,
//! one streamed PUT to the Location, manifests PUT).
//!
//! Every failure becomes an [`Error`] (`errors`) whose code says what kind
//! it was: 401 → `Unauthenticated`, 403 → `PermissionDenied`, unknown
//! repository, tag, manifest or blob → `NotFound`, a registry that cannot
//! be reached → `Unavailable`, an untrusted certificate → `Unavailable`
//! with a message that says so, bytes that are not what was asked for →
//! `FailedPrecondition`.
//!
//! Owns: the session's HTTP clients and kept connections (one per host),
//! the auth scheme each host took and its tokens, and the reading of host directories,
//! docker configs and credential helpers. [`reference`](mod@reference) is the one parser
//! of image references.
//!
//! May call: [`http`] (its own), `core::files` (small files), `core::stall`
//! (the low-speed rule, through [`http`]), `core::error`, and the image
//! model's media types and digests (`core::image::oci`, no I/O). Its
//! settings are its own ([`RemoteOptions`]), which pulls, imports and pushes
//! carry. Never the daemon: what it fetches goes to its caller
//! ([`crate::core::image::pull`]), what it pushes comes from its caller
//! ([`crate::core::image::push`]) as a stream.

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
mod retry;
mod tokens;
mod upload;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;

use hyper::header::HeaderName;

use crate::core::error::{Code, Error, Result};
use crate::core::registry::hosts::HostConfig;
use crate::core::registry::http::{query_escape, Http, TlsFiles, Url};
pub use crate::core::registry::reference::ImageRef;
pub use blobs::BlobStream;
use credentials::{credentials, Credentials, DockerConfig};
use errors::{describe, map_error, Failure};
pub use manifests::{manifest_media_type, Fetched};
pub use retry::CallLimits;
use tokens::{TokenKey, Tokens};
pub use upload::Upload;

/// A registry session for one image: the hosts its content is asked from
/// (the registry, after the mirrors of its host directory), the reference.
pub struct Remote {
    image: ImageRef,
    /// In the order they are tried; the registry itself (or its `server`)
    /// last.
    hosts: Vec<Endpoint>,
    /// The `hosts.toml` (or host directory) the hosts come from, if any.
    source: Option<PathBuf>,
    /// Names the pull in messages: `pull "ref"`.
    what: String,
    /// The call's deadline and retry count.
    limits: CallLimits,
    /// What the session does at the repository (the token scopes it asks
    /// for).
    access: Access,
}

/// What a session does at its repository.
#[derive(Debug, Clone)]
enum Access {
    Pull,
    /// Push, mounting blobs from these repositories of the same registry.
    Push {
        mount_from: Vec<String>,
    },
}

/// One host a session asks: its HTTP client (TLS settings and kept
/// connections of its own), where its API is, what it may be asked, the
/// credentials it gets when it asks for them and the Authorization it
/// took.
struct Endpoint {
    http: Http,
    /// Scheme, authority and the API's root path (`/v2`, no trailing
    /// slash).
    base: Url,
    /// For a host that is not the registry (a mirror): the registry's name,
    /// sent as `?ns=` as containerd does.
    ns: Option<String>,
    /// Sent with every request to the host (`header` in `hosts.toml`).
    headers: Vec<(HeaderName, String)>,
    /// Blobs and manifests by digest may be fetched here.
    pull: bool,
    /// Tags may be resolved here.
    resolve: bool,
    /// Images may be pushed here.
    push: bool,
    creds: Credentials,
    /// How the host's requests authenticate, once a 401 asked.
    scheme: Mutex<Option<Scheme>>,
    /// The bearer tokens its realms gave.
    tokens: Tokens,
    /// The host in messages: the registry's name for the registry itself,
    /// else its authority.
    name: String,
}

impl Endpoint {
    /// A host with `creds` for `base` (its path the API root), asked for
    /// everything, without settings of its own.
    fn new(http: Http, base: Url, name: &str, creds: Credentials) -> Endpoint {
        Endpoint {
            http,
            base,
            ns: None,
            headers: Vec::new(),
            pull: true,
            resolve: true,
            push: true,
            creds,
            scheme: Mutex::new(None),
            tokens: Tokens::default(),
            name: name.to_string(),
        }
    }

    /// `headers` and then the host's own.
    fn headers_with<'a>(&'a self, headers: &[(HeaderName, &'a str)]) -> Vec<(HeaderName, &'a str)> {
        let mut all = headers.to_vec();
        all.extend(self.headers.iter().map(|(n, v)| (n.clone(), v.as_str())));
        all
    }

    /// The request path of `rest` (`repo/manifests/tag`) under the API
    /// root, with the `ns` query for a mirror.
    fn path(&self, rest: &str) -> String {
        let mut path = format!("{}/{rest}", self.base.path);
        if let Some(ns) = &self.ns {
            path.push_str("?ns=");
            query_escape(&mut path, ns);
        }
        path
    }
}

/// How a host's requests authenticate, as its 401 asked: basic
/// credentials (the Authorization value), or a bearer token of the key's
/// (see `tokens`).
#[derive(Clone)]
enum Scheme {
    Basic(String),
    Bearer(TokenKey),
}

/// How to reach a registry: credentials, TLS, plain http and the node's
/// host directories. Pulls and imports carry one; `Default` is https with
/// the system's CAs, the docker config's credentials and
/// /etc/containerd/certs.d when it exists.
#[derive(Debug, Clone, Default)]
pub struct RemoteOptions {
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
    /// containerd's host directory root (`certs.d`: mirrors, TLS settings
    /// per host); `None` = /etc/containerd/certs.d when it exists, `""` =
    /// none.
    pub hosts_dir: Option<PathBuf>,
}

impl Remote {
    /// Connects to `image`'s registry as `opts` say: its host directory
    /// (`opts.hosts_dir`: mirrors, TLS settings per host), credentials, TLS
    /// (system CAs plus `ca_file`, or none with `skip_verify`), or plain
    /// HTTP; then, with a single host, runs the auth flow the registry asks
    /// for. Blocks in credential helpers on a blocking thread. Without a
    /// deadline; see [`Remote::open`].
    pub async fn new(image: &ImageRef, opts: &RemoteOptions, what: &str) -> Result<Remote> {
        Remote::open(image, opts, what, CallLimits::default()).await
    }

    /// [`Remote::new`] for a call with `limits`: its requests' waits to
    /// retry end before its deadline, and its retries are counted there.
    pub async fn open(
        image: &ImageRef,
        opts: &RemoteOptions,
        what: &str,
        limits: CallLimits,
    ) -> Result<Remote> {
        let config = DockerConfig::from_env();
        Remote::with_config(image, opts, what, config, limits, Access::Pull).await
    }

    /// A session that pushes to `image`'s repository, as [`Remote::open`]
    /// connects: its token scope is pull and push there, and pull at the
    /// repositories of `mount_from` (of the same registry), which blobs
    /// may be mounted from. It pushes to the first host with the `push`
    /// capability.
    pub async fn for_push(
        image: &ImageRef,
        opts: &RemoteOptions,
        what: &str,
        mount_from: Vec<String>,
        limits: CallLimits,
    ) -> Result<Remote> {
        let access = Access::Push { mount_from };
        let config = DockerConfig::from_env();
        Remote::with_config(image, opts, what, config, limits, access).await
    }

    /// A session for `access` with the credentials not in the options from
    /// `config`.
    async fn with_config(
        image: &ImageRef,
        opts: &RemoteOptions,
        what: &str,
        config: DockerConfig,
        limits: CallLimits,
        access: Access,
    ) -> Result<Remote> {
        let invalid = |e: String| Error::invalid(format!("{what}: {e}"));
        let found = match hosts::hosts_root(opts.hosts_dir.as_deref()).map_err(invalid)? {
            Some(root) => hosts::load(&root, image.host()).map_err(invalid)?,
            None => None,
        };
        let (source, configs) = match found {
            Some(h) => (Some(h.source), h.hosts),
            None => (None, vec![HostConfig::registry()]),
        };
        // Each host's credentials: the caller's for every host that asks
        // (as containerd's `ctr --user`), else the docker config's for its
        // name.
        let names: Vec<String> = configs
            .iter()
            .map(|c| match &c.server {
                Some(u) if u.authority != image.endpoint() => u.authority.clone(),
                _ => image.host().to_string(),
            })
            .collect();
        let (o, n, w) = (opts.clone(), names.clone(), what.to_string());
        let creds = tokio::task::spawn_blocking(move || {
            n.iter()
                .map(|host| credentials(&o, host, &w, &config))
                .collect::<Result<Vec<_>>>()
        })
        .await
        .map_err(|e| Error::internal(format!("{what}: credentials: {e}")))??;
        let mut endpoints = Vec::new();
        for ((config, creds), name) in configs.into_iter().zip(creds).zip(names) {
            let endpoint =
                endpoint(image, opts, config, creds, &name).map_err(|e| match &source {
                    Some(s) => invalid(format!("{}: host {name}: {e}", s.display())),
                    None => invalid(e),
                })?;
            endpoints.push(endpoint);
        }
        Remote::with_hosts(image, endpoints, source, what, limits, access).await
    }

    /// A session for `access` once the hosts are known.
    async fn with_hosts(
        image: &ImageRef,
        hosts: Vec<Endpoint>,
        source: Option<PathBuf>,
        what: &str,
        limits: CallLimits,
        access: Access,
    ) -> Result<Remote> {
        let remote = Remote {
            image: image.clone(),
            hosts,
            source,
            what: what.to_string(),
            limits,
            access,
        };
        // The auth flow first (a token from a 401's realm, or basic), so
        // that its failures say what they are. Any other answer is the
        // manifest request's to tell. With mirrors, each host's flow runs
        // at its first request, and one that fails passes to the next.
        if let [host] = &remote.hosts[..] {
            let mut answer = remote
                .get(host, &format!("{}/", host.base.path), &[])
                .await
                .map_err(|f| remote.error(host, f, "authenticate"))?;
            answer.text().await;
        }
        Ok(remote)
    }

    /// The token scopes the session asks for: its repository's actions,
    /// and pull at the repositories blobs are mounted from.
    fn scopes(&self) -> Vec<String> {
        let repo = self.image.repository();
        match &self.access {
            Access::Pull => vec![format!("repository:{repo}:pull")],
            Access::Push { mount_from } => {
                let mut scopes = vec![format!("repository:{repo}:pull,push")];
                scopes.extend(
                    mount_from
                        .iter()
                        .filter(|r| r.as_str() != repo)
                        .map(|r| format!("repository:{r}:pull")),
                );
                scopes
            }
        }
    }

    /// `f` at `host` as an [`Error`] of the right code, naming the pull and
    /// `step`.
    fn error(&self, host: &Endpoint, f: Failure, step: &str) -> Error {
        let anonymous = matches!(host.creds, Credentials::Anonymous);
        map_error(f, &self.what, step, &host.name, anonymous)
    }

    /// `op`'s result at the first host that may do it (`resolve`: resolve
    /// tags, else pull) and succeeds, trying them in order as containerd
    /// does: a host that cannot be reached, answers an error or asks for
    /// credentials it does not take passes to the next; bytes that are not
    /// what was asked for, or a kind of manifest this library does not
    /// pull, end the step. When every host failed, the error has the code
    /// of the most telling failure (refused or unknown before not found
    /// before unreachable) and lists each host with its failure.
    async fn on_hosts<'a, T, F, Fut>(&'a self, resolve: bool, step: &str, op: F) -> Result<T>
    where
        F: Fn(&'a Endpoint) -> Fut,
        Fut: Future<Output = std::result::Result<T, Failure>>,
    {
        let hosts: Vec<&Endpoint> = self
            .hosts
            .iter()
            .filter(|h| h.pull && (h.resolve || !resolve))
            .collect();
        if let [host] = hosts[..] {
            return op(host).await.map_err(|f| self.error(host, f, step));
        }
        let mut failed: Vec<(Code, String)> = Vec::new();
        for host in hosts {
            let f = match op(host).await {
                Ok(v) => return Ok(v),
                Err(f) => f,
            };
            let last = matches!(f, Failure::Mismatch(_) | Failure::Unsupported(_));
            let anonymous = matches!(host.creds, Credentials::Anonymous);
            let (code, text) = describe(f, &host.name, anonymous);
            let text = format!("{} ({text})", host.base.shown());
            if last {
                return Err(Error::new(code, format!("{}: {step}: {text}", self.what)));
            }
            failed.push((code, text));
        }
        let rank = |c: Code| match c {
            Code::Unavailable | Code::DeadlineExceeded => 0,
            Code::NotFound => 1,
            _ => 2,
        };
        let Some(code) =
            failed
                .iter()
                .map(|(c, _)| *c)
                .reduce(|a, b| if rank(b) > rank(a) { b } else { a })
        else {
            let source = self.source.as_deref().unwrap_or(std::path::Path::new(""));
            let can = if resolve { "resolve tags" } else { "pull" };
            return Err(Error::new(
                Code::NotFound,
                format!(
                    "{}: {step}: no host in {} may {can}",
                    self.what,
                    source.display()
                ),
            ));
        };
        let tried: Vec<String> = failed.into_iter().map(|(_, t)| t).collect();
        Err(Error::new(
            code,
            format!(
                "{}: {step}: every host failed: {}",
                self.what,
                tried.join("; ")
            ),
        ))
    }
}

/// The host `config` of `image`'s registry describes, with `creds`: its
/// own TLS settings over the pull's, the registry itself where it names no
/// server.
fn endpoint(
    image: &ImageRef,
    opts: &RemoteOptions,
    config: HostConfig,
    creds: Credentials,
    name: &str,
) -> std::result::Result<Endpoint, String> {
    let mut ca: Vec<(PathBuf, &'static str)> = opts
        .ca_file
        .iter()
        .map(|p| (p.clone(), "ca_file"))
        .collect();
    ca.extend(config.ca.into_iter().map(|p| (p, "ca")));
    let mut http = Http::with_tls(&TlsFiles {
        ca,
        skip_verify: config.skip_verify.unwrap_or(opts.skip_verify),
        client: config.client,
    })?;
    if let Some(limit) = config.dial_timeout {
        http = http.with_connect_timeout(limit);
    }
    let (base, ns) = match config.server {
        Some(url) => {
            // containerd's `isProxy`: not the registry (Docker Hub's
            // endpoint is Docker Hub).
            let own = url.authority == image.host() || url.authority == image.endpoint();
            let ns = (!own).then(|| image.host().to_string());
            (url, ns)
        }
        None => (
            Url {
                tls: !opts.plain_http,
                authority: image.endpoint().to_string(),
                path: "/v2".to_string(),
            },
            None,
        ),
    };
    let mut endpoint = Endpoint::new(http, base, name, creds);
    endpoint.ns = ns;
    endpoint.pull = config.pull;
    endpoint.resolve = config.resolve;
    endpoint.push = config.push;
    endpoint.headers = config
        .headers
        .into_iter()
        .map(|(n, v)| {
            HeaderName::from_bytes(n.as_bytes())
                .map(|n| (n, v))
                .map_err(|e| format!("header {n:?}: {e}"))
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(endpoint)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Descriptor;
    use crate::core::error::Code;
    use crate::core::registry::auth::basic_auth;
    use crate::core::registry::fake::{fake_server, json, Reply, TRICKLE};
    use std::io;

    pub(super) fn digest_of(bytes: &[u8]) -> String {
        crate::core::image::oci::sha256_digest(bytes)
    }

    pub(super) fn options(user: &str, secret: &str) -> RemoteOptions {
        RemoteOptions {
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
        let base = Url::parse(&format!("http://{}/v2", image.endpoint())).unwrap();
        let host = Endpoint::new(http, base, image.host(), creds);
        Remote::with_hosts(
            image,
            vec![host],
            None,
            "pull",
            CallLimits::default(),
            Access::Pull,
        )
        .await
    }

    pub(super) async fn read_all(mut s: BlobStream<'_>) -> io::Result<Vec<u8>> {
        use futures_util::StreamExt;
        let mut out = Vec::new();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    pub(super) const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
    pub(super) const BLOB: &[u8] = b"the blob's bytes, several of them";

    /// A fake registry with MANIFEST as `a:t` and BLOB; mirrors that answer
    /// 404, one that wants basic credentials, a closed port: hosts.toml's
    /// hosts are tried in order, the capabilities say which may resolve,
    /// mirrors get `?ns=` and their headers, and the docker config's
    /// credentials of their own name.
    #[tokio::test]
    async fn hosts_toml_mirrors_in_order() {
        use crate::core::registry::credentials::docker_config;
        let blob_path = format!("/v2/a/blobs/{}", digest_of(BLOB));
        let serve = std::sync::Arc::new(move |r: &fake::Seen| -> fake::Reply {
            match r.path.split('?').next().unwrap() {
                "/v2/" => json(200, "{}"),
                "/v2/a/manifests/t" => (200, vec![], MANIFEST.as_bytes().to_vec()),
                p if p == blob_path => (200, vec![], BLOB.to_vec()),
                _ => json(404, r#"{"errors":[{"code":"NOT_FOUND"}]}"#),
            }
        });
        let s2 = serve.clone();
        let (registry, at_registry) = fake_server(move |r, _| s2(r)).await;
        let (empty, at_empty) = fake_server(|_, _| json(404, "{}")).await;
        let basic = basic_auth("mu", "mp");
        let (mirror, at_mirror) = fake_server(move |r, _| match r.header("authorization") {
            Some(a) if a == basic => serve(r),
            _ => (
                401,
                vec![("WWW-Authenticate", "Basic realm=\"m\"".into())],
                vec![],
            ),
        })
        .await;
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let root = tempfile::tempdir().unwrap();
        let config = docker_config(
            &root.path().join("docker"),
            Some(&format!(
                r#"{{"auths":{{"{mirror}":{{"auth":"{}"}}}}}}"#,
                &basic_auth("mu", "mp")[6..]
            )),
            &[],
        );
        let hosts = |text: &str| {
            let dir = root
                .path()
                .join("certs.d")
                .join(registry.replace(':', "_") + "_");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("hosts.toml"), text).unwrap();
        };
        let opts = RemoteOptions {
            plain_http: true,
            hosts_dir: Some(root.path().join("certs.d")),
            ..Default::default()
        };
        let image = ImageRef::parse(&format!("{registry}/a:t")).unwrap();
        let d = Descriptor {
            media_type: "application/octet-stream".into(),
            digest: digest_of(BLOB),
            size: BLOB.len() as i64,
            annotations: Default::default(),
        };

        // Down, then empty (with a header), then the registry itself.
        hosts(&format!(
            "[host.\"http://{closed}\"]\n[host.\"http://{empty}\"]\nheader = {{ X-Mirror = \"e\" }}\n"
        ));
        let remote = Remote::with_config(
            &image,
            &opts,
            "pull",
            config.clone(),
            CallLimits::default(),
            Access::Pull,
        )
        .await
        .unwrap();
        let m = remote.manifest(None).await.unwrap();
        assert_eq!(m.bytes, MANIFEST.as_bytes());
        let (s, _) = remote.blob(&d, 0).await.unwrap();
        assert_eq!(read_all(s).await.unwrap(), BLOB);
        let ns = format!("?ns={}", registry.replace(':', "%3A"));
        {
            let seen = at_empty.lock().unwrap();
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert_eq!(seen[0].path, format!("/v2/a/manifests/t{ns}"));
            assert!(seen.iter().all(|r| r.header("x-mirror") == Some("e")));
            let seen = at_registry.lock().unwrap();
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert!(seen
                .iter()
                .all(|r| !r.path.contains('?') && r.header("x-mirror").is_none()));
        }

        // A mirror that only pulls: the tag is resolved at the registry,
        // the blob fetched from the mirror with its docker config
        // credentials (none to the registry).
        hosts(&format!(
            "[host.\"http://{mirror}\"]\ncapabilities = [\"pull\"]\n"
        ));
        let remote = Remote::with_config(
            &image,
            &opts,
            "pull",
            config.clone(),
            CallLimits::default(),
            Access::Pull,
        )
        .await
        .unwrap();
        remote.manifest(None).await.unwrap();
        assert_eq!(at_mirror.lock().unwrap().len(), 0);
        let (s, _) = remote.blob(&d, 0).await.unwrap();
        assert_eq!(read_all(s).await.unwrap(), BLOB);
        {
            let seen = at_mirror.lock().unwrap();
            assert_eq!(seen.len(), 2, "{seen:?}");
            assert_eq!(seen[1].path, format!("/v2/a/blobs/{}{ns}", digest_of(BLOB)));
            let seen = at_registry.lock().unwrap();
            assert_eq!(seen.len(), 3);
            assert!(seen.iter().all(|r| r.header("authorization").is_none()));
        }

        // Every host fails: the most telling code, each host and why.
        hosts(&format!(
            "[host.\"http://{closed}\"]\n[host.\"http://{empty}/x\"]\n"
        ));
        let image = ImageRef::parse(&format!("{registry}/a:missing")).unwrap();
        let remote = Remote::with_config(
            &image,
            &opts,
            "pull",
            config.clone(),
            CallLimits::default(),
            Access::Pull,
        )
        .await
        .unwrap();
        let e = remote.manifest(None).await.err().unwrap();
        assert_eq!(e.code, Code::NotFound, "{}", e.message);
        let want =
            format!("pull: resolve: every host failed: http://{closed}/v2 (connect to {closed}: ");
        assert!(e.message.starts_with(&want), "{}", e.message);
        let rest = format!(
            "; http://{empty}/x/v2 (not found (HTTP 404)); http://{registry}/v2 (not found ("
        );
        assert!(e.message.contains(&rest), "{}", e.message);

        // No host may resolve.
        hosts(&format!(
            "server = \"http://{registry}\"\ncapabilities = [\"pull\"]\n[host.\"http://{empty}\"]\ncapabilities = [\"pull\"]\n"
        ));
        let remote = Remote::with_config(
            &image,
            &opts,
            "pull",
            config,
            CallLimits::default(),
            Access::Pull,
        )
        .await
        .unwrap();
        let e = remote.manifest(None).await.err().unwrap();
        assert_eq!(e.code, Code::NotFound, "{}", e.message);
        assert!(e.message.ends_with("may resolve tags"), "{}", e.message);
    }

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
