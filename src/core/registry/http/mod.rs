//! A small HTTP/1.1 client, the one pulls talk to registries with: hyper's
//! connection-level API over TCP or rustls (the system's CAs plus the
//! caller's, or no verification at all; a client certificate for servers
//! that ask for one), the proxies of `HTTP_PROXY`,
//! `HTTPS_PROXY`, `ALL_PROXY` and `NO_PROXY` (https through a CONNECT
//! tunnel, http in absolute form), redirects followed, connect and read
//! timeouts, and connections kept for the next request to the same origin.
//! Only what the distribution API needs: no cookies, compression or
//! HTTP/2.
//!
//! Here: the client and its requests (redirects, the retry on a kept
//! connection); `url` (parsing, joining, origins), `connect` (opening and
//! reusing connections), `proxy` (which proxy, the CONNECT tunnel), `tls`
//! (rustls settings, CAs), `answer` (bodies under the low-speed rule, the
//! bounded reader [`Answer::read`]).
//!
//! Owns: the kept connections of one client and its TLS settings. Knows
//! nothing of registries: the registry client above decides what to ask and
//! where credentials go ([`Http::get`] sends an Authorization only to the
//! origin it was given). May call: `core::files` (the CA file),
//! `core::stall` (the low-speed rule); nothing else of the crate.

mod answer;
mod body;
mod connect;
mod proxy;
mod tls;
mod url;

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hyper::body::{Body, Bytes};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{self, HeaderName};
use hyper::{Method, Request};
use hyper_util::client::proxy::matcher::{Intercept, Matcher};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::timeout;

use crate::core::stall::STALL_WINDOW;
use answer::Meter;
pub use answer::{is_stalled, Answer};
pub use body::{BodyStream, Payload};
pub use tls::TlsFiles;
pub use url::{query_escape, Url};

/// Every request's User-Agent.
pub const USER_AGENT: &str = concat!("containerd-c/", env!("CARGO_PKG_VERSION"));
/// How long the server may send nothing while an answer's head is awaited
/// (after a streamed body: the low-speed window, as long).
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Redirects followed for one request, as Go's client.
const MAX_REDIRECTS: usize = 10;
/// Idle connections kept (all origins together).
const MAX_IDLE: usize = 8;

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
type Sender = SendRequest<body::ReqBody>;

/// The connections idle after their last answer, with their origins.
type Idle = Mutex<Vec<(String, Sender)>>;

/// Any byte stream a connection runs over (TCP, TLS over TCP).
trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// The HTTP client of one pull: its TLS settings and kept connections.
pub struct Http {
    /// The caller's CAs (`ca_file`, a host's `ca`), trusted besides the
    /// system's.
    extra_roots: RootCertStore,
    /// Accept any certificate.
    skip_verify: bool,
    /// Offered to servers that ask for a client certificate: the first
    /// the server takes.
    client_certs: Vec<Arc<CertifiedKey>>,
    /// How long a connection may take to open.
    connect_timeout: Duration,
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
        Http::with_tls(&TlsFiles {
            ca: ca_file
                .map(|p| (p.to_path_buf(), "ca_file"))
                .into_iter()
                .collect(),
            skip_verify,
            client: Vec::new(),
        })
    }

    /// A client with the TLS settings of `files`: its CAs and client
    /// certificate read now. Fails (with words for the caller) when a file
    /// cannot be read or holds nothing usable, or the client key is not the
    /// certificate's.
    pub fn with_tls(files: &TlsFiles) -> Result<Http, String> {
        let client_certs = files
            .client
            .iter()
            .map(|(cert, key)| tls::client_cert(cert, key.as_deref()))
            .collect::<Result<_, _>>()?;
        Ok(Http {
            extra_roots: tls::extra_roots(&files.ca)?,
            skip_verify: files.skip_verify,
            client_certs,
            connect_timeout: connect::CONNECT_TIMEOUT,
            tls: OnceLock::new(),
            proxies: Matcher::from_env(),
            idle: Arc::default(),
            stall_window: STALL_WINDOW,
        })
    }

    /// The same client with connections given `limit` to open instead of
    /// 30 s (a host's `dial_timeout`).
    pub fn with_connect_timeout(mut self, limit: Duration) -> Http {
        self.connect_timeout = limit;
        self
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

    /// Sends one request (`headers` besides Host and User-Agent) and
    /// returns the answer, its body unread: on a kept connection to the
    /// origin when there is one, else on a new connection. Should the kept
    /// connection fail before any answer, the request goes again on a new
    /// one only when it was not sent (hyper gives it back) or is a GET or
    /// HEAD: a POST (a token request) the server may have processed is not
    /// sent twice, and neither is a streamed body.
    ///
    /// The answer's head is awaited at most 60 s; with a streamed body, as
    /// long as the body moves (the low-speed rule, as for answers: the
    /// error names the host) and then one low-speed window (60 s too).
    pub async fn request(
        &self,
        method: Method,
        url: &Url,
        headers: &[(HeaderName, &str)],
        body: impl Into<Payload>,
    ) -> Result<Answer, HttpError> {
        let origin = url.origin();
        let doing = format!("{method} {}", url.shown());
        // Through a proxy, plain http goes in absolute form.
        let forward = if url.tls { None } else { self.proxy(url) };
        let target = match forward {
            Some(_) => format!("{origin}{}", url.path),
            None => url.path.clone(),
        };
        // Bytes are sent again as they are; a stream once, its flow
        // watched.
        let (bytes, mut stream, watch) = match body.into() {
            Payload::Bytes(b) => (Some(b), None, None),
            Payload::Stream(s) => {
                let length = headers
                    .iter()
                    .find(|(n, _)| *n == header::CONTENT_LENGTH)
                    .and_then(|(_, v)| v.parse().ok());
                let (body, watch) = body::metered(s, length, self.stall_window);
                (None, Some(body), Some(watch))
            }
        };
        let build = |body: body::ReqBody| {
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
            r.body(body)
                .map_err(|e| HttpError::Invalid(format!("{doing}: {e}")))
        };
        let mut reused = self.kept(&origin).await;
        loop {
            let fresh = reused.is_none();
            let mut sender = match reused.take() {
                Some(s) => s,
                None => self.connect(url).await?,
            };
            let body = match (&bytes, stream.take()) {
                (Some(b), _) => body::whole(b.clone()),
                (None, Some(s)) => s,
                (None, None) => {
                    return Err(HttpError::Invalid(format!("{doing}: the body is gone")))
                }
            };
            let request = build(body)?;
            let sent = sender.try_send_request(request);
            let answered = match &watch {
                None => timeout(READ_TIMEOUT, sent).await.map_err(|_| {
                    HttpError::Timeout(format!("{doing}: no answer in {}s", READ_TIMEOUT.as_secs()))
                })?,
                Some(watch) => {
                    tokio::pin!(sent);
                    loop {
                        let until = match body::next_wait(watch, &url.authority) {
                            body::Wait::Until(at) => at,
                            body::Wait::Fail(error) => {
                                return Err(HttpError::Io {
                                    authority: url.authority.clone(),
                                    doing,
                                    error,
                                })
                            }
                        };
                        tokio::select! {
                            r = &mut sent => break r,
                            _ = tokio::time::sleep_until(until) => {}
                        }
                    }
                }
            };
            match answered {
                Ok(response) => {
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
                // a new one, if the request was not sent (a stream comes
                // back with it) or may go twice.
                Err(mut e)
                    if !fresh
                        && (e.message().is_some()
                            || method == Method::GET
                            || method == Method::HEAD) =>
                {
                    if let (None, Some(request)) = (&bytes, e.take_message()) {
                        stream = Some(request.into_body());
                    }
                    continue;
                }
                Err(e) => {
                    return Err(HttpError::Io {
                        authority: url.authority.clone(),
                        doing,
                        error: io::Error::other(e.into_error()),
                    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registry::fake::{fake_server, Seen, CLOSE};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A server that answers each request "ok" on a kept connection,
    /// except that it closes the connection without an answer after
    /// reading the `close_at`-th request (counted from 1 over all
    /// connections). Returns its address and what it read.
    async fn closing_server(close_at: usize) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let count = AtomicUsize::new(0);
        fake_server(move |_, _| match count.fetch_add(1, Ordering::SeqCst) + 1 {
            n if n == close_at => (200, vec![(CLOSE, String::new())], vec![]),
            _ => (200, vec![], b"ok".to_vec()),
        })
        .await
    }

    #[tokio::test]
    async fn a_post_is_not_sent_twice_after_a_kept_connection_fails() {
        let methods = |seen: &Mutex<Vec<Seen>>| -> Vec<String> {
            seen.lock()
                .unwrap()
                .iter()
                .map(|r| r.method.clone())
                .collect()
        };
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
        assert_eq!(methods(&seen), ["GET", "POST"]);

        // A GET that meets the same goes again on a new connection.
        let (addr, seen) = closing_server(2).await;
        let url = Url::parse(&format!("http://{addr}/v2/")).unwrap();
        for _ in 0..2 {
            let mut a = http.get(&url, &[], None).await.unwrap();
            assert_eq!(a.text().await, "ok");
        }
        assert_eq!(methods(&seen), ["GET", "GET", "GET"]);
    }
}
