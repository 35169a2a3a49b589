//! An event's payload (a protobuf `Any`) as JSON: containerd's event types
//! in protobuf's JSON mapping through the types `build.rs` generates
//! (prost plus pbjson), anything else in a generic `{"typeUrl", "value"}`
//! form. The task metrics (`core::task::metrics`) decode their statistics
//! the same way, through `to_json`, `type_name` and
//! `decoded_or_generic`.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use prost::Message;
use prost_types::Any;
use serde::Serialize;
use serde_json::{json, Value};

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
    decoded_or_generic(any, value).to_string()
}

/// What a generated table's `message_json` gave for `any`: the decoded JSON,
/// or the generic form of [`any_json`] for a type the table does not know,
/// plus `"error"` saying why for bytes that did not decode.
pub(crate) fn decoded_or_generic(
    any: &Any,
    decoded: Option<std::result::Result<Value, String>>,
) -> Value {
    match decoded {
        Some(Ok(v)) => v,
        Some(Err(why)) => {
            let mut v = any_json(any);
            v["error"] = Value::String(why);
            v
        }
        None => any_json(any),
    }
}

/// The generic JSON form of an `Any`.
pub fn any_json(any: &Any) -> Value {
    json!({
        "typeUrl": any.type_url,
        "value": BASE64.encode(&any.value),
    })
}

/// The type name of a type URL: what follows its last `/`.
pub(crate) fn type_name(type_url: &str) -> &str {
    type_url.rsplit('/').next().unwrap_or(type_url)
}

/// Decodes `bytes` as an `M` and writes it as JSON (the generated table's
/// one step for every type).
pub(crate) fn to_json<M: Message + Default + Serialize>(
    bytes: &[u8],
) -> std::result::Result<Value, String> {
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

    pub mod containerd {
        pub mod types {
            crate::core::pbjson_package!("event_json", "containerd.types");
        }
        pub mod events {
            crate::core::pbjson_package!("event_json", "containerd.events");
        }
        pub mod services {
            pub mod images {
                pub mod v1 {
                    crate::core::pbjson_package!("event_json", "containerd.services.images.v1");
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use prost_types::Timestamp;

    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::api::containerd::events as ev;
    use crate::api::services::events::v1::Envelope;
    use crate::api::services::images::v1 as images;
    use crate::api::types::Mount;
    use crate::core::events::Event;

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

    #[test]
    fn a_type_name_is_what_follows_the_last_slash() {
        assert_eq!(type_name("a/b/c.D"), "c.D");
        assert_eq!(type_name("c.D"), "c.D");
    }
}
