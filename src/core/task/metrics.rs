//! Task metrics and resources: the cgroups statistics a task's `Metric`
//! carries, decoded into JSON, and the OCI `LinuxResources` an update sends.
//!
//! containerd's runc shim reports a task's statistics as an `Any` of type
//! [`CGROUPS_V1_METRICS`] or [`CGROUPS_V2_METRICS`] (as the host mounts its
//! cgroups). Both are decoded by the types `build.rs` generates from
//! `proto/io/containerd/cgroups/` (prost plus pbjson `Serialize` impls, as
//! for the event payloads), then every 64-bit counter, which protobuf's JSON
//! mapping writes as a string, is turned back into a JSON number: C callers
//! parse plain numbers, and serde_json writes a `u64` exactly.

use prost_types::Any;
use serde_json::{json, Value};

use crate::core::daemon::ident;
use crate::core::error::{Error, Result};
// `to_json` is the generated table's (`json::message_json`) one step.
use crate::core::events::payload::{decoded_or_generic, to_json, type_name};

/// The type name of cgroup v1 statistics.
pub const CGROUPS_V1_METRICS: &str = "io.containerd.cgroups.v1.Metrics";
/// The type name of cgroup v2 statistics.
pub const CGROUPS_V2_METRICS: &str = "io.containerd.cgroups.v2.Metrics";
/// The type URL containerd's Go client gives the resources of a task update
/// (as it registers the OCI `LinuxResources` type).
pub const LINUX_RESOURCES_TYPE_URL: &str =
    "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
/// The members of an OCI `LinuxResources` object.
const RESOURCES_MEMBERS: [&str; 9] = [
    "devices",
    "memory",
    "cpu",
    "pids",
    "blockIO",
    "hugepageLimits",
    "network",
    "rdma",
    "unified",
];

/// The JSON of a task's metric data `any`:
/// `{"type": "<type URL as sent>", "data": {...}}`.
///
/// cgroups v1 and v2 statistics (named bare, as containerd sends them, or
/// with a `host/`-style prefix) come as protobuf's JSON mapping writes them
/// (lowerCamelCase names, every field present, zero or not), except that
/// 64-bit counters are JSON numbers, not strings. Anything else, or bytes
/// that do not decode, has `data` in the generic form `{"typeUrl",
/// "value"}` (standard base64), plus `"error"` for the latter.
pub fn metric_json(any: &Any) -> Value {
    let name = type_name(&any.type_url);
    let decoded = json::message_json(name, &any.value).map(|decoded| {
        decoded.map(|mut v| {
            numbers_for_strings(name, &mut v);
            v
        })
    });
    json!({ "type": any.type_url, "data": decoded_or_generic(any, decoded) })
}

/// Rewrites the 64-bit integer fields of `value`, the JSON of message
/// `name`, and of the messages inside it, from strings to numbers.
fn numbers_for_strings(name: &str, value: &mut Value) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    for field in json::number_fields(name) {
        match object.get_mut(*field) {
            Some(Value::Array(items)) => items.iter_mut().for_each(to_number),
            Some(v) => to_number(v),
            None => {}
        }
    }
    for (field, message) in json::message_fields(name) {
        match object.get_mut(*field) {
            Some(Value::Array(items)) => {
                for item in items {
                    numbers_for_strings(message, item);
                }
            }
            Some(v) => numbers_for_strings(message, v),
            None => {}
        }
    }
}

/// A decimal string as a JSON number (left as it is if it is not one).
fn to_number(v: &mut Value) {
    let Value::String(s) = v else { return };
    if let Ok(n) = s.parse::<u64>() {
        *v = Value::from(n);
    } else if let Ok(n) = s.parse::<i64>() {
        *v = Value::from(n);
    }
}

/// Checks `resources_json`, an OCI `LinuxResources` object, before anything
/// is sent: valid JSON, an object of `LinuxResources` members only, each of
/// the OCI type (oci-spec's `LinuxResources` parses it).
pub fn validate_resources(resources_json: &str) -> Result<()> {
    let value: Value = serde_json::from_str(resources_json).map_err(|e| {
        Error::invalid(format!(
            "resources_json {} is not valid JSON: {e}",
            ident::shown(resources_json)
        ))
    })?;
    let Value::Object(members) = &value else {
        return Err(Error::invalid(format!(
            "resources_json {} is not a JSON object (an OCI LinuxResources)",
            ident::shown(resources_json)
        )));
    };
    if let Some(unknown) = members
        .keys()
        .find(|k| !RESOURCES_MEMBERS.contains(&k.as_str()))
    {
        return Err(Error::invalid(format!(
            "resources_json has member {} which an OCI LinuxResources has not (it has {})",
            ident::shown(unknown),
            RESOURCES_MEMBERS.join(", ")
        )));
    }
    crate::core::container::spec::from_json_text::<oci_spec::runtime::LinuxResources>(
        resources_json,
    )
    .map_err(|e| Error::invalid(format!("resources_json is not an OCI LinuxResources: {e}")))?;
    Ok(())
}

/// The cgroups statistics types as `build.rs` generates them for JSON: prost
/// messages with pbjson's `Serialize` impls, and the tables
/// `message_json` (type name to type), `number_fields` and
/// `message_fields` (per message, for [`numbers_for_strings`]).
pub mod json {
    #![allow(clippy::all, missing_docs, rustdoc::all)]

    pub mod io {
        pub mod containerd {
            pub mod cgroups {
                pub mod v1 {
                    crate::core::pbjson_package!("metrics_json", "io.containerd.cgroups.v1");
                }
                pub mod v2 {
                    crate::core::pbjson_package!("metrics_json", "io.containerd.cgroups.v2");
                }
            }
        }
    }

    include!(concat!(env!("OUT_DIR"), "/metrics_json/table.rs"));
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::json::io::containerd::cgroups::{v1, v2};
    use super::*;
    use crate::core::error::Code;

    fn any(type_url: &str, message: &impl Message) -> Any {
        Any {
            type_url: type_url.to_string(),
            value: message.encode_to_vec(),
        }
    }

    #[test]
    fn v2_metrics_decode_with_numbers() {
        let big = u64::MAX - 1; // beyond what a double holds exactly
        let m = v2::Metrics {
            pids: Some(v2::PidsStat {
                current: 3,
                limit: 100,
            }),
            cpu: Some(v2::CpuStat {
                usage_usec: 123_456,
                user_usec: 100_000,
                system_usec: 23_456,
                ..Default::default()
            }),
            memory: Some(v2::MemoryStat {
                usage: 4096,
                usage_limit: big,
                ..Default::default()
            }),
            io: Some(v2::IoStat {
                usage: vec![v2::IoEntry {
                    major: 8,
                    minor: 0,
                    rbytes: 1 << 40,
                    ..Default::default()
                }],
            }),
            hugetlb: vec![v2::HugeTlbStat {
                current: 0,
                max: 7,
                pagesize: "2MB".into(),
            }],
            rdma: Some(v2::RdmaStat {
                current: vec![v2::RdmaEntry {
                    device: "18446744073709551615".into(),
                    hca_handles: 2,
                    hca_objects: 5,
                }],
                limit: vec![],
            }),
            ..Default::default()
        };
        let v = metric_json(&any(CGROUPS_V2_METRICS, &m));
        assert_eq!(v["type"], CGROUPS_V2_METRICS);
        let d = &v["data"];
        assert_eq!(d["pids"], json!({"current": 3, "limit": 100}));
        assert_eq!(d["cpu"]["usageUsec"], 123_456);
        assert_eq!(d["cpu"]["nrThrottled"], 0);
        assert_eq!(d["memory"]["usage"], 4096);
        assert_eq!(d["memory"]["usageLimit"], big);
        assert!(v
            .to_string()
            .contains("\"usageLimit\":18446744073709551614"));
        assert_eq!(
            d["io"]["usage"][0],
            json!({"major": 8, "minor": 0, "rbytes": 1u64 << 40, "wbytes": 0, "rios": 0, "wios": 0})
        );
        assert_eq!(
            d["hugetlb"],
            json!([{"current": 0, "max": 7, "pagesize": "2MB"}])
        );
        // A string field stays a string, whatever it holds.
        assert_eq!(d["rdma"]["current"][0]["device"], "18446744073709551615");
        assert_eq!(d["rdma"]["current"][0]["hcaObjects"], 5);
        // Unset messages are absent.
        assert!(d.get("memoryEvents").is_none(), "{d}");
    }

    #[test]
    fn v1_metrics_decode_with_numbers() {
        let m = v1::Metrics {
            cpu: Some(v1::CpuStat {
                usage: Some(v1::CpuUsage {
                    total: 5_000_000_000,
                    kernel: 1,
                    user: 2,
                    per_cpu: vec![3_000_000_000, 2_000_000_000],
                }),
                throttling: None,
            }),
            memory: Some(v1::MemoryStat {
                total_rss: 1 << 20,
                usage: Some(v1::MemoryEntry {
                    limit: 9_223_372_036_854_771_712,
                    usage: 1 << 21,
                    max: 0,
                    failcnt: 0,
                }),
                ..Default::default()
            }),
            blkio: Some(v1::BlkIoStat {
                io_service_bytes_recursive: vec![v1::BlkIoEntry {
                    op: "Read".into(),
                    device: "".into(),
                    major: 8,
                    minor: 0,
                    value: 512,
                }],
                ..Default::default()
            }),
            network: vec![v1::NetworkStat {
                name: "eth0".into(),
                rx_bytes: 10,
                ..Default::default()
            }],
            ..Default::default()
        };
        // A prefixed type URL is recognised too, and echoed as sent.
        let url = format!("type.googleapis.com/{CGROUPS_V1_METRICS}");
        let v = metric_json(&any(&url, &m));
        assert_eq!(v["type"], url);
        let d = &v["data"];
        assert_eq!(
            d["cpu"]["usage"],
            json!({"total": 5_000_000_000u64, "kernel": 1, "user": 2,
                   "perCpu": [3_000_000_000u64, 2_000_000_000u64]})
        );
        assert_eq!(d["memory"]["totalRss"], 1 << 20);
        assert_eq!(d["memory"]["usage"]["limit"], 9_223_372_036_854_771_712u64);
        assert_eq!(d["memory"]["pgPgIn"], 0);
        assert_eq!(d["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
        assert_eq!(d["blkio"]["ioServiceBytesRecursive"][0]["value"], 512);
        assert_eq!(d["blkio"]["sectorsRecursive"], json!([]));
        assert_eq!(d["network"][0]["name"], "eth0");
        assert_eq!(d["network"][0]["rxBytes"], 10);
        assert_eq!(d["hugetlb"], json!([]));
    }

    #[test]
    fn unknown_and_broken_data_come_generic() {
        let v = metric_json(&Any {
            type_url: "example.com/Other".into(),
            value: vec![1, 2, 3],
        });
        assert_eq!(
            v,
            json!({"type": "example.com/Other",
                   "data": {"typeUrl": "example.com/Other", "value": "AQID"}})
        );
        let v = metric_json(&Any {
            type_url: CGROUPS_V1_METRICS.into(),
            value: vec![0xff],
        });
        assert_eq!(v["data"]["typeUrl"], CGROUPS_V1_METRICS);
        assert!(
            v["data"]["error"].as_str().unwrap().starts_with("decoding"),
            "{v}"
        );
    }

    #[test]
    fn resources_are_checked() {
        validate_resources(r#"{"memory":{"limit":67108864},"pids":{"limit":50}}"#).unwrap();
        validate_resources("{}").unwrap();
        for (json, want) in [
            ("{", "not valid JSON"),
            ("[]", "not a JSON object"),
            (r#""memory""#, "not a JSON object"),
            (r#"{"mem":{"limit":1}}"#, "member \"mem\" which"),
            (
                r#"{"memory":{"limit":"lots"}}"#,
                "not an OCI LinuxResources",
            ),
            (r#"{"pids":{"limit":1.5}}"#, "not an OCI LinuxResources"),
        ] {
            let e = validate_resources(json).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert!(e.message.contains(want), "{json}: {}", e.message);
        }
    }
}
