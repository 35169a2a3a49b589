//! Requests sent again when their failure is passing: an answer 429, 502,
//! 503 or 504, or a connection reset or closed before an answer (for
//! requests that may go twice). The wait before the next try is the
//! `Retry-After` the answer asks for (seconds, or an HTTP date), else a
//! backoff that doubles from [`FIRST_BACKOFF`] up to [`MAX_BACKOFF`], with
//! jitter; at most [`MAX_RETRIES`] times a request, and never past the
//! call's deadline: a wait that would end after it fails at once, as
//! `DeadlineExceeded` with the last failure's words. Each retry counts in
//! the call's [`CallLimits::retries`], which the caller's progress shows.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hyper::header::{self, HeaderName};
use hyper::StatusCode;
use tokio::time::Instant;

use super::errors::{is_transport, Failure};
use super::{Endpoint, Remote};
use crate::core::registry::http::{is_stalled, Answer, HttpError, Url};

/// Tries of a request after its first.
pub(super) const MAX_RETRIES: u32 = 5;
/// The wait before the first retry (without a `Retry-After`).
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
/// The longest backoff between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest `Retry-After` waited for when the call has no deadline.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// What a session knows of the call it serves: when it must be done, and
/// where it counts the requests it sent again.
#[derive(Debug, Clone, Default)]
pub struct CallLimits {
    /// Waits to retry never go past it.
    pub deadline: Option<Instant>,
    /// Requests sent again (and blob reads resumed), for the caller's
    /// progress.
    pub retries: Arc<AtomicU32>,
}

/// The statuses worth another try.
fn passing(status: StatusCode) -> bool {
    matches!(status.as_u16(), 429 | 502 | 503 | 504)
}

/// Whether a request that failed with `e`, without an answer, may go
/// again: the connection was reset or closed once the request was on its
/// way (not refused, unreachable, untrusted or timed out: those say the
/// host is not there to ask, or took its time already).
fn resent_after(e: &HttpError) -> bool {
    use std::io::ErrorKind as K;
    match e {
        HttpError::Io { error, .. } => {
            is_transport(error)
                && !is_stalled(error)
                && !matches!(
                    error.kind(),
                    K::ConnectionRefused
                        | K::HostUnreachable
                        | K::NetworkUnreachable
                        | K::AddrNotAvailable
                        | K::TimedOut
                )
        }
        HttpError::Timeout(_) | HttpError::Invalid(_) => false,
    }
}

/// The wait a `Retry-After` value asks for: delay-seconds, or an HTTP date
/// (a date past is no wait). `None` when it is neither.
pub(super) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The backoff before retry `n` (from 0): [`FIRST_BACKOFF`] doubled `n`
/// times, at most [`MAX_BACKOFF`], plus up to a quarter more by `jitter`
/// (in [0, 1)).
pub(super) fn backoff(n: u32, jitter: f64) -> Duration {
    let base = FIRST_BACKOFF
        .saturating_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
        .min(MAX_BACKOFF);
    base + base.mul_f64(jitter.clamp(0.0, 1.0) / 4.0)
}

/// A number in [0, 1) that differs from call to call (std's random hash
/// keys; no more is needed to spread retries).
pub(super) fn jitter() -> f64 {
    let h = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (h >> 11) as f64 / (1u64 << 53) as f64
}

impl Remote {
    /// GETs `url` from `host` with `headers` and `authorization` (see
    /// `Http::get`), tried again while it fails in passing.
    pub(super) async fn get_retried(
        &self,
        host: &Endpoint,
        url: &Url,
        headers: &[(HeaderName, &str)],
        authorization: Option<&str>,
    ) -> Result<Answer, Failure> {
        self.retried(true, || host.http.get(url, headers, authorization))
            .await
    }

    /// `send`'s answer, `send` tried again ([`MAX_RETRIES`] times at most)
    /// while the answer is 429, 502, 503 or 504, or, with `resend`, while
    /// the connection fails before an answer. The last failure when the
    /// tries are used up; `DeadlineExceeded` with its words when the wait
    /// would end past the call's deadline.
    pub(super) async fn retried<F, Fut>(&self, resend: bool, mut send: F) -> Result<Answer, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Answer, HttpError>>,
    {
        let mut tries = 0;
        loop {
            let (asked, failure) = match send().await {
                Ok(mut answer) if passing(answer.status) => {
                    let asked = answer
                        .header(header::RETRY_AFTER)
                        .and_then(|v| retry_after(v, SystemTime::now()));
                    (asked, Failure::status(&mut answer).await)
                }
                Ok(answer) => return Ok(answer),
                Err(e) if resend && resent_after(&e) => (None, Failure::Http(e)),
                Err(e) => return Err(Failure::Http(e)),
            };
            if tries == MAX_RETRIES {
                return Err(Failure::GaveUp {
                    last: Box::new(failure),
                    why: format!("tried {} times", tries + 1),
                    late: false,
                });
            }
            let wait = asked.unwrap_or_else(|| backoff(tries, jitter()));
            self.wait_to_retry(wait, asked.is_some())
                .await
                .map_err(|(why, late)| Failure::GaveUp {
                    last: Box::new(failure),
                    why,
                    late,
                })?;
            tries += 1;
        }
    }

    /// Waits `wait` before a retry and counts it, unless the wait would end
    /// past the call's deadline (or, `asked` by the registry without one,
    /// is longer than [`MAX_RETRY_AFTER`]): then why not, and whether it is
    /// the deadline.
    pub(super) async fn wait_to_retry(
        &self,
        wait: Duration,
        asked: bool,
    ) -> Result<(), (String, bool)> {
        let said = |w: Duration| format!("{:.1} s", w.as_secs_f64());
        let how = if asked {
            format!("the registry asks to retry in {}", said(wait))
        } else {
            format!("the next try would be in {}", said(wait))
        };
        match self.limits.deadline {
            Some(end) if Instant::now() + wait >= end => {
                let left = end.saturating_duration_since(Instant::now());
                return Err((
                    format!("{how}, past the call's deadline (in {})", said(left)),
                    true,
                ));
            }
            None if wait > MAX_RETRY_AFTER => {
                return Err((
                    format!(
                        "{how}, longer than the {} s this client waits",
                        MAX_RETRY_AFTER.as_secs()
                    ),
                    false,
                ));
            }
            _ => {}
        }
        self.limits.retries.fetch_add(1, Ordering::AcqRel);
        tokio::time::sleep(wait).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::types::Descriptor;
    use crate::core::error::Code;
    use crate::core::registry::credentials::Credentials;
    use crate::core::registry::fake::{fake_server, json, Reply, Seen, CLOSE, CUT};
    use crate::core::registry::http::Http;
    use crate::core::registry::tests::{digest_of, read_all, BLOB, MANIFEST};
    use crate::core::registry::ImageRef;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Mutex;

    /// A session with plain http registry `host` and `limits`, anonymous.
    async fn session(host: &str, limits: CallLimits) -> crate::core::error::Result<Remote> {
        let image = ImageRef::parse(&format!("{host}/a:t")).unwrap();
        let base = Url::parse(&format!("http://{host}/v2")).unwrap();
        let http = Http::new(None, false).unwrap();
        let endpoint = Endpoint::new(http, base, image.host(), Credentials::Anonymous);
        Remote::with_hosts(
            &image,
            vec![endpoint],
            None,
            "pull",
            limits,
            crate::core::registry::Access::Pull,
        )
        .await
    }

    /// A registry that serves MANIFEST and BLOB (ranges too), but answers
    /// its `n`-th request (from 1) as `faults` says, where it says.
    async fn faulty(
        faults: impl Fn(usize, &Seen) -> Option<Reply> + Send + Sync + 'static,
    ) -> (String, Arc<Mutex<Vec<Seen>>>) {
        let n = AtomicUsize::new(0);
        let blob = format!("/v2/a/blobs/{}", digest_of(BLOB));
        fake_server(move |r, _| {
            let n = n.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(reply) = faults(n, r) {
                return reply;
            }
            match r.path.as_str() {
                "/v2/" => json(200, "{}"),
                "/v2/a/manifests/t" => (200, vec![], MANIFEST.as_bytes().to_vec()),
                p if p == blob => match r.header("range") {
                    Some(range) => {
                        let from: usize = range[6..].trim_end_matches('-').parse().unwrap();
                        let cr = format!("bytes {from}-{}/{}", BLOB.len() - 1, BLOB.len());
                        (206, vec![("Content-Range", cr)], BLOB[from..].to_vec())
                    }
                    None => (200, vec![], BLOB.to_vec()),
                },
                _ => json(404, "{}"),
            }
        })
        .await
    }

    fn blob() -> Descriptor {
        Descriptor {
            media_type: "application/octet-stream".into(),
            digest: digest_of(BLOB),
            size: BLOB.len() as i64,
            annotations: Default::default(),
        }
    }

    const TOO_MANY: &str =
        r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down, said the registry"}]}"#;

    /// 429 with a Retry-After, 503, a connection closed before an answer,
    /// 502 and 504: each tried again, and counted; the answer comes.
    #[tokio::test]
    async fn passing_failures_are_tried_again_and_counted() {
        let (host, seen) = faulty(|n, _| match n {
            1 => Some((429, vec![("Retry-After", "1".into())], TOO_MANY.into())),
            2 => Some(json(503, "{}")),
            // On the kept connection (sent again at once on a new one by
            // the HTTP client), then on a new one.
            3 | 4 => Some((200, vec![(CLOSE, String::new())], vec![])),
            6 => Some(json(502, "{}")),
            7 => Some(json(504, "{}")),
            _ => None,
        })
        .await;
        let limits = CallLimits::default();
        let start = std::time::Instant::now();
        let remote = session(&host, limits.clone()).await.unwrap();
        assert!(start.elapsed() >= Duration::from_secs(1), "Retry-After");
        assert_eq!(limits.retries.load(Ordering::Acquire), 3);
        let m = remote.manifest(None).await.unwrap();
        assert_eq!(m.bytes, MANIFEST.as_bytes());
        assert_eq!(limits.retries.load(Ordering::Acquire), 5);
        assert_eq!(seen.lock().unwrap().len(), 8);
    }

    /// A Retry-After that ends past the deadline: no wait, the registry's
    /// words as DeadlineExceeded; without a deadline, one longer than a
    /// minute is not waited for either. Tries used up: the last failure.
    #[tokio::test]
    async fn waits_stay_within_the_deadline_and_tries_are_bounded() {
        let (host, seen) = faulty(|_, r| match r.path.as_str() {
            "/v2/" => None,
            "/v2/a/manifests/t" => Some((429, vec![("Retry-After", "61".into())], TOO_MANY.into())),
            _ => Some((503, vec![("Retry-After", "0".into())], b"busy".to_vec())),
        })
        .await;
        let limits = CallLimits {
            deadline: Some(Instant::now() + Duration::from_secs(5)),
            ..Default::default()
        };
        let remote = session(&host, limits.clone()).await.unwrap();
        let start = std::time::Instant::now();
        let e = remote.manifest(None).await.err().unwrap();
        assert!(start.elapsed() < Duration::from_secs(4));
        assert_eq!(e.code, Code::DeadlineExceeded, "{}", e.message);
        assert!(
            e.message.starts_with(
                "pull: resolve: slow down, said the registry (the registry asks to retry in \
                 61.0 s, past the call's deadline (in "
            ),
            "{}",
            e.message
        );
        let remote = session(&host, CallLimits::default()).await.unwrap();
        let e = remote.manifest(None).await.err().unwrap();
        assert_eq!(e.code, Code::Unavailable, "{}", e.message);
        assert!(
            e.message
                .ends_with("longer than the 60 s this client waits)"),
            "{}",
            e.message
        );
        assert_eq!(limits.retries.load(Ordering::Acquire), 0);

        let before = seen.lock().unwrap().len();
        let e = remote.blob(&blob(), 0).await.err().unwrap();
        assert_eq!(e.code, Code::Unavailable, "{}", e.message);
        assert!(
            e.message
                .ends_with("HTTP 503 Service Unavailable: busy (tried 6 times)"),
            "{}",
            e.message
        );
        assert_eq!(seen.lock().unwrap().len(), before + 6);
    }

    /// A blob's answer cut midway: asked again from where it stopped (a
    /// range), the stream goes on and the digest holds; a registry that
    /// sends the whole blob again has the bytes already passed skipped.
    #[tokio::test]
    async fn a_blob_cut_midway_is_resumed() {
        for ranges in [true, false] {
            let gets = AtomicUsize::new(0);
            let (host, seen) = faulty(move |_, r| {
                if !r.path.contains("/blobs/") {
                    return None;
                }
                match gets.fetch_add(1, Ordering::SeqCst) {
                    0 => Some((200, vec![(CUT, "10".into())], BLOB.to_vec())),
                    1 => Some((200, vec![(CUT, "3".into())], BLOB.to_vec())),
                    _ if !ranges => Some((200, vec![], BLOB.to_vec())),
                    _ => None,
                }
            })
            .await;
            let limits = CallLimits::default();
            let remote = session(&host, limits.clone()).await.unwrap();
            let (s, partial) = remote.blob(&blob(), 0).await.unwrap();
            assert!(!partial);
            assert_eq!(read_all(s).await.unwrap(), BLOB);
            assert_eq!(limits.retries.load(Ordering::Acquire), 2);
            let seen = seen.lock().unwrap();
            let ranges: Vec<Option<&str>> = seen
                .iter()
                .filter(|r| r.path.contains("/blobs/"))
                .map(|r| r.header("range"))
                .collect();
            assert_eq!(ranges, [None, Some("bytes=10-"), Some("bytes=10-")]);
        }

        // Cut every time: the tries are bounded, the cut is the error.
        let (host, _) = faulty(|_, r| {
            r.path
                .contains("/blobs/")
                .then(|| (200, vec![(CUT, "1".into())], BLOB.to_vec()))
        })
        .await;
        let limits = CallLimits::default();
        let remote = session(&host, limits.clone()).await.unwrap();
        let (s, _) = remote.blob(&blob(), 0).await.unwrap();
        let e = remote.stream_error(&blob().digest, read_all(s).await.unwrap_err());
        assert_eq!(e.code, Code::Unavailable, "{}", e.message);
        assert_eq!(limits.retries.load(Ordering::Acquire), MAX_RETRIES);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(retry_after("120", now), secs(120));
        assert_eq!(retry_after(" 0 ", now), secs(0));
        // The three forms of an HTTP date (RFC 9110).
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), secs(30));
        assert_eq!(retry_after("Sunday, 06-Nov-94 08:50:07 GMT", now), secs(30));
        assert_eq!(retry_after("Sun Nov  6 08:50:07 1994", now), secs(30));
        // A date past: no wait.
        assert_eq!(retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now), secs(0));
        for bad in [
            "",
            "-1",
            "1.5",
            "soon",
            "Sun, 06 Nov 1994",
            "99999999999999999999",
        ] {
            assert_eq!(retry_after(bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_its_cap_with_some_jitter() {
        let ms = |n, j| backoff(n, j).as_millis();
        assert_eq!(
            (0..7).map(|n| ms(n, 0.0)).collect::<Vec<_>>(),
            [200, 400, 800, 1600, 3200, 5000, 5000]
        );
        assert_eq!(ms(0, 0.999_999), 249);
        assert_eq!(ms(40, 0.5), 5625);
        assert_eq!(ms(u32::MAX, 2.0), 6250);
        for _ in 0..100 {
            let j = jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
        }
        assert_ne!(jitter(), jitter());
    }

    #[test]
    fn which_failures_are_tried_again() {
        use std::io::{Error, ErrorKind as K};
        let io = |kind| HttpError::Io {
            authority: "h".into(),
            doing: "GET http://h/v2/".into(),
            error: Error::from(kind),
        };
        for kind in [
            K::ConnectionReset,
            K::UnexpectedEof,
            K::BrokenPipe,
            K::ConnectionAborted,
        ] {
            assert!(resent_after(&io(kind)), "{kind:?}");
        }
        for kind in [
            K::ConnectionRefused,
            K::HostUnreachable,
            K::TimedOut,
            K::InvalidData,
        ] {
            assert!(!resent_after(&io(kind)), "{kind:?}");
        }
        assert!(!resent_after(&HttpError::Timeout("t".into())));
        assert!(!resent_after(&HttpError::Invalid("t".into())));
        for s in [429, 502, 503, 504] {
            assert!(passing(StatusCode::from_u16(s).unwrap()));
        }
        for s in [200, 401, 404, 500, 501, 505] {
            assert!(!passing(StatusCode::from_u16(s).unwrap()));
        }
    }
}
