//! The connection to containerd: gRPC over the daemon's unix socket
//! (connected on first use, see `core::daemon::conn`), the namespace (and lease)
//! metadata every call carries, and the per-client timeout.

use std::fmt::Display;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tonic::metadata::{AsciiMetadataValue, MetadataValue};

use crate::core::daemon::conn::Conn;

use crate::api::services;
use crate::core::daemon::ident;
use crate::core::error::{self, Code, Error, Result, Transport};

/// Where containerd listens unless told otherwise.
pub const DEFAULT_ADDRESS: &str = "/run/containerd/containerd.sock";
/// The namespace used unless told otherwise.
pub const DEFAULT_NAMESPACE: &str = "default";
/// The timeout every call gets unless changed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// gRPC metadata key carrying the namespace.
pub const NAMESPACE_HEADER: &str = "containerd-namespace";
/// gRPC metadata key carrying a lease.
pub const LEASE_HEADER: &str = "containerd-lease";
/// The longest timeout a call gets (about 100 years): longer ones mean the
/// same, and gRPC cannot carry a deadline beyond about 11,000 years.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// containerd's own limit for a gRPC message it receives (and sends).
pub const MAX_MESSAGE: usize = 16 << 20;
/// The largest request sent: containerd's limit less 1 KiB, as a stored
/// record comes back in replies with a few fields more (timestamps), which
/// must fit the same limit.
pub const MAX_REQUEST: usize = MAX_MESSAGE - 1024;
/// The largest reply accepted: lists and reads may exceed containerd's
/// message limit when it streams them, and a daemon configured with a larger
/// limit may send more.
const MAX_REPLY: usize = i32::MAX as usize;
/// Longest path a unix socket address can hold (sun_path less its NUL).
const MAX_SOCKET_PATH: usize = 107;

/// A containerd client bound to one namespace. Cheap to share behind an `Arc`;
/// every method takes `&self`.
#[derive(Debug)]
pub struct Client {
    /// The shared connection (see `core::daemon::conn`).
    shared: Conn,
    socket: PathBuf,
    namespace: String,
    namespace_value: AsciiMetadataValue,
    timeout_ms: AtomicU64,
    /// The daemon's version and revision, once asked (see
    /// [`Client::daemon_version`]).
    daemon_version: std::sync::Mutex<Option<(String, String)>>,
    /// What images' targets resolved to (see `Client::resolve_image`).
    pub(crate) resolved_images: ImmutableCache<crate::core::image::snapshot::Resolution>,
    /// Files read from unpacked rootfs (see `Client::read_rootfs_files`).
    pub(crate) rootfs_files: ImmutableCache<std::sync::Arc<Vec<Option<String>>>>,
}

/// Most entries an [`ImmutableCache`] holds.
const CACHE_ITEMS: usize = 32;

/// What was read for keys whose data never changes (content digests, chain
/// ids of committed snapshots): read once, then taken from here. Holds at
/// most [`CACHE_ITEMS`] entries, the oldest going first.
#[derive(Debug)]
pub(crate) struct ImmutableCache<V>(std::sync::Mutex<std::collections::VecDeque<(String, V)>>);

impl<V: Clone> ImmutableCache<V> {
    fn new() -> Self {
        ImmutableCache(std::sync::Mutex::new(std::collections::VecDeque::new()))
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<(String, V)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn get(&self, key: &str) -> Option<V> {
        self.entries()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn put(&self, key: String, value: V) {
        let mut entries = self.entries();
        if entries.iter().any(|(k, _)| *k == key) {
            return;
        }
        if entries.len() == CACHE_ITEMS {
            entries.pop_front();
        }
        entries.push_back((key, value));
    }
}

thread_local! {
    /// The calling thread's own connections, by socket, for calls inside
    /// `runtime::block_on` on its own runtime (whose number is kept with
    /// them: a connection belongs to the runtime it was made on).
    static LOCAL_CONNS: std::cell::RefCell<(u64, Vec<(PathBuf, Conn)>)> =
        const { std::cell::RefCell::new((0, Vec::new())) };
}

/// Turns an address (`/path` or `unix:///path`) into the socket path.
pub fn socket_path(address: &str) -> Result<PathBuf> {
    let path = match address.split_once("://") {
        Some(("unix", rest)) => rest,
        Some((scheme, _)) => {
            return Err(Error::invalid(format!(
                "address {}: scheme {} is not supported, only unix sockets \
                 (\"/path\" or \"unix:///path\")",
                ident::shown(address),
                ident::shown(scheme)
            )))
        }
        None => address,
    };
    if !path.starts_with('/') {
        return Err(Error::invalid(format!(
            "address {}: the socket path must be absolute",
            ident::shown(address)
        )));
    }
    if path.len() > MAX_SOCKET_PATH {
        return Err(Error::invalid(format!(
            "address {}: a unix socket path holds at most {MAX_SOCKET_PATH} bytes",
            ident::shown(address)
        )));
    }
    Ok(PathBuf::from(path))
}

fn env_or(var: &str, default: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => default.to_string(),
    }
}

impl Client {
    /// Makes a client. `address` `None` falls back to `$CONTAINERD_ADDRESS`,
    /// then [`DEFAULT_ADDRESS`]; `namespace` `None` to
    /// `$CONTAINERD_NAMESPACE`, then [`DEFAULT_NAMESPACE`].
    ///
    /// Does not connect: the first call does, and a broken connection is made
    /// again by the next call. Starts the shared runtime if need be (the
    /// channel's background task runs there).
    pub fn connect(address: Option<&str>, namespace: Option<&str>) -> Result<Client> {
        let address = address
            .map(str::to_string)
            .unwrap_or_else(|| env_or("CONTAINERD_ADDRESS", DEFAULT_ADDRESS));
        let namespace = namespace
            .map(str::to_string)
            .unwrap_or_else(|| env_or("CONTAINERD_NAMESPACE", DEFAULT_NAMESPACE));
        let socket = socket_path(&address)?;
        ident::validate("namespace", &namespace)?;
        let namespace_value = MetadataValue::try_from(namespace.as_str())
            .map_err(|e| Error::invalid(format!("namespace {}: {e}", ident::shown(&namespace))))?;

        Ok(Client {
            shared: Conn::shared(&socket),
            socket,
            namespace,
            namespace_value,
            daemon_version: std::sync::Mutex::new(None),
            resolved_images: ImmutableCache::new(),
            rootfs_files: ImmutableCache::new(),
            timeout_ms: AtomicU64::new(DEFAULT_TIMEOUT.as_millis() as u64),
        })
    }

    /// The namespace every call of this client runs in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The daemon's socket path.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// Sets the timeout of every later call; `None` waits for ever. One
    /// longer than [`MAX_TIMEOUT`] is that.
    pub fn set_timeout(&self, timeout: Option<Duration>) {
        let ms = timeout.map_or(0, |d| {
            d.min(MAX_TIMEOUT).as_millis().clamp(1, u64::MAX as u128) as u64
        });
        self.timeout_ms.store(ms, Ordering::Relaxed);
    }

    /// The timeout of each call; `None` when calls wait for ever.
    pub fn timeout(&self) -> Option<Duration> {
        match self.timeout_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms).min(MAX_TIMEOUT)),
        }
    }

    /// A request carrying this client's namespace (and its deadline, so the
    /// daemon gives up when we do).
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = self.request_without_deadline(message);
        if let Some(t) = self.timeout() {
            req.set_timeout(t);
        }
        req
    }

    /// A request carrying this client's namespace but no deadline, for calls
    /// that take a timeout of their own (waits, streams).
    pub fn request_without_deadline<T>(&self, message: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(message);
        req.metadata_mut()
            .insert(NAMESPACE_HEADER, self.namespace_value.clone());
        req
    }

    /// A request carrying the namespace and lease `lease`.
    pub fn request_with_lease<T>(&self, message: T, lease: &str) -> Result<tonic::Request<T>> {
        let mut req = self.request(message);
        let value = MetadataValue::try_from(lease)
            .map_err(|e| Error::invalid(format!("lease {}: {e}", ident::shown(lease))))?;
        req.metadata_mut().insert(LEASE_HEADER, value);
        Ok(req)
    }

    /// Awaits one gRPC call under the client's timeout and turns its failure
    /// into an [`Error`] whose message starts with `what`.
    pub async fn call<T, F>(&self, what: impl Display, call: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        self.call_within(what, self.timeout(), call).await
    }

    /// [`Client::call`] with the time limit `limit` (`None`: none) instead
    /// of the client's, for calls whose work grows with their data (give the
    /// request the same deadline).
    pub async fn call_within<T, F>(
        &self,
        what: impl Display,
        limit: Option<Duration>,
        call: F,
    ) -> Result<T>
    where
        F: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let start = Instant::now();
        let answer = match limit {
            None => call.await,
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(answer) => answer,
                Err(_) => return Err(self.deadline_error_after(what, limit)),
            },
        };
        let status = match answer {
            Ok(reply) => return Ok(reply.into_inner()),
            Err(status) => status,
        };
        // The daemon gave up on the deadline the request carried (it
        // started its clock after ours, so ours has run out too).
        let gave_up = matches!(
            status.code(),
            tonic::Code::DeadlineExceeded | tonic::Code::Cancelled
        );
        if let Some(limit) = limit.filter(|l| gave_up && start.elapsed() >= *l) {
            return Err(self.deadline_error_after(what, limit));
        }
        let unimplemented = status.code() == tonic::Code::Unimplemented
            && error::transport_failure(&status).is_none();
        let e = self.status_error(what, status);
        if unimplemented {
            return Err(self.not_implemented(e).await);
        }
        Err(e)
    }

    /// Names the daemon's version in an error for a call the daemon does
    /// not implement (an older containerd).
    async fn not_implemented(&self, e: Error) -> Error {
        match self.known_version().await {
            Some((version, _)) => Error::new(
                e.code,
                format!(
                    "{}: containerd {version} does not implement this (a newer containerd may)",
                    e.message
                ),
            ),
            None => e,
        }
    }

    /// The remembered version, else one Version call made directly (not
    /// through [`Client::call`], which uses this); `None` when that fails.
    async fn known_version(&self) -> Option<(String, String)> {
        if let Some(v) = self.remembered_version() {
            return Some(v);
        }
        let mut svc = self.version();
        let asking = svc.version(self.request(()));
        let reply = match self.timeout() {
            Some(limit) => tokio::time::timeout(limit, asking).await.ok()?,
            None => asking.await,
        }
        .ok()?
        .into_inner();
        Some(self.remember_version(reply.version, reply.revision))
    }

    /// The daemon's version and revision if this client knows them already
    /// (no call).
    pub fn remembered_version(&self) -> Option<(String, String)> {
        self.daemon_version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn remember_version(&self, version: String, revision: String) -> (String, String) {
        let v = (version, revision);
        *self
            .daemon_version
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(v.clone());
        v
    }

    /// The daemon's version and revision, asked once and then remembered
    /// (refreshed by every [`Client::server_version`]).
    pub async fn daemon_version(&self) -> Result<(String, String)> {
        match self.remembered_version() {
            Some(v) => Ok(v),
            None => self.server_version().await,
        }
    }

    /// The error for a failed call: the daemon's words, or for a connection
    /// that could not be made or broke (`Unavailable`), which socket and why.
    pub fn status_error(&self, what: impl Display, status: tonic::Status) -> Error {
        let transport = error::transport_failure(&status);
        let e = Error::from(status);
        let socket = self.socket.display();
        match transport {
            Some(Transport::Connect) => Error::new(
                Code::Unavailable,
                format!(
                    "{what}: containerd at {socket} is unreachable: {}",
                    e.message
                ),
            ),
            Some(Transport::Broken) => Error::new(
                Code::Unavailable,
                format!(
                    "{what}: the connection to containerd at {socket} failed: {}",
                    e.message
                ),
            ),
            None => e.daemon_context(what),
        }
    }

    /// Refuses a request larger than containerd accepts, before it is sent:
    /// the daemon would only answer with a vague error after receiving it.
    pub fn check_request_size(
        &self,
        what: impl Display,
        message: &impl prost::Message,
    ) -> Result<()> {
        let len = message.encoded_len();
        if len > MAX_REQUEST {
            return Err(Error::invalid(format!(
                "{what}: the request is {len} bytes, over containerd's 16 MiB message limit \
                 (at most {MAX_REQUEST} bytes, as what is stored must fit in replies too)"
            )));
        }
        Ok(())
    }

    fn deadline_error_after(&self, what: impl Display, limit: Duration) -> Error {
        Error::new(
            Code::DeadlineExceeded,
            format!(
                "{what}: containerd at {} did not answer within {} ms",
                self.socket.display(),
                limit.as_millis()
            ),
        )
    }

    /// The daemon's version and revision.
    pub async fn server_version(&self) -> Result<(String, String)> {
        let mut svc = self.version();
        let v = self.call("version", svc.version(self.request(()))).await?;
        Ok(self.remember_version(v.version, v.revision))
    }

    /// The daemon's identity and plugins as JSON (see [`server_info_json`]):
    /// the introspection service's `Server` and `Plugins` calls, made
    /// together. A call the daemon does not implement (`Unimplemented`, an
    /// older daemon) leaves its fields out; when neither is implemented the
    /// answer is `NotImplemented`.
    pub async fn server_info(&self) -> Result<serde_json::Value> {
        let (mut a, mut b) = (self.introspection(), self.introspection());
        let server = self.call("introspection server", a.server(self.request(())));
        let plugins = self.call(
            "introspection plugins",
            b.plugins(self.request(services::introspection::v1::PluginsRequest::default())),
        );
        let (server, plugins) = tokio::join!(server, plugins);
        let (server, plugins) = (implemented(server)?, implemented(plugins)?);
        if server.is_none() && plugins.is_none() {
            return Err(Error::new(
                Code::NotImplemented,
                format!(
                    "server info: containerd at {} has no introspection service",
                    self.socket.display()
                ),
            ));
        }
        Ok(server_info_json(
            server.as_ref(),
            plugins.as_ref().map(|p| p.plugins.as_slice()),
        ))
    }

    /// The transport for a call: on a thread inside `runtime::block_on` on a
    /// runtime of its own, the thread's own connection to this daemon (made
    /// on first use; see `core::daemon::conn`), else the client's shared connection.
    pub fn channel(&self) -> Conn {
        let Some(number) = crate::runtime::local_runtime() else {
            return self.shared.clone();
        };
        LOCAL_CONNS
            .try_with(|cell| {
                let mut local = cell.borrow_mut();
                if local.0 != number {
                    // Made on a runtime that is gone.
                    *local = (number, Vec::new());
                }
                if let Some((_, conn)) = local.1.iter().find(|(s, _)| *s == self.socket) {
                    return conn.clone();
                }
                let conn = Conn::local(&self.socket);
                local.1.push((self.socket.clone(), conn.clone()));
                conn
            })
            .unwrap_or_else(|_| self.shared.clone())
    }

    pub fn version(&self) -> services::version::v1::version_client::VersionClient<Conn> {
        services::version::v1::version_client::VersionClient::new(self.channel())
    }

    pub fn containers(
        &self,
    ) -> services::containers::v1::containers_client::ContainersClient<Conn> {
        services::containers::v1::containers_client::ContainersClient::new(self.channel())
            .max_decoding_message_size(MAX_REPLY)
    }

    pub fn tasks(&self) -> services::tasks::v1::tasks_client::TasksClient<Conn> {
        services::tasks::v1::tasks_client::TasksClient::new(self.channel())
            .max_decoding_message_size(MAX_REPLY)
    }

    pub fn snapshots(&self) -> services::snapshots::v1::snapshots_client::SnapshotsClient<Conn> {
        services::snapshots::v1::snapshots_client::SnapshotsClient::new(self.channel())
            .max_decoding_message_size(MAX_REPLY)
    }

    pub fn images(&self) -> services::images::v1::images_client::ImagesClient<Conn> {
        services::images::v1::images_client::ImagesClient::new(self.channel())
            .max_decoding_message_size(MAX_REPLY)
    }

    pub fn content(&self) -> services::content::v1::content_client::ContentClient<Conn> {
        services::content::v1::content_client::ContentClient::new(
            // Always the shared connection: its writes stream many messages,
            // which a thread's own connection does not take.
            self.shared.clone(),
        )
        .max_decoding_message_size(MAX_REPLY)
    }

    pub fn diff(&self) -> services::diff::v1::diff_client::DiffClient<Conn> {
        services::diff::v1::diff_client::DiffClient::new(self.channel())
            .max_decoding_message_size(MAX_REPLY)
    }

    pub fn leases(&self) -> services::leases::v1::leases_client::LeasesClient<Conn> {
        services::leases::v1::leases_client::LeasesClient::new(self.channel())
            .max_decoding_message_size(MAX_REPLY)
    }

    pub fn events(&self) -> services::events::v1::events_client::EventsClient<Conn> {
        services::events::v1::events_client::EventsClient::new(self.channel())
            .max_decoding_message_size(MAX_REPLY)
    }

    pub fn introspection(
        &self,
    ) -> services::introspection::v1::introspection_client::IntrospectionClient<Conn> {
        services::introspection::v1::introspection_client::IntrospectionClient::new(self.channel())
            .max_decoding_message_size(MAX_REPLY)
    }

    pub fn namespaces(
        &self,
    ) -> services::namespaces::v1::namespaces_client::NamespacesClient<Conn> {
        services::namespaces::v1::namespaces_client::NamespacesClient::new(self.channel())
            .max_decoding_message_size(MAX_REPLY)
    }
}

/// `None` for a call the daemon does not implement.
fn implemented<T>(answer: Result<T>) -> Result<Option<T>> {
    match answer {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.code == Code::NotImplemented => Ok(None),
        Err(e) => Err(e),
    }
}

/// What `ctr plugins ls` shows as a plugin's STATUS: "ok" without an
/// initialisation error, "skip" for one that says the plugin skipped itself
/// (containerd's "skip plugin" error), "error" otherwise.
pub fn plugin_status(init_err: Option<&crate::api::google::rpc::Status>) -> &'static str {
    match init_err {
        None => "ok",
        Some(e) if e.message.contains("skip plugin") => "skip",
        Some(_) => "error",
    }
}

/// The server info JSON from the introspection answers (`None` for a call
/// the daemon does not implement): `uuid`, `pid`, `pidns`, `plugins` (each
/// `type`, `id`, `status` as [`plugin_status`], and `error`, the init
/// error's message, unless "ok"), `deprecations` (each `id`, `message`,
/// `lastOccurrence` in RFC 3339). What the daemon did not send is left out:
/// an empty uuid, a zero pid or pidns (fields older daemons lack), no
/// deprecations.
pub fn server_info_json(
    server: Option<&services::introspection::v1::ServerResponse>,
    plugins: Option<&[services::introspection::v1::Plugin]>,
) -> serde_json::Value {
    use serde_json::{json, Map, Value};
    let mut out = Map::new();
    if let Some(s) = server {
        if !s.uuid.is_empty() {
            out.insert("uuid".into(), json!(s.uuid));
        }
        if s.pid != 0 {
            out.insert("pid".into(), json!(s.pid));
        }
        if s.pidns != 0 {
            out.insert("pidns".into(), json!(s.pidns));
        }
        if !s.deprecations.is_empty() {
            let list: Vec<Value> = s
                .deprecations
                .iter()
                .map(|d| {
                    let mut w = Map::new();
                    w.insert("id".into(), json!(d.id));
                    w.insert("message".into(), json!(d.message));
                    if let Some(t) = &d.last_occurrence {
                        w.insert("lastOccurrence".into(), json!(t.to_string()));
                    }
                    Value::Object(w)
                })
                .collect();
            out.insert("deprecations".into(), Value::Array(list));
        }
    }
    if let Some(plugins) = plugins {
        let list: Vec<Value> = plugins
            .iter()
            .map(|p| {
                let mut o = Map::new();
                o.insert("type".into(), json!(p.r#type));
                o.insert("id".into(), json!(p.id));
                o.insert("status".into(), json!(plugin_status(p.init_err.as_ref())));
                if let Some(e) = &p.init_err {
                    o.insert("error".into(), json!(e.message));
                }
                Value::Object(o)
            })
            .collect();
        out.insert("plugins".into(), Value::Array(list));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immutable_caches_keep_the_newest_entries() {
        let cache = ImmutableCache::new();
        for i in 0..CACHE_ITEMS + 3 {
            cache.put(format!("k{i}"), i);
        }
        assert_eq!(cache.get("k0"), None, "the oldest went");
        assert_eq!(cache.get("k2"), None);
        assert_eq!(cache.get("k3"), Some(3));
        let last = CACHE_ITEMS + 2;
        assert_eq!(cache.get(&format!("k{last}")), Some(last));
        // A key is put once: its value never changes.
        cache.put("k3".into(), 99);
        assert_eq!(cache.get("k3"), Some(3));
    }

    #[test]
    fn addresses() {
        assert_eq!(
            socket_path("/a/b.sock").unwrap(),
            PathBuf::from("/a/b.sock")
        );
        assert_eq!(
            socket_path("unix:///a/b.sock").unwrap(),
            PathBuf::from("/a/b.sock")
        );
        for bad in [
            "",
            "a.sock",
            "unix://a.sock",
            "tcp://1.2.3.4:5",
            &format!("/{}", "x".repeat(107)),
        ] {
            assert_eq!(
                socket_path(bad).unwrap_err().code,
                Code::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn server_info_leaves_out_what_the_daemon_did_not_send() {
        use crate::api::google::rpc::Status;
        use crate::api::services::introspection::v1 as intro;
        // A 1.6.20 daemon: uuid only.
        let old = intro::ServerResponse {
            uuid: "u-1".into(),
            ..Default::default()
        };
        let plugin = |t: &str, id: &str, err: Option<&str>| intro::Plugin {
            r#type: t.into(),
            id: id.into(),
            init_err: err.map(|m| Status {
                code: 2,
                message: m.into(),
                details: vec![],
            }),
            ..Default::default()
        };
        let plugins = [
            plugin("io.containerd.grpc.v1", "version", None),
            plugin("io.containerd.snapshotter.v1", "btrfs", Some("path /x must be a btrfs filesystem to be used with the btrfs snapshotter: skip plugin")),
            plugin("io.containerd.snapshotter.v1", "zfs", Some("boom")),
        ];
        let v = server_info_json(Some(&old), Some(&plugins));
        assert_eq!(
            v,
            serde_json::json!({
                "uuid": "u-1",
                "plugins": [
                    {"type": "io.containerd.grpc.v1", "id": "version", "status": "ok"},
                    {"type": "io.containerd.snapshotter.v1", "id": "btrfs", "status": "skip",
                     "error": "path /x must be a btrfs filesystem to be used with the btrfs snapshotter: skip plugin"},
                    {"type": "io.containerd.snapshotter.v1", "id": "zfs", "status": "error",
                     "error": "boom"},
                ]
            })
        );
        // A 1.7.9+ daemon; plugins not implemented.
        let new = intro::ServerResponse {
            uuid: "u-2".into(),
            pid: 42,
            pidns: 4026531836,
            deprecations: vec![intro::DeprecationWarning {
                id: "io.containerd.deprecation/pull-schema-1-image".into(),
                message: "old images".into(),
                last_occurrence: Some(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 5,
                }),
            }],
        };
        assert_eq!(
            server_info_json(Some(&new), None),
            serde_json::json!({
                "uuid": "u-2", "pid": 42, "pidns": 4026531836u64,
                "deprecations": [{
                    "id": "io.containerd.deprecation/pull-schema-1-image",
                    "message": "old images",
                    "lastOccurrence": "2023-11-14T22:13:20.000000005Z",
                }]
            })
        );
        assert_eq!(
            server_info_json(None, Some(&[])),
            serde_json::json!({"plugins": []})
        );
    }
}
