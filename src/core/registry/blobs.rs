//! Blobs: a stream of a blob's bytes (from an offset when resuming a
//! download, redirects to object storage followed), checked as it passes
//! against the descriptor's size and, when whole, its digest.

use std::io;
use std::pin::Pin;

use futures_util::Stream;
use hyper::body::Bytes;
use hyper::header::{self, HeaderName};
use hyper::StatusCode;
use sha2::{Digest, Sha256};

use super::errors::{chain, is_transport, Failure};
use super::retry::{backoff, jitter, MAX_RETRIES};
use super::{Endpoint, Remote};
use crate::api::types::Descriptor;
use crate::core::error::{Code, Error, Result};
use crate::core::image::oci::digest_of;
use crate::core::registry::http::{is_stalled, Answer};

/// A stream of a blob's bytes; an error ends it. A whole blob's stream
/// fails at its end when its digest or size is not the descriptor's (an
/// error [`Remote::stream_error`] makes `FailedPrecondition`). It borrows
/// its session, which resumes it when the connection fails midway.
pub type BlobStream<'a> = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'a>>;

/// A blob's bytes that do not match its descriptor.
#[derive(Debug)]
struct Mismatch(String);

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Mismatch {}

impl Remote {
    /// A stream of blob `d`'s bytes from `offset` on: `(stream, true)` when
    /// the registry sent just that range, `(stream, false)` when it sent the
    /// whole blob (the range is not supported). Redirects (object storage)
    /// are followed. A connection that fails midway (reset, closed early)
    /// is asked again from the byte where it stopped, as a range (the
    /// bytes before it skipped where the registry sends the whole blob),
    /// within the retries and the deadline of `retry`.
    pub async fn blob(&self, d: &Descriptor, offset: u64) -> Result<(BlobStream<'_>, bool)> {
        let step = format!("fetch blob {}", d.digest);
        self.on_hosts(false, &step, |host| self.open_blob(host, d, offset))
            .await
    }

    async fn open_blob<'a>(
        &'a self,
        host: &'a Endpoint,
        d: &Descriptor,
        offset: u64,
    ) -> Result<(BlobStream<'a>, bool), Failure> {
        let (answer, partial) = self.request_blob(host, d, offset).await?;
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
        let reading = Reading {
            remote: self,
            host,
            d: d.clone(),
            start: if partial { offset } else { 0 },
            answer,
            check,
            skip: 0,
            resumed: 0,
        };
        let stream = futures_util::stream::unfold(Some(reading), |state| async move {
            let mut reading = state?;
            match reading.next().await {
                Ok(Some(chunk)) => Some((Ok(chunk), Some(reading))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        });
        Ok((Box::pin(stream), partial))
    }

    /// The answer to a GET of blob `d` from `offset` on, and whether it is
    /// that range (else the whole blob).
    async fn request_blob(
        &self,
        host: &Endpoint,
        d: &Descriptor,
        offset: u64,
    ) -> Result<(Answer, bool), Failure> {
        let path = host.path(&format!("{}/blobs/{}", self.image.repository(), d.digest));
        let range = format!("bytes={offset}-");
        let ranged = [(header::RANGE, range.as_str())];
        let headers: &[(HeaderName, &str)] = if offset > 0 { &ranged } else { &[] };
        let mut answer = self.get(host, &path, headers).await?;
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
        Ok((answer, partial))
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
}

/// A blob's stream as it is read: the answer its bytes come from now, and
/// what it passed on so far.
struct Reading<'a> {
    remote: &'a Remote,
    host: &'a Endpoint,
    d: Descriptor,
    /// Where in the blob the stream starts.
    start: u64,
    answer: Answer,
    check: Check,
    /// Bytes of the answer not passed on: those the stream had before it
    /// resumed, when the registry sent the whole blob again.
    skip: u64,
    /// Times the stream resumed.
    resumed: u32,
}

impl Reading<'_> {
    /// The next bytes, `None` at the end; resumed (a range from where it
    /// stopped) when the connection fails midway.
    async fn next(&mut self) -> io::Result<Option<Bytes>> {
        loop {
            let failed = match self.answer.chunk().await {
                Ok(Some(mut chunk)) => {
                    let skipped = (self.skip as usize).min(chunk.len());
                    self.skip -= skipped as u64;
                    let chunk = chunk.split_off(skipped);
                    if chunk.is_empty() {
                        continue;
                    }
                    self.check.add(&chunk)?;
                    return Ok(Some(chunk));
                }
                Ok(None) => match self.check.finish() {
                    Ok(()) => return Ok(None),
                    Err(e) => e,
                },
                Err(e) => e,
            };
            self.resume(failed).await?;
        }
    }

    /// Asks for the rest of the blob after `failed` cut its answer, if it
    /// is a connection that failed (reset, closed early; not a stall, nor
    /// bytes that are wrong) and the retries and deadline allow; else
    /// `failed` is the stream's error.
    async fn resume(&mut self, failed: io::Error) -> io::Result<()> {
        let resumable = (is_transport(&failed) || failed.kind() == io::ErrorKind::UnexpectedEof)
            && !is_stalled(&failed)
            && self.resumed < MAX_RETRIES;
        if !resumable {
            return Err(failed);
        }
        let wait = backoff(self.resumed, jitter());
        if self.remote.wait_to_retry(wait, false).await.is_err() {
            return Err(failed);
        }
        self.resumed += 1;
        let at = self.start + self.check.got;
        let Ok((answer, partial)) = self.remote.request_blob(self.host, &self.d, at).await else {
            return Err(failed);
        };
        self.answer = answer;
        self.skip = if partial { 0 } else { at };
        Ok(())
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
            let got = digest_of(&h.finalize());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::registry::credentials::Credentials;
    use crate::core::registry::fake::{fake_server, json};
    use crate::core::registry::http::Http;
    use crate::core::registry::tests::{plain_remote, BLOB};
    use crate::core::registry::ImageRef;

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
        let http = Http::new(None, false).unwrap();
        let remote = plain_remote(http, &image, Credentials::Anonymous)
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
}
