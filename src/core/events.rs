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

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use prost::Message;
use prost_types::{Any, Timestamp};
use serde_json::{json, Map, Value};

use crate::api::containerd::events as ev;
use crate::api::services::events::v1::{Envelope, PublishRequest, SubscribeRequest};
use crate::api::services::images::v1 as images;
use crate::api::types::Mount;
use crate::core::client::Client;
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
/// Known types (every event containerd 1.6 publishes: `containerd.events.*`
/// container, task, snapshot, namespace and content events, and
/// `containerd.services.images.v1.Image{Create,Update,Delete}`), named bare or
/// with a `type.googleapis.com/`-style prefix, are decoded into protobuf-JSON:
/// lowerCamelCase field names (`containerId`, `exitStatus`), every field
/// present even when zero or empty, numbers as numbers, timestamps as RFC 3339
/// strings in UTC (`"exitedAt": "2024-05-01T10:00:00.123456789Z"`; an unset
/// one is `null`), maps as objects, a nested `Any` (the runtime options of
/// `ContainerCreate`) in the generic form below.
///
/// Anything else, and a known type whose bytes do not decode, is
/// `{"typeUrl": "<as sent>", "value": "<payload, standard base64>"}` (plus
/// `"error"` saying why, for the latter).
pub fn event_json(any: &Any) -> String {
    // Decoding must never take a subscription down: a panic (a bug) falls
    // back to the generic form.
    let value = crate::ffi::boundary::catch(|| decode_known(any))
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
        "value": base64::engine::general_purpose::STANDARD.encode(&any.value),
    })
}

/// The type name of a type URL: what follows its last `/`.
fn type_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

/// `None` for an unknown type; `Some(Err)` for bytes that do not decode.
fn decode_known(any: &Any) -> Option<std::result::Result<Value, String>> {
    fn dec<M: Message + Default>(
        bytes: &[u8],
        to_json: fn(M) -> Value,
    ) -> std::result::Result<Value, String> {
        M::decode(bytes)
            .map(to_json)
            .map_err(|e| format!("decoding: {e}"))
    }
    let b = any.value.as_slice();
    let v = match type_name(&any.type_url) {
        "containerd.events.ContainerCreate" => dec(b, container_create),
        "containerd.events.ContainerUpdate" => dec(b, |m: ev::ContainerUpdate| {
            json!({"id": m.id, "image": m.image, "labels": labels(m.labels),
                   "snapshotKey": m.snapshot_key})
        }),
        "containerd.events.ContainerDelete" => dec(b, |m: ev::ContainerDelete| json!({"id": m.id})),
        "containerd.events.ContentDelete" => {
            dec(b, |m: ev::ContentDelete| json!({"digest": m.digest}))
        }
        "containerd.services.images.v1.ImageCreate" => dec(
            b,
            |m: images::ImageCreate| json!({"name": m.name, "labels": labels(m.labels)}),
        ),
        "containerd.services.images.v1.ImageUpdate" => dec(
            b,
            |m: images::ImageUpdate| json!({"name": m.name, "labels": labels(m.labels)}),
        ),
        "containerd.services.images.v1.ImageDelete" => {
            dec(b, |m: images::ImageDelete| json!({"name": m.name}))
        }
        "containerd.events.NamespaceCreate" => dec(
            b,
            |m: ev::NamespaceCreate| json!({"name": m.name, "labels": labels(m.labels)}),
        ),
        "containerd.events.NamespaceUpdate" => dec(
            b,
            |m: ev::NamespaceUpdate| json!({"name": m.name, "labels": labels(m.labels)}),
        ),
        "containerd.events.NamespaceDelete" => {
            dec(b, |m: ev::NamespaceDelete| json!({"name": m.name}))
        }
        "containerd.events.SnapshotPrepare" => dec(
            b,
            |m: ev::SnapshotPrepare| json!({"key": m.key, "parent": m.parent}),
        ),
        "containerd.events.SnapshotCommit" => dec(
            b,
            |m: ev::SnapshotCommit| json!({"key": m.key, "name": m.name}),
        ),
        "containerd.events.SnapshotRemove" => dec(b, |m: ev::SnapshotRemove| json!({"key": m.key})),
        "containerd.events.TaskCreate" => dec(b, task_create),
        "containerd.events.TaskStart" => dec(
            b,
            |m: ev::TaskStart| json!({"containerId": m.container_id, "pid": m.pid}),
        ),
        "containerd.events.TaskDelete" => dec(b, |m: ev::TaskDelete| {
            json!({"containerId": m.container_id, "pid": m.pid, "exitStatus": m.exit_status,
                   "exitedAt": timestamp(m.exited_at.as_ref()), "id": m.id})
        }),
        "containerd.events.TaskExit" => dec(b, |m: ev::TaskExit| {
            json!({"containerId": m.container_id, "id": m.id, "pid": m.pid,
                   "exitStatus": m.exit_status, "exitedAt": timestamp(m.exited_at.as_ref())})
        }),
        "containerd.events.TaskOOM" => {
            dec(b, |m: ev::TaskOom| json!({"containerId": m.container_id}))
        }
        "containerd.events.TaskExecAdded" => dec(
            b,
            |m: ev::TaskExecAdded| json!({"containerId": m.container_id, "execId": m.exec_id}),
        ),
        "containerd.events.TaskExecStarted" => dec(
            b,
            |m: ev::TaskExecStarted| json!({"containerId": m.container_id, "execId": m.exec_id, "pid": m.pid}),
        ),
        "containerd.events.TaskPaused" => dec(
            b,
            |m: ev::TaskPaused| json!({"containerId": m.container_id}),
        ),
        "containerd.events.TaskResumed" => dec(
            b,
            |m: ev::TaskResumed| json!({"containerId": m.container_id}),
        ),
        "containerd.events.TaskCheckpointed" => dec(
            b,
            |m: ev::TaskCheckpointed| json!({"containerId": m.container_id, "checkpoint": m.checkpoint}),
        ),
        _ => return None,
    };
    Some(v)
}

fn container_create(m: ev::ContainerCreate) -> Value {
    let runtime = m.runtime.map_or(
        Value::Null,
        |r| json!({"name": r.name, "options": r.options.as_ref().map_or(Value::Null, any_json)}),
    );
    json!({"id": m.id, "image": m.image, "runtime": runtime})
}

fn task_create(m: ev::TaskCreate) -> Value {
    let io = m.io.map_or(Value::Null, |io| {
        json!({"stdin": io.stdin, "stdout": io.stdout, "stderr": io.stderr,
               "terminal": io.terminal})
    });
    json!({
        "containerId": m.container_id,
        "bundle": m.bundle,
        "rootfs": m.rootfs.into_iter().map(mount).collect::<Vec<_>>(),
        "io": io,
        "checkpoint": m.checkpoint,
        "pid": m.pid,
    })
}

fn mount(m: Mount) -> Value {
    json!({"type": m.r#type, "source": m.source, "target": m.target, "options": m.options})
}

fn labels(l: HashMap<String, String>) -> Value {
    Value::Object(
        l.into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect::<Map<_, _>>(),
    )
}

fn timestamp(t: Option<&Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(rfc3339(t)))
}

/// A protobuf timestamp as protobuf-JSON writes it: RFC 3339 in UTC with 0,
/// 3, 6 or 9 fractional digits. Handles times before 1970 (Go's zero time,
/// which containerd sends for "not exited", is `0001-01-01T00:00:00Z`).
pub fn rfc3339(t: &Timestamp) -> String {
    let nanos = t.nanos.clamp(0, 999_999_999) as u32;
    let days = t.seconds.div_euclid(86_400);
    let secs = t.seconds.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let frac = if nanos == 0 {
        String::new()
    } else if nanos.is_multiple_of(1_000_000) {
        format!(".{:03}", nanos / 1_000_000)
    } else if nanos.is_multiple_of(1_000) {
        format!(".{:06}", nanos / 1_000)
    } else {
        format!(".{nanos:09}")
    };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Year, month, day of a count of days since 1970-01-01 (proleptic
/// Gregorian; Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn any<M: Message>(type_url: &str, m: &M) -> Any {
        Any {
            type_url: type_url.to_string(),
            value: m.encode_to_vec(),
        }
    }

    fn decoded(a: &Any) -> Value {
        serde_json::from_str(&event_json(a)).unwrap()
    }

    #[test]
    fn task_exit_in_protobuf_json() {
        let m = ev::TaskExit {
            container_id: "c1".into(),
            id: "c1".into(),
            pid: 4242,
            exit_status: 0,
            exited_at: Some(Timestamp {
                seconds: 1_714_557_600,
                nanos: 123_456_789,
            }),
        };
        let want = json!({"containerId": "c1", "id": "c1", "pid": 4242, "exitStatus": 0,
                          "exitedAt": "2024-05-01T10:00:00.123456789Z"});
        assert_eq!(decoded(&any("containerd.events.TaskExit", &m)), want);
        // A prefixed type URL names the same type.
        assert_eq!(
            decoded(&any("type.googleapis.com/containerd.events.TaskExit", &m)),
            want
        );
    }

    #[test]
    fn zero_values_are_present_and_unset_timestamps_null() {
        let m = ev::TaskDelete::default();
        assert_eq!(
            decoded(&any("containerd.events.TaskDelete", &m)),
            json!({"containerId": "", "pid": 0, "exitStatus": 0, "exitedAt": null, "id": ""})
        );
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
                    value: vec![1, 2, 3],
                }),
            }),
        };
        assert_eq!(
            decoded(&any("containerd.events.ContainerCreate", &m)),
            json!({"id": "web", "image": "docker.io/library/busybox:latest",
                   "runtime": {"name": "io.containerd.runc.v2",
                               "options": {"typeUrl": "containerd.runc.v1.Options",
                                           "value": "AQID"}}})
        );
        let m = ev::ContainerCreate::default();
        assert_eq!(
            decoded(&any("containerd.events.ContainerCreate", &m)),
            json!({"id": "", "image": "", "runtime": null})
        );
        let m = ev::ContainerUpdate {
            id: "web".into(),
            image: "i".into(),
            labels: [("a".to_string(), "b".to_string())].into(),
            snapshot_key: "k".into(),
        };
        assert_eq!(
            decoded(&any("containerd.events.ContainerUpdate", &m)),
            json!({"id": "web", "image": "i", "labels": {"a": "b"}, "snapshotKey": "k"})
        );
        let m = ev::ContainerDelete { id: "web".into() };
        assert_eq!(
            decoded(&any("containerd.events.ContainerDelete", &m)),
            json!({"id": "web"})
        );
    }

    #[test]
    fn task_events() {
        let m = ev::TaskCreate {
            container_id: "c".into(),
            bundle: "/run/b".into(),
            rootfs: vec![Mount {
                r#type: "overlay".into(),
                source: "overlay".into(),
                target: "".into(),
                options: vec!["ro".into()],
            }],
            io: Some(ev::TaskIo {
                stdin: "".into(),
                stdout: "/f/o".into(),
                stderr: "/f/e".into(),
                terminal: false,
            }),
            checkpoint: "".into(),
            pid: 7,
        };
        assert_eq!(
            decoded(&any("containerd.events.TaskCreate", &m)),
            json!({"containerId": "c", "bundle": "/run/b",
                   "rootfs": [{"type": "overlay", "source": "overlay", "target": "",
                               "options": ["ro"]}],
                   "io": {"stdin": "", "stdout": "/f/o", "stderr": "/f/e", "terminal": false},
                   "checkpoint": "", "pid": 7})
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
        let labels: HashMap<String, String> = [("k".to_string(), "v".to_string())].into();
        let img = "containerd.services.images.v1.";
        assert_eq!(
            decoded(&any(
                &format!("{img}ImageCreate"),
                &images::ImageCreate {
                    name: "n".into(),
                    labels: labels.clone()
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
        let e = "containerd.events.";
        assert_eq!(
            decoded(&any(
                &format!("{e}NamespaceCreate"),
                &ev::NamespaceCreate {
                    name: "ns".into(),
                    labels: labels.clone()
                }
            )),
            json!({"name": "ns", "labels": {"k": "v"}})
        );
        assert_eq!(
            decoded(&any(
                &format!("{e}NamespaceUpdate"),
                &ev::NamespaceUpdate {
                    name: "ns".into(),
                    labels
                }
            )),
            json!({"name": "ns", "labels": {"k": "v"}})
        );
        assert_eq!(
            decoded(&any(
                &format!("{e}NamespaceDelete"),
                &ev::NamespaceDelete { name: "ns".into() }
            )),
            json!({"name": "ns"})
        );
        assert_eq!(
            decoded(&any(
                &format!("{e}SnapshotPrepare"),
                &ev::SnapshotPrepare {
                    key: "k".into(),
                    parent: "p".into()
                }
            )),
            json!({"key": "k", "parent": "p"})
        );
        assert_eq!(
            decoded(&any(
                &format!("{e}SnapshotCommit"),
                &ev::SnapshotCommit {
                    key: "k".into(),
                    name: "n".into()
                }
            )),
            json!({"key": "k", "name": "n"})
        );
        assert_eq!(
            decoded(&any(
                &format!("{e}SnapshotRemove"),
                &ev::SnapshotRemove { key: "k".into() }
            )),
            json!({"key": "k"})
        );
        assert_eq!(
            decoded(&any(
                &format!("{e}ContentDelete"),
                &ev::ContentDelete {
                    digest: "sha256:ab".into()
                }
            )),
            json!({"digest": "sha256:ab"})
        );
    }

    #[test]
    fn unknown_and_undecodable_payloads_in_generic_form() {
        let a = Any {
            type_url: "example.com/Whatever".into(),
            value: b"hi!".to_vec(),
        };
        assert_eq!(
            decoded(&a),
            json!({"typeUrl": "example.com/Whatever", "value": "aGkh"})
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
    fn envelopes() {
        let e = Event::from_envelope(Envelope {
            timestamp: Some(Timestamp {
                seconds: 10,
                nanos: 5,
            }),
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

    #[test]
    fn timestamps() {
        let ts = |seconds, nanos| rfc3339(&Timestamp { seconds, nanos });
        assert_eq!(ts(0, 0), "1970-01-01T00:00:00Z");
        assert_eq!(ts(1_714_557_600, 500_000_000), "2024-05-01T10:00:00.500Z");
        assert_eq!(ts(951_782_400, 1_000), "2000-02-29T00:00:00.000001Z");
        assert_eq!(ts(-1, 0), "1969-12-31T23:59:59Z");
        // Go's zero time.Time, which containerd sends for "never".
        assert_eq!(ts(-62_135_596_800, 0), "0001-01-01T00:00:00Z");
        assert_eq!(
            ts(253_402_300_799, 999_999_999),
            "9999-12-31T23:59:59.999999999Z"
        );
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
