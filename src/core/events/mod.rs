//! containerd's event stream: subscribing (with containerd's filter syntax),
//! decoding each envelope's payload into protobuf-JSON, and following the
//! stream across daemon restarts.
//!
//! containerd's stream is global: a subscriber sees the events of every
//! namespace unless a filter such as `namespace==foo` says otherwise. This
//! module adds no namespace filter of its own; each [`Event`] carries the
//! namespace it happened in.
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
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use prost::Message;
use prost_types::Any;
use serde::Serialize;
use serde_json::{json, Value};

use crate::api::services::events::v1::{Envelope, PublishRequest, SubscribeRequest};
use crate::core::daemon::client::Client;
use crate::core::error::{Code, Error, Result};

/// Topic prefix of the sync events published while a subscription is being
/// established; events with this prefix never reach a caller.
pub const SYNC_TOPIC_PREFIX: &str = "/containerd-c/sync/";
/// Type name of the sync events' (empty) payload.
const SYNC_TYPE_URL: &str = "google.protobuf.Empty";
/// First pause before publishing a sync event, doubled up to
/// [`SYNC_MAX_INTERVAL`] while the daemon has not answered.
const SYNC_FIRST_DELAY: Duration = Duration::from_millis(5);
const SYNC_MAX_INTERVAL: Duration = Duration::from_millis(500);
/// Pauses between resubscription attempts of a [`Subscription`].
pub const RESUBSCRIBE_FIRST_DELAY: Duration = Duration::from_millis(100);
pub const RESUBSCRIBE_MAX_DELAY: Duration = Duration::from_secs(5);

/// One event from containerd.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// When the daemon published it (`None` when the envelope had none).
    pub timestamp: Option<SystemTime>,
    /// The namespace it happened in ("" for namespace-less events).
    pub namespace: String,
    /// e.g. `/tasks/exit`, `/containers/create`.
    pub topic: String,
    /// The payload's type name as sent, e.g. `containerd.events.TaskExit`
    /// ("" when the envelope carried no payload).
    pub type_url: String,
    /// The payload as a JSON object; see [`event_json`].
    pub json: String,
}

impl Event {
    /// Decodes an envelope. Never fails: a payload that cannot be decoded
    /// comes out in the generic `{"typeUrl", "value"}` form.
    pub fn from_envelope(envelope: Envelope) -> Event {
        let timestamp = envelope
            .timestamp
            .and_then(|t| SystemTime::try_from(t).ok());
        let (type_url, json) = match &envelope.event {
            Some(any) => (any.type_url.clone(), event_json(any)),
            None => (String::new(), "null".to_string()),
        };
        Event {
            timestamp,
            namespace: envelope.namespace,
            topic: envelope.topic,
            type_url,
            json,
        }
    }
}

/// The payload `any` of an event as a JSON object text.
///
/// Event types (every top-level message of containerd's
/// `containerd/events/*.proto`: the `containerd.events.*` container, task,
/// snapshot, namespace and content events and
/// `containerd.services.images.v1.Image{Create,Update,Delete}`), named bare
/// (as containerd sends them) or with a `type.googleapis.com/`-style prefix,
/// are decoded and written by the mapping `build.rs` generates from the
/// protos (pbjson), which follows protobuf's JSON mapping: lowerCamelCase
/// field names (`containerId`, `exitStatus`), every scalar, list and map
/// field present even when zero or empty, 32-bit integers as numbers (no
/// event field is 64-bit; the mapping would write one as a string),
/// timestamps as RFC 3339 strings in UTC with 0, 3, 6 or 9 fractional digits
/// (`"exitedAt": "2024-05-01T10:00:00.123456789Z"`), maps as objects; an
/// unset message field (a timestamp, `runtime`, `io`) is absent. Object keys
/// come sorted.
/// One departure from protobuf's mapping: a nested `Any` (the runtime
/// options of `ContainerCreate`) is not expanded but written in the generic
/// form below, as the library does not know its type (and containerd's type
/// URLs, such as `containerd.runc.v1.Options`, have no `/`).
///
/// Anything else, and an event type whose bytes do not decode, is
/// `{"typeUrl": "<as sent>", "value": "<payload, standard base64>"}` (plus
/// `"error"` saying why, for the latter).
pub fn event_json(any: &Any) -> String {
    // Decoding must never take a subscription down: a panic (a bug) falls
    // back to the generic form.
    let value =
        crate::runtime::catch_panic(|| json::message_json(type_name(&any.type_url), &any.value))
            .unwrap_or_else(|_| Some(Err("panic while decoding".to_string())));
    let value = match value {
        Some(Ok(v)) => v,
        Some(Err(why)) => {
            let mut v = any_json(any);
            v["error"] = Value::String(why);
            v
        }
        None => any_json(any),
    };
    value.to_string()
}

/// The generic JSON form of an `Any`.
pub fn any_json(any: &Any) -> Value {
    json!({
        "typeUrl": any.type_url,
        "value": BASE64.encode(&any.value),
    })
}

/// The type name of a type URL: what follows its last `/`.
fn type_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

/// Decodes `bytes` as an `M` and writes it as JSON (the generated table's
/// one step for every type).
fn to_json<M: Message + Default + Serialize>(bytes: &[u8]) -> std::result::Result<Value, String> {
    let message = M::decode(bytes).map_err(|e| format!("decoding: {e}"))?;
    serde_json::to_value(&message).map_err(|e| format!("writing JSON: {e}"))
}

/// The event payload types as `build.rs` generates them for JSON: prost
/// messages (the same wire format as [`crate::api`]'s) with the `Serialize`
/// (and `Deserialize`) impls pbjson-build writes, and `message_json`, the
/// table from type name to type. The two well-known types they use are the
/// small ones below.
pub mod json {
    #![allow(clippy::all, missing_docs, rustdoc::all)]

    use base64::Engine as _;
    use serde::de::Error as _;
    use serde::ser::SerializeMap as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::BASE64;

    macro_rules! generated {
        ($package:literal) => {
            include!(concat!(env!("OUT_DIR"), "/event_json/", $package, ".rs"));
            include!(concat!(
                env!("OUT_DIR"),
                "/event_json/",
                $package,
                ".serde.rs"
            ));
        };
    }

    pub mod containerd {
        pub mod types {
            generated!("containerd.types");
        }
        pub mod events {
            generated!("containerd.events");
        }
        pub mod services {
            pub mod images {
                pub mod v1 {
                    generated!("containerd.services.images.v1");
                }
            }
        }
    }

    include!(concat!(env!("OUT_DIR"), "/event_json/table.rs"));

    /// `google.protobuf.Timestamp`, written as protobuf-JSON does: an RFC
    /// 3339 string in UTC (prost-types' formatting).
    #[derive(Clone, Copy, PartialEq, Eq, Hash, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    impl From<Timestamp> for prost_types::Timestamp {
        fn from(t: Timestamp) -> Self {
            prost_types::Timestamp {
                seconds: t.seconds,
                nanos: t.nanos,
            }
        }
    }

    impl Serialize for Timestamp {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(&prost_types::Timestamp::from(*self))
        }
    }

    impl<'de> Deserialize<'de> for Timestamp {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let text = String::deserialize(d)?;
            let t: prost_types::Timestamp = text.parse().map_err(D::Error::custom)?;
            Ok(Timestamp {
                seconds: t.seconds,
                nanos: t.nanos,
            })
        }
    }

    /// `google.protobuf.Any`, written in the generic form
    /// `{"typeUrl": "...", "value": "<standard base64>"}`.
    #[derive(Clone, PartialEq, Eq, Hash, prost::Message)]
    pub struct Any {
        #[prost(string, tag = "1")]
        pub type_url: String,
        #[prost(bytes = "vec", tag = "2")]
        pub value: Vec<u8>,
    }

    impl Serialize for Any {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut map = s.serialize_map(Some(2))?;
            map.serialize_entry("typeUrl", &self.type_url)?;
            map.serialize_entry("value", &BASE64.encode(&self.value))?;
            map.end()
        }
    }

    impl<'de> Deserialize<'de> for Any {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            #[derive(Deserialize)]
            #[serde(rename_all = "camelCase", deny_unknown_fields)]
            struct Generic {
                #[serde(default)]
                type_url: String,
                #[serde(default)]
                value: String,
            }
            let g = Generic::deserialize(d)?;
            let value = BASE64.decode(&g.value).map_err(D::Error::custom)?;
            Ok(Any {
                type_url: g.type_url,
                value,
            })
        }
    }
}

/// An established event stream (see [`Client::subscribe`]). Ends when the
/// daemon ends it or the connection breaks; [`Subscription`] resubscribes.
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

/// A subscription that outlives daemon restarts: when the stream ends or
/// breaks it subscribes again with the same filters, pausing
/// [`RESUBSCRIBE_FIRST_DELAY`], doubling up to [`RESUBSCRIBE_MAX_DELAY`],
/// for as long as it is polled. Events published while it was not subscribed
/// are lost.
#[derive(Debug)]
pub struct Subscription {
    client: Arc<Client>,
    filters: Vec<String>,
    stream: Option<EventStream>,
    resubscribed: u64,
}

impl Subscription {
    /// Subscribes (see [`Client::subscribe`]).
    pub async fn new(client: Arc<Client>, filters: Vec<String>) -> Result<Subscription> {
        let stream = client.subscribe(filters.clone()).await?;
        Ok(Subscription {
            client,
            filters,
            stream: Some(stream),
            resubscribed: 0,
        })
    }

    /// How many times the stream was established again.
    pub fn resubscriptions(&self) -> u64 {
        self.resubscribed
    }

    /// The next event, resubscribing as often as needed. Never fails; waits
    /// for ever.
    pub async fn next(&mut self) -> Event {
        let mut delay = RESUBSCRIBE_FIRST_DELAY;
        loop {
            if let Some(stream) = &mut self.stream {
                match stream.next().await {
                    Ok(Some(event)) => return event,
                    Ok(None) | Err(_) => self.stream = None,
                }
            }
            tokio::time::sleep(delay).await;
            match self.client.subscribe(self.filters.clone()).await {
                Ok(stream) => {
                    self.stream = Some(stream);
                    self.resubscribed += 1;
                    delay = RESUBSCRIBE_FIRST_DELAY;
                }
                Err(_) => delay = (delay * 2).min(RESUBSCRIBE_MAX_DELAY),
            }
        }
    }
}

/// Topic of the notice an [`EventQueue`] delivers in place of the events it
/// dropped; its payload is `{"dropped": N}`.
pub const DROPPED_TOPIC: &str = "/containerd-c/dropped";
/// How many events an [`EventQueue`] of a C subscription holds.
pub const EVENT_QUEUE_CAPACITY: usize = 4096;

/// A bounded FIFO of events between a [`Subscription`] reader (which must
/// never wait) and a consumer that may be slow.
///
/// It holds up to `capacity` events. [`push`](Self::push) never blocks:
/// when the queue is full the event is dropped and counted. The count then
/// comes out of [`pop`](Self::pop), in order, as a notice event (topic
/// [`DROPPED_TOPIC`], namespace "", payload `{"dropped": N}`, N = events
/// lost since the previous notice) where the lost events would have been:
/// after the events queued before them and before the first one pushed
/// once there is room again, or as soon as the consumer has taken
/// everything else. Notices take no room: there is at most one per run of
/// dropped events, so the queue never holds more than `2 * capacity + 1`
/// entries.
#[derive(Debug)]
pub struct EventQueue {
    capacity: usize,
    state: std::sync::Mutex<QueueState>,
    ready: std::sync::Condvar,
}

#[derive(Debug, Default)]
struct QueueState {
    slots: std::collections::VecDeque<Slot>,
    /// The `Slot::Event`s in `slots`.
    events: usize,
    /// Dropped since the last notice was queued or taken.
    unreported: u64,
    /// Dropped in all.
    dropped: u64,
    closed: bool,
}

#[derive(Debug)]
enum Slot {
    Event(Event),
    Dropped(u64),
}

/// The notice for `n` dropped events.
pub fn dropped_event(n: u64) -> Event {
    Event {
        timestamp: None,
        namespace: String::new(),
        topic: DROPPED_TOPIC.to_string(),
        type_url: String::new(),
        json: json!({ "dropped": n }).to_string(),
    }
}

impl EventQueue {
    /// A queue holding up to `capacity` events (at least 1).
    pub fn new(capacity: usize) -> EventQueue {
        EventQueue {
            capacity: capacity.max(1),
            state: Default::default(),
            ready: Default::default(),
        }
    }

    /// How many events it holds at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    fn state(&self) -> std::sync::MutexGuard<'_, QueueState> {
        // Nothing panics while holding the lock; if something did, the
        // state is still consistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends `event`, or drops and counts it when the queue is full.
    /// Never blocks. `false` when the event was dropped, or when the queue
    /// is closed (then it is not counted).
    pub fn push(&self, event: Event) -> bool {
        let mut st = self.state();
        if st.closed {
            return false;
        }
        if st.events >= self.capacity {
            st.unreported += 1;
            st.dropped += 1;
            return false;
        }
        if st.unreported > 0 {
            let n = std::mem::take(&mut st.unreported);
            st.slots.push_back(Slot::Dropped(n));
        }
        st.slots.push_back(Slot::Event(event));
        st.events += 1;
        drop(st);
        self.ready.notify_one();
        true
    }

    /// The next event or notice without waiting; `None` when there is none
    /// or the queue is closed.
    pub fn try_pop(&self) -> Option<Event> {
        let mut st = self.state();
        if st.closed {
            return None;
        }
        Self::take(&mut st)
    }

    /// The next event or notice, waiting for one; `None` once the queue is
    /// closed (events still in it are discarded).
    pub fn pop(&self) -> Option<Event> {
        let mut st = self.state();
        loop {
            if st.closed {
                return None;
            }
            if let Some(event) = Self::take(&mut st) {
                return Some(event);
            }
            st = self
                .ready
                .wait(st)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    fn take(st: &mut QueueState) -> Option<Event> {
        match st.slots.pop_front() {
            Some(Slot::Event(event)) => {
                st.events -= 1;
                Some(event)
            }
            Some(Slot::Dropped(n)) => Some(dropped_event(n)),
            None if st.unreported > 0 => Some(dropped_event(std::mem::take(&mut st.unreported))),
            None => None,
        }
    }

    /// Closes the queue: `pop` returns `None` from now on (waking a waiting
    /// one), `push` refuses. Never blocks for long.
    pub fn close(&self) {
        let mut st = self.state();
        st.closed = true;
        st.slots.clear();
        st.events = 0;
        drop(st);
        self.ready.notify_all();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// How many events it holds now (notices not counted).
    pub fn len(&self) -> usize {
        self.state().events
    }

    /// Whether it holds no event (a notice may still be due).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many events it dropped in all.
    pub fn dropped(&self) -> u64 {
        self.state().dropped
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use prost_types::Timestamp;

    use super::*;
    use crate::api::containerd::events as ev;
    use crate::api::services::images::v1 as images;
    use crate::api::types::Mount;

    /// Payloads are encoded with the gRPC stubs' types (`crate::api`), as
    /// containerd's bytes would be, and decoded by the generated JSON types.
    fn any<M: Message>(type_url: &str, m: &M) -> Any {
        Any {
            type_url: type_url.to_string(),
            value: m.encode_to_vec(),
        }
    }

    fn decoded(a: &Any) -> Value {
        serde_json::from_str(&event_json(a)).unwrap()
    }

    /// The JSON of `m` sent as `containerd.events.<name>`.
    fn event<M: Message>(name: &str, m: &M) -> Value {
        decoded(&any(&format!("containerd.events.{name}"), m))
    }

    fn labels(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn ts(seconds: i64, nanos: i32) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos })
    }

    #[test]
    fn task_exit_in_protobuf_json() {
        let m = ev::TaskExit {
            container_id: "c1".into(),
            id: "e1".into(),
            pid: 4242,
            exit_status: 137,
            exited_at: ts(1_714_557_600, 123_456_789),
        };
        let want = json!({"containerId": "c1", "id": "e1", "pid": 4242, "exitStatus": 137,
                          "exitedAt": "2024-05-01T10:00:00.123456789Z"});
        assert_eq!(event("TaskExit", &m), want);
        // A prefixed type URL names the same type.
        assert_eq!(
            decoded(&any("type.googleapis.com/containerd.events.TaskExit", &m)),
            want
        );
        // Keys come sorted, numbers as numbers.
        assert_eq!(
            event_json(&any("containerd.events.TaskExit", &m)),
            r#"{"containerId":"c1","exitStatus":137,"exitedAt":"2024-05-01T10:00:00.123456789Z","id":"e1","pid":4242}"#
        );
        // The largest uint32 stays a number.
        let m = ev::TaskExit {
            exit_status: u32::MAX,
            ..m
        };
        assert_eq!(event("TaskExit", &m)["exitStatus"], json!(4_294_967_295u64));
    }

    #[test]
    fn zero_values_are_present_and_unset_messages_absent() {
        assert_eq!(
            event("TaskDelete", &ev::TaskDelete::default()),
            json!({"containerId": "", "pid": 0, "exitStatus": 0, "id": ""})
        );
        assert_eq!(
            event("TaskExit", &ev::TaskExit::default()),
            json!({"containerId": "", "id": "", "pid": 0, "exitStatus": 0})
        );
        assert_eq!(
            event("TaskCreate", &ev::TaskCreate::default()),
            json!({"containerId": "", "bundle": "", "rootfs": [], "checkpoint": "", "pid": 0})
        );
        assert_eq!(
            event("ContainerCreate", &ev::ContainerCreate::default()),
            json!({"id": "", "image": ""})
        );
        assert_eq!(
            event("ContainerUpdate", &ev::ContainerUpdate::default()),
            json!({"id": "", "image": "", "labels": {}, "snapshotKey": ""})
        );
        assert_eq!(
            event("TaskIO", &ev::TaskIo::default()),
            json!({"stdin": "", "stdout": "", "stderr": "", "terminal": false})
        );
    }

    #[test]
    fn timestamps_in_rfc3339_utc() {
        let exited_at = |seconds, nanos| {
            let m = ev::TaskDelete {
                exited_at: ts(seconds, nanos),
                ..Default::default()
            };
            event("TaskDelete", &m)["exitedAt"].clone()
        };
        assert_eq!(exited_at(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(
            exited_at(1_714_557_600, 500_000_000),
            "2024-05-01T10:00:00.500Z"
        );
        assert_eq!(exited_at(951_782_400, 1_000), "2000-02-29T00:00:00.000001Z");
        assert_eq!(exited_at(951_782_400, 1), "2000-02-29T00:00:00.000000001Z");
        assert_eq!(exited_at(-1, 0), "1969-12-31T23:59:59Z");
        // Go's zero time.Time, which containerd sends for "never".
        assert_eq!(exited_at(-62_135_596_800, 0), "0001-01-01T00:00:00Z");
        assert_eq!(
            exited_at(253_402_300_799, 999_999_999),
            "9999-12-31T23:59:59.999999999Z"
        );
        // The generated Deserialize reads what Serialize writes.
        let t = json::Timestamp {
            seconds: -62_135_596_800,
            nanos: 5_000,
        };
        let text = serde_json::to_string(&t).unwrap();
        assert_eq!(text, r#""0001-01-01T00:00:00.000005Z""#);
        assert_eq!(serde_json::from_str::<json::Timestamp>(&text).unwrap(), t);
    }

    #[test]
    fn container_events() {
        let m = ev::ContainerCreate {
            id: "web".into(),
            image: "docker.io/library/busybox:latest".into(),
            runtime: Some(ev::container_create::Runtime {
                name: "io.containerd.runc.v2".into(),
                options: Some(Any {
                    type_url: "containerd.runc.v1.Options".into(),
                    value: vec![1, 2, 3, 0xfb, 0xff],
                }),
            }),
        };
        assert_eq!(
            event("ContainerCreate", &m),
            json!({"id": "web", "image": "docker.io/library/busybox:latest",
                   "runtime": {"name": "io.containerd.runc.v2",
                               "options": {"typeUrl": "containerd.runc.v1.Options",
                                           "value": "AQID+/8="}}})
        );
        // A nested Any with an empty payload keeps both keys.
        let m = ev::ContainerCreate {
            runtime: Some(ev::container_create::Runtime {
                name: "r".into(),
                options: Some(Any {
                    type_url: "containerd.runc.v1.Options".into(),
                    value: vec![],
                }),
            }),
            ..m
        };
        assert_eq!(
            event("ContainerCreate", &m)["runtime"]["options"],
            json!({"typeUrl": "containerd.runc.v1.Options", "value": ""})
        );
        let m = ev::ContainerCreate {
            runtime: Some(ev::container_create::Runtime {
                name: "io.containerd.runc.v2".into(),
                options: None,
            }),
            ..m
        };
        assert_eq!(
            event("ContainerCreate", &m)["runtime"],
            json!({"name": "io.containerd.runc.v2"})
        );
        let m = ev::ContainerUpdate {
            id: "web".into(),
            image: "i".into(),
            labels: labels(&[("a", "b"), ("io.x/y", "")]),
            snapshot_key: "k".into(),
        };
        assert_eq!(
            event("ContainerUpdate", &m),
            json!({"id": "web", "image": "i", "labels": {"a": "b", "io.x/y": ""},
                   "snapshotKey": "k"})
        );
        let m = ev::ContainerDelete { id: "web".into() };
        assert_eq!(event("ContainerDelete", &m), json!({"id": "web"}));
    }

    #[test]
    fn task_events() {
        let m = ev::TaskCreate {
            container_id: "c".into(),
            bundle: "/run/b".into(),
            rootfs: vec![
                Mount {
                    r#type: "overlay".into(),
                    source: "overlay".into(),
                    target: "".into(),
                    options: vec!["ro".into(), "index=off".into()],
                },
                Mount::default(),
            ],
            io: Some(ev::TaskIo {
                stdin: "".into(),
                stdout: "/f/o".into(),
                stderr: "/f/e".into(),
                terminal: true,
            }),
            checkpoint: "".into(),
            pid: 7,
        };
        assert_eq!(
            event("TaskCreate", &m),
            json!({"containerId": "c", "bundle": "/run/b",
                   "rootfs": [{"type": "overlay", "source": "overlay", "target": "",
                               "options": ["ro", "index=off"]},
                              {"type": "", "source": "", "target": "", "options": []}],
                   "io": {"stdin": "", "stdout": "/f/o", "stderr": "/f/e", "terminal": true},
                   "checkpoint": "", "pid": 7})
        );
        let m = ev::TaskDelete {
            container_id: "c".into(),
            pid: 12,
            exit_status: 1,
            exited_at: ts(1_714_557_600, 0),
            id: "c".into(),
        };
        assert_eq!(
            event("TaskDelete", &m),
            json!({"containerId": "c", "pid": 12, "exitStatus": 1,
                   "exitedAt": "2024-05-01T10:00:00Z", "id": "c"})
        );
        let cases: Vec<(&str, Vec<u8>, Value)> = vec![
            (
                "TaskStart",
                ev::TaskStart {
                    container_id: "c".into(),
                    pid: 9,
                }
                .encode_to_vec(),
                json!({"containerId": "c", "pid": 9}),
            ),
            (
                "TaskOOM",
                ev::TaskOom {
                    container_id: "c".into(),
                }
                .encode_to_vec(),
                json!({"containerId": "c"}),
            ),
            (
                "TaskExecAdded",
                ev::TaskExecAdded {
                    container_id: "c".into(),
                    exec_id: "e".into(),
                }
                .encode_to_vec(),
                json!({"containerId": "c", "execId": "e"}),
            ),
            (
                "TaskExecStarted",
                ev::TaskExecStarted {
                    container_id: "c".into(),
                    exec_id: "e".into(),
                    pid: 3,
                }
                .encode_to_vec(),
                json!({"containerId": "c", "execId": "e", "pid": 3}),
            ),
            (
                "TaskPaused",
                ev::TaskPaused {
                    container_id: "c".into(),
                }
                .encode_to_vec(),
                json!({"containerId": "c"}),
            ),
            (
                "TaskResumed",
                ev::TaskResumed {
                    container_id: "c".into(),
                }
                .encode_to_vec(),
                json!({"containerId": "c"}),
            ),
            (
                "TaskCheckpointed",
                ev::TaskCheckpointed {
                    container_id: "c".into(),
                    checkpoint: "sha256:x".into(),
                }
                .encode_to_vec(),
                json!({"containerId": "c", "checkpoint": "sha256:x"}),
            ),
            (
                "TaskIO",
                ev::TaskIo {
                    stdin: "/f/i".into(),
                    stdout: "".into(),
                    stderr: "".into(),
                    terminal: true,
                }
                .encode_to_vec(),
                json!({"stdin": "/f/i", "stdout": "", "stderr": "", "terminal": true}),
            ),
        ];
        for (name, value, want) in cases {
            let a = Any {
                type_url: format!("containerd.events.{name}"),
                value,
            };
            assert_eq!(decoded(&a), want, "{name}");
        }
    }

    #[test]
    fn image_namespace_snapshot_and_content_events() {
        let kv = labels(&[("k", "v")]);
        let img = "containerd.services.images.v1.";
        assert_eq!(
            decoded(&any(
                &format!("{img}ImageCreate"),
                &images::ImageCreate {
                    name: "n".into(),
                    labels: kv.clone()
                }
            )),
            json!({"name": "n", "labels": {"k": "v"}})
        );
        assert_eq!(
            decoded(&any(
                &format!("{img}ImageUpdate"),
                &images::ImageUpdate {
                    name: "n".into(),
                    labels: HashMap::new()
                }
            )),
            json!({"name": "n", "labels": {}})
        );
        assert_eq!(
            decoded(&any(
                &format!("{img}ImageDelete"),
                &images::ImageDelete { name: "n".into() }
            )),
            json!({"name": "n"})
        );
        let m = ev::NamespaceCreate {
            name: "ns".into(),
            labels: labels(&[("a", "1"), ("b", "2")]),
        };
        assert_eq!(
            event("NamespaceCreate", &m),
            json!({"name": "ns", "labels": {"a": "1", "b": "2"}})
        );
        let m = ev::NamespaceUpdate {
            name: "ns".into(),
            labels: kv,
        };
        assert_eq!(
            event("NamespaceUpdate", &m),
            json!({"name": "ns", "labels": {"k": "v"}})
        );
        let m = ev::NamespaceDelete { name: "ns".into() };
        assert_eq!(event("NamespaceDelete", &m), json!({"name": "ns"}));
        let m = ev::SnapshotPrepare {
            key: "k".into(),
            parent: "p".into(),
        };
        assert_eq!(
            event("SnapshotPrepare", &m),
            json!({"key": "k", "parent": "p"})
        );
        let m = ev::SnapshotCommit {
            key: "k".into(),
            name: "n".into(),
        };
        assert_eq!(
            event("SnapshotCommit", &m),
            json!({"key": "k", "name": "n"})
        );
        let m = ev::SnapshotRemove { key: "k".into() };
        assert_eq!(event("SnapshotRemove", &m), json!({"key": "k"}));
        let m = ev::ContentDelete {
            digest: "sha256:ab".into(),
        };
        assert_eq!(event("ContentDelete", &m), json!({"digest": "sha256:ab"}));
    }

    #[test]
    fn every_event_type_has_a_mapping() {
        let names = [
            "containerd.events.ContainerCreate",
            "containerd.events.ContainerUpdate",
            "containerd.events.ContainerDelete",
            "containerd.events.ContentDelete",
            "containerd.services.images.v1.ImageCreate",
            "containerd.services.images.v1.ImageUpdate",
            "containerd.services.images.v1.ImageDelete",
            "containerd.events.NamespaceCreate",
            "containerd.events.NamespaceUpdate",
            "containerd.events.NamespaceDelete",
            "containerd.events.SnapshotPrepare",
            "containerd.events.SnapshotCommit",
            "containerd.events.SnapshotRemove",
            "containerd.events.TaskCreate",
            "containerd.events.TaskStart",
            "containerd.events.TaskDelete",
            "containerd.events.TaskExit",
            "containerd.events.TaskOOM",
            "containerd.events.TaskExecAdded",
            "containerd.events.TaskExecStarted",
            "containerd.events.TaskPaused",
            "containerd.events.TaskResumed",
            "containerd.events.TaskCheckpointed",
        ];
        for name in names {
            let v = json::message_json(name, &[]).unwrap_or_else(|| panic!("{name}: no mapping"));
            let v = v.unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(v.is_object() && v.get("typeUrl").is_none(), "{name}: {v}");
        }
        // Nested and imported messages are not event types.
        assert!(json::message_json("containerd.events.ContainerCreate.Runtime", &[]).is_none());
        assert!(json::message_json("containerd.types.Mount", &[]).is_none());
    }

    #[test]
    fn unknown_and_undecodable_payloads_in_generic_form() {
        let a = Any {
            type_url: "example.com/Whatever".into(),
            value: b"hi!?".to_vec(),
        };
        assert_eq!(
            decoded(&a),
            json!({"typeUrl": "example.com/Whatever", "value": "aGkhPw=="})
        );
        // containerd's own sync payload: a well-known type without mapping.
        let a = Any {
            type_url: "google.protobuf.Empty".into(),
            value: vec![],
        };
        assert_eq!(
            decoded(&a),
            json!({"typeUrl": "google.protobuf.Empty", "value": ""})
        );
        // A known name whose bytes are not that message.
        let a = Any {
            type_url: "containerd.events.TaskExit".into(),
            value: vec![0xff, 0xff, 0xff],
        };
        let v = decoded(&a);
        assert_eq!(v["typeUrl"], "containerd.events.TaskExit");
        assert_eq!(v["value"], "////");
        assert!(
            v["error"].as_str().unwrap().starts_with("decoding: "),
            "{v}"
        );
    }

    #[test]
    fn nested_any_reads_back() {
        let a = json::Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: vec![0, 1, 2, 250],
        };
        let text = serde_json::to_string(&a).unwrap();
        assert_eq!(
            text,
            r#"{"typeUrl":"containerd.runc.v1.Options","value":"AAEC+g=="}"#
        );
        assert_eq!(serde_json::from_str::<json::Any>(&text).unwrap(), a);
    }

    #[test]
    fn envelopes() {
        let e = Event::from_envelope(Envelope {
            timestamp: ts(10, 5),
            namespace: "ns".into(),
            topic: "/containers/delete".into(),
            event: Some(any(
                "containerd.events.ContainerDelete",
                &ev::ContainerDelete { id: "x".into() },
            )),
        });
        assert_eq!(
            e,
            Event {
                timestamp: Some(SystemTime::UNIX_EPOCH + Duration::new(10, 5)),
                namespace: "ns".into(),
                topic: "/containers/delete".into(),
                type_url: "containerd.events.ContainerDelete".into(),
                json: r#"{"id":"x"}"#.into(),
            }
        );
        let e = Event::from_envelope(Envelope::default());
        assert_eq!((e.timestamp, e.json.as_str()), (None, "null"));
    }

    fn numbered(i: u64) -> Event {
        Event {
            timestamp: None,
            namespace: "ns".into(),
            topic: "/t".into(),
            type_url: String::new(),
            json: i.to_string(),
        }
    }

    /// What came out of a queue, as numbers and `d<N>` for notices.
    fn drain(q: &EventQueue) -> Vec<String> {
        std::iter::from_fn(|| q.try_pop())
            .map(|e| {
                if e.topic == DROPPED_TOPIC {
                    assert_eq!(e.namespace, "");
                    let v: Value = serde_json::from_str(&e.json).unwrap();
                    format!("d{}", v["dropped"])
                } else {
                    e.json
                }
            })
            .collect()
    }

    #[test]
    fn a_full_queue_drops_counts_and_reports_in_order() {
        let q = EventQueue::new(3);
        assert_eq!(q.capacity(), 3);
        for i in 0..3 {
            assert!(q.push(numbered(i)));
        }
        // Full: the next ones are dropped, and memory stays put.
        for i in 3..10 {
            assert!(!q.push(numbered(i)));
            assert_eq!(q.len(), 3);
        }
        assert_eq!(q.dropped(), 7);
        // The consumer takes one; the next push lands after the notice.
        assert_eq!(q.try_pop().unwrap().json, "0");
        assert!(q.push(numbered(10)));
        assert!(!q.push(numbered(11)));
        assert_eq!(drain(&q), ["1", "2", "d7", "10", "d1"]);
        assert_eq!(q.dropped(), 8);
        // Reported once only.
        assert!(q.try_pop().is_none());
        assert!(q.is_empty());
        assert!(q.push(numbered(12)));
        assert_eq!(drain(&q), ["12"]);
    }

    #[test]
    fn the_notice_comes_once_the_consumer_catches_up() {
        let q = EventQueue::new(1);
        assert!(q.push(numbered(0)));
        assert!(!q.push(numbered(1)));
        assert!(!q.push(numbered(2)));
        assert_eq!(q.try_pop().unwrap().json, "0");
        let notice = q.try_pop().unwrap();
        assert_eq!(
            (notice.topic.as_str(), notice.namespace.as_str()),
            (DROPPED_TOPIC, "")
        );
        assert_eq!(notice.json, r#"{"dropped":2}"#);
        assert_eq!(notice.timestamp, None);
        assert!(q.try_pop().is_none());
        // A zero capacity means one.
        assert_eq!(EventQueue::new(0).capacity(), 1);
    }

    #[test]
    fn a_bounded_queue_between_threads() {
        let q = Arc::new(EventQueue::new(16));
        let consumer = {
            let q = q.clone();
            std::thread::spawn(move || {
                let (mut got, mut reported) = (Vec::new(), 0u64);
                while let Some(e) = q.pop() {
                    if e.topic == DROPPED_TOPIC {
                        let v: Value = serde_json::from_str(&e.json).unwrap();
                        reported += v["dropped"].as_u64().unwrap();
                    } else {
                        let i: u64 = e.json.parse().unwrap();
                        if i == u64::MAX {
                            break;
                        }
                        got.push(i);
                        if got.len() % 8 == 0 {
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
                (got, reported)
            })
        };
        let mut max_len = 0;
        for i in 0..5000 {
            q.push(numbered(i));
            max_len = max_len.max(q.len());
        }
        // The end marker must get in; its failed attempts count as drops.
        let mut marker_drops = 0;
        while !q.push(numbered(u64::MAX)) {
            marker_drops += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
        let (got, reported) = consumer.join().unwrap();
        assert!(max_len <= 16, "{max_len}");
        assert!(got.windows(2).all(|w| w[0] < w[1]), "in order");
        // Every event was delivered or reported as dropped.
        assert_eq!(got.len() as u64 + reported, 5000 + marker_drops);
        assert_eq!(reported, q.dropped());
        assert!(q.dropped() > 0, "the producer outran the consumer");
    }

    #[test]
    fn close_wakes_a_waiting_consumer_and_discards() {
        let q = Arc::new(EventQueue::new(4));
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || q.pop())
        };
        std::thread::sleep(Duration::from_millis(50));
        q.close();
        assert!(waiter.join().unwrap().is_none());
        assert!(q.is_closed());
        assert!(!q.push(numbered(1)));
        assert_eq!(q.dropped(), 0, "pushes after close are not counted");
        assert!(q.pop().is_none());

        let q = EventQueue::new(2);
        q.push(numbered(1));
        q.push(numbered(2));
        q.push(numbered(3));
        q.close();
        assert!(q.pop().is_none() && q.try_pop().is_none());
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn sync_filter_only_with_caller_filters() {
        assert!(wire_filters(&[], "/containerd-c/sync/1").is_empty());
        assert_eq!(
            wire_filters(&["namespace==a".to_string()], "/containerd-c/sync/1"),
            vec!["namespace==a", "topic==\"/containerd-c/sync/1\""]
        );
        assert_eq!(type_name("a/b/c.D"), "c.D");
        assert_eq!(type_name("c.D"), "c.D");
    }
}
