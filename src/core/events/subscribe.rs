//! Subscribing to containerd's events ([`Client::subscribe`]) with
//! containerd's filter syntax, and the established stream ([`EventStream`]).
//!
//! Establishing a subscription: containerd (grpc-go) sends the response
//! headers of `Subscribe` only with its first event, and tonic returns the
//! stream only once the headers are in. So [`Client::subscribe`] publishes
//! small sync events (topic [`SYNC_TOPIC_PREFIX`]`<token>`, payload
//! `google.protobuf.Empty`, in the client's namespace) until the first message
//! arrives: from then on the daemon has registered the subscription and no
//! later event is missed. When the caller gave filters, one more filter
//! (`topic=="<sync topic>"`, OR-ed by containerd with the others) lets that
//! sync event through. Sync events of any containerd-c client are dropped
//! from every stream this module returns; other subscribers (`ctr events`)
//! may see them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use prost_types::Any;

use crate::api::services::events::v1::{Envelope, PublishRequest, SubscribeRequest};
use crate::core::daemon::client::Client;
use crate::core::error::{Code, Error, Result};
use crate::core::events::Event;

/// Topic prefix of the sync events published while a subscription is being
/// established; events with this prefix never reach a caller.
pub const SYNC_TOPIC_PREFIX: &str = "/containerd-c/sync/";
/// Type name of the sync events' (empty) payload.
const SYNC_TYPE_URL: &str = "google.protobuf.Empty";
/// First pause before publishing a sync event, doubled up to
/// [`SYNC_MAX_INTERVAL`] while the daemon has not answered.
const SYNC_FIRST_DELAY: Duration = Duration::from_millis(5);
const SYNC_MAX_INTERVAL: Duration = Duration::from_millis(500);

/// An established event stream (see [`Client::subscribe`]). Ends when the
/// daemon ends it or the connection breaks; [`Subscription`](super::Subscription) resubscribes.
pub struct EventStream {
    stream: tonic::Streaming<Envelope>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventStream")
    }
}

impl EventStream {
    /// The next event; `Ok(None)` when the daemon ended the stream, `Err`
    /// when the connection broke. Waits without a timeout.
    pub async fn next(&mut self) -> Result<Option<Event>> {
        loop {
            match self.stream.message().await {
                Ok(Some(envelope)) if envelope.topic.starts_with(SYNC_TOPIC_PREFIX) => continue,
                Ok(Some(envelope)) => return Ok(Some(Event::from_envelope(envelope))),
                Ok(None) => return Ok(None),
                Err(status) => return Err(Error::from(status).context("receiving events")),
            }
        }
    }
}

/// A token unique in this process for the sync topic.
fn sync_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{n}-{nanos}", std::process::id())
}

/// The filters sent for `filters` when `sync_topic` must pass too.
fn wire_filters(filters: &[String], sync_topic: &str) -> Vec<String> {
    let mut wire = filters.to_vec();
    // No filters means every event, the sync one included.
    if !wire.is_empty() {
        wire.push(format!("topic==\"{sync_topic}\""));
    }
    wire
}

const SUBSCRIBE: &str = "subscribing to events";

impl Client {
    /// Subscribes to containerd's events that match any of `filters`
    /// (containerd's filter syntax: `topic=="/tasks/exit"`,
    /// `namespace==foo`, `topic~="^/containers/"`; items are OR-ed, `,`
    /// inside one item ANDs; empty = every event of every namespace). No
    /// namespace filter is added: pass `namespace==<ns>` to see one
    /// namespace only.
    ///
    /// Returns once the daemon has registered the subscription, so every
    /// event published after this returns is in the stream. Establishing it
    /// is bounded by the client's timeout; the stream itself has none.
    /// Errors: `InvalidArgument` (a filter the daemon cannot parse),
    /// `Unavailable`, `DeadlineExceeded`.
    pub async fn subscribe(&self, filters: Vec<String>) -> Result<EventStream> {
        let open = self.open_event_stream(filters);
        match self.timeout() {
            None => open.await,
            Some(limit) => match tokio::time::timeout(limit, open).await {
                Ok(r) => r,
                Err(_) => Err(Error::new(
                    Code::DeadlineExceeded,
                    format!(
                        "{SUBSCRIBE}: containerd at {} did not answer within {} ms",
                        self.socket().display(),
                        limit.as_millis()
                    ),
                )),
            },
        }
    }

    async fn open_event_stream(&self, filters: Vec<String>) -> Result<EventStream> {
        let sync_topic = format!("{SYNC_TOPIC_PREFIX}{}", sync_token());
        // The namespace without the client's deadline: the stream lives on.
        let req = self.request_without_deadline(SubscribeRequest {
            filters: wire_filters(&filters, &sync_topic),
        });
        let mut svc = self.events();
        let subscribe = svc.subscribe(req);
        tokio::pin!(subscribe);
        let mut delay = SYNC_FIRST_DELAY;
        loop {
            tokio::select! {
                biased;
                answer = &mut subscribe => {
                    return answer
                        .map(|r| EventStream { stream: r.into_inner() })
                        .map_err(|status| self.subscribe_error(status));
                }
                _ = tokio::time::sleep(delay) => {
                    self.publish_sync(&sync_topic).await?;
                    delay = (delay * 2).min(SYNC_MAX_INTERVAL);
                }
            }
        }
    }

    async fn publish_sync(&self, topic: &str) -> Result<()> {
        let mut svc = self.events();
        let req = self.request(PublishRequest {
            topic: topic.to_string(),
            event: Some(Any {
                type_url: SYNC_TYPE_URL.to_string(),
                value: Vec::new(),
            }),
        });
        self.call(SUBSCRIBE, svc.publish(req)).await
    }

    fn subscribe_error(&self, status: tonic::Status) -> Error {
        // containerd 1.6 reports a bad filter as Unknown.
        if status.code() == tonic::Code::Unknown
            && status
                .message()
                .contains("failed parsing subscription filters")
        {
            return Error::invalid(format!("{SUBSCRIBE}: {}", status.message()));
        }
        self.status_error(SUBSCRIBE, status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_filter_only_with_caller_filters() {
        assert!(wire_filters(&[], "/containerd-c/sync/1").is_empty());
        assert_eq!(
            wire_filters(&["namespace==a".to_string()], "/containerd-c/sync/1"),
            vec!["namespace==a", "topic==\"/containerd-c/sync/1\""]
        );
    }
}
