//! Spec JSON: checking that a text is an OCI runtime spec (with errors
//! that name the member at fault), parsing and printing it
//! deterministically, and applying a JSON merge patch.

use oci_spec::runtime::{Linux, Mount, Root, Spec};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::core::error::{Error, Result};

/// What kind of JSON value `v` is, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Why `v` does not deserialize as an optional `T`, if it does not.
///
/// Parsed from `v`'s text rather than from `v`: oci-spec's deserializers
/// then exist once in the library, for text (`parse` needs that one for the
/// positions), instead of once more for `Value`s (about 150 KB of code).
fn field_error<T: DeserializeOwned>(v: &Value) -> Option<String> {
    from_json_text::<Option<T>>(&v.to_string()).err()
}

/// `text` as a `T`, or serde's message without the position (which in a
/// value taken out of a larger text would not say where it is).
///
/// The one way the library deserializes oci-spec's runtime types (see
/// [`field_error`]).
pub(crate) fn from_json_text<T: DeserializeOwned>(text: &str) -> std::result::Result<T, String> {
    serde_json::from_str::<T>(text).map_err(|e| {
        let message = e.to_string();
        let at = format!(" at line {} column {}", e.line(), e.column());
        match message.strip_suffix(&at) {
            Some(bare) => bare.to_string(),
            None => message,
        }
    })
}

/// The first top-level member of a spec object that does not deserialize,
/// and why, to name the field in an error.
fn bad_member(obj: &serde_json::Map<String, Value>) -> Option<(String, String)> {
    use oci_spec::runtime as rt;
    obj.iter().find_map(|(k, v)| {
        let why = match k.as_str() {
            "root" => field_error::<Root>(v),
            "mounts" => field_error::<Vec<Mount>>(v),
            "process" => field_error::<shape::Process>(v),
            "hostname" | "domainname" => field_error::<String>(v),
            "hooks" => field_error::<rt::Hooks>(v),
            "annotations" => field_error::<std::collections::HashMap<String, String>>(v),
            "linux" => field_error::<Linux>(v),
            "solaris" => field_error::<rt::Solaris>(v),
            "windows" => field_error::<rt::Windows>(v),
            "vm" => field_error::<rt::VM>(v),
            "zos" => field_error::<rt::ZOS>(v),
            _ => None,
        };
        why.map(|w| (k.clone(), w))
    })
}

/// Checks that `json` is an OCI runtime spec.
///
/// Errors are `InvalidArgument`: text that is not JSON (serde's message,
/// with line and column); a value that is not an object; a missing, non
/// string or empty `ociVersion` (oci-spec alone would accept `{}`, taking
/// every member as optional: containerd and runc need the version, so it is
/// required here); a member of the wrong shape, named (e.g. `"process":
/// invalid type: ...`), with the position of the problem.
///
/// Members oci-spec does not know are ignored, as the runtime spec asks. The
/// check follows oci-spec's types, which are a little stricter than Go's in
/// places (e.g. `process.cwd` is required, capability names must be known).
pub fn check(json: &str) -> Result<()> {
    let value: Value = serde_json::from_str(json)
        .map_err(|e| Error::invalid(format!("spec is not valid JSON: {e}")))?;
    let not_spec = |why: String| Error::invalid(format!("not an OCI runtime spec: {why}"));
    let Value::Object(obj) = &value else {
        return Err(not_spec(format!(
            "expected a JSON object, found {}",
            kind(&value)
        )));
    };
    match obj.get("ociVersion") {
        None => return Err(not_spec("\"ociVersion\" is missing".to_string())),
        Some(Value::String(v)) if v.trim().is_empty() => {
            return Err(not_spec("\"ociVersion\" is empty".to_string()))
        }
        Some(Value::String(_)) => {}
        Some(other) => {
            return Err(not_spec(format!(
                "\"ociVersion\" must be a string, found {}",
                kind(other)
            )))
        }
    }
    serde_json::from_str::<shape::Spec>(json)
        .map(drop)
        .map_err(|e| {
            let at = format!("at line {} column {}", e.line(), e.column());
            match bad_member(obj) {
                Some((member, why)) => not_spec(format!("{member:?}: {why} ({at})")),
                None => not_spec(e.to_string()),
            }
        })
}

/// [`check`]s `json` and returns it parsed. Not used by the C functions
/// (which only check), so oci-spec's `Process` deserializer, with its regex,
/// stays out of the C library.
pub fn parse(json: &str) -> Result<Spec> {
    check(json)?;
    serde_json::from_str(json).map_err(|e| Error::invalid(e.to_string()))
}

/// oci-spec's `Spec` and `Process` for reading only, with the same members,
/// names and types (oci-spec's own for everything inside), except that
/// `process.execCPUAffinity` is checked here: oci-spec checks it with a
/// regular expression, and its deserializer would bring the regex crate
/// into the library (about 400 KB of its 4 MiB). A test holds the two to
/// the same answers.
pub(crate) mod shape {
    #![allow(dead_code)] // read to check, not to use
    use std::collections::HashMap;
    use std::path::PathBuf;

    use oci_spec::runtime as rt;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Spec {
        #[serde(default, rename = "ociVersion")]
        version: String,
        #[serde(default)]
        root: Option<rt::Root>,
        #[serde(default)]
        mounts: Option<Vec<rt::Mount>>,
        #[serde(default)]
        process: Option<Process>,
        #[serde(default)]
        hostname: Option<String>,
        #[serde(default)]
        domainname: Option<String>,
        #[serde(default)]
        hooks: Option<rt::Hooks>,
        #[serde(default)]
        annotations: Option<HashMap<String, String>>,
        #[serde(default)]
        linux: Option<rt::Linux>,
        #[serde(default)]
        solaris: Option<rt::Solaris>,
        #[serde(default)]
        windows: Option<rt::Windows>,
        #[serde(default)]
        vm: Option<rt::VM>,
        #[serde(default)]
        zos: Option<rt::ZOS>,
        #[serde(default)]
        uid_mappings: Option<Vec<rt::LinuxIdMapping>>,
        #[serde(default)]
        gid_mappings: Option<Vec<rt::LinuxIdMapping>>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Process {
        #[serde(default)]
        terminal: Option<bool>,
        #[serde(default)]
        console_size: Option<rt::Box>,
        user: rt::User,
        #[serde(default)]
        pub args: Option<Vec<String>>,
        #[serde(default)]
        command_line: Option<String>,
        #[serde(default)]
        env: Option<Vec<String>>,
        pub cwd: PathBuf,
        #[serde(default)]
        capabilities: Option<rt::LinuxCapabilities>,
        #[serde(default)]
        rlimits: Option<Vec<rt::PosixRlimit>>,
        #[serde(default)]
        no_new_privileges: Option<bool>,
        #[serde(default)]
        apparmor_profile: Option<String>,
        oom_score_adj: Option<i32>,
        #[serde(default)]
        selinux_label: Option<String>,
        #[serde(default)]
        io_priority: Option<rt::LinuxIOPriority>,
        #[serde(default)]
        scheduler: Option<rt::Scheduler>,
        #[serde(rename = "execCPUAffinity", default)]
        exec_cpu_affinity: Option<ExecCpuAffinity>,
    }

    #[derive(Deserialize)]
    struct ExecCpuAffinity {
        #[serde(default, deserialize_with = "cpu_list")]
        initial: Option<String>,
        #[serde(default, rename = "final", deserialize_with = "cpu_list")]
        last: Option<String>,
    }

    /// A list of CPUs as `0-3,7`: numbers or ranges, comma-separated.
    fn cpu_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        let value: Option<String> = Option::deserialize(d)?;
        if let Some(s) = &value {
            if !is_cpu_list(s) {
                return Err(serde::de::Error::custom(format!(
                    "Invalid execCPUAffinity format: {s}"
                )));
            }
        }
        Ok(value)
    }

    fn is_cpu_list(s: &str) -> bool {
        let number = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
        s.split(',').all(|item| match item.split_once('-') {
            Some((from, to)) => number(from) && number(to),
            None => number(item),
        })
    }
}

/// `spec` as compact JSON, deterministic: object members in name order, and
/// capability lists (which oci-spec keeps as sets) sorted by name.
///
/// Errors: `Internal` if serialization fails (it does not for specs built
/// from oci-spec's types).
pub fn to_json(spec: &Spec) -> Result<String> {
    let mut v = serde_json::to_value(spec)
        .map_err(|e| Error::internal(format!("serializing the spec: {e}")))?;
    if let Some(Value::Object(caps)) = v.pointer_mut("/process/capabilities") {
        for list in caps.values_mut() {
            if let Value::Array(items) = list {
                items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
            }
        }
    }
    serde_json::to_string(&v).map_err(|e| Error::internal(format!("serializing the spec: {e}")))
}

/// Applies an RFC 7386 JSON merge patch to a spec and checks the result is
/// still an OCI runtime spec: objects merge key by key, `null` removes a
/// key, anything else replaces. Returns the patched spec as JSON.
pub fn merge_patch(spec_json: &str, patch_json: &str) -> Result<String> {
    fn merge(target: &mut serde_json::Value, patch: &serde_json::Value) {
        let serde_json::Value::Object(patch) = patch else {
            *target = patch.clone();
            return;
        };
        if !target.is_object() {
            *target = serde_json::Value::Object(Default::default());
        }
        let target = target.as_object_mut().expect("made an object above");
        for (k, v) in patch {
            if v.is_null() {
                target.remove(k);
            } else {
                merge(
                    target.entry(k.clone()).or_insert(serde_json::Value::Null),
                    v,
                );
            }
        }
    }
    check(spec_json).map_err(|e| e.context("spec_json"))?;
    let mut spec: serde_json::Value = serde_json::from_str(spec_json)
        .map_err(|e| Error::invalid(format!("spec_json is not valid JSON: {e}")))?;
    let patch: serde_json::Value = serde_json::from_str(patch_json)
        .map_err(|e| Error::invalid(format!("patch_json is not valid JSON: {e}")))?;
    merge(&mut spec, &patch);
    let out = spec.to_string();
    check(&out).map_err(|e| e.context("the patched spec"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::core::container::spec::testing::*;
    use crate::core::container::spec::{apply_image_config, default_spec, Defaults};
    use crate::core::error::Code;

    #[test]
    fn to_json_is_deterministic_and_round_trips() {
        let mut s = default_spec(&Defaults::V1_6, "ns", "c").unwrap();
        apply_image_config(&mut s, &image(json!({"Cmd": ["sh"]})), None, None).unwrap();
        let a = to_json(&s).unwrap();
        for _ in 0..5 {
            assert_eq!(to_json(&parse(&a).unwrap()).unwrap(), a);
        }
        assert_eq!(parse(&a).unwrap(), s);
    }

    #[test]
    fn parse_rejects_what_is_not_json() {
        let e = parse("{\"ociVersion\": \"1.0.2\",\n  \"process\": }").unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(
            e.message.starts_with("spec is not valid JSON: "),
            "{}",
            e.message
        );
        assert!(e.message.contains("line 2 column"), "{}", e.message);
        let e = parse("").unwrap_err();
        assert!(e.message.contains("EOF"), "{}", e.message);
    }

    #[test]
    fn parse_rejects_json_that_is_not_a_spec() {
        let cases = [
            ("[]", "expected a JSON object, found an array"),
            ("\"x\"", "expected a JSON object, found a string"),
            ("null", "found null"),
            ("{}", "\"ociVersion\" is missing"),
            ("{\"ociVersion\": 5}", "\"ociVersion\" must be a string, found a number"),
            ("{\"ociVersion\": \" \"}", "\"ociVersion\" is empty"),
            (
                "{\"ociVersion\": \"1.0.2\", \"process\": {\"cwd\": \"/\", \"user\": {\"uid\": \"root\"}}}",
                "\"process\": invalid type: string \"root\", expected u32 (at line 1 column",
            ),
            (
                "{\"ociVersion\": \"1.0.2\", \"mounts\": {}}",
                "\"mounts\": invalid type: map, expected a sequence",
            ),
            (
                "{\"ociVersion\": \"1.0.2\", \"hostname\": [1]}",
                "\"hostname\": invalid type",
            ),
            (
                "{\"ociVersion\": \"1.0.2\", \"linux\": {\"namespaces\": [{\"type\": \"bogus\"}]}}",
                "\"linux\": unknown variant `bogus`",
            ),
            ("{\"ociVersion\": \"1.0.2\", \"process\": {\"user\": {}}}", "missing field `cwd`"),
        ];
        for (json, want) in cases {
            let e = parse(json).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{json}");
            assert!(
                e.message.starts_with("not an OCI runtime spec: "),
                "{json}: {}",
                e.message
            );
            assert!(e.message.contains(want), "{json}: {}", e.message);
        }
    }

    /// `shape`'s answers are oci-spec's: for each text, both accept it or
    /// both refuse it with the same words.
    #[test]
    fn the_check_agrees_with_oci_spec() {
        let full = to_json(&default_spec(&Defaults::V1_6, "ns", "c").unwrap()).unwrap();
        let mut texts = vec![full.clone()];
        let process = |p: &str| format!("{{\"ociVersion\": \"1.0.2\", \"process\": {p}}}");
        for p in [
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/"}"#,
            r#"{"user": {"uid": 0, "gid": 0}}"#,
            r#"{"cwd": "/"}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"initial": "0-3,7", "final": "1"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"initial": "0-"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"final": "1,,2"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"final": "a"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"initial": ""}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"initial": null}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "consoleSize": {"height": 1, "width": 2}, "terminal": true}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "oomScoreAdj": "x"}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "noNewPrivileges": 1}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "commandLine": "a b", "apparmorProfile": "p", "selinuxLabel": "l"}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "ioPriority": {"class": "IOPRIO_CLASS_RT", "priority": 1}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "scheduler": {"policy": "SCHED_OTHER"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "scheduler": {"policy": "bogus"}}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "rlimits": [{"type": "RLIMIT_BOGUS", "hard": 1, "soft": 1}]}"#,
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "capabilities": {"bounding": ["CAP_NOPE"]}}"#,
        ] {
            texts.push(process(p));
        }
        texts.push(r#"{"ociVersion": "1.0.2", "uidMappings": [{"containerID": 0, "hostID": 1, "size": 1}]}"#.into());
        texts.push(r#"{"ociVersion": "1.0.2", "gidMappings": 3}"#.into());
        let mut refused = 0;
        for text in &texts {
            let ours = serde_json::from_str::<shape::Spec>(text)
                .map(drop)
                .map_err(|e| e.to_string());
            let theirs = serde_json::from_str::<Spec>(text)
                .map(drop)
                .map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{text}");
            refused += usize::from(ours.is_err());
        }
        assert!(
            refused >= 10 && refused < texts.len() - 5,
            "{refused} of {}",
            texts.len()
        );
        let p =
            r#"{"user": {"uid": 0, "gid": 0}, "cwd": "/", "execCPUAffinity": {"initial": "0-"}}"#;
        let e = check(&process(p)).unwrap_err();
        assert!(
            e.message
                .contains("\"process\": Invalid execCPUAffinity format: 0-"),
            "{}",
            e.message
        );
    }

    #[test]
    fn parse_accepts_a_minimal_spec_and_ignores_unknown_members() {
        let s =
            parse("{\"ociVersion\": \"1.0.2\", \"somethingNew\": {\"a\": 1}, \"hostname\": null}")
                .unwrap();
        assert_eq!(s.version(), "1.0.2");
        assert!(s.process().is_none() && s.hostname().is_none());
    }

    #[test]
    fn merge_patch_sets_replaces_and_removes() {
        let spec = to_json(&default_spec(&Defaults::V1_6, "default", "m1").unwrap()).unwrap();
        let out = merge_patch(
            &spec,
            r#"{"process":{"terminal":true,"args":["top"]},"hostname":"box","linux":{"maskedPaths":null}}"#,
        )
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["process"]["terminal"], true);
        assert_eq!(v["process"]["args"], serde_json::json!(["top"]));
        assert_eq!(v["process"]["cwd"], "/", "untouched members stay");
        assert_eq!(v["hostname"], "box");
        assert!(v["linux"].get("maskedPaths").is_none());
        let e = merge_patch(&spec, r#"{"ociVersion":null}"#).unwrap_err();
        assert!(e.message.starts_with("the patched spec"), "{}", e.message);
        let e = merge_patch(&spec, "{").unwrap_err();
        assert!(
            e.message.starts_with("patch_json is not valid JSON"),
            "{}",
            e.message
        );
        let e = merge_patch("[]", "{}").unwrap_err();
        assert!(e.message.starts_with("spec_json"), "{}", e.message);
    }
}
