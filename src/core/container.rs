//! Container records: create, load, list, spec, delete with snapshot cleanup
//! (containerd's Go `Container`).

use std::collections::HashMap;

use crate::api::services::containers::v1 as containers;
use crate::api::services::tasks::v1::GetRequest;
use crate::core::client::Client;
use crate::core::error::{Code, Error, Result};
use crate::core::image::{snapshot_lease_id, DEFAULT_SNAPSHOTTER};
use crate::core::{ident, spec};

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
}

/// Parses `key=value` labels; the key must not be empty or repeated.
pub fn parse_labels(items: &[String]) -> Result<HashMap<String, String>> {
    let mut labels = HashMap::new();
    for item in items {
        let (k, v) = item.split_once('=').ok_or_else(|| {
            Error::invalid(format!("label {} is not key=value", ident::shown(item)))
        })?;
        if k.is_empty() {
            return Err(Error::invalid(format!(
                "label {} has an empty key",
                ident::shown(item)
            )));
        }
        if labels.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Error::invalid(format!(
                "label key {} is given twice",
                ident::shown(k)
            )));
        }
    }
    Ok(labels)
}

/// Checks a new container's fields and makes the record to send. No I/O.
pub fn record_for(new: &NewContainer) -> Result<Record> {
    ident::validate("container id", &new.id)?;
    spec::parse(&new.spec_json).map_err(|e| e.context("spec_json"))?;
    let labels = parse_labels(&new.labels)?;
    let non_empty = |field: &str, v: &Option<String>| match v.as_deref() {
        Some("") => Err(Error::invalid(format!(
            "{field} is empty (NULL means the default)"
        ))),
        _ => Ok(()),
    };
    non_empty("snapshotter", &new.snapshotter)?;
    non_empty("snapshot_key", &new.snapshot_key)?;
    non_empty("runtime", &new.runtime)?;
    Ok(Record {
        id: new.id.clone(),
        labels,
        image: new.image.clone().unwrap_or_default(),
        runtime: Some(containers::container::Runtime {
            name: new
                .runtime
                .clone()
                .unwrap_or_else(|| DEFAULT_RUNTIME.to_string()),
            options: None,
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

impl Client {
    fn container_what(&self, id: &str) -> String {
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
        let record = self.get_container(id).await?;
        let what = self.container_what(id);
        let task = GetRequest {
            container_id: id.to_string(),
            exec_id: String::new(),
        };
        match self
            .call("get task", self.tasks().get(self.request(task)))
            .await
        {
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

        let snapshot = if record.snapshot_key.is_empty() {
            Ok(())
        } else if keep_snapshot {
            // Nothing refers to it once the record goes: a lease keeps the
            // garbage collector off it (`remove_snapshot` drops both).
            self.protect_snapshot(&record.snapshotter, &record.snapshot_key)
                .await
        } else {
            self.remove_snapshot(&record.snapshotter, &record.snapshot_key)
                .await
        };
        let req = containers::DeleteContainerRequest { id: id.to_string() };
        let deleted = self
            .call(
                format!("delete {what}"),
                self.containers().delete(self.request(req)),
            )
            .await
            .map(|_| ());
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
    /// A default spec for container `id` as JSON (see [`spec::default_spec`]),
    /// merged with the config of `image` when given, its args replaced by
    /// `argv` when given.
    pub async fn generate_spec(
        &self,
        id: &str,
        image: Option<&str>,
        argv: Option<Vec<String>>,
    ) -> Result<String> {
        ident::validate("container id", id)?;
        let mut s = spec::default_spec(self.namespace(), id)?;
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
