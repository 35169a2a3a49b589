//! An answer and its body: read as it comes under the low-speed rule
//! (`core::stall`), whole up to a cap ([`Answer::read`], the bounded body
//! reader), or as text for a message; its connection handed back for the
//! next request once the body is read to its end.

use std::io;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderMap, HeaderName};
use hyper::StatusCode;

use super::{Idle, Sender, Url, MAX_IDLE};
use crate::core::stall::{self, STALL_BYTES};

/// Most of an error answer's body read for its message.
const MAX_ERROR_BODY: usize = 64 << 10;

/// An answer whose body is read as needed. Its connection is kept for the
/// next request once the body has been read to its end.
pub struct Answer {
    /// The URL that answered (after redirects, where they led).
    pub url: Url,
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub(super) body: Incoming,
    /// Where the connection goes back to, its origin, and its sender.
    pub(super) conn: Option<(Arc<Idle>, String, Sender)>,
    /// The low-speed rule for the body.
    pub(super) meter: Meter,
}

/// A body read cut by the low-speed rule ([`STALL_BYTES`]): an
/// `io::Error` of kind `TimedOut` carries it.
#[derive(Debug)]
pub struct Stalled(pub(super) String);

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
pub(super) struct Meter {
    authority: String,
    count: stall::Meter,
}

impl Meter {
    pub(super) fn new(authority: &str, window: Duration) -> Meter {
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
    pub(super) fn keep(&mut self) {
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
