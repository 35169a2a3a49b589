//! Containers: containerd's Go `Container` over the Containers service:
//! create, load, list, spec, info, label and spec updates, and delete with
//! the cleanup of the container's snapshot; the OCI specs they carry
//! ([`spec`]: the default spec, image config merge, checks); and
//! [`commit`]: a container's changes as a new image (as `nerdctl commit`).
//!
//! Owns: the container record as the library shows it (the JSON of
//! `spec_json` and `info_json`, the runc options and labels a create takes)
//! and the errors of container calls; a commit's lease. Holds no state:
//! every call asks the daemon.
//!
//! May call: `core::daemon` (the client, its calls and identifier checks,
//! leases; the Tasks service directly for a task's state), `core::image`
//! (a container's snapshotter, its snapshot and the lease that keeps it)
//! and `core::error`; never `crate::ffi`.

pub mod spec;

use std::collections::HashMap;

use base64::Engine as _;
use prost::Message as _;
use serde_json::{json, Map, Value};

use crate::api::containerd::runc::v1::Options as RuncOptions;
use crate::api::services::containers::v1 as containers;
use crate::api::services::tasks::v1::GetRequest;
use crate::core::daemon::client::Client;
use crate::core::daemon::ident;
use crate::core::error::{Code, Error, Result};
use crate::core::image::snapshot::{snapshot_lease_id, DEFAULT_SNAPSHOTTER};

/// The type name of the runc shim's options, a container record's
/// `runtime.options` (and a task create's).
pub const RUNC_OPTIONS_TYPE_URL: &str = "containerd.runc.v1.Options";

/// The runtime used unless one is named.
pub const DEFAULT_RUNTIME: &str = "io.containerd.runc.v2";
/// The type name containerd's own clients give the spec `Any`.
pub const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";

/// The container record as containerd stores it.
pub type Record = containers::Container;

/// What a new container is made of.
#[derive(Debug, Clone, Default)]
pub struct NewContainer {
    pub id: String,
    /// The OCI runtime spec as JSON; sent exactly as given once it parses.
    pub spec_json: String,
    pub image: Option<String>,
    pub snapshotter: Option<String>,
    pub snapshot_key: Option<String>,
    pub runtime: Option<String>,
    /// `key=value` items.
    pub labels: Vec<String>,
    /// The runc shim's options as a JSON object with the Go field names
    /// (see [`runc_options`]); sent as `containerd.runc.v1.Options`.
    pub runtime_options_json: Option<String>,
}

/// The fields of `containerd.runc.v1.Options` by their Go names (as
/// containerd's Go struct and its configuration files spell them), in proto
/// field order.
pub const RUNC_OPTION_NAMES: [&str; 11] = [
    "NoPivotRoot",
    "NoNewKeyring",
    "ShimCgroup",
    "IoUid",
    "IoGid",
    "BinaryName",
    "Root",
    "CriuPath",
    "SystemdCgroup",
    "CriuImagePath",
    "CriuWorkPath",
];

/// The runc shim's options from a JSON object whose keys are Go field names
/// ([`RUNC_OPTION_NAMES`]), e.g. `{"SystemdCgroup":true,"BinaryName":"runc"}`,
/// as the `Any` containerd's clients send (type `containerd.runc.v1.Options`).
/// An unknown key, or a value of the wrong type (booleans, strings, and
/// 32-bit unsigned numbers for `IoUid`/`IoGid`), is named in the error.
/// `null` leaves a field at its default. No I/O.
pub fn runc_options(json_text: &str) -> Result<prost_types::Any> {
    const WHAT: &str = "runtime_options_json";
    let value: Value = serde_json::from_str(json_text)
        .map_err(|e| Error::invalid(format!("{WHAT} is not valid JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(Error::invalid(format!(
            "{WHAT} must be a JSON object, e.g. {{\"SystemdCgroup\":true}}"
        )));
    };
    let mut o = RuncOptions::default();
    for (key, v) in &fields {
        let wrong = |want: &str| {
            Error::invalid(format!(
                "{WHAT}: {} must be {want}, not {}",
                ident::shown(key),
                ident::shown(&v.to_string())
            ))
        };
        let boolean = || match v {
            Value::Null => Ok(false),
            Value::Bool(b) => Ok(*b),
            _ => Err(wrong("true or false")),
        };
        let string = || match v {
            Value::Null => Ok(String::new()),
            Value::String(s) => Ok(s.clone()),
            _ => Err(wrong("a string")),
        };
        let number = || match v {
            Value::Null => Ok(0),
            _ => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| wrong("a whole number from 0 to 4294967295")),
        };
        match key.as_str() {
            "NoPivotRoot" => o.no_pivot_root = boolean()?,
            "NoNewKeyring" => o.no_new_keyring = boolean()?,
            "ShimCgroup" => o.shim_cgroup = string()?,
            "IoUid" => o.io_uid = number()?,
            "IoGid" => o.io_gid = number()?,
            "BinaryName" => o.binary_name = string()?,
            "Root" => o.root = string()?,
            "CriuPath" => o.criu_path = string()?,
            "SystemdCgroup" => o.systemd_cgroup = boolean()?,
            "CriuImagePath" => o.criu_image_path = string()?,
            "CriuWorkPath" => o.criu_work_path = string()?,
            _ => {
                return Err(Error::invalid(format!(
                    "{WHAT}: unknown key {} (known: {})",
                    ident::shown(key),
                    RUNC_OPTION_NAMES.join(", ")
                )))
            }
        }
    }
    Ok(prost_types::Any {
        type_url: RUNC_OPTIONS_TYPE_URL.to_string(),
        value: o.encode_to_vec(),
    })
}

/// The runc shim's options as a JSON object with every field under its Go
/// name (the form [`runc_options`] takes).
pub fn runc_options_json(o: &RuncOptions) -> Value {
    json!({
        "NoPivotRoot": o.no_pivot_root,
        "NoNewKeyring": o.no_new_keyring,
        "ShimCgroup": o.shim_cgroup,
        "IoUid": o.io_uid,
        "IoGid": o.io_gid,
        "BinaryName": o.binary_name,
        "Root": o.root,
        "CriuPath": o.criu_path,
        "SystemdCgroup": o.systemd_cgroup,
        "CriuImagePath": o.criu_image_path,
        "CriuWorkPath": o.criu_work_path,
    })
}

/// Checks a new container's fields and makes the record to send. No I/O.
pub fn record_for(new: &NewContainer) -> Result<Record> {
    ident::validate("container id", &new.id)?;
    spec::check(&new.spec_json).map_err(|e| e.context("spec_json"))?;
    let labels = ident::parse_labels(&new.labels)?;
    let non_empty = |field: &str, v: &Option<String>| match v.as_deref() {
        Some("") => Err(Error::invalid(format!(
            "{field} is empty (NULL means the default)"
        ))),
        _ => Ok(()),
    };
    non_empty("snapshotter", &new.snapshotter)?;
    non_empty("snapshot_key", &new.snapshot_key)?;
    non_empty("runtime", &new.runtime)?;
    let options = new
        .runtime_options_json
        .as_deref()
        .map(runc_options)
        .transpose()?;
    Ok(Record {
        id: new.id.clone(),
        labels,
        image: new.image.clone().unwrap_or_default(),
        runtime: Some(containers::container::Runtime {
            name: new
                .runtime
                .clone()
                .unwrap_or_else(|| DEFAULT_RUNTIME.to_string()),
            options,
        }),
        spec: Some(prost_types::Any {
            type_url: SPEC_TYPE_URL.to_string(),
            value: new.spec_json.clone().into_bytes(),
        }),
        snapshotter: new
            .snapshotter
            .clone()
            .unwrap_or_else(|| DEFAULT_SNAPSHOTTER.to_string()),
        snapshot_key: new.snapshot_key.clone().unwrap_or_default(),
        ..Default::default()
    })
}

/// The spec JSON stored in a record, exactly as stored.
pub fn spec_json(record: &Record) -> Result<String> {
    let any = record.spec.as_ref().ok_or_else(|| {
        Error::new(
            Code::NotFound,
            format!("container {} has no spec", ident::shown(&record.id)),
        )
    })?;
    String::from_utf8(any.value.clone()).map_err(|e| {
        Error::new(
            Code::Unknown,
            format!(
                "the spec of container {} is not UTF-8 text: {e}",
                ident::shown(&record.id)
            ),
        )
    })
}

/// The generic JSON form of an `Any`: `{"typeUrl": ..., "value": <base64>}`.
fn any_json(any: &prost_types::Any) -> Value {
    json!({
        "typeUrl": any.type_url,
        "value": base64::engine::general_purpose::STANDARD.encode(&any.value),
    })
}

/// The runtime options as JSON: the generic form of the `Any`, plus, for
/// `containerd.runc.v1.Options`, `"decoded"`: its fields by Go name (or
/// `"error"` when its bytes do not decode).
fn runtime_options_json(any: &prost_types::Any) -> Value {
    let mut v = any_json(any);
    let name = any.type_url.rsplit('/').next().unwrap_or_default();
    if name == RUNC_OPTIONS_TYPE_URL {
        match RuncOptions::decode(any.value.as_slice()) {
            Ok(o) => v["decoded"] = runc_options_json(&o),
            Err(e) => v["error"] = Value::String(e.to_string()),
        }
    }
    v
}

/// The whole record as a JSON object: `id`, `labels` (object), `image`,
/// `runtime` (`name`, and `options` when set: see `runtime_options_json`),
/// `snapshotter`, `snapshotKey`, `createdAt` and `updatedAt` (RFC 3339 in
/// UTC, absent when unset), `extensions` (object of name to the generic
/// `{"typeUrl","value"}` form) and `spec`: the spec as a JSON object (the
/// generic form when the stored bytes are not JSON; absent when unset).
/// Object keys come sorted.
pub fn info_json(record: &Record) -> Result<String> {
    let mut info = Map::new();
    info.insert("id".into(), json!(record.id));
    let labels: Map<String, Value> = record
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    info.insert("labels".into(), Value::Object(labels));
    info.insert("image".into(), json!(record.image));
    if let Some(rt) = &record.runtime {
        let mut runtime = Map::new();
        runtime.insert("name".into(), json!(rt.name));
        if let Some(options) = &rt.options {
            runtime.insert("options".into(), runtime_options_json(options));
        }
        info.insert("runtime".into(), Value::Object(runtime));
    }
    info.insert("snapshotter".into(), json!(record.snapshotter));
    info.insert("snapshotKey".into(), json!(record.snapshot_key));
    for (key, t) in [
        ("createdAt", &record.created_at),
        ("updatedAt", &record.updated_at),
    ] {
        if let Some(t) = t {
            info.insert(key.into(), json!(t.to_string()));
        }
    }
    let extensions: Map<String, Value> = record
        .extensions
        .iter()
        .map(|(k, v)| (k.clone(), any_json(v)))
        .collect();
    info.insert("extensions".into(), Value::Object(extensions));
    if let Some(spec) = &record.spec {
        let v = serde_json::from_slice::<Value>(&spec.value).unwrap_or_else(|_| any_json(spec));
        info.insert("spec".into(), v);
    }
    serde_json::to_string(&Value::Object(info))
        .map_err(|e| Error::internal(format!("writing the record as JSON: {e}")))
}

/// A label update from `key=value` items (`key=` removes `key`): the labels
/// to send and the field mask paths (`labels.<key>`, one a key), as
/// containerd's Go `SetLabels`. At least one item; keys not empty, none twice.
pub fn label_update(items: &[String]) -> Result<(HashMap<String, String>, Vec<String>)> {
    if items.is_empty() {
        return Err(Error::invalid(
            "labels has no items: give at least one \"key=value\" (or \"key=\" to remove key)",
        ));
    }
    let labels = ident::parse_labels(items)?;
    let mut paths: Vec<String> = labels.keys().map(|k| format!("labels.{k}")).collect();
    paths.sort();
    Ok((labels, paths))
}

impl Client {
    pub(crate) fn container_what(&self, id: &str) -> String {
        format!(
            "container {} in namespace {}",
            ident::shown(id),
            ident::shown(self.namespace())
        )
    }

    /// Creates a container record. When it names a snapshot, the lease that
    /// protected the snapshot since `prepare_snapshot_from_image` is dropped:
    /// the container now keeps it alive. Dropping it is best effort: once the
    /// record exists the container is created, and a lease left behind
    /// expires by itself.
    pub async fn create_container(&self, new: &NewContainer) -> Result<Record> {
        let req = self.create_request(new)?;
        self.send_create(req).await
    }

    /// The checked request of [`Client::create_container`], built without
    /// any call: bad input fails here, before the runtime or the network.
    pub fn create_request(&self, new: &NewContainer) -> Result<containers::CreateContainerRequest> {
        let record = record_for(new)?;
        let what = format!("create {}", self.container_what(&new.id));
        let req = containers::CreateContainerRequest {
            container: Some(record),
        };
        self.check_request_size(&what, &req)?;
        Ok(req)
    }

    /// Sends a request from [`Client::create_request`].
    pub async fn send_create(&self, req: containers::CreateContainerRequest) -> Result<Record> {
        let id = req.container.as_ref().map_or("", |c| c.id.as_str());
        let what = format!("create {}", self.container_what(id));
        let created = self
            .call(what, self.containers().create(self.request(req)))
            .await?
            .container
            .ok_or_else(|| Error::new(Code::Unknown, "the daemon returned no container"))?;
        if !created.snapshot_key.is_empty() {
            let lease = snapshot_lease_id(&created.snapshotter, &created.snapshot_key);
            // Failing here must not report a live container as not created
            // (a caller would clean up its rootfs).
            let _ = self.delete_lease(&lease).await;
        }
        Ok(created)
    }

    /// The checked request that sets and removes labels of container `id`
    /// (see [`label_update`]), built without any call.
    pub fn set_labels_request(
        &self,
        id: &str,
        items: &[String],
    ) -> Result<containers::UpdateContainerRequest> {
        ident::validate("container id", id)?;
        let (labels, paths) = label_update(items)?;
        self.container_update_request(
            Record {
                id: id.to_string(),
                labels,
                ..Default::default()
            },
            paths,
        )
    }

    /// The checked request that replaces the spec of container `id` with
    /// `spec_json` (checked as [`record_for`] does, sent exactly as given),
    /// built without any call.
    pub fn update_spec_request(
        &self,
        id: &str,
        spec_json: &str,
    ) -> Result<containers::UpdateContainerRequest> {
        ident::validate("container id", id)?;
        spec::check(spec_json).map_err(|e| e.context("spec_json"))?;
        self.container_update_request(
            Record {
                id: id.to_string(),
                spec: Some(prost_types::Any {
                    type_url: SPEC_TYPE_URL.to_string(),
                    value: spec_json.as_bytes().to_vec(),
                }),
                ..Default::default()
            },
            vec!["spec".to_string()],
        )
    }

    fn container_update_request(
        &self,
        record: Record,
        paths: Vec<String>,
    ) -> Result<containers::UpdateContainerRequest> {
        let what = format!("update {}", self.container_what(&record.id));
        let req = containers::UpdateContainerRequest {
            container: Some(record),
            update_mask: Some(prost_types::FieldMask { paths }),
        };
        self.check_request_size(&what, &req)?;
        Ok(req)
    }

    /// Sends a request from [`Client::set_labels_request`] or
    /// [`Client::update_spec_request`]: only the fields its mask names
    /// change. Returns the updated record.
    pub async fn send_container_update(
        &self,
        req: containers::UpdateContainerRequest,
    ) -> Result<Record> {
        let id = req.container.as_ref().map_or("", |c| c.id.as_str());
        let what = format!("update {}", self.container_what(id));
        self.call(what, self.containers().update(self.request(req)))
            .await?
            .container
            .ok_or_else(|| Error::new(Code::Unknown, "the daemon returned no container"))
    }

    /// Loads a container record.
    pub async fn get_container(&self, id: &str) -> Result<Record> {
        ident::validate("container id", id)?;
        let req = containers::GetContainerRequest { id: id.to_string() };
        self.call(
            self.container_what(id),
            self.containers().get(self.request(req)),
        )
        .await?
        .container
        .ok_or_else(|| Error::new(Code::Unknown, "the daemon returned no container"))
    }

    /// Lists container records matching any of `filters` (containerd's
    /// filter syntax); all when empty. Streamed one record a message, so that
    /// a namespace whose records exceed one gRPC message lists too; a daemon
    /// without `ListStream` gets the one-message `List`.
    pub async fn list_containers(&self, filters: Vec<String>) -> Result<Vec<Record>> {
        let what = format!(
            "list containers in namespace {}",
            ident::shown(self.namespace())
        );
        let req = containers::ListContainersRequest { filters };
        let listing = async {
            let mut svc = self.containers();
            let mut records = Vec::new();
            match svc.list_stream(self.request(req.clone())).await {
                Ok(stream) => {
                    let mut stream = stream.into_inner();
                    while let Some(m) = stream.message().await? {
                        records.extend(m.container);
                    }
                }
                Err(status) if status.code() == tonic::Code::Unimplemented => {
                    records = svc.list(self.request(req)).await?.into_inner().containers;
                }
                Err(status) => return Err(status),
            }
            Ok(tonic::Response::new(records))
        };
        self.call(what, listing).await
    }

    /// Deletes a container as containerd's Go client does: refused while it
    /// has a task; otherwise removes its rootfs snapshot (one already gone is
    /// fine) and then the record. With `keep_snapshot` the snapshot stays,
    /// under a lease (24 hours) so that the garbage collector does not take
    /// it; `remove_snapshot` removes both. Both steps are tried; when both
    /// fail, both reasons are reported.
    pub async fn delete_container(&self, id: &str, keep_snapshot: bool) -> Result<()> {
        let what = self.container_what(id);
        let task = GetRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
        };
        // The two reads at once.
        let mut tasks = self.tasks();
        let (record, task) = tokio::join!(
            self.get_container(id),
            self.call("get task", tasks.get(self.request(task)))
        );
        let record = record?;
        match task {
            Ok(found) => {
                let pid = found.process.map(|p| p.pid).unwrap_or_default();
                return Err(Error::new(
                    Code::FailedPrecondition,
                    format!("{what} has a task (pid {pid}): delete the task first"),
                ));
            }
            Err(e) if e.code == Code::NotFound => {}
            Err(e) => return Err(e.context(format!("delete {what}"))),
        }

        let req = containers::DeleteContainerRequest { id: id.to_string() };
        let mut containers = self.containers();
        let delete = self.call(
            format!("delete {what}"),
            containers.delete(self.request(req)),
        );
        let (snapshot, deleted) = if record.snapshot_key.is_empty() {
            (Ok(()), delete.await)
        } else if keep_snapshot {
            // Nothing refers to it once the record goes: a lease keeps the
            // garbage collector off it (`remove_snapshot` drops both), made
            // before the record goes.
            let kept = self
                .protect_snapshot(&record.snapshotter, &record.snapshot_key)
                .await;
            (kept, delete.await)
        } else {
            // The snapshot's removal and the record's at once.
            tokio::join!(
                self.remove_snapshot(&record.snapshotter, &record.snapshot_key),
                delete
            )
        };
        let deleted = deleted.map(|_| ());
        match (snapshot, deleted) {
            (Ok(()), d) => d,
            (Err(s), Ok(())) => Err(s.context(format!("{what} was deleted, but its rootfs"))),
            (Err(s), Err(d)) => Err(Error::new(
                d.code,
                format!("{}; and {}", d.message, s.message),
            )),
        }
    }
}

impl Client {
    /// The default-spec differences of the daemon this client talks to (its
    /// version: one call the first time, remembered after).
    pub async fn spec_defaults(&self) -> Result<spec::Defaults> {
        let (version, _) = self.daemon_version().await?;
        Ok(spec::Defaults::for_daemon(&version))
    }

    /// A default spec for container `id` as JSON (see [`spec::default_spec`])
    /// with the defaults of the daemon's version, merged with the config of
    /// `image` when given, its args replaced by `argv` when given.
    pub async fn generate_spec(
        &self,
        id: &str,
        image: Option<&str>,
        argv: Option<Vec<String>>,
    ) -> Result<String> {
        ident::validate("container id", id)?;
        let mut s = spec::default_spec(&self.spec_defaults().await?, self.namespace(), id)?;
        if let Some(image) = image {
            let resolved = self.resolve_image(image).await?;
            let user = resolved
                .config
                .config()
                .as_ref()
                .and_then(|c| c.user().clone())
                .unwrap_or_default();
            // As containerd: /etc/passwd gives a numeric user its gid and a
            // named one its ids; /etc/group the additional gids, root's too.
            let files = self
                .read_rootfs_files(&resolved, DEFAULT_SNAPSHOTTER, &["etc/passwd", "etc/group"])
                .await;
            let (passwd, group) = match files {
                Ok(mut f) => (f.remove(0), f.remove(0)),
                // Without the files only a numeric user can be set.
                Err(_) if user.chars().all(|c| c.is_ascii_digit() || c == ':') => (None, None),
                Err(e) => {
                    return Err(e.context(format!("resolving user {user:?} of image {image:?}")))
                }
            };
            spec::apply_image_config(
                &mut s,
                &resolved.config,
                passwd.as_deref(),
                group.as_deref(),
            )
            .map_err(|e| e.context(format!("image {image:?}")))?;
        } else {
            // No image to give a PATH: the default one, so that commands run.
            spec::set_default_path_env(&mut s);
        }
        if let Some(argv) = argv {
            spec::set_args(&mut s, argv);
        }
        spec::to_json(&s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(any: &prost_types::Any) -> RuncOptions {
        assert_eq!(any.type_url, "containerd.runc.v1.Options");
        RuncOptions::decode(any.value.as_slice()).unwrap()
    }

    #[test]
    fn runc_options_take_the_go_field_names() {
        let any = runc_options(
            r#"{"NoPivotRoot":true,"NoNewKeyring":true,"ShimCgroup":"/shim","IoUid":1000,
                "IoGid":4294967295,"BinaryName":"/usr/sbin/runc","Root":"/run/r",
                "CriuPath":"/c","SystemdCgroup":true,"CriuImagePath":"/i","CriuWorkPath":"/w"}"#,
        )
        .unwrap();
        let o = decoded(&any);
        assert!(o.no_pivot_root && o.no_new_keyring && o.systemd_cgroup);
        assert_eq!((o.io_uid, o.io_gid), (1000, u32::MAX));
        assert_eq!(o.shim_cgroup, "/shim");
        assert_eq!(o.binary_name, "/usr/sbin/runc");
        assert_eq!(o.root, "/run/r");
        assert_eq!(o.criu_path, "/c");
        assert_eq!(
            (o.criu_image_path.as_str(), o.criu_work_path.as_str()),
            ("/i", "/w")
        );
        // And back: every field under its Go name, the form taken.
        let back = runc_options_json(&o);
        assert_eq!(back.as_object().unwrap().len(), RUNC_OPTION_NAMES.len());
        assert_eq!(decoded(&runc_options(&back.to_string()).unwrap()), o);
        // Empty and null mean the defaults.
        assert_eq!(
            decoded(&runc_options("{}").unwrap()),
            RuncOptions::default()
        );
        let nulls = r#"{"SystemdCgroup":null,"IoUid":null,"Root":null}"#;
        assert_eq!(
            decoded(&runc_options(nulls).unwrap()),
            RuncOptions::default()
        );
    }

    #[test]
    fn bad_runc_options_are_named() {
        for (json, want) in [
            ("{not json", "runtime_options_json is not valid JSON"),
            ("[1]", "runtime_options_json must be a JSON object"),
            ("true", "runtime_options_json must be a JSON object"),
            (
                r#"{"systemd_cgroup":true}"#,
                "unknown key \"systemd_cgroup\"",
            ),
            (r#"{"Bogus":1}"#, "(known: NoPivotRoot, NoNewKeyring"),
            (
                r#"{"SystemdCgroup":"yes"}"#,
                "\"SystemdCgroup\" must be true or false",
            ),
            (r#"{"BinaryName":1}"#, "\"BinaryName\" must be a string"),
            (r#"{"IoUid":-1}"#, "\"IoUid\" must be a whole number"),
            (
                r#"{"IoGid":4294967296}"#,
                "\"IoGid\" must be a whole number",
            ),
            (r#"{"IoGid":1.5}"#, "\"IoGid\" must be a whole number"),
        ] {
            let e = runc_options(json).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument, "{json}");
            assert!(e.message.contains(want), "{json}: {}", e.message);
        }
    }

    #[test]
    fn new_records_carry_the_runtime_options() {
        let new = NewContainer {
            id: "c1".into(),
            spec_json: r#"{"ociVersion":"1.0.2","process":{"cwd":"/","user":{"uid":0,"gid":0}}}"#
                .into(),
            runtime_options_json: Some(r#"{"SystemdCgroup":true}"#.into()),
            ..Default::default()
        };
        let record = record_for(&new).unwrap();
        let options = record.runtime.unwrap().options.unwrap();
        assert!(decoded(&options).systemd_cgroup);
        let without = record_for(&NewContainer {
            runtime_options_json: None,
            ..new.clone()
        })
        .unwrap();
        assert_eq!(without.runtime.unwrap().options, None);
        let bad = NewContainer {
            runtime_options_json: Some(r#"{"Nope":true}"#.into()),
            ..new
        };
        assert!(record_for(&bad).unwrap_err().message.contains("\"Nope\""));
    }

    #[test]
    fn label_updates_mask_each_key() {
        let items = ["b=2".to_string(), "a.b/c=".to_string()];
        let (labels, paths) = label_update(&items).unwrap();
        assert_eq!(labels["b"], "2");
        assert_eq!(labels["a.b/c"], "");
        assert_eq!(paths, vec!["labels.a.b/c", "labels.b"]);
        for (items, want) in [
            (vec![], "labels has no items"),
            (vec!["novalue"], "label \"novalue\" is not key=value"),
            (vec!["=v"], "label \"=v\" has an empty key"),
            (vec!["k=1", "k="], "label key \"k\" is given twice"),
        ] {
            let items: Vec<String> = items.into_iter().map(str::to_string).collect();
            let e = label_update(&items).unwrap_err();
            assert_eq!(e.code, Code::InvalidArgument);
            assert!(e.message.contains(want), "{}", e.message);
        }
    }

    #[test]
    fn info_json_has_the_whole_record() {
        let spec = r#"{"ociVersion":"1.0.2","hostname":"h"}"#;
        let record = Record {
            id: "c1".into(),
            labels: HashMap::from([("a".to_string(), "1".to_string())]),
            image: "img:1".into(),
            runtime: Some(containers::container::Runtime {
                name: DEFAULT_RUNTIME.into(),
                options: Some(runc_options(r#"{"BinaryName":"/r"}"#).unwrap()),
            }),
            spec: Some(prost_types::Any {
                type_url: SPEC_TYPE_URL.into(),
                value: spec.as_bytes().to_vec(),
            }),
            snapshotter: "overlayfs".into(),
            snapshot_key: "k1".into(),
            created_at: Some(prost_types::Timestamp {
                seconds: 1714557600,
                nanos: 123_456_789,
            }),
            updated_at: Some(prost_types::Timestamp {
                seconds: 1714557601,
                nanos: 0,
            }),
            extensions: HashMap::from([(
                "ext".to_string(),
                prost_types::Any {
                    type_url: "x/y".into(),
                    value: vec![0, 1, 2, 250],
                },
            )]),
        };
        let v: Value = serde_json::from_str(&info_json(&record).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({
                "id": "c1",
                "labels": {"a": "1"},
                "image": "img:1",
                "runtime": {
                    "name": "io.containerd.runc.v2",
                    "options": {
                        "typeUrl": "containerd.runc.v1.Options",
                        "value": "MgIvcg==",
                        "decoded": runc_options_json(&RuncOptions {
                            binary_name: "/r".into(),
                            ..Default::default()
                        }),
                    },
                },
                "snapshotter": "overlayfs",
                "snapshotKey": "k1",
                "createdAt": "2024-05-01T10:00:00.123456789Z",
                "updatedAt": "2024-05-01T10:00:01Z",
                "extensions": {"ext": {"typeUrl": "x/y", "value": "AAEC+g=="}},
                "spec": {"ociVersion": "1.0.2", "hostname": "h"},
            })
        );
        // Options of another type, and bytes that do not decode, stay generic;
        // a spec that is not JSON too.
        let mut odd = record.clone();
        odd.runtime.as_mut().unwrap().options = Some(prost_types::Any {
            type_url: "other.Options".into(),
            value: vec![1],
        });
        odd.spec.as_mut().unwrap().value = vec![0xff];
        odd.created_at = None;
        let v: Value = serde_json::from_str(&info_json(&odd).unwrap()).unwrap();
        assert_eq!(
            v["runtime"]["options"],
            json!({"typeUrl": "other.Options", "value": "AQ=="})
        );
        assert_eq!(v["spec"]["value"], "/w==");
        assert_eq!(v.get("createdAt"), None);
        odd.runtime.as_mut().unwrap().options = Some(prost_types::Any {
            type_url: RUNC_OPTIONS_TYPE_URL.into(),
            value: vec![0xff],
        });
        let v: Value = serde_json::from_str(&info_json(&odd).unwrap()).unwrap();
        assert!(v["runtime"]["options"]["error"].is_string(), "{v}");
        assert_eq!(v["runtime"]["options"].get("decoded"), None);
    }
}
