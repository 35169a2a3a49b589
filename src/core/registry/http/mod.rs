//! A small HTTP/1.1 client, the one pulls talk to registries with: hyper's
//! connection-level API over TCP or rustls (the system's CAs plus the
//! caller's, or no verification at all), the proxies of `HTTP_PROXY`,
//! `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` (https through a CONNECT
//! tunnel, http in absolute form), redirects followed, connect and read
//! timeouts, and connections kept for the next request to the same origin.
//! Only what the distribution API needs: no cookies, compression or
//! HTTP/2.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Bytes, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderMap, HeaderName};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::core::files::read_small;
use crate::core::stall::{self, STALL_BYTES, STALL_WINDOW};

/// Every request's User-Agent.
pub const USER_AGENT: &str = concat!("containerd-c/", env!("CARGO_PKG_VERSION"));
/// How long a connection (TCP and TLS handshake) may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the server may send nothing while an answer's head is awaited.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a kept connection may take to be ready for the next request
/// before a new one is opened instead.
const READY_TIMEOUT: Duration = Duration::from_secs(5);
/// Redirects followed for one request, as Go's client.
const MAX_REDIRECTS: usize = 10;
/// Idle connections kept (all origins together).
const MAX_IDLE: usize = 8;
/// Most of an error answer's body read for its message.
const MAX_ERROR_BODY: usize = 64 << 10;
/// Most of a proxy's answer to CONNECT read.
const MAX_TUNNEL_ANSWER: usize = 16 << 10;

/// An absolute http or https URL, split as a request needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// https.
    pub tls: bool,
    /// `host[:port]`.
    pub authority: String,
    /// The path and query (`/v2/`, `/token?service=x`).
    pub path: String,
}

impl Url {
    /// `s` when it is an absolute http or https URL (no user info).
    pub fn parse(s: &str) -> Option<Url> {
        let lower = |n: usize| s.get(..n).map(str::to_ascii_lowercase);
        let (tls, rest) = if lower(8).as_deref() == Some("https://") {
            (true, &s[8..])
        } else if lower(7).as_deref() == Some("http://") {
            (false, &s[7..])
        } else {
            return None;
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let authority = &rest[..end];
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let url = Url {
            tls,
            authority: authority.to_string(),
            path: path_of(&rest[end..]),
        };
        url.usable().then_some(url)
    }

    /// Where redirect `location` (absolute, or relative to this URL) points.
    pub fn join(&self, location: &str) -> Option<Url> {
        let location = location.trim();
        // A scheme (before any slash, query or fragment): absolute.
        let head = &location[..location.find(['/', '?', '#']).unwrap_or(location.len())];
        if head.contains(':') {
            return Url::parse(location);
        }
        let scheme = if self.tls { "https:" } else { "http:" };
        if location.starts_with("//") {
            return Url::parse(&format!("{scheme}{location}"));
        }
        let path = if location.starts_with('/') {
            path_of(location)
        } else {
            // Relative to the current path's directory.
            let base = self.path.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            path_of(&format!("{dir}{location}"))
        };
        let url = Url {
            path,
            ..self.clone()
        };
        url.usable().then_some(url)
    }

    /// `scheme://authority`: what a connection is to, and whose requests
    /// may carry the credentials.
    pub fn origin(&self) -> String {
        format!(
            "{}://{}",
            if self.tls { "https" } else { "http" },
            self.authority
        )
    }

    /// The URL for messages: without its query, which may hold signatures.
    pub fn shown(&self) -> String {
        format!(
            "{}{}",
            self.origin(),
            self.path.split('?').next().unwrap_or("")
        )
    }

    /// `host:port`, the port said even when it is the scheme's (what a
    /// CONNECT names).
    fn authority_with_port(&self) -> Option<String> {
        let (_, port) = self.host_port()?;
        let bare = match self.authority.rsplit_once(':') {
            Some((h, p)) if !p.ends_with(']') && !h.is_empty() => h,
            _ => &self.authority,
        };
        Some(format!("{bare}:{port}"))
    }

    /// The host to connect to (no brackets around an IPv6 address) and the
    /// port.
    fn host_port(&self) -> Option<(&str, u16)> {
        let a = self.authority.as_str();
        let default = if self.tls { 443 } else { 80 };
        let (host, port) = if let Some(rest) = a.strip_prefix('[') {
            let (host, after) = rest.split_once(']')?;
            (host, after.strip_prefix(':'))
        } else {
            match a.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (a, None),
            }
        };
        let port = match port {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        (!host.is_empty()).then_some((host, port))
    }

    /// Whether the URL can go in a request line and a Host header.
    fn usable(&self) -> bool {
        let ok = |s: &str| s.bytes().all(|b| b.is_ascii_graphic());
        ok(&self.authority) && ok(&self.path) && self.host_port().is_some()
    }
}

/// `s` (`/path?query#fragment`, or empty) as a request's path and query.
fn path_of(s: &str) -> String {
    let s = s.split('#').next().unwrap_or("");
    if s.starts_with('/') {
        s.to_string()
    } else {
        format!("/{s}")
    }
}

/// Appends `value` to `out` percent-encoded for a query or a form: all but
/// letters, digits and `-._~`.
pub fn query_escape(out: &mut String, value: &str) {
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// Why a request failed.
#[derive(Debug)]
pub enum HttpError {
    /// The exchange with `authority` failed while `doing` (`connect to
    /// host:port`, `GET url`): refused, reset, TLS, a malformed answer.
    Io {
        authority: String,
        doing: String,
        error: io::Error,
    },
    /// Nothing came in time: what was awaited.
    Timeout(String),
    /// A URL or an answer this client cannot use.
    Invalid(String),
}

/// What a connection's requests are sent through.
type Sender = SendRequest<Full<Bytes>>;

/// The connections idle after their last answer, with their origins.
type Idle = Mutex<Vec<(String, Sender)>>;

/// Any byte stream a connection runs over (TCP, TLS over TCP).
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The HTTP client of one pull: its TLS settings and kept connections.
pub struct Http {
    /// The caller's CAs (`ca_file`), trusted besides the system's.
    extra_roots: RootCertStore,
    /// Accept any certificate.
    skip_verify: bool,
    /// The TLS settings, made for the first https connection.
    tls: OnceLock<Result<Arc<ClientConfig>, String>>,
    /// The proxies the environment names, as Go's and reqwest's clients
    /// take them.
    proxies: Matcher,
    idle: Arc<Idle>,
    /// The window of the low-speed rule: [`STALL_WINDOW`] (shorter in
    /// tests).
    stall_window: Duration,
}

impl Http {
    /// A client trusting the system's CAs and those in PEM file `ca_file`,
    /// or any certificate with `skip_verify`. Fails (with words for the
    /// caller) when `ca_file` cannot be read or holds no usable
    /// certificate.
    pub fn new(ca_file: Option<&Path>, skip_verify: bool) -> Result<Http, String> {
        let mut extra_roots = RootCertStore::empty();
        if let Some(path) = ca_file {
            let shown = path.display();
            let pem = read_small(path, "ca_file")
                .map_err(|e| e.message)?
                .ok_or_else(|| format!("ca_file {shown}: no such file"))?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| format!("ca_file {shown}: {e}"))?;
                extra_roots
                    .add(cert)
                    .map_err(|e| format!("ca_file {shown}: a certificate: {e}"))?;
            }
            if extra_roots.is_empty() {
                return Err(format!("ca_file {shown} holds no PEM certificate"));
            }
        }
        Ok(Http {
            extra_roots,
            skip_verify,
            tls: OnceLock::new(),
            proxies: Matcher::from_env(),
            idle: Arc::default(),
            stall_window: STALL_WINDOW,
        })
    }

    /// The same client with the proxies of `proxies` instead of the
    /// environment's.
    #[cfg(test)]
    pub(crate) fn with_proxies(mut self, proxies: Matcher) -> Http {
        self.proxies = proxies;
        self
    }

    /// The same client with a low-speed window of `window` instead of
    /// [`STALL_WINDOW`], so that tests of the rule take seconds.
    #[cfg(test)]
    pub(crate) fn with_stall_window(mut self, window: Duration) -> Http {
        self.stall_window = window;
        self
    }

    /// The proxy for `url`'s origin, if any.
    fn proxy(&self, url: &Url) -> Option<Intercept> {
        let origin: hyper::Uri = url.origin().parse().ok()?;
        self.proxies.intercept(&origin)
    }

    /// `io` with a TLS session to `host` over it.
    async fn tls_over(&self, io: Box<dyn Io>, host: &str) -> io::Result<Box<dyn Io>> {
        let config = self.tls_config()?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, io)
            .await?;
        Ok(Box::new(tls))
    }

    /// The TLS settings: ring's algorithms, TLS 1.2 and 1.3, HTTP/1.1 by
    /// ALPN, the system's CAs and the caller's (read once, at the first
    /// https connection).
    fn tls_config(&self) -> io::Result<Arc<ClientConfig>> {
        self.tls
            .get_or_init(|| {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let builder = ClientConfig::builder_with_provider(provider.clone())
                    .with_safe_default_protocol_versions()
                    .map_err(|e| format!("TLS settings: {e}"))?;
                let mut config = if self.skip_verify {
                    builder
                        .dangerous()
                        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                        .with_no_client_auth()
                } else {
                    let mut roots = self.extra_roots.clone();
                    // Certificates the system has that do not parse are
                    // left out, as Go does.
                    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
                    builder.with_root_certificates(roots).with_no_client_auth()
                };
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Ok(Arc::new(config))
            })
            .clone()
            .map_err(io::Error::other)
    }

    /// Opens a connection to `url`'s origin: directly, or through its
    /// proxy (a CONNECT tunnel for https).
    async fn connect(&self, url: &Url) -> Result<Sender, HttpError> {
        let (host, port) = url
            .host_port()
            .ok_or_else(|| HttpError::Invalid(format!("{}: no host and port", url.shown())))?;
        let proxy = self.proxy(url);
        let doing = match &proxy {
            Some(p) => format!("connect to {} through proxy {}", url.authority, p.uri()),
            None => format!("connect to {}", url.authority),
        };
        let open = async {
            let stream: Box<dyn Io> = match &proxy {
                None => {
                    let tcp = tcp(host, port).await?;
                    if url.tls {
                        self.tls_over(tcp, host).await?
                    } else {
                        tcp
                    }
                }
                Some(p) => {
                    let proxy_url = Url::parse(&p.uri().to_string()).ok_or_else(|| {
                        io::Error::new(
                            io::ErrorKind::Unsupported,
                            format!(
                                "proxy {}: only http and https proxies are supported",
                                p.uri()
                            ),
                        )
                    })?;
                    let (proxy_host, proxy_port) = proxy_url.host_port().ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidInput, "a proxy without a host")
                    })?;
                    let mut stream = tcp(proxy_host, proxy_port).await?;
                    if proxy_url.tls {
                        stream = self.tls_over(stream, proxy_host).await?;
                    }
                    if url.tls {
                        let target = url.authority_with_port().unwrap_or_default();
                        tunnel(&mut stream, &target, p.basic_auth()).await?;
                        self.tls_over(stream, host).await?
                    } else {
                        stream
                    }
                }
            };
            let (sender, connection) = http1::handshake(TokioIo::new(stream))
                .await
                .map_err(io::Error::other)?;
            // Runs until the connection closes: the server closed it, or
            // its sender and answers are gone.
            tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok::<_, io::Error>(sender)
        };
        match timeout(CONNECT_TIMEOUT, open).await {
            Ok(Ok(sender)) => Ok(sender),
            Ok(Err(error)) => Err(HttpError::Io {
                authority: url.authority.clone(),
                doing,
                error,
            }),
            Err(_) => Err(HttpError::Timeout(format!(
                "{doing}: no connection in {}s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// A kept connection to `origin` ready for a request, if there is one.
    async fn kept(&self, origin: &str) -> Option<Sender> {
        loop {
            let mut sender = {
                let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
                let i = idle.iter().rposition(|(o, _)| o == origin)?;
                idle.swap_remove(i).1
            };
            if let Ok(Ok(())) = timeout(READY_TIMEOUT, sender.ready()).await {
                return Some(sender);
            }
        }
    }

    /// Sends one request (`headers` besides Host and User-Agent) and
    /// returns the answer, its body unread: on a kept connection to the
    /// origin when there is one, else on a new connection. Should the kept
    /// connection fail before any answer, the request goes again on a new
    /// one only when it was not sent (hyper gives it back) or is a GET or
    /// HEAD: a POST (a token request) the server may have processed is not
    /// sent twice.
    pub async fn request(
        &self,
        method: Method,
        url: &Url,
        headers: &[(HeaderName, &str)],
        body: Bytes,
    ) -> Result<Answer, HttpError> {
        let origin = url.origin();
        let doing = format!("{method} {}", url.shown());
        // Through a proxy, plain http goes in absolute form.
        let forward = if url.tls { None } else { self.proxy(url) };
        let target = match forward {
            Some(_) => format!("{origin}{}", url.path),
            None => url.path.clone(),
        };
        let build = || {
            let mut r = Request::builder()
                .method(method.clone())
                .uri(target.as_str())
                .header(header::HOST, url.authority.as_str())
                .header(header::USER_AGENT, USER_AGENT);
            if let Some(auth) = forward.as_ref().and_then(Intercept::basic_auth) {
                r = r.header(header::PROXY_AUTHORIZATION, auth);
            }
            for (name, value) in headers {
                r = r.header(name, *value);
            }
            r.body(Full::new(body.clone()))
                .map_err(|e| HttpError::Invalid(format!("{doing}: {e}")))
        };
        let mut reused = self.kept(&origin).await;
        loop {
            let fresh = reused.is_none();
            let mut sender = match reused.take() {
                Some(s) => s,
                None => self.connect(url).await?,
            };
            let request = build()?;
            match timeout(READ_TIMEOUT, sender.try_send_request(request)).await {
                Ok(Ok(response)) => {
                    let (parts, body) = response.into_parts();
                    let mut answer = Answer {
                        url: url.clone(),
                        status: parts.status,
                        headers: parts.headers,
                        body,
                        conn: Some((self.idle.clone(), origin, sender)),
                        meter: Meter::new(&url.authority, self.stall_window),
                    };
                    if answer.body.is_end_stream() {
                        answer.keep();
                    }
                    return Ok(answer);
                }
                // A kept connection the server closed meanwhile: again on
                // a new one, if the request was not sent or may go twice.
                Ok(Err(e))
                    if !fresh
                        && (e.message().is_some()
                            || method == Method::GET
                            || method == Method::HEAD) =>
                {
                    continue
                }
                Ok(Err(e)) => {
                    return Err(HttpError::Io {
                        authority: url.authority.clone(),
                        doing,
                        error: io::Error::other(e.into_error()),
                    })
                }
                Err(_) => {
                    return Err(HttpError::Timeout(format!(
                        "{doing}: no answer in {}s",
                        READ_TIMEOUT.as_secs()
                    )))
                }
            }
        }
    }

    /// GETs `url`, following redirects; `authorization` goes only to
    /// `url`'s origin (a blob's redirect to object storage must not carry
    /// the registry's credentials).
    pub async fn get(
        &self,
        url: &Url,
        headers: &[(HeaderName, &str)],
        authorization: Option<&str>,
    ) -> Result<Answer, HttpError> {
        let origin = url.origin();
        let mut url = url.clone();
        let mut all = headers.to_vec();
        for _ in 0..=MAX_REDIRECTS {
            all.truncate(headers.len());
            if let Some(a) = authorization.filter(|_| url.origin() == origin) {
                all.push((header::AUTHORIZATION, a));
            }
            let mut answer = self.request(Method::GET, &url, &all, Bytes::new()).await?;
            if !matches!(answer.status.as_u16(), 301 | 302 | 303 | 307 | 308) {
                return Ok(answer);
            }
            // Read, so that the connection serves the next request.
            answer.text().await;
            let next = answer.header(header::LOCATION).and_then(|l| url.join(l));
            url = next.ok_or_else(|| {
                HttpError::Invalid(format!(
                    "GET {}: HTTP {} without a usable Location",
                    url.shown(),
                    answer.status.as_u16()
                ))
            })?;
        }
        Err(HttpError::Invalid(format!(
            "GET {}: more than {MAX_REDIRECTS} redirects",
            url.shown()
        )))
    }
}

/// A TCP connection to `host:port`.
async fn tcp(host: &str, port: u16) -> io::Result<Box<dyn Io>> {
    let tcp = TcpStream::connect((host, port)).await?;
    let _ = tcp.set_nodelay(true);
    Ok(Box::new(tcp))
}

/// Asks the proxy at the other end of `io` for a tunnel to `target`
/// (`host:port`): CONNECT, with the proxy's credentials when it has some.
async fn tunnel(
    io: &mut Box<dyn Io>,
    target: &str,
    auth: Option<&header::HeaderValue>,
) -> io::Result<()> {
    let mut ask =
        format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\nUser-Agent: {USER_AGENT}\r\n");
    if let Some(auth) = auth.and_then(|a| a.to_str().ok()) {
        ask.push_str(&format!("Proxy-Authorization: {auth}\r\n"));
    }
    ask.push_str("\r\n");
    io.write_all(ask.as_bytes()).await?;
    // The answer's head. After a 2xx the proxy sends nothing until the TLS
    // handshake begins; any other answer may have a body (which is not
    // waited for: the head says all there is to say).
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    let end = loop {
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if head.len() > MAX_TUNNEL_ANSWER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the proxy's answer to CONNECT is too long",
            ));
        }
        let n = io.read(&mut buf).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the proxy closed the connection before answering CONNECT",
            ));
        }
        head.extend_from_slice(&buf[..n]);
    };
    let after = head.len() - end;
    let head = String::from_utf8_lossy(&head[..end]);
    let status = head.lines().next().unwrap_or("");
    match status.split(' ').nth(1) {
        Some(code) if code.starts_with('2') && after == 0 => Ok(()),
        Some(code) if code.starts_with('2') => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("the proxy sent {after} bytes after its answer to CONNECT ({status})"),
        )),
        Some("407") => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!(
                "the proxy {} for the tunnel to {target} ({status})",
                match auth {
                    Some(_) => "refused the credentials",
                    None => "asks for credentials",
                }
            ),
        )),
        _ => Err(io::Error::new(
            io::ErrorKind::ConnectionRefused,
            format!("the proxy refused the tunnel to {target}: {status}"),
        )),
    }
}

/// An answer whose body is read as needed. Its connection is kept for the
/// next request once the body has been read to its end.
pub struct Answer {
    /// The URL that answered (after redirects, where they led).
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    body: Incoming,
    /// Where the connection goes back to, its origin, and its sender.
    conn: Option<(Arc<Idle>, String, Sender)>,
    /// The low-speed rule for the body.
    meter: Meter,
}

/// A body read cut by the low-speed rule ([`STALL_BYTES`]): an
/// `io::Error` of kind `TimedOut` carries it.
#[derive(Debug)]
pub struct Stalled(String);

impl std::fmt::Display for Stalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Stalled {}

/// Whether `e` is a body read cut by the low-speed rule.
pub fn is_stalled(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Stalled>())
}

/// The low-speed rule's count for one body (`core::stall`), with the host
/// it comes from for the error.
struct Meter {
    authority: String,
    count: stall::Meter,
}

impl Meter {
    fn new(authority: &str, window: Duration) -> Meter {
        Meter {
            authority: authority.to_string(),
            count: stall::Meter::new(window),
        }
    }

    /// When the current window ends.
    fn end(&self) -> tokio::time::Instant {
        tokio::time::Instant::from_std(self.count.end())
    }

    /// Counts `n` bytes just received; the error when the window ended
    /// with too few.
    fn add(&mut self, n: usize) -> io::Result<()> {
        if self.count.add(n) {
            Ok(())
        } else {
            Err(self.stalled())
        }
    }

    fn stalled(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            Stalled(format!(
                "the transfer from {} stalled: fewer than {STALL_BYTES} bytes in {} s",
                self.authority,
                self.count.window().as_secs_f64()
            )),
        )
    }
}

impl Answer {
    /// The `host[:port]` that sent the answer (after redirects).
    pub fn authority(&self) -> &str {
        &self.meter.authority
    }

    /// Header `name`'s value, when there is one and it is text.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The next piece of the body, `None` at its end; an error when the
    /// connection fails or the body stalls (fewer than [`STALL_BYTES`] in
    /// the low-speed window: see [`is_stalled`]).
    pub async fn chunk(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            match tokio::time::timeout_at(self.meter.end(), self.body.frame()).await {
                Err(_) => return Err(self.meter.stalled()),
                Ok(None) => {
                    self.keep();
                    return Ok(None);
                }
                Ok(Some(Err(e))) => return Err(io::Error::other(e)),
                Ok(Some(Ok(frame))) => {
                    // Trailers carry nothing this client needs.
                    if let Ok(data) = frame.into_data() {
                        self.meter.add(data.len())?;
                        return Ok(Some(data));
                    }
                }
            }
        }
    }

    /// The whole body, or `None` when it has more than `cap` bytes.
    pub async fn read(&mut self, cap: usize) -> io::Result<Option<Vec<u8>>> {
        let mut out = Vec::new();
        while let Some(chunk) = self.chunk().await? {
            if out.len() + chunk.len() > cap {
                return Ok(None);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Some(out))
    }

    /// The body as text for a message (its start when long; what came
    /// before a failure).
    pub async fn text(&mut self) -> String {
        let mut out = Vec::new();
        while let Ok(Some(chunk)) = self.chunk().await {
            out.extend_from_slice(&chunk);
            if out.len() >= MAX_ERROR_BODY {
                out.truncate(MAX_ERROR_BODY);
                break;
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Hands the connection back for the next request, unless it is
    /// closing.
    fn keep(&mut self) {
        if let Some((idle, origin, sender)) = self.conn.take() {
            if sender.is_closed() {
                return;
            }
            let mut idle = idle.lock().unwrap_or_else(PoisonError::into_inner);
            if idle.len() >= MAX_IDLE {
                idle.remove(0);
            }
            idle.push((origin, sender));
        }
    }
}

/// The verifier of `skip_verify`: any certificate is accepted for any name,
/// but the handshake's signatures are still checked with the provider's
/// algorithms (the connection is at least with the certificate's key).
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_and_join() {
        let u = Url::parse("HTTPS://auth.example:8443/token?a=1#x").unwrap();
        assert_eq!(
            (u.tls, u.authority.as_str(), u.path.as_str()),
            (true, "auth.example:8443", "/token?a=1")
        );
        assert_eq!(u.host_port(), Some(("auth.example", 8443)));
        assert_eq!(u.shown(), "https://auth.example:8443/token");
        let u = Url::parse("http://h").unwrap();
        assert_eq!((u.path.as_str(), u.host_port()), ("/", Some(("h", 80))));
        let u = Url::parse("https://[::1]/x").unwrap();
        assert_eq!(u.host_port(), Some(("::1", 443)));
        for bad in [
            "ftp://h/",
            "h/x",
            "https://",
            "http://u:p@h/",
            "http://h:x/",
            "http://h/a b",
        ] {
            assert_eq!(Url::parse(bad), None, "{bad}");
        }
        let base = Url::parse("http://r:5000/v2/a/blobs/sha256:1").unwrap();
        let j = |l: &str| base.join(l).map(|u| format!("{}{}", u.origin(), u.path));
        assert_eq!(j("https://s3/x?sig=1").unwrap(), "https://s3/x?sig=1");
        assert_eq!(j("//cdn:81/y").unwrap(), "http://cdn:81/y");
        assert_eq!(j("/v2/b").unwrap(), "http://r:5000/v2/b");
        assert_eq!(j("c?d").unwrap(), "http://r:5000/v2/a/blobs/c?d");
        assert_eq!(j("http://h:99999/"), None);
        let mut q = String::new();
        query_escape(&mut q, "repository:a/b:pull x~");
        assert_eq!(q, "repository%3Aa%2Fb%3Apull%20x~");
    }

    #[test]
    fn a_ca_file_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        let e = Http::new(Some(&missing), false).err().unwrap();
        assert!(e.contains("none.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = Http::new(Some(&empty), false).err().unwrap();
        assert!(e.contains("holds no PEM certificate"), "{e}");
        let bad = dir.path().join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = Http::new(Some(&bad), false).err().unwrap();
        assert!(e.contains("bad.pem"), "{e}");
        // Read as a small regular file: not /dev/zero without end.
        let e = Http::new(Some(Path::new("/dev/zero")), false)
            .err()
            .unwrap();
        assert_eq!(e, "ca_file /dev/zero: not a regular file");
        assert!(Http::new(None, true).is_ok());
    }

    /// A proxy on 127.0.0.1 that answers one CONNECT with `answer` and then
    /// echoes what comes; returns its address and the CONNECT's head.
    async fn connect_proxy(
        answer: &'static str,
    ) -> (String, tokio::sync::oneshot::Receiver<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            let mut b = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if conn.read(&mut b).await.unwrap() == 0 {
                    return;
                }
                head.push(b[0]);
            }
            let _ = tx.send(String::from_utf8(head).unwrap());
            conn.write_all(answer.as_bytes()).await.unwrap();
            let mut buf = [0u8; 64];
            while let Ok(n) = conn.read(&mut buf).await {
                if n == 0 || conn.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        });
        (addr, rx)
    }

    /// A server on 127.0.0.1 that answers each request "ok" on a kept
    /// connection, except that it closes the connection without an answer
    /// after reading the `close_at`-th request (counted from 1 over all
    /// connections). Returns its address and the methods it read.
    async fn closing_server(close_at: usize) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    loop {
                        let mut head = Vec::new();
                        let mut b = [0u8; 1];
                        while !head.ends_with(b"\r\n\r\n") {
                            if conn.read(&mut b).await.unwrap_or(0) == 0 {
                                return;
                            }
                            head.push(b[0]);
                        }
                        let head = String::from_utf8_lossy(&head).to_lowercase();
                        let length = head
                            .split("\r\n")
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map_or(0, |n| n.trim().parse().unwrap());
                        let mut body = vec![0u8; length];
                        conn.read_exact(&mut body).await.unwrap();
                        let n = {
                            let mut log = log.lock().unwrap();
                            log.push(head.split(' ').next().unwrap().to_uppercase());
                            log.len()
                        };
                        if n == close_at {
                            return; // closed, unanswered
                        }
                        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if conn.write_all(ok.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (addr, seen)
    }

    #[tokio::test]
    async fn a_post_is_not_sent_twice_after_a_kept_connection_fails() {
        let http = Http::new(None, false).unwrap();
        // The POST closes the kept connection: it fails, sent once.
        let (addr, seen) = closing_server(2).await;
        let url = Url::parse(&format!("http://{addr}/token")).unwrap();
        let mut a = http.get(&url, &[], None).await.unwrap();
        assert_eq!(a.text().await, "ok");
        let e = http
            .request(Method::POST, &url, &[], Bytes::from_static(b"grant_type=x"))
            .await
            .err()
            .unwrap();
        assert!(matches!(e, HttpError::Io { .. }), "{e:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(*seen.lock().unwrap(), ["GET", "POST"]);

        // A GET that meets the same goes again on a new connection.
        let (addr, seen) = closing_server(2).await;
        let url = Url::parse(&format!("http://{addr}/v2/")).unwrap();
        for _ in 0..2 {
            let mut a = http.get(&url, &[], None).await.unwrap();
            assert_eq!(a.text().await, "ok");
        }
        assert_eq!(*seen.lock().unwrap(), ["GET", "GET", "GET"]);
    }

    #[tokio::test]
    async fn tunnels_through_a_proxy() {
        let auth = header::HeaderValue::from_static("Basic cHU6cHA=");
        let (addr, head) = connect_proxy("HTTP/1.1 200 Connection established\r\n\r\n").await;
        let (host, port) = addr.rsplit_once(':').unwrap();
        let mut io = tcp(host, port.parse().unwrap()).await.unwrap();
        tunnel(&mut io, "registry.example:443", Some(&auth))
            .await
            .unwrap();
        let head = head.await.unwrap();
        assert!(
            head.starts_with("CONNECT registry.example:443 HTTP/1.1\r\n")
                && head.contains("\r\nHost: registry.example:443\r\n")
                && head.contains("\r\nProxy-Authorization: Basic cHU6cHA=\r\n"),
            "{head}"
        );
        // The tunnel carries bytes both ways.
        io.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        io.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");

        let (addr, _) = connect_proxy("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").await;
        let (host, port) = addr.rsplit_once(':').unwrap();
        let mut io = tcp(host, port.parse().unwrap()).await.unwrap();
        let e = tunnel(&mut io, "r:443", None).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert!(e.to_string().contains("407"), "{e}");

        // A 407 with a body, the connection left open: at once, naming the
        // proxy and the status (not after the connect timeout).
        let (addr, _) = connect_proxy(
            "HTTP/1.1 407 Proxy Authentication Required\r\n\
             Proxy-Authenticate: Basic realm=\"p\"\r\nContent-Length: 12\r\n\r\n\
             go away now!",
        )
        .await;
        let proxies = Matcher::builder().https(format!("http://{addr}")).build();
        let http = Http::new(None, false).unwrap().with_proxies(proxies);
        let url = Url::parse("https://registry.invalid/v2/").unwrap();
        let start = std::time::Instant::now();
        let e = http.get(&url, &[], None).await.err().unwrap();
        let took = start.elapsed();
        eprintln!("a 407 with a body came back in {took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        match e {
            HttpError::Io { doing, error, .. } => {
                assert!(
                    doing.contains(&format!("through proxy http://{addr}")),
                    "{doing}"
                );
                let error = error.to_string();
                assert!(
                    error.contains("the proxy asks for credentials")
                        && error.contains("407 Proxy Authentication Required"),
                    "{error}"
                );
            }
            e => panic!("{e:?}"),
        }

        // What a CONNECT names: the port always.
        let t = |s: &str| Url::parse(s).unwrap().authority_with_port().unwrap();
        assert_eq!(t("https://r.example/v2/"), "r.example:443");
        assert_eq!(t("https://r.example:5000/"), "r.example:5000");
        assert_eq!(t("https://[::1]/"), "[::1]:443");
        assert_eq!(t("https://[::1]:5000/"), "[::1]:5000");
    }
}
