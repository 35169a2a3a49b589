//! Request bodies: bytes, which a request on a kept connection that failed
//! sends again, or a stream (a blob on its way to a registry), sent once
//! and metered as it goes: the wait for the answer lasts while the stream
//! moves at least [`STALL_BYTES`] a window (the low-speed rule, as for
//! answer bodies), then, once it ended, one window more (60 s, as
//! [`READ_TIMEOUT`](super::READ_TIMEOUT)) for the answer's head.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame};

use super::answer::Stalled;
use crate::core::stall::{self, STALL_BYTES};

/// What a request's body is sent as on a connection.
pub(super) type ReqBody = UnsyncBoxBody<Bytes, io::Error>;

/// A stream of a request body's bytes; an error ends the request.
pub type BodyStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// A request's body.
pub enum Payload {
    /// Bytes held whole (sent again on a new connection when a kept one
    /// failed before the answer).
    Bytes(Bytes),
    /// A stream, sent once (set the Content-Length header: the server is
    /// told the size, and a stream that ends short fails the request).
    Stream(BodyStream),
}

impl From<Bytes> for Payload {
    fn from(b: Bytes) -> Payload {
        Payload::Bytes(b)
    }
}

/// `b` as a request body.
pub(super) fn whole(b: Bytes) -> ReqBody {
    Full::new(b).map_err(|never| match never {}).boxed_unsync()
}

/// How a streamed body moves: the low-speed count of what the connection
/// took, and when the stream ended.
pub(super) struct Flow {
    meter: stall::Meter,
    /// Bytes taken, and the Content-Length said (the connection stops
    /// taking at that length, without asking for the stream's end).
    taken: u64,
    length: Option<u64>,
    ended: Option<Instant>,
}

/// A streamed body's [`Flow`], shared between the connection that takes
/// the bytes and the request waiting for its answer.
pub(super) type Watch = Arc<Mutex<Flow>>;

/// `stream` as a request body whose flow `watch` follows: it ended once
/// it gave `length` bytes (the Content-Length) or its end; `window` is the
/// low-speed rule's.
pub(super) fn metered(
    stream: BodyStream,
    length: Option<u64>,
    window: Duration,
) -> (ReqBody, Watch) {
    let watch = Arc::new(Mutex::new(Flow {
        meter: stall::Meter::new(window),
        taken: 0,
        length,
        ended: None,
    }));
    let w = watch.clone();
    let stream = stream
        .map(move |item| {
            let mut flow = w.lock().unwrap_or_else(PoisonError::into_inner);
            if let Ok(chunk) = &item {
                flow.meter.add(chunk.len());
                flow.taken += chunk.len() as u64;
                if flow.length.is_some_and(|l| flow.taken >= l) && flow.ended.is_none() {
                    flow.ended = Some(Instant::now());
                }
            }
            item.map(Frame::data)
        })
        .chain(futures_util::stream::poll_fn({
            let w = watch.clone();
            move |_| {
                let mut flow = w.lock().unwrap_or_else(PoisonError::into_inner);
                flow.ended.get_or_insert_with(Instant::now);
                std::task::Poll::Ready(None)
            }
        }));
    (StreamBody::new(stream).boxed_unsync(), watch)
}

/// What the wait for an answer to a streamed request does next.
pub(super) enum Wait {
    /// Wait on, until this instant at most.
    Until(tokio::time::Instant),
    /// Give up: the error.
    Fail(io::Error),
}

/// The next step of the wait for the answer to a request whose body
/// `watch` follows, sent to `authority`.
pub(super) fn next_wait(watch: &Watch, authority: &str) -> Wait {
    let flow = watch.lock().unwrap_or_else(PoisonError::into_inner);
    let now = Instant::now();
    let until = match flow.ended {
        Some(ended) if now >= ended + flow.meter.window() => {
            return Wait::Fail(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no answer in {} s after the request's body",
                    flow.meter.window().as_secs_f64()
                ),
            ))
        }
        Some(ended) => ended + flow.meter.window(),
        None if flow.meter.stalled() => {
            return Wait::Fail(io::Error::new(
                io::ErrorKind::TimedOut,
                Stalled(format!(
                    "the transfer to {authority} stalled: fewer than {STALL_BYTES} bytes in {} s",
                    flow.meter.window().as_secs_f64()
                )),
            ))
        }
        None => flow.meter.end(),
    };
    Wait::Until(tokio::time::Instant::from_std(until))
}
