//! The registry side of a pull: credentials (the caller's, else the docker
//! config's) and the distribution API: the auth flow a 401 asks for (basic
//! credentials, or a bearer token from the realm it names), manifests
//! checked against their digests, and blob streams (ranged when resuming,
//! checked against digest and size when whole), over the small HTTP client
//! of [`crate::core::registry::http`]. Every failure becomes an [`Error`] whose code
//! says what kind it was: 401 → `Unauthenticated`, 403 →
//! `PermissionDenied`, unknown repository, tag, manifest or blob →
//! `NotFound`, a registry that cannot be reached → `Unavailable`, an
//! untrusted certificate → `Unavailable` with a message that says so, bytes
//! that are not what was asked for → `FailedPrecondition`.

pub mod http;
pub mod reference;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::Stream;
use hyper::body::Bytes;
use hyper::header::{self, HeaderName};
use hyper::{Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::api::types::Descriptor;
use crate::core::error::{Code, Error, Result};
use crate::core::files::read_small;
use crate::core::image::content::hex;
use crate::core::image::oci::{INDEX_TYPES, MANIFEST_TYPES};
use crate::core::image::pull::PullOptions;
use crate::core::registry::http::{is_stalled, query_escape, Answer, Http, HttpError, Url};
pub use crate::core::registry::reference::ImageRef;

/// Largest manifest or index read into memory.
const MAX_MANIFEST: usize = 4 << 20;
/// Largest token answer read.
const MAX_TOKEN_ANSWER: usize = 1 << 20;

/// The manifest media types a pull accepts (the Accept header), as
/// containerd's resolver sends them.
const ACCEPT_MANIFESTS: &str = "application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, */*";

/// The digest a registry gives for a manifest it serves.
const DOCKER_CONTENT_DIGEST: HeaderName = HeaderName::from_static("docker-content-digest");

/// What a pull authenticates with.
#[derive(Clone)]
enum Credentials {
    Anonymous,
    /// A username and password: sent as basic credentials to the registry,
    /// or to the token realm.
    Basic(String, String),
    /// An identity token (a username of "", docker's `identitytoken`):
    /// exchanged at the realm for a bearer token, as an OAuth2 refresh
    /// token.
    IdentityToken(String),
}

/// How long a credential helper may take to answer, as an external
/// program asked for a secret may hang (a keychain waiting for a prompt).
const HELPER_TIMEOUT: Duration = Duration::from_secs(30);
/// Most of a credential helper's answer read.
const MAX_HELPER_ANSWER: u64 = 1 << 20;

/// Where the credentials not in the options come from: the docker config,
/// and how long its credential helpers may take.
pub(crate) struct DockerConfig {
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json` (none
    /// without either variable).
    file: Option<PathBuf>,
    helper_timeout: Duration,
    /// The directory of the credential helpers; `None`: found on `PATH`.
    helpers_in: Option<PathBuf>,
}

impl DockerConfig {
    /// The config the environment names, as docker finds it.
    fn from_env() -> DockerConfig {
        let dir = std::env::var_os("DOCKER_CONFIG")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")));
        #[allow(unused_mut)]
        let mut helper_timeout = HELPER_TIMEOUT;
        // The tests' (of the C functions) helpers that never answer.
        #[cfg(feature = "test-hooks")]
        if let Some(ms) = std::env::var("CTRD_TEST_HELPER_TIMEOUT_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            helper_timeout = Duration::from_millis(ms);
        }
        DockerConfig {
            file: dir.map(|d| d.join("config.json")),
            helper_timeout,
            helpers_in: None,
        }
    }
}

/// What of a docker config file this library reads.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ConfigFile {
    #[serde(default)]
    auths: Option<BTreeMap<String, AuthEntry>>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: Option<BTreeMap<String, String>>,
}

/// An entry of `auths`.
#[derive(serde::Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// What docker calls registry `host` in its config (and asks a credential
/// helper for): docker.io's is its v1 index URL, any other its name.
fn server_address(host: &str) -> String {
    if is_docker_hub(host) {
        "https://index.docker.io/v1/".to_string()
    } else {
        host.to_string()
    }
}

fn is_docker_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// The registry a docker config key names, as docker's
/// `ConvertToHostname`: without an `http://` or `https://` and anything
/// from the first `/` on (`https://r.example:5000/v2/` is
/// `r.example:5000`).
fn config_key_host(key: &str) -> &str {
    let s = key
        .strip_prefix("http://")
        .or_else(|| key.strip_prefix("https://"))
        .unwrap_or(key);
    s.split('/').next().unwrap_or(s)
}

/// Whether config key `key` names registry `host` (docker.io by any of
/// its names).
fn key_names(key: &str, host: &str) -> bool {
    let named = config_key_host(key);
    named == host || (is_docker_hub(named) && is_docker_hub(host))
}

/// The credentials for `host`: the options' when given, else the docker
/// config's (its `credHelpers` for the host, else its `credsStore`, else
/// its `auths` entry), else anonymous. A config that cannot be read or is
/// not a docker config is an error naming it; so is a credential helper
/// that fails or does not answer in time. Runs credential helpers, so call
/// it off the runtime's threads.
fn credentials(
    opts: &PullOptions,
    host: &str,
    what: &str,
    config: &DockerConfig,
) -> Result<Credentials> {
    match (&opts.username, &opts.secret) {
        (Some(user), Some(secret)) if user.is_empty() => {
            return Ok(Credentials::IdentityToken(secret.clone()))
        }
        (Some(user), Some(secret)) => return Ok(Credentials::Basic(user.clone(), secret.clone())),
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
    let Some(file) = &config.file else {
        return Ok(Credentials::Anonymous);
    };
    let shown = file.display();
    let Some(bytes) = read_small(file, "the docker config").map_err(|e| e.context(what))? else {
        return Ok(Credentials::Anonymous);
    };
    let parsed: ConfigFile = serde_json::from_slice(&bytes).map_err(|e| {
        Error::invalid(format!(
            "{what}: the docker config {shown}: not a docker config: {e}"
        ))
    })?;
    let server = server_address(host);
    let helpers = parsed.cred_helpers.unwrap_or_default();
    let helper = helpers
        .get(&server)
        .or_else(|| {
            helpers
                .iter()
                .find(|(k, _)| key_names(k, host))
                .map(|(_, h)| h)
        })
        .or(parsed.creds_store.as_ref())
        .filter(|h| !h.is_empty());
    if let Some(helper) = helper {
        return from_helper(helper, &server, config)
            .map_err(|e| e.context(format!("{what}: credentials for {host} from {shown}")));
    }
    let auths = parsed.auths.unwrap_or_default();
    let entry = auths.get(&server).or_else(|| {
        auths
            .iter()
            .find(|(k, _)| key_names(k, host))
            .map(|(_, e)| e)
    });
    let Some(entry) = entry else {
        return Ok(Credentials::Anonymous);
    };
    let given = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    if let Some(token) = given(&entry.identitytoken) {
        return Ok(Credentials::IdentityToken(token));
    }
    if let Some(auth) = given(&entry.auth) {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let pair = engine
            .decode(auth.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        return match pair.as_deref().and_then(|p| p.split_once(':')) {
            Some((user, password)) => Ok(Credentials::Basic(user.into(), password.into())),
            None => Err(Error::invalid(format!(
                "{what}: the docker config {shown}: the auth of {host} is not base64 of \"user:password\""
            ))),
        };
    }
    match (given(&entry.username), given(&entry.password)) {
        (Some(user), Some(password)) => Ok(Credentials::Basic(user, password)),
        _ => Ok(Credentials::Anonymous),
    }
}

/// The credentials credential helper `docker-credential-{helper}` has for
/// `server`, anonymous when it has none. The helper (and whatever it
/// started) is killed when it takes longer than the config's limit.
fn from_helper(helper: &str, server: &str, config: &DockerConfig) -> Result<Credentials> {
    use std::io::{Read, Write};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let program = format!("docker-credential-{helper}");
    let failed = |why: String| {
        Error::new(
            Code::Unauthenticated,
            format!("credential helper {program}: {why}"),
        )
    };
    let limit = config.helper_timeout;
    let path = match &config.helpers_in {
        Some(dir) => dir.join(&program),
        None => PathBuf::from(&program),
    };
    // The address goes in a pipe before the helper starts: a write to a
    // helper that exited without reading it cannot raise SIGPIPE.
    // (The address is a host name: far less than a pipe holds.)
    let (stdin, writer) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| failed(format!("a pipe: {e}")))?;
    std::fs::File::from(writer)
        .write_all(server.as_bytes())
        .map_err(|e| failed(format!("a pipe: {e}")))?;
    let mut child = Command::new(path)
        .arg("get")
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        // Its own process group: a timeout kills all it started.
        .process_group(0)
        .spawn()
        .map_err(|e| failed(e.to_string()))?;
    let group = nix::unistd::Pid::from_raw(child.id() as i32);
    let kill = |child: &mut std::process::Child| {
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = child.wait();
    };
    // Its answer, read on a thread so that waiting for it has a limit.
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        if let Some(stdout) = stdout {
            let _ = stdout.take(MAX_HELPER_ANSWER + 1).read_to_end(&mut out);
        }
        let _ = tx.send(out);
    });
    let deadline = Instant::now() + limit;
    let late = || {
        failed(format!(
            "no answer for {server} in {}s",
            limit.as_secs_f64()
        ))
    };
    let Ok(out) = rx.recv_timeout(limit) else {
        kill(&mut child);
        return Err(late());
    };
    if out.len() as u64 > MAX_HELPER_ANSWER {
        kill(&mut child);
        return Err(failed("an answer of more than 1 MiB".into()));
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                kill(&mut child);
                return Err(late());
            }
            Err(e) => {
                kill(&mut child);
                return Err(failed(e.to_string()));
            }
        }
    };
    let text = String::from_utf8_lossy(&out);
    if !status.success() {
        // Helpers say "credentials not found in native keychain": anonymous,
        // as docker.
        if text.contains("credentials not found") {
            return Ok(Credentials::Anonymous);
        }
        let first = text.lines().next().unwrap_or("").trim();
        return Err(failed(format!("{status}: {first}")));
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Answer {
        #[serde(default)]
        username: String,
        #[serde(default)]
        secret: String,
    }
    let answer: Answer = serde_json::from_slice(&out)
        .map_err(|e| failed(format!("its answer is not JSON credentials: {e}")))?;
    Ok(match (answer.username.as_str(), answer.secret) {
        (_, secret) if secret.is_empty() => Credentials::Anonymous,
        ("<token>", token) => Credentials::IdentityToken(token),
        (_, secret) => Credentials::Basic(answer.username, secret),
    })
}

/// A stream of a blob's bytes; an error ends it. A whole blob's stream
/// fails at its end when its digest or size is not the descriptor's (an
/// error [`Remote::stream_error`] makes `FailedPrecondition`).
pub type BlobStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

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

/// A manifest or index as the registry served it.
pub struct Fetched {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

/// Why a registry request failed, before it becomes an [`Error`].
#[derive(Debug)]
enum Failure {
    /// 401, with no (other) credentials to answer it with.
    Unauthorized,
    /// 401 from this host, where a redirect from the registry led.
    Foreign(String),
    /// The token realm refused, or gave no token: why.
    Token(String),
    /// An error status, and the answer's body (a JSON error envelope, or
    /// text).
    Status(u16, String),
    /// No answer: the connection, TLS, a timeout.
    Http(HttpError),
    /// An answer's body could not be read.
    Read(io::Error),
    /// The bytes are not those asked for.
    Mismatch(String),
    /// An answer this client cannot use.
    Other(String),
    /// Something this library does not do (a docker schema 1 manifest).
    Unsupported(String),
}

impl Failure {
    /// The failure an error status is: its code and its body's words.
    async fn status(answer: &mut Answer) -> Failure {
        Failure::Status(answer.status.as_u16(), answer.text().await)
    }
}

/// A blob's bytes that do not match its descriptor.
#[derive(Debug)]
struct Mismatch(String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}

/// `Basic` credentials as an Authorization value.
fn basic_auth(user: &str, password: &str) -> String {
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
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

    /// GETs `path` from the registry with the Authorization it took; on a
    /// 401, answers its challenge (a token from the realm, or the basic
    /// credentials) and asks once more. Redirects are followed, without
    /// the Authorization once they leave the registry.
    async fn get(&self, path: &str, headers: &[(HeaderName, &str)]) -> Result<Answer, Failure> {
        let url = Url {
            path: path.to_string(),
            ..self.base.clone()
        };
        let mut answered = false;
        loop {
            let sent = self
                .authorization
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone();
            let mut answer = self
                .http
                .get(&url, headers, sent.as_deref())
                .await
                .map_err(Failure::Http)?;
            if answer.status != StatusCode::UNAUTHORIZED {
                return Ok(answer);
            }
            // Read, so that the connection serves the next request.
            answer.text().await;
            // A redirect's target asking for credentials: the registry's
            // go to the registry alone, and so do those a realm it names
            // would be given.
            if answer.url.origin() != url.origin() {
                return Err(Failure::Foreign(answer.url.authority.clone()));
            }
            if answered {
                return Err(Failure::Unauthorized);
            }
            answered = true;
            let authorization = self.answer_challenge(&answer, sent.as_deref()).await?;
            *self
                .authorization
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(authorization);
        }
    }

    /// The Authorization that answers a 401's `WWW-Authenticate`
    /// challenge: a token from a Bearer challenge's realm (a new one also
    /// when a token was sent: it may have expired), or the basic
    /// credentials for a Basic one unless they were just refused.
    async fn answer_challenge(
        &self,
        answer: &Answer,
        sent: Option<&str>,
    ) -> Result<String, Failure> {
        let challenges: Vec<Challenge> = answer
            .headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(parse_challenges)
            .collect();
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let realm = bearer
                .param("realm")
                .ok_or_else(|| Failure::Token("a Bearer challenge without a realm".into()))?;
            let token = self.token(realm, bearer.param("service")).await?;
            return Ok(format!("Bearer {token}"));
        }
        if let Credentials::Basic(user, password) = &self.creds {
            let basic = basic_auth(user, password);
            if challenges.iter().any(|c| c.scheme == "basic") && sent != Some(basic.as_str()) {
                return Ok(basic);
            }
        }
        Err(Failure::Unauthorized)
    }

    /// A pull token for the repository from `realm`, as docker gets one:
    /// a GET with `service` and `scope` (with the basic credentials when
    /// there are some), or with an identity token an OAuth2 refresh-token
    /// grant POSTed as a form.
    async fn token(&self, realm: &str, service: Option<&str>) -> Result<String, Failure> {
        let mut url = Url::parse(realm)
            .ok_or_else(|| Failure::Token(format!("the realm {realm:?} is not an http(s) URL")))?;
        // Secrets cross the network in the clear only as far as the
        // registry itself takes them.
        if !url.tls && self.base.tls && !matches!(self.creds, Credentials::Anonymous) {
            return Err(Failure::Token(format!(
                "the realm {} is plain http, the registry https: its credentials are not sent there",
                url.shown()
            )));
        }
        let mut query = String::new();
        if let Some(service) = service {
            query.push_str("service=");
            query_escape(&mut query, service);
            query.push('&');
        }
        query.push_str("scope=");
        query_escape(
            &mut query,
            &format!("repository:{}:pull", self.image.repository()),
        );
        let answer = match &self.creds {
            Credentials::IdentityToken(token) => {
                let mut form = format!(
                    "grant_type=refresh_token&client_id=containerd-c&{query}&refresh_token="
                );
                query_escape(&mut form, token);
                let form_type = "application/x-www-form-urlencoded";
                self.http
                    .request(
                        Method::POST,
                        &url,
                        &[(header::CONTENT_TYPE, form_type)],
                        Bytes::from(form),
                    )
                    .await
            }
            creds => {
                url.path
                    .push(if url.path.contains('?') { '&' } else { '?' });
                url.path.push_str(&query);
                let basic = match creds {
                    Credentials::Basic(user, password) => Some(basic_auth(user, password)),
                    _ => None,
                };
                self.http.get(&url, &[], basic.as_deref()).await
            }
        };
        let mut answer = answer.map_err(Failure::Http)?;
        if !answer.status.is_success() {
            let body = answer.text().await;
            return Err(Failure::Token(status_words(answer.status.as_u16(), &body)));
        }
        let body = answer
            .read(MAX_TOKEN_ANSWER)
            .await
            .map_err(Failure::Read)?
            .ok_or_else(|| Failure::Token("an answer of more than 1 MiB".into()))?;
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            #[serde(default)]
            token: String,
            #[serde(default)]
            access_token: String,
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| Failure::Token(format!("the answer is not a token: {e}")))?;
        let token = if answer.token.is_empty() {
            answer.access_token
        } else {
            answer.token
        };
        if token.is_empty() {
            return Err(Failure::Token("the answer holds no token".into()));
        }
        Ok(token)
    }

    /// The manifest or index the reference names (`digest` = None) or the
    /// one with `digest`. Its digest is the sha256 of its bytes, which must
    /// be the digest asked for (or the reference's) and the one the
    /// registry gives.
    pub async fn manifest(&self, digest: Option<&str>) -> Result<Fetched> {
        let (reference, step) = match digest {
            Some(d) => (d, format!("fetch manifest {d}")),
            None => (self.image.tag_or_digest(), "resolve".to_string()),
        };
        let asked = digest.or(self.image.digest());
        let (bytes, digest, media_type) = self
            .fetch_manifest(reference, asked)
            .await
            .map_err(|f| self.error(f, &step))?;
        let media_type = media_type
            .map_err(|e| Error::new(e.code, format!("{}: {step}: {}", self.what, e.message)))?;
        Ok(Fetched {
            descriptor: Descriptor {
                media_type,
                digest,
                size: bytes.len() as i64,
                annotations: Default::default(),
            },
            bytes,
        })
    }

    /// Manifest `reference`'s bytes, digest and media type. A kind this
    /// library does not pull (docker schema 1) is said first: its digest
    /// is not that of its bytes (the signatures are left out of it).
    async fn fetch_manifest(
        &self,
        reference: &str,
        asked: Option<&str>,
    ) -> Result<(Vec<u8>, String, Result<String>), Failure> {
        let path = format!("/v2/{}/manifests/{reference}", self.image.repository());
        let mut answer = self
            .get(&path, &[(header::ACCEPT, ACCEPT_MANIFESTS)])
            .await?;
        if !answer.status.is_success() {
            return Err(Failure::status(&mut answer).await);
        }
        let bytes = answer
            .read(MAX_MANIFEST)
            .await
            .map_err(Failure::Read)?
            .ok_or_else(|| {
                Failure::Other(format!(
                    "more than the {MAX_MANIFEST} bytes this library reads"
                ))
            })?;
        let media_type = manifest_media_type(&bytes);
        match &media_type {
            Err(e) if e.code == Code::NotImplemented => {
                return Err(Failure::Unsupported(e.message.clone()))
            }
            _ => {}
        }
        let digest = format!("sha256:{}", hex(&Sha256::digest(&bytes)));
        if let Some(asked) = asked.filter(|a| *a != digest) {
            return Err(Failure::Mismatch(format!(
                "the registry's manifest has digest {digest}, not {asked}"
            )));
        }
        if let Some(said) = answer
            .header(DOCKER_CONTENT_DIGEST)
            .filter(|s| s.starts_with("sha256:") && *s != digest)
        {
            return Err(Failure::Mismatch(format!(
                "the registry gives digest {said}, its manifest's bytes have {digest}"
            )));
        }
        Ok((bytes, digest, media_type))
    }

    /// A stream of blob `d`'s bytes from `offset` on: `(stream, true)` when
    /// the registry sent just that range, `(stream, false)` when it sent the
    /// whole blob (the range is not supported). Redirects (object storage)
    /// are followed.
    pub async fn blob(&self, d: &Descriptor, offset: u64) -> Result<(BlobStream, bool)> {
        self.open_blob(d, offset)
            .await
            .map_err(|f| self.error(f, &format!("fetch blob {}", d.digest)))
    }

    async fn open_blob(&self, d: &Descriptor, offset: u64) -> Result<(BlobStream, bool), Failure> {
        let path = format!("/v2/{}/blobs/{}", self.image.repository(), d.digest);
        let range = format!("bytes={offset}-");
        let ranged = [(header::RANGE, range.as_str())];
        let headers: &[(HeaderName, &str)] = if offset > 0 { &ranged } else { &[] };
        let mut answer = self.get(&path, headers).await?;
        let partial = match answer.status {
            StatusCode::OK => false,
            StatusCode::PARTIAL_CONTENT if offset > 0 => {
                // `bytes <first>-<last>/<size>`: it must start at the
                // offset; without it, what the bytes are is not known.
                let Some(sent) = answer.header(header::CONTENT_RANGE) else {
                    return Err(Failure::Other(format!(
                        "asked for the bytes from {offset} on, {} answered 206 without a \
                         Content-Range",
                        answer.authority()
                    )));
                };
                let first = sent
                    .strip_prefix("bytes ")
                    .and_then(|r| r.split('-').next())
                    .and_then(|f| f.trim().parse::<u64>().ok());
                if first != Some(offset) {
                    return Err(Failure::Other(format!(
                        "asked for the bytes from {offset} on, {} sent the range {sent:?}",
                        answer.authority()
                    )));
                }
                true
            }
            _ => return Err(Failure::status(&mut answer).await),
        };
        let size = d.size.max(0) as u64;
        let check = Check {
            digest: d.digest.clone(),
            want: if partial {
                size.saturating_sub(offset)
            } else {
                size
            },
            got: 0,
            hasher: (!partial && d.digest.starts_with("sha256:")).then(Sha256::new),
        };
        let stream = futures_util::stream::unfold(Some((answer, check)), |state| async move {
            let (mut answer, mut check) = state?;
            let item = match answer.chunk().await {
                Ok(Some(chunk)) => check.add(&chunk).map(|()| chunk),
                Ok(None) => return check.finish().err().map(|e| (Err(e), None)),
                Err(e) => Err(e),
            };
            let next = item.is_ok().then_some((answer, check));
            Some((item, next))
        });
        Ok((Box::pin(stream), partial))
    }

    /// The error of a failed stream read of blob `digest`.
    pub fn stream_error(&self, digest: &str, e: io::Error) -> Error {
        let code = if e.get_ref().is_some_and(|inner| inner.is::<Mismatch>()) {
            // The registry's bytes are not the blob asked for.
            Code::FailedPrecondition
        } else if e.kind() == io::ErrorKind::TimedOut || is_transport(&e) {
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

    /// `f` as an [`Error`] of the right code, naming the pull and `step`.
    fn error(&self, f: Failure, step: &str) -> Error {
        let anonymous = matches!(self.creds, Credentials::Anonymous);
        map_error(f, &self.what, step, self.image.host(), anonymous)
    }
}

/// What a blob's stream has passed on, checked against the descriptor.
struct Check {
    digest: String,
    /// The bytes the stream should have: the blob's size, less the offset
    /// of a range.
    want: u64,
    got: u64,
    /// The digest so far, of a whole sha256 blob (a range's is the content
    /// store's to check, with the bytes it has).
    hasher: Option<Sha256>,
}

impl Check {
    fn add(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.got += chunk.len() as u64;
        if self.got > self.want {
            return Err(mismatch(format!(
                "the registry sent more than the {} bytes the descriptor says (digest {})",
                self.want, self.digest
            )));
        }
        if let Some(h) = &mut self.hasher {
            h.update(chunk);
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if self.got < self.want {
            // Cut short without an error: a connection closed early.
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the registry's answer ended after {} of {} bytes",
                    self.got, self.want
                ),
            ));
        }
        if let Some(h) = self.hasher.take() {
            let got = format!("sha256:{}", hex(&h.finalize()));
            if got != self.digest {
                return Err(mismatch(format!(
                    "the registry's bytes have digest {got}, not the one asked for"
                )));
            }
        }
        Ok(())
    }
}

fn mismatch(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, Mismatch(why))
}

/// One challenge of a `WWW-Authenticate` header: its scheme (lowercase)
/// and parameters (names lowercase).
#[derive(Debug, PartialEq)]
struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The challenges of a `WWW-Authenticate` value: `Bearer
/// realm="https://auth",service="registry", Basic realm="x"`. Parameter
/// values are tokens or quoted strings (backslash escapes).
fn parse_challenges(value: &str) -> Vec<Challenge> {
    let mut out: Vec<Challenge> = Vec::new();
    let mut rest = value;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        if rest.is_empty() {
            return out;
        }
        let end = rest.find([' ', '\t', ',', '=']).unwrap_or(rest.len());
        let name = rest[..end].to_ascii_lowercase();
        let after = rest[end..].trim_start_matches([' ', '\t']);
        match (after.strip_prefix('='), out.last_mut()) {
            (Some(value), Some(challenge)) => {
                let value = value.trim_start_matches([' ', '\t']);
                let (v, next) = match value.strip_prefix('"') {
                    Some(quoted) => {
                        let mut v = String::new();
                        let mut chars = quoted.char_indices();
                        let mut end = quoted.len();
                        while let Some((i, c)) = chars.next() {
                            match c {
                                '"' => {
                                    end = i + 1;
                                    break;
                                }
                                '\\' => v.extend(chars.next().map(|(_, c)| c)),
                                c => v.push(c),
                            }
                        }
                        (v, &quoted[end..])
                    }
                    None => {
                        let end = value.find([' ', '\t', ',']).unwrap_or(value.len());
                        (value[..end].to_string(), &value[end..])
                    }
                };
                challenge.params.push((name, v));
                rest = next;
            }
            _ => {
                out.push(Challenge {
                    scheme: name,
                    params: Vec::new(),
                });
                rest = &rest[end..];
            }
        }
    }
}

/// A registry's JSON error envelope: `{"errors":[{"code":..,"message":..}]}`.
#[derive(serde::Deserialize)]
struct Envelope {
    #[serde(default)]
    errors: Vec<EnvelopeError>,
}

#[derive(serde::Deserialize)]
struct EnvelopeError {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// What an error answer's body says: its envelope's messages, a JSON
/// object's `details`, `message`, `error_description` or `error`, else
/// its first line (nothing for other JSON).
fn body_words(body: &str) -> String {
    if let Ok(envelope) = serde_json::from_str::<Envelope>(body) {
        if !envelope.errors.is_empty() {
            return envelope
                .errors
                .iter()
                .map(|e| {
                    if e.message.is_empty() {
                        e.code.clone()
                    } else {
                        e.message.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join("; ");
        }
    }
    if let Ok(serde_json::Value::Object(o)) = serde_json::from_str(body) {
        return ["details", "message", "error_description", "error"]
            .iter()
            .find_map(|k| o.get(*k).and_then(|v| v.as_str()))
            .unwrap_or("")
            .to_string();
    }
    let body = body.trim();
    if body.starts_with('[') {
        return String::new();
    }
    let line = body.lines().next().unwrap_or("");
    line.chars().take(200).collect()
}

/// `HTTP <status> <reason>` and what the body says.
fn status_words(status: u16, body: &str) -> String {
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let words = body_words(body);
    match (reason, words.is_empty()) {
        ("", true) => format!("HTTP {status}"),
        ("", false) => format!("HTTP {status}: {words}"),
        (r, true) => format!("HTTP {status} {r}"),
        (r, false) => format!("HTTP {status} {r}: {words}"),
    }
}

/// `f` as an [`Error`] of the right code: "`what`: `step`: ...". `host` is
/// the registry's; `anonymous` whether no credentials were sent.
fn map_error(f: Failure, what: &str, step: &str, host: &str, anonymous: bool) -> Error {
    let (code, text) = match f {
        Failure::Unauthorized if anonymous => (
            Code::Unauthenticated,
            format!("{host} asks for credentials (401 Unauthorized) and none were found"),
        ),
        Failure::Unauthorized => (
            Code::Unauthenticated,
            format!("{host} refused the credentials (401 Unauthorized)"),
        ),
        Failure::Foreign(other) => (
            Code::Unauthenticated,
            format!(
                "redirected by {host} to {other}, which asks for credentials \
                 (401 Unauthorized): the registry's are not sent there"
            ),
        ),
        Failure::Token(why) => (
            Code::Unauthenticated,
            format!("{host}: the token request failed: {}", why.trim()),
        ),
        Failure::Status(status, body) => status_error(status, &body),
        Failure::Http(HttpError::Timeout(t)) => (Code::DeadlineExceeded, t),
        Failure::Http(HttpError::Invalid(t)) => (Code::Unknown, t),
        Failure::Http(HttpError::Io {
            authority,
            doing,
            error,
        }) => match certificate_problem(&error) {
            Some(why) => (
                Code::Unavailable,
                format!(
                    "the TLS certificate of {authority} is not trusted: {why} \
                     (give the CA as ca_file, or skip_verify)"
                ),
            ),
            None => (Code::Unavailable, format!("{doing}: {}", chain(&error))),
        },
        Failure::Read(e) => {
            let code = if is_stalled(&e) {
                Code::Unavailable
            } else if e.kind() == io::ErrorKind::TimedOut {
                Code::DeadlineExceeded
            } else if is_transport(&e) {
                Code::Unavailable
            } else {
                Code::Unknown
            };
            (code, chain(&e))
        }
        Failure::Mismatch(t) => (Code::FailedPrecondition, t),
        Failure::Other(t) => (Code::Unknown, t),
        Failure::Unsupported(t) => (Code::NotImplemented, t),
    };
    Error::new(code, format!("{what}: {step}: {text}"))
}

/// An error answer's code and words: the envelope's first error code when
/// it says more than the status, else the status.
fn status_error(status: u16, body: &str) -> (Code, String) {
    let by_status = match status {
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        408 | 429 | 502..=504 => Code::Unavailable,
        // Plain HTTP to a TLS registry (Go's server answers so).
        400 if body.contains("HTTP request to an HTTPS server") => Code::Unavailable,
        _ => Code::Unknown,
    };
    let by_envelope = serde_json::from_str::<Envelope>(body)
        .ok()
        .and_then(|e| e.errors.into_iter().next())
        .map(|e| match e.code.as_str() {
            "UNAUTHORIZED" => Code::Unauthenticated,
            "DENIED" => Code::PermissionDenied,
            "BLOB_UNKNOWN" | "MANIFEST_UNKNOWN" | "NAME_UNKNOWN" | "NOT_FOUND" => Code::NotFound,
            "TOOMANYREQUESTS" => Code::Unavailable,
            _ => Code::Unknown,
        });
    let code = match by_envelope {
        Some(Code::Unknown) | None => by_status,
        Some(c) => c,
    };
    let text = match (code, by_envelope.is_some()) {
        (Code::NotFound, true) => format!("not found ({})", body_words(body)),
        (Code::NotFound, false) => format!("not found (HTTP {status})"),
        (_, true) => body_words(body),
        (_, false) => status_words(status, body),
    };
    (code, text)
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
        next = match e.downcast_ref::<io::Error>().and_then(|io| io.get_ref()) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => e.source(),
        };
    }
    out
}

/// What rustls said about the server's certificate, if that was the
/// failure.
fn certificate_problem(e: &io::Error) -> Option<String> {
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
        if let Some(io) = c.downcast_ref::<io::Error>() {
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
    use std::sync::Arc;

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

    /// A docker config in a directory of its own, with credential helpers
    /// there too, each `(name, script)`; helpers time out after 300 ms.
    fn docker_config(dir: &Path, json: Option<&str>, helpers: &[(&str, &str)]) -> DockerConfig {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        let file = dir.join("config.json");
        if let Some(json) = json {
            std::fs::write(&file, json).unwrap();
        }
        for (name, script) in helpers {
            let path = dir.join(format!("docker-credential-{name}"));
            std::fs::write(&path, script).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        DockerConfig {
            file: Some(file),
            helper_timeout: Duration::from_millis(300),
            helpers_in: Some(dir.to_path_buf()),
        }
    }

    fn shown(c: &Result<Credentials>) -> String {
        match c {
            Ok(Credentials::Anonymous) => "anonymous".into(),
            Ok(Credentials::Basic(u, p)) => format!("basic {u}:{p}"),
            Ok(Credentials::IdentityToken(t)) => format!("token {t}"),
            Err(e) => format!("{:?} {}", e.code, e.message),
        }
    }

    /// `auths` keys name their registry as docker's do: scheme and path
    /// left out, docker.io by its index URL or any of its names.
    #[test]
    fn config_keys_are_matched_as_docker_does() {
        assert_eq!(server_address("docker.io"), "https://index.docker.io/v1/");
        assert_eq!(server_address("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(
            config_key_host("https://r.example:5000/v2/"),
            "r.example:5000"
        );
        assert_eq!(config_key_host("http://r.example"), "r.example");
        assert_eq!(config_key_host("r.example/x"), "r.example");
        let dir = tempfile::tempdir().unwrap();
        let anonymous = PullOptions::default();
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let cases = [
            ("https://r.example:5000/v2/", "r.example:5000", "basic u:p"),
            ("http://r.example:5000", "r.example:5000", "basic u:p"),
            ("r.example:5000", "r.example:5000", "basic u:p"),
            ("r.example:5000", "r.example", "anonymous"),
            ("https://r.example", "r.example:5000", "anonymous"),
            ("https://index.docker.io/v1/", "docker.io", "basic u:p"),
            ("docker.io", "docker.io", "basic u:p"),
            ("https://registry-1.docker.io/v2/", "docker.io", "basic u:p"),
            ("https://index.docker.io/v1/", "quay.io", "anonymous"),
        ];
        for (i, (key, host, want)) in cases.into_iter().enumerate() {
            let json = format!(r#"{{"auths":{{"{key}":{{"auth":"{}"}}}}}}"#, b64("u:p"));
            let config = docker_config(&dir.path().join(i.to_string()), Some(&json), &[]);
            let got = credentials(&anonymous, host, "p", &config);
            assert_eq!(shown(&got), want, "{key} for {host}");
        }
    }

    /// A docker config that cannot be used says which file and why; a
    /// missing one is anonymous.
    #[test]
    fn a_bad_docker_config_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let opts = PullOptions::default();
        let config = docker_config(&dir.path().join("none"), None, &[]);
        assert_eq!(shown(&credentials(&opts, "h", "p", &config)), "anonymous");
        type Make = Box<dyn Fn(&Path)>;
        let cases: [(&str, Make, &str); 5] = [
            (
                "malformed",
                Box::new(|f| std::fs::write(f, "{\"auths\": ").unwrap()),
                "not a docker config: EOF while parsing",
            ),
            (
                "wrong types",
                Box::new(|f| std::fs::write(f, r#"{"auths":["h"]}"#).unwrap()),
                "not a docker config: invalid type",
            ),
            (
                "a directory",
                Box::new(|f| std::fs::create_dir(f).unwrap()),
                ": not a regular file",
            ),
            (
                "/dev/zero",
                Box::new(|f| std::os::unix::fs::symlink("/dev/zero", f).unwrap()),
                ": not a regular file",
            ),
            (
                "bad base64",
                Box::new(|f| std::fs::write(f, r#"{"auths":{"h":{"auth":"!!"}}}"#).unwrap()),
                "the auth of h is not base64",
            ),
        ];
        for (i, (case, make, why)) in cases.into_iter().enumerate() {
            let config = docker_config(&dir.path().join(i.to_string()), None, &[]);
            let file = config.file.clone().unwrap();
            make(&file);
            let e = credentials(&opts, "h", "pull \"h/a\"", &config)
                .err()
                .unwrap();
            assert_eq!(e.code, Code::InvalidArgument, "{case}: {}", e.message);
            assert!(
                e.message.starts_with(&format!(
                    "pull \"h/a\": the docker config {}",
                    file.display()
                )) && e.message.contains(why),
                "{case}: {}",
                e.message
            );
        }
    }

    /// Credential helpers: asked for the registry, their `<token>` an
    /// identity token, "credentials not found" anonymous; one that fails
    /// or never answers is an error naming it, and one that never answers
    /// is killed with what it started.
    #[test]
    fn credential_helpers_are_asked_with_a_time_limit() {
        let dir = tempfile::tempdir().unwrap();
        let opts = PullOptions::default();
        let answer = |json: &str| {
            format!("#!/bin/sh\n[ \"$1\" = get ] || exit 3\nread -r s\n[ \"$s\" = h ] || exit 4\necho '{json}'\n")
        };
        let pair = answer(r#"{"ServerURL":"h","Username":"u","Secret":"p"}"#);
        let token = answer(r#"{"ServerURL":"h","Username":"<token>","Secret":"t"}"#);
        let none = "#!/bin/sh\necho 'credentials not found in native keychain'\nexit 1\n";
        let broken = "#!/bin/sh\necho 'the keychain is locked'\nexit 1\n";
        let pid = dir.path().join("sleeper.pid");
        let forever = format!(
            "#!/bin/sh\nsleep 1000 &\necho $! > {}\nwait\n",
            pid.display()
        );
        let helpers = [
            ("pair", pair.as_str()),
            ("token", token.as_str()),
            ("none", none),
            ("broken", broken),
            ("forever", forever.as_str()),
            ("big", "#!/bin/sh\nhead -c 2000000 /dev/zero\n"),
        ];
        let cases = [
            (r#"{"credsStore":"pair"}"#, "basic u:p"),
            (r#"{"credHelpers":{"h":"token"},"credsStore":"broken"}"#, "token t"),
            (r#"{"credsStore":"none","auths":{"h":{"auth":"dTpw"}}}"#, "anonymous"),
            (
                r#"{"credsStore":"broken"}"#,
                "Unauthenticated pull: credentials for h from CONFIG: \
                 credential helper docker-credential-broken: exit status: 1: the keychain is locked",
            ),
            (
                r#"{"credsStore":"missing"}"#,
                "Unauthenticated pull: credentials for h from CONFIG: \
                 credential helper docker-credential-missing: No such file or directory (os error 2)",
            ),
            (
                r#"{"credsStore":"big"}"#,
                "Unauthenticated pull: credentials for h from CONFIG: \
                 credential helper docker-credential-big: an answer of more than 1 MiB",
            ),
        ];
        for (i, (json, want)) in cases.into_iter().enumerate() {
            let config = docker_config(&dir.path().join(i.to_string()), Some(json), &helpers);
            let file = config.file.as_ref().unwrap().display().to_string();
            let got = shown(&credentials(&opts, "h", "pull", &config));
            assert_eq!(got, want.replace("CONFIG", &file), "{json}");
        }

        // One that never answers: killed after the limit, and the sleep it
        // started too.
        let config = docker_config(
            &dir.path().join("forever"),
            Some(r#"{"credsStore":"forever"}"#),
            &helpers,
        );
        let start = Instant::now();
        let got = shown(&credentials(&opts, "h", "pull", &config));
        let took = start.elapsed();
        eprintln!("a helper that never answers: {took:?}");
        assert!(
            got.starts_with("Unauthenticated pull: credentials for h from ")
                && got.ends_with(
                    "credential helper docker-credential-forever: no answer for h in 0.3s"
                ),
            "{got}"
        );
        assert!(took < Duration::from_secs(3), "{took:?}");
        let sleeper = std::fs::read_to_string(&pid).unwrap();
        let gone = || {
            std::fs::read_to_string(format!("/proc/{}/stat", sleeper.trim()))
                .map_or(true, |stat| stat.contains(") Z "))
        };
        let start = Instant::now();
        while !gone() && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(gone(), "the helper's sleep {sleeper} still runs");
    }

    #[test]
    fn registry_answers_become_codes() {
        let envelope = |code: &str| {
            Failure::Status(
                400,
                format!(r#"{{"errors":[{{"code":"{code}","message":"the registry's words"}}]}}"#),
            )
        };
        let server = |status: u16, body: &str| Failure::Status(status, body.into());
        let io = |kind| {
            Failure::Http(HttpError::Io {
                authority: "h".into(),
                doing: "GET http://h/v2/".into(),
                error: io::Error::from(kind),
            })
        };
        let cases = [
            (envelope("DENIED"), Code::PermissionDenied),
            (envelope("UNAUTHORIZED"), Code::Unauthenticated),
            (envelope("MANIFEST_UNKNOWN"), Code::NotFound),
            (envelope("NAME_UNKNOWN"), Code::NotFound),
            (envelope("BLOB_UNKNOWN"), Code::NotFound),
            (envelope("TOOMANYREQUESTS"), Code::Unavailable),
            (envelope("MANIFEST_INVALID"), Code::Unknown),
            // An envelope code that says nothing more: the status.
            (
                server(503, r#"{"errors":[{"code":"UNAVAILABLE"}]}"#),
                Code::Unavailable,
            ),
            (server(403, "forbidden"), Code::PermissionDenied),
            (server(401, ""), Code::Unauthenticated),
            (server(404, "404 page not found"), Code::NotFound),
            (server(503, "down"), Code::Unavailable),
            (server(500, "oops"), Code::Unknown),
            (
                server(400, "Client sent an HTTP request to an HTTPS server.\n"),
                Code::Unavailable,
            ),
            (Failure::Unauthorized, Code::Unauthenticated),
            (Failure::Token("no".into()), Code::Unauthenticated),
            (io(io::ErrorKind::ConnectionRefused), Code::Unavailable),
            (
                Failure::Http(HttpError::Timeout("slow".into())),
                Code::DeadlineExceeded,
            ),
            (
                Failure::Read(io::ErrorKind::TimedOut.into()),
                Code::DeadlineExceeded,
            ),
            (
                Failure::Read(io::ErrorKind::ConnectionReset.into()),
                Code::Unavailable,
            ),
            (Failure::Mismatch("digest".into()), Code::FailedPrecondition),
        ];
        for (f, want) in cases {
            let shown = format!("{f:?}");
            let got = map_error(f, "pull \"h/r:t\"", "resolve", "h", false);
            assert_eq!(got.code, want, "{shown}: {}", got.message);
            assert!(
                got.message.starts_with("pull \"h/r:t\": resolve: "),
                "{}",
                got.message
            );
        }
        let e = map_error(envelope("DENIED"), "p", "s", "h", false);
        assert!(e.message.contains("the registry's words"), "{}", e.message);
        let e = map_error(envelope("MANIFEST_UNKNOWN"), "p", "s", "h", false);
        assert!(
            e.message.ends_with("not found (the registry's words)"),
            "{}",
            e.message
        );
        let e = map_error(
            server(400, "Client sent an HTTP request to an HTTPS server.\n"),
            "p",
            "s",
            "h",
            false,
        );
        assert!(
            e.message.contains("HTTP 400") && e.message.contains("HTTPS server"),
            "{}",
            e.message
        );
        let e = map_error(Failure::Unauthorized, "p", "s", "h", true);
        assert!(e.message.contains("none were found"), "{}", e.message);
        let e = map_error(Failure::Unauthorized, "p", "s", "h", false);
        assert!(
            e.message.contains("refused the credentials"),
            "{}",
            e.message
        );
        let certificate = Failure::Http(HttpError::Io {
            authority: "h:5000".into(),
            doing: "connect to h:5000".into(),
            error: io::Error::new(
                io::ErrorKind::InvalidData,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
            ),
        });
        let e = map_error(certificate, "p", "s", "h", false);
        assert_eq!(e.code, Code::Unavailable);
        assert!(
            e.message
                .contains("the TLS certificate of h:5000 is not trusted: UnknownIssuer")
                && e.message.contains("ca_file"),
            "{}",
            e.message
        );
    }

    #[test]
    fn challenges_are_parsed() {
        let c = parse_challenges(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "bearer");
        assert_eq!(c[0].param("realm"), Some("https://auth.example/token"));
        assert_eq!(c[0].param("service"), Some("registry.example"));
        assert_eq!(c[0].param("scope"), Some("repository:a/b:pull,push"));
        let c = parse_challenges(
            r#"Basic realm="a \"quoted\" realm", Bearer realm=http://t/x , error=invalid_token"#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(
            (c[0].scheme.as_str(), c[0].param("realm")),
            ("basic", Some(r#"a "quoted" realm"#))
        );
        assert_eq!(
            (c[1].scheme.as_str(), c[1].param("realm")),
            ("bearer", Some("http://t/x"))
        );
        assert_eq!(c[1].param("error"), Some("invalid_token"));
        assert_eq!(parse_challenges("BASIC")[0].scheme, "basic");
        assert!(parse_challenges("").is_empty());
    }

    /// A request the fake server got.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        headers: Vec<(String, String)>,
        body: String,
        /// The connection's number, counted from 0.
        conn: usize,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// A canned answer: status, headers, body.
    type Reply = (u16, Vec<(&'static str, String)>, Vec<u8>);

    /// A fake HTTP/1.1 server on 127.0.0.1 (keep-alive, Content-Length
    /// bodies): every request goes to `answer`, and is recorded. Returns
    /// its `host:port` and the record.
    async fn fake_server<F>(answer: F) -> (String, Arc<std::sync::Mutex<Vec<Seen>>>)
    where
        F: Fn(&Seen, &str) -> Reply + Send + Sync + 'static,
    {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (answer, record, me) = (Arc::new(answer), seen.clone(), host.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((conn, _)) = listener.accept().await {
                n += 1;
                let number = n - 1;
                let (answer, record, me) = (answer.clone(), record.clone(), me.clone());
                tokio::spawn(async move {
                    let mut conn = tokio::io::BufReader::new(conn);
                    loop {
                        let mut head = Vec::new();
                        loop {
                            let mut line = String::new();
                            if conn.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if line == "\r\n" {
                                break;
                            }
                            head.push(line.trim_end().to_string());
                        }
                        let mut first = head[0].split(' ');
                        let (method, path) = (first.next().unwrap(), first.next().unwrap());
                        let headers: Vec<(String, String)> = head[1..]
                            .iter()
                            .filter_map(|h| h.split_once(':'))
                            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
                            .collect();
                        let mut seen = Seen {
                            method: method.into(),
                            path: path.into(),
                            headers,
                            body: String::new(),
                            conn: number,
                        };
                        let length = seen
                            .header("content-length")
                            .map_or(0, |l| l.parse::<usize>().unwrap());
                        let mut body = vec![0; length];
                        conn.read_exact(&mut body).await.unwrap();
                        seen.body = String::from_utf8(body).unwrap();
                        let (status, headers, body) = answer(&seen, &me);
                        record.lock().unwrap().push(seen);
                        let mut out = format!("HTTP/1.1 {status} X\r\n");
                        // `X-Trickle-Ms: n`: the body a byte every n ms.
                        let mut trickle = None;
                        for (k, v) in headers {
                            if k == TRICKLE {
                                trickle = Some(v.parse::<u64>().unwrap());
                                continue;
                            }
                            out.push_str(&format!("{k}: {v}\r\n"));
                        }
                        out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
                        let mut out = out.into_bytes();
                        let conn = conn.get_mut();
                        if let Some(ms) = trickle {
                            if conn.write_all(&out).await.is_err() {
                                return;
                            }
                            for b in body {
                                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                                if conn.write_all(&[b]).await.is_err() {
                                    return;
                                }
                            }
                            continue;
                        }
                        out.extend_from_slice(&body);
                        if conn.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (host, seen)
    }

    /// A reply header the fake server takes out: send the body a byte
    /// every so many milliseconds.
    const TRICKLE: &str = "X-Trickle-Ms";

    fn json(status: u16, body: &str) -> Reply {
        (
            status,
            vec![("Content-Type", "application/json".into())],
            body.as_bytes().to_vec(),
        )
    }

    fn digest_of(bytes: &[u8]) -> String {
        format!("sha256:{}", hex(&Sha256::digest(bytes)))
    }

    fn options(user: &str, secret: &str) -> PullOptions {
        PullOptions {
            username: Some(user.into()),
            secret: Some(secret.into()),
            plain_http: true,
            ..Default::default()
        }
    }

    async fn read_all(mut s: BlobStream) -> io::Result<Vec<u8>> {
        use futures_util::StreamExt;
        let mut out = Vec::new();
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{},"layers":[]}"#;
    const BLOB: &[u8] = b"the blob's bytes, several of them";

    /// A registry that wants a bearer token from its realm (which checks
    /// the service, the scope and the basic credentials, or takes an
    /// identity token by POST), serves a manifest with it, and redirects
    /// blobs to object storage on another port (which serves ranges, and
    /// wrong bytes for one blob).
    #[tokio::test]
    async fn bearer_tokens_and_redirects() {
        let good = digest_of(BLOB);
        let bad = format!("sha256:{}", "b".repeat(64));
        let (storage, stored) = fake_server(|r, _| {
            let bytes = if r.path.starts_with("/bad") {
                b"the blob's bytes, several of thex".to_vec()
            } else {
                BLOB.to_vec()
            };
            match r.header("range") {
                Some(range) => {
                    let from: usize = range
                        .strip_prefix("bytes=")
                        .unwrap()
                        .trim_end_matches('-')
                        .parse()
                        .unwrap();
                    let cr = format!("bytes {from}-{}/{}", bytes.len() - 1, bytes.len());
                    (206, vec![("Content-Range", cr)], bytes[from..].to_vec())
                }
                None => (200, vec![], bytes),
            }
        })
        .await;
        let basic = basic_auth("u", "p");
        let (good2, bad2) = (good.clone(), bad.clone());
        let m_digest = digest_of(MANIFEST.as_bytes());
        let (host, seen) = fake_server(move |r, me| {
            let challenge = (
                "WWW-Authenticate",
                format!(r#"Bearer realm="http://{me}/token",service="fake registry""#),
            );
            if r.path.starts_with("/token") {
                let query = "service=fake%20registry&scope=repository%3Actrd%2Fapp%3Apull";
                let right = match r.method.as_str() {
                    "GET" => {
                        r.path == format!("/token?{query}")
                            && r.header("authorization") == Some(&basic)
                    }
                    _ => {
                        r.path == "/token"
                            && r.header("content-type") == Some("application/x-www-form-urlencoded")
                            && r.body.contains("grant_type=refresh_token")
                            && r.body.contains(query)
                            && r.body.contains("refresh_token=id%2Btoken")
                    }
                };
                return match right {
                    true => json(200, r#"{"access_token":"tok","expires_in":300}"#),
                    false => json(401, r#"{"details":"incorrect username or password"}"#),
                };
            }
            if r.header("authorization") != Some("Bearer tok") {
                return (401, vec![challenge], b"{}".to_vec());
            }
            let blob = |d: &str| format!("/v2/ctrd/app/blobs/{d}");
            let manifest = |d: &str| format!("/v2/ctrd/app/manifests/{d}");
            match r.path.as_str() {
                "/v2/" => json(200, "{}"),
                p if p == "/v2/ctrd/app/manifests/v1" || p == manifest(&m_digest) => (
                    200,
                    vec![("Docker-Content-Digest", digest_of(MANIFEST.as_bytes()))],
                    MANIFEST.as_bytes().to_vec(),
                ),
                p if p == blob(&good2) => (
                    307,
                    vec![("Location", format!("http://{storage}/blob?sig=1"))],
                    vec![],
                ),
                // Bytes that are not the manifest asked for.
                p if p == manifest(&bad2) => (200, vec![], MANIFEST.as_bytes().to_vec()),
                p if p == blob(&bad2) => (
                    302,
                    vec![("Location", format!("http://{storage}/bad"))],
                    vec![],
                ),
                _ => json(
                    404,
                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                ),
            }
        })
        .await;
        let image = ImageRef::parse(&format!("{host}/ctrd/app:v1")).unwrap();

        // The token, then the manifest with it.
        let remote = Remote::new(&image, &options("u", "p"), "pull")
            .await
            .unwrap();
        let m = remote.manifest(None).await.unwrap();
        assert_eq!(m.bytes, MANIFEST.as_bytes());
        assert_eq!(m.descriptor.digest, digest_of(MANIFEST.as_bytes()));
        assert_eq!(
            m.descriptor.media_type,
            "application/vnd.oci.image.manifest.v1+json"
        );
        let tokens = |seen: &std::sync::Mutex<Vec<Seen>>| {
            seen.lock()
                .unwrap()
                .iter()
                .filter(|r| r.path.starts_with("/token"))
                .count()
        };
        assert_eq!(tokens(&seen), 1);
        assert!(seen
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.header("user-agent") == Some(crate::core::registry::http::USER_AGENT)));

        // By digest: it must be the one asked for.
        let again = remote.manifest(Some(&m.descriptor.digest)).await.unwrap();
        assert_eq!(again.bytes, m.bytes);
        let e = remote.manifest(Some(&bad)).await.err().unwrap();
        assert_eq!(e.code, Code::FailedPrecondition, "{}", e.message);
        assert!(e.message.contains(&format!("not {bad}")), "{}", e.message);
        let e = remote.manifest(Some(&good)).await.err().unwrap();
        assert_eq!(e.code, Code::NotFound, "{}", e.message);
        assert!(
            e.message.ends_with(&format!(
                "fetch manifest {good}: not found (manifest unknown)"
            )),
            "{}",
            e.message
        );

        // Blobs: redirected, without the registry's token.
        let d = Descriptor {
            media_type: "application/octet-stream".into(),
            digest: good.clone(),
            size: BLOB.len() as i64,
            annotations: Default::default(),
        };
        let (s, partial) = remote.blob(&d, 0).await.unwrap();
        assert!(!partial);
        assert_eq!(read_all(s).await.unwrap(), BLOB);
        let (s, partial) = remote.blob(&d, 4).await.unwrap();
        assert!(partial);
        assert_eq!(read_all(s).await.unwrap(), &BLOB[4..]);
        {
            let stored = stored.lock().unwrap();
            assert_eq!(stored.len(), 2);
            assert!(stored.iter().all(|r| r.header("authorization").is_none()));
            assert_eq!(stored[0].path, "/blob?sig=1");
            assert_eq!(stored[1].header("range"), Some("bytes=4-"));
        }
        // Several at once.
        let streams = futures_util::future::join_all((0..3).map(|_| remote.blob(&d, 0))).await;
        for s in streams {
            assert_eq!(read_all(s.unwrap().0).await.unwrap(), BLOB);
        }

        // Bytes that are not the blob: the stream's end says so.
        let wrong = Descriptor {
            digest: bad.clone(),
            ..d.clone()
        };
        let (s, _) = remote.blob(&wrong, 0).await.unwrap();
        let e = remote.stream_error(&bad, read_all(s).await.unwrap_err());
        assert_eq!(e.code, Code::FailedPrecondition, "{}", e.message);
        assert!(e.message.contains("digest"), "{}", e.message);
        // More bytes than the descriptor says.
        let short = Descriptor {
            size: 5,
            ..d.clone()
        };
        let (s, _) = remote.blob(&short, 0).await.unwrap();
        let e = remote.stream_error(&good, read_all(s).await.unwrap_err());
        assert_eq!(e.code, Code::FailedPrecondition, "{}", e.message);
        assert_eq!(tokens(&seen), 1);
        // Connections kept for the next request: fewer than the requests
        // (three at once need three).
        let (requests, connections) = {
            let seen = seen.lock().unwrap();
            (seen.len(), seen.iter().map(|r| r.conn).max().unwrap() + 1)
        };
        assert!(
            connections <= 3 && requests > 10,
            "{connections} for {requests}: {:?}",
            seen.lock()
                .unwrap()
                .iter()
                .map(|r| (r.conn, r.path.clone()))
                .collect::<Vec<_>>()
        );

        // An identity token: exchanged by POST.
        let remote = Remote::new(&image, &options("", "id+token"), "pull")
            .await
            .unwrap();
        remote.manifest(None).await.unwrap();
        assert!(seen.lock().unwrap().iter().any(|r| r.method == "POST"));

        // Wrong credentials: the realm's refusal, with its words.
        let e = Remote::new(&image, &options("u", "wrong"), "pull \"x\"")
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, Code::Unauthenticated, "{}", e.message);
        assert!(
            e.message.starts_with(&format!(
                "pull \"x\": authenticate: {host}: the token request failed"
            )) && e.message.contains("HTTP 401")
                && e.message.contains("incorrect username or password"),
            "{}",
            e.message
        );
    }

    /// A registry with basic auth redirects blobs to a host that answers
    /// 401 with a Bearer realm of its own: neither the credentials (from
    /// the options or the docker config) go to that realm nor its token to
    /// the registry; the pull fails naming the host.
    #[tokio::test]
    async fn credentials_stay_with_the_registry() {
        let (realm, at_realm) =
            fake_server(|_, _| json(200, r#"{"token":"foreign","access_token":"foreign"}"#)).await;
        let (storage, at_storage) = fake_server(move |_, _| {
            let challenge = format!(r#"Bearer realm="http://{realm}/token",service="s3""#);
            (401, vec![("WWW-Authenticate", challenge)], b"{}".to_vec())
        })
        .await;
        let basic = basic_auth("u", "p");
        let to = storage.clone();
        let (host, at_registry) = fake_server(move |r, _| {
            if r.header("authorization") != Some(basic.as_str()) {
                let challenge = r#"Basic realm="registry""#.to_string();
                return (401, vec![("WWW-Authenticate", challenge)], b"{}".to_vec());
            }
            match r.path.as_str() {
                "/v2/" => json(200, "{}"),
                _ => (
                    307,
                    vec![("Location", format!("http://{to}/blob?sig=1"))],
                    vec![],
                ),
            }
        })
        .await;
        let image = ImageRef::parse(&format!("{host}/ctrd/app:v1")).unwrap();
        let d = Descriptor {
            media_type: "application/octet-stream".into(),
            digest: digest_of(BLOB),
            size: BLOB.len() as i64,
            annotations: Default::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        let auths = format!(
            r#"{{"auths":{{"http://{host}/v2/":{{"auth":"{}"}}}}}}"#,
            base64::engine::general_purpose::STANDARD.encode("u:p")
        );
        let anonymous = PullOptions {
            plain_http: true,
            ..Default::default()
        };
        for from_config in [false, true] {
            let remote = match from_config {
                false => Remote::new(&image, &options("u", "p"), "pull").await,
                true => {
                    let config = docker_config(dir.path(), Some(&auths), &[]);
                    Remote::with_config(&image, &anonymous, "pull", config).await
                }
            };
            let remote = remote.unwrap();
            assert!(matches!(remote.creds, Credentials::Basic(..)));
            let e = remote.blob(&d, 0).await.err().unwrap();
            assert_eq!(e.code, Code::Unauthenticated, "{}", e.message);
            assert_eq!(
                e.message,
                format!(
                    "pull: fetch blob {}: redirected by {host} to {storage}, which asks for \
                     credentials (401 Unauthorized): the registry's are not sent there",
                    d.digest
                )
            );
        }
        assert_eq!(at_storage.lock().unwrap().len(), 2);
        assert!(at_storage
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.header("authorization").is_none()));
        let at_realm = at_realm.lock().unwrap();
        assert!(at_realm.is_empty(), "{at_realm:?}");
        let at_registry = at_registry.lock().unwrap();
        assert!(
            at_registry.iter().all(|r| r
                .header("authorization")
                .is_none_or(|a| a.starts_with("Basic "))),
            "{at_registry:?}"
        );
    }

    /// An https registry's credentials do not go to a plain http realm
    /// (none are sent there: the token request fails); without
    /// credentials, the realm is asked.
    #[tokio::test]
    async fn no_credentials_to_a_plain_http_realm_of_an_https_registry() {
        let (realm, at_realm) = fake_server(|_, _| json(200, r#"{"token":"t"}"#)).await;
        let image = ImageRef::parse("r.invalid/a:t").unwrap();
        let remote = |creds| Remote {
            http: Http::new(None, false).unwrap(),
            image: image.clone(),
            creds,
            base: Url::parse("https://r.invalid/").unwrap(),
            authorization: Mutex::new(None),
            what: "pull".into(),
        };
        let url = format!("http://{realm}/token");
        for creds in [
            Credentials::Basic("u".into(), "p".into()),
            Credentials::IdentityToken("refresh".into()),
        ] {
            match remote(creds).token(&url, None).await {
                Err(Failure::Token(why)) => assert_eq!(
                    why,
                    format!(
                        "the realm {url} is plain http, the registry https: \
                         its credentials are not sent there"
                    )
                ),
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
        assert!(at_realm.lock().unwrap().is_empty());
        let token = remote(Credentials::Anonymous).token(&url, None).await;
        assert_eq!(token.unwrap(), "t");
        // A plain http registry's realm may be plain http too.
        let mut plain = remote(Credentials::Basic("u".into(), "p".into()));
        plain.base.tls = false;
        assert_eq!(plain.token(&url, None).await.unwrap(), "t");
        let at_realm = at_realm.lock().unwrap();
        assert_eq!(at_realm.len(), 2);
        assert_eq!(
            at_realm[1].header("authorization"),
            Some(basic_auth("u", "p").as_str())
        );
    }

    /// A registry with basic auth: anonymous is told none were found,
    /// wrong credentials that they were refused, right ones get in.
    #[tokio::test]
    async fn basic_credentials() {
        let basic = basic_auth("u", "p");
        let (host, seen) = fake_server(move |r, _| match r.header("authorization") {
            Some(a) if a == basic => (200, vec![], MANIFEST.as_bytes().to_vec()),
            _ => (
                401,
                vec![("WWW-Authenticate", r#"Basic realm="fake""#.into())],
                b"{}".to_vec(),
            ),
        })
        .await;
        let image = ImageRef::parse(&format!("{host}/a:t")).unwrap();
        let anonymous = PullOptions {
            plain_http: true,
            ..Default::default()
        };
        // Not whatever this machine's docker config has.
        let http = Http::new(None, false).unwrap();
        let e = Remote::with_credentials(http, &image, &anonymous, "p", Credentials::Anonymous)
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, Code::Unauthenticated, "{}", e.message);
        assert!(e.message.contains("none were found"), "{}", e.message);
        let e = Remote::new(&image, &options("u", "x"), "p")
            .await
            .err()
            .unwrap();
        assert_eq!(e.code, Code::Unauthenticated, "{}", e.message);
        assert!(
            e.message
                .contains(&format!("{host} refused the credentials")),
            "{}",
            e.message
        );
        let remote = Remote::new(&image, &options("u", "p"), "p").await.unwrap();
        let m = remote.manifest(None).await.unwrap();
        assert_eq!(m.descriptor.digest, digest_of(MANIFEST.as_bytes()));
        assert!(seen.lock().unwrap().iter().all(|r| r.method == "GET"));
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
        let opts = PullOptions {
            plain_http: true,
            ..Default::default()
        };
        let proxies = Matcher::builder()
            .http(format!("http://pu:pp@{proxy}"))
            .build();
        let http = Http::new(None, false).unwrap().with_proxies(proxies);
        let remote = Remote::with_credentials(http, &image, &opts, "p", Credentials::Anonymous)
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
        let e = Remote::with_credentials(http, &image, &opts, "p", Credentials::Anonymous)
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
        let opts = PullOptions {
            plain_http: true,
            ..Default::default()
        };
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
        let e = Remote::with_credentials(http(), &image, &opts, "pull", creds)
            .await
            .err()
            .unwrap();
        check(e, start.elapsed(), "authenticate");
        // The manifest.
        let remote =
            Remote::with_credentials(http(), &image, &opts, "pull", Credentials::Anonymous)
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

    /// A ranged request answered 206 without a Content-Range (or with
    /// another start): which bytes came is not known, so it is refused,
    /// naming the host.
    #[tokio::test]
    async fn a_206_must_say_its_range() {
        let (host, _) = fake_server(|r, _| match (r.path.as_str(), r.header("range")) {
            ("/v2/", _) => json(200, "{}"),
            (p, _) if p.starts_with("/v2/a/blobs/sha256:aa") => (206, vec![], BLOB[4..].to_vec()),
            (_, _) => (
                206,
                vec![(
                    "Content-Range",
                    format!("bytes 3-{}/{}", BLOB.len() - 1, BLOB.len()),
                )],
                BLOB[3..].to_vec(),
            ),
        })
        .await;
        let image = ImageRef::parse(&format!("{host}/a:t")).unwrap();
        let opts = PullOptions {
            plain_http: true,
            ..Default::default()
        };
        let http = Http::new(None, false).unwrap();
        let remote = Remote::with_credentials(http, &image, &opts, "pull", Credentials::Anonymous)
            .await
            .unwrap();
        for (digest, says) in [
            (
                format!("sha256:{}", "a".repeat(64)),
                "answered 206 without a Content-Range",
            ),
            (
                format!("sha256:{}", "b".repeat(64)),
                "sent the range \"bytes 3-",
            ),
        ] {
            let d = Descriptor {
                media_type: "application/octet-stream".into(),
                digest: digest.clone(),
                size: BLOB.len() as i64,
                annotations: Default::default(),
            };
            let e = remote.blob(&d, 4).await.err().unwrap();
            assert!(
                e.message.contains(&format!("fetch blob {digest}"))
                    && e.message.contains(&host)
                    && e.message.contains(says),
                "{}",
                e.message
            );
        }
    }

    /// A docker schema 1 manifest by tag: its Docker-Content-Digest is not
    /// that of its bytes (signatures are left out), and what the caller
    /// hears is that the kind is not pulled, not a digest mismatch.
    #[tokio::test]
    async fn a_schema_1_manifest_is_not_implemented() {
        const V1: &str =
            r#"{"schemaVersion":1,"name":"a","tag":"old","fsLayers":[],"signatures":[{}]}"#;
        let (host, _) = fake_server(|r, _| match r.path.as_str() {
            "/v2/" => json(200, "{}"),
            _ => (
                200,
                vec![
                    (
                        "Content-Type",
                        "application/vnd.docker.distribution.manifest.v1+prettyjws".into(),
                    ),
                    (
                        "Docker-Content-Digest",
                        format!("sha256:{}", "c".repeat(64)),
                    ),
                ],
                V1.as_bytes().to_vec(),
            ),
        })
        .await;
        let opts = PullOptions {
            plain_http: true,
            ..Default::default()
        };
        for reference in ["a:old".to_string(), format!("a@sha256:{}", "d".repeat(64))] {
            let image = ImageRef::parse(&format!("{host}/{reference}")).unwrap();
            let http = Http::new(None, false).unwrap();
            let remote =
                Remote::with_credentials(http, &image, &opts, "pull", Credentials::Anonymous)
                    .await
                    .unwrap();
            let e = remote.manifest(None).await.err().unwrap();
            assert_eq!(e.code, Code::NotImplemented, "{reference}: {}", e.message);
            assert!(e.message.contains("schema 1"), "{}", e.message);
        }
    }
}
