//! Faults: absurd timeouts, daemons that vanish, hang, reset or talk
//! nonsense mid-call (fake in-process gRPC servers and raw sockets, and a
//! real daemon killed with SIGKILL), waits across several restarts, a lease
//! that cannot be dropped after create, namespaces whose records exceed a
//! gRPC message, oversized specs, error messages that repeat or echo, and
//! connections that cannot open streams any more (GOAWAY, stream ids run
//! out: an h2 server of its own).

mod common;

use std::collections::HashMap;
use std::ffi::{c_char, CStr};
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::pin::Pin;
use std::ptr::{null, null_mut};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use containerd_c::api::services::containers::v1 as containers;
use containerd_c::api::services::leases::v1 as leases;
use containerd_c::api::services::tasks::v1::WaitRequest;
use containerd_c::api::services::version::v1 as version;
use containerd_c::core::container::NewContainer;
use containerd_c::core::{container::spec, Client, Code};
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use containerd_c::runtime::block_on;
use tonic::codegen::http;

// ---------------------------------------------------------------------------
// Fake daemons on a temporary unix socket.

/// A Version service that tells `called` about each call, then never answers.
struct Silent {
    called: Mutex<mpsc::Sender<()>>,
}

#[tonic::async_trait]
impl version::version_server::Version for Silent {
    async fn version(
        &self,
        _: tonic::Request<()>,
    ) -> Result<tonic::Response<version::VersionResponse>, tonic::Status> {
        let _ = self.called.lock().unwrap().send(());
        std::future::pending().await
    }
}

fn silent_server() -> (FakeServer, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let svc = version::version_server::VersionServer::new(Silent {
        called: Mutex::new(tx),
    });
    (FakeServer::start(svc), rx)
}

/// A raw socket server: `serve` runs once per accepted connection, on a
/// thread of its own; the listener lives as long as the returned value.
struct RawServer {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl RawServer {
    fn start(serve: fn(std::os::unix::net::UnixStream)) -> RawServer {
        let (dir, path) = temp_socket();
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                match conn {
                    Ok(c) => {
                        std::thread::spawn(move || serve(c));
                    }
                    Err(_) => return,
                }
            }
        });
        RawServer { path, _dir: dir }
    }

    fn address(&self) -> String {
        self.path.to_str().unwrap().to_string()
    }
}

/// `ctrd_client_server_version` against `address` with a client timeout of
/// `timeout_ms`: the outcome and how long it took.
fn version_at(address: &str, timeout_ms: u64) -> (Result<(String, String), Failure>, Duration) {
    let client = connect(address, "default");
    check(ctrd_client_set_timeout_ms(client, timeout_ms), CTRD_OK);
    let start = Instant::now();
    let r = server_version(client);
    let took = start.elapsed();
    ctrd_client_free(client);
    (r, took)
}

// ---------------------------------------------------------------------------
// 1. Timeouts too large for gRPC.

#[test]
fn huge_client_timeouts_do_not_break_later_calls() {
    let d = Daemon::shared();
    let client = connect(&d.address(), "default");
    for ms in [
        u64::MAX,
        u64::MAX - 1,
        1 << 63,
        1 << 50,
        360_000_000_000_000,
        359_999_996_400_000,
        3_155_760_000_000_000,
    ] {
        check(ctrd_client_set_timeout_ms(client, ms), CTRD_OK);
        let v = server_version(client);
        assert!(v.is_ok(), "timeout {ms} ms: {v:?}");
        // Calls that carry a deadline to the daemon and those that do not.
        let (mut ids, mut len) = (null_mut(), 0usize);
        check(
            ctrd_container_list(client, null(), &mut ids, &mut len),
            CTRD_OK,
        );
        ctrd_string_array_free(ids, len);
    }
    ctrd_client_free(client);
}

// ---------------------------------------------------------------------------
// 2. Transport failures.

#[test]
fn a_server_that_never_answers_runs_into_the_client_timeout() {
    // A gRPC server whose handler never returns.
    let (fake, called) = silent_server();
    let (r, took) = version_at(&fake.address(), 300);
    let (status, msg) = r.unwrap_err();
    assert_eq!(status, CTRD_ERR_DEADLINE_EXCEEDED, "{msg}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    called.try_recv().expect("the call reached the handler");

    // A socket that accepts and never says a word (no HTTP/2 settings).
    let raw = RawServer::start(|mut c| {
        let mut buf = [0u8; 4096];
        while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
    });
    let (r, took) = version_at(&raw.address(), 300);
    let (status, msg) = r.unwrap_err();
    assert_eq!(status, CTRD_ERR_DEADLINE_EXCEEDED, "{msg}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
}

#[test]
fn a_server_that_dies_mid_call_is_unavailable() {
    let (mut fake, called) = silent_server();
    let address = fake.address();
    let caller = std::thread::spawn(move || version_at(&address, 20_000));
    called
        .recv_timeout(Duration::from_secs(10))
        .expect("the call reached the handler");
    fake.kill();
    let (r, took) = caller.join().unwrap();
    let (status, msg) = r.unwrap_err();
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(msg.contains(&fake.address()), "{msg}");
}

#[test]
fn a_connection_closed_or_reset_mid_call_is_unavailable() {
    // Reads what the client sends, then closes: the client reads EOF.
    let eof = RawServer::start(|mut c| {
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0u8; 4096];
        while matches!(c.read(&mut buf), Ok(n) if n > 0) {}
    });
    // Closes without reading what the client sent: the client's socket is
    // reset (ECONNRESET / EPIPE).
    let reset = RawServer::start(|c| {
        std::thread::sleep(Duration::from_millis(200));
        drop(c);
    });
    for server in [&eof, &reset] {
        let (r, took) = version_at(&server.address(), 20_000);
        let (status, msg) = r.unwrap_err();
        assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert!(msg.contains(&server.address()), "{msg}");
    }
}

#[test]
fn a_server_that_is_not_http2_fails_clearly_and_fast() {
    let garbage = RawServer::start(|mut c| {
        let _ = c
            .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n\xff\xfe\x00garbage");
        let mut buf = [0u8; 4096];
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until && matches!(c.read(&mut buf), Ok(n) if n > 0) {}
    });
    let (r, took) = version_at(&garbage.address(), 20_000);
    let (status, msg) = r.unwrap_err();
    assert!(
        matches!(status, CTRD_ERR_UNAVAILABLE | CTRD_ERR_UNKNOWN),
        "{}: {msg}",
        status_name(status)
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert!(msg.contains(&garbage.address()), "{msg}");
}

/// Makes container `id` running `argv` with a started task; returns both.
fn running_task(
    client: *mut ctrd_client,
    id: &str,
    argv: &[&str],
) -> (*mut ctrd_container, *mut ctrd_task) {
    let k = container_via(client, id, argv);
    let io = ctrd_io {
        stdin_path: null(),
        stdout_path: null(),
        stderr_path: null(),
        terminal: false,
    };
    let mut t = null_mut();
    check(ctrd_container_new_task(k, &io, &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    (k, t)
}

/// SIGKILLs the daemon of `d` and waits until it is gone.
fn sigkill(d: &Daemon) {
    let pid = std::fs::read_to_string(d.dir.join("containerd.pid")).expect("pid file");
    let pid = pid.trim();
    run(std::process::Command::new("kill").args(["-KILL", pid]));
    let stat = PathBuf::from(format!("/proc/{pid}/stat"));
    for _ in 0..200 {
        match std::fs::read_to_string(&stat) {
            Err(_) => return,
            Ok(s) if s.rsplit(") ").next().is_some_and(|r| r.starts_with('Z')) => return,
            Ok(_) => std::thread::sleep(Duration::from_millis(25)),
        }
    }
    panic!("containerd {pid} did not die");
}

/// Kills the task with SIGKILL, waits for it, deletes it and the container.
fn finish(t: *mut ctrd_task, k: *mut ctrd_container) -> u32 {
    check(ctrd_task_kill(t, libc::SIGKILL, 0), CTRD_OK);
    let mut code = 0;
    check(ctrd_task_wait(t, 20_000, &mut code), CTRD_OK);
    check(ctrd_task_delete(t, 0, null_mut()), CTRD_OK);
    ctrd_task_free(t);
    remove_container(k);
    code
}

#[test]
fn a_call_in_flight_when_the_daemon_is_killed_is_unavailable() {
    let d = Daemon::start();
    d.import_image("default");
    let client = connect(&d.address(), "default");
    // runc's state is per namespace on the host, shared by every daemon:
    // ids of this process's own (as below).
    let victim = format!("victim-{}", std::process::id());
    let (k, t) = running_task(client, &victim, &["sleep", "600"]);

    // A plain call (no retry) in flight: a Wait on a task that runs on.
    let address = d.address();
    let (tx, rx) = mpsc::channel();
    let raw = std::thread::spawn(move || {
        block_on(async move {
            let c = Client::connect(Some(&address), Some("default"))?;
            c.server_version().await?;
            let _ = tx.send(());
            let req = WaitRequest {
                container_id: victim,
                exec_id: String::new(),
            };
            c.call("wait", c.tasks().wait(c.request(req))).await?;
            Ok(())
        })
    });
    // The library's wait, which retries while the client's timeout allows.
    let waiter = {
        let t = t as usize;
        std::thread::spawn(move || {
            let mut code = 0;
            let s = ctrd_task_wait(t as *mut ctrd_task, 60_000, &mut code);
            (s, last_error())
        })
    };
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    check(ctrd_client_set_timeout_ms(client, 1_000), CTRD_OK);
    std::thread::sleep(Duration::from_millis(300));
    sigkill(&d);

    let e = raw.join().unwrap().unwrap_err();
    assert_eq!(e.code, Code::Unavailable, "{e}");
    let (status, msg) = waiter.join().unwrap();
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    // The next call says the same.
    let (status, msg) = server_version(client).unwrap_err();
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");

    d.restart();
    check(ctrd_client_set_timeout_ms(client, 30_000), CTRD_OK);
    assert_eq!(finish(t, k), 128 + libc::SIGKILL as u32);
    ctrd_client_free(client);
}

// ---------------------------------------------------------------------------
// 3. Waits across several restarts.

#[test]
fn a_wait_survives_several_daemon_restarts() {
    let d = Daemon::start();
    d.import_image("default");
    let client = connect(&d.address(), "default");
    let patient = format!("patient-{}", std::process::id());
    let (k, t) = running_task(client, &patient, &["sleep", "600"]);
    check(ctrd_client_set_timeout_ms(client, 4_000), CTRD_OK);
    let waiter = {
        let t = t as usize;
        std::thread::spawn(move || {
            let mut code = 0;
            let s = ctrd_task_wait(t as *mut ctrd_task, 120_000, &mut code);
            (s, code, last_error())
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    // Each outage is short, but together they outlast the client's timeout.
    let start = Instant::now();
    for _ in 0..3 {
        d.stop_daemon_only();
        std::thread::sleep(Duration::from_millis(500));
        d.restart();
        std::thread::sleep(Duration::from_millis(1_500));
        assert!(
            !waiter.is_finished(),
            "the wait ended early: {:?}",
            waiter.join()
        );
    }
    assert!(start.elapsed() > Duration::from_secs(4));
    check(ctrd_task_kill(t, libc::SIGKILL, 0), CTRD_OK);
    let (status, code, msg) = waiter.join().unwrap();
    assert_eq!(
        (status, code),
        (CTRD_OK, 128 + libc::SIGKILL as u32),
        "{msg}"
    );
    check(ctrd_task_delete(t, 0, null_mut()), CTRD_OK);
    ctrd_task_free(t);
    remove_container(k);
    ctrd_client_free(client);
}

// ---------------------------------------------------------------------------
// 4. A container whose lease cannot be dropped was still created.

/// Containers and leases services that keep records in memory; deleting a
/// lease always fails.
#[derive(Default)]
struct Records {
    containers: Mutex<HashMap<String, containers::Container>>,
    lease_deletes: Mutex<Vec<String>>,
    /// Whether ListStream answers Unimplemented (as an old daemon).
    no_stream: bool,
}

#[derive(Clone, Default)]
struct FakeStore(Arc<Records>);

type ListStream = Pin<
    Box<
        dyn tokio_stream::Stream<Item = Result<containers::ListContainerMessage, tonic::Status>>
            + Send,
    >,
>;

#[tonic::async_trait]
impl containers::containers_server::Containers for FakeStore {
    type ListStreamStream = ListStream;

    async fn get(
        &self,
        r: tonic::Request<containers::GetContainerRequest>,
    ) -> Result<tonic::Response<containers::GetContainerResponse>, tonic::Status> {
        let id = r.into_inner().id;
        match self.0.containers.lock().unwrap().get(&id) {
            Some(c) => Ok(tonic::Response::new(containers::GetContainerResponse {
                container: Some(c.clone()),
            })),
            None => Err(tonic::Status::not_found(format!(
                "container \"{id}\": not found"
            ))),
        }
    }

    async fn list(
        &self,
        _: tonic::Request<containers::ListContainersRequest>,
    ) -> Result<tonic::Response<containers::ListContainersResponse>, tonic::Status> {
        let mut all: Vec<_> = self
            .0
            .containers
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(tonic::Response::new(containers::ListContainersResponse {
            containers: all,
        }))
    }

    async fn list_stream(
        &self,
        _: tonic::Request<containers::ListContainersRequest>,
    ) -> Result<tonic::Response<ListStream>, tonic::Status> {
        if self.0.no_stream {
            return Err(tonic::Status::unimplemented("unknown method ListStream"));
        }
        let all: Vec<_> = self
            .0
            .containers
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect();
        let items = all
            .into_iter()
            .map(|c| Ok(containers::ListContainerMessage { container: Some(c) }));
        Ok(tonic::Response::new(Box::pin(tokio_stream::iter(items))))
    }

    async fn create(
        &self,
        r: tonic::Request<containers::CreateContainerRequest>,
    ) -> Result<tonic::Response<containers::CreateContainerResponse>, tonic::Status> {
        let c = r.into_inner().container.unwrap_or_default();
        self.0
            .containers
            .lock()
            .unwrap()
            .insert(c.id.clone(), c.clone());
        Ok(tonic::Response::new(containers::CreateContainerResponse {
            container: Some(c),
        }))
    }

    async fn update(
        &self,
        _: tonic::Request<containers::UpdateContainerRequest>,
    ) -> Result<tonic::Response<containers::UpdateContainerResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("update"))
    }

    async fn delete(
        &self,
        r: tonic::Request<containers::DeleteContainerRequest>,
    ) -> Result<tonic::Response<()>, tonic::Status> {
        self.0.containers.lock().unwrap().remove(&r.into_inner().id);
        Ok(tonic::Response::new(()))
    }
}

#[tonic::async_trait]
impl leases::leases_server::Leases for FakeStore {
    async fn create(
        &self,
        _: tonic::Request<leases::CreateRequest>,
    ) -> Result<tonic::Response<leases::CreateResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("create"))
    }

    async fn delete(
        &self,
        r: tonic::Request<leases::DeleteRequest>,
    ) -> Result<tonic::Response<()>, tonic::Status> {
        self.0.lease_deletes.lock().unwrap().push(r.into_inner().id);
        Err(tonic::Status::internal("the lease store is broken"))
    }

    async fn list(
        &self,
        _: tonic::Request<leases::ListRequest>,
    ) -> Result<tonic::Response<leases::ListResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("list"))
    }

    async fn add_resource(
        &self,
        _: tonic::Request<leases::AddResourceRequest>,
    ) -> Result<tonic::Response<()>, tonic::Status> {
        Err(tonic::Status::unimplemented("add_resource"))
    }

    async fn delete_resource(
        &self,
        _: tonic::Request<leases::DeleteResourceRequest>,
    ) -> Result<tonic::Response<()>, tonic::Status> {
        Err(tonic::Status::unimplemented("delete_resource"))
    }

    async fn list_resources(
        &self,
        _: tonic::Request<leases::ListResourcesRequest>,
    ) -> Result<tonic::Response<leases::ListResourcesResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("list_resources"))
    }
}

fn store_server(no_stream: bool) -> (FakeServer, FakeStore) {
    let store = FakeStore(Arc::new(Records {
        no_stream,
        ..Default::default()
    }));
    let c = containers::containers_server::ContainersServer::new(store.clone());
    let l = leases::leases_server::LeasesServer::new(store.clone());
    // Routes by service name, as a daemon serving both does.
    let svc = tower::service_fn(move |req: http::Request<tonic::body::Body>| {
        let (mut c, mut l) = (c.clone(), l.clone());
        async move {
            if req.uri().path().starts_with("/containerd.services.leases.") {
                tower::Service::call(&mut l, req).await
            } else {
                tower::Service::call(&mut c, req).await
            }
        }
    });
    (FakeServer::start(svc), store)
}

fn small_spec(id: &str) -> String {
    spec::to_json(&spec::default_spec(&spec::Defaults::V1_6, "default", id).unwrap()).unwrap()
}

#[test]
fn a_created_container_is_reported_even_when_its_lease_stays() {
    let (fake, store) = store_server(false);
    let client = connect(&fake.address(), "default");
    let (idc, specc) = (c("leased"), c(&small_spec("leased")));
    let opts = ctrd_container_opts {
        struct_size: std::mem::size_of::<ctrd_container_opts>(),
        id: idc.as_ptr(),
        spec_json: specc.as_ptr(),
        image: null(),
        snapshotter: null(),
        snapshot_key: idc.as_ptr(),
        runtime: null(),
        labels: null(),
        runtime_options_json: null(),
    };
    let mut k = null_mut();
    let k = outcome(ctrd_container_create(client, &opts, &mut k), k)
        .unwrap_or_else(|e| panic!("create failed: {e:?}"));
    assert_eq!(
        unsafe_free_id(k),
        "leased",
        "the handle names the container"
    );
    assert!(store.0.containers.lock().unwrap().contains_key("leased"));
    assert_eq!(
        store.0.lease_deletes.lock().unwrap().len(),
        1,
        "the lease removal was tried"
    );
    ctrd_client_free(client);
}

/// The id of a container handle, then frees the handle.
fn unsafe_free_id(k: *mut ctrd_container) -> String {
    // SAFETY: a borrowed NUL-terminated string, copied before the handle goes.
    let id = unsafe { CStr::from_ptr(ctrd_container_id(k)) }
        .to_str()
        .unwrap()
        .to_string();
    ctrd_container_free(k);
    id
}

// ---------------------------------------------------------------------------
// 7. Lists larger than one gRPC message.

fn list_ids(client: *mut ctrd_client) -> Result<Vec<String>, Failure> {
    let (mut ids, mut len) = (null_mut::<*mut c_char>(), 0usize);
    let s = ctrd_container_list(client, null(), &mut ids, &mut len);
    if s != CTRD_OK {
        return Err((s, last_error()));
    }
    let mut out = Vec::new();
    for i in 0..len {
        // SAFETY: `len` NUL-terminated strings the library returned.
        let p = unsafe { *ids.add(i) };
        out.push(unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string());
    }
    ctrd_string_array_free(ids, len);
    out.sort();
    Ok(out)
}

/// A valid spec JSON of about `size` bytes (one big annotation).
fn big_spec(id: &str, size: usize) -> String {
    let mut s =
        serde_json::to_value(spec::default_spec(&spec::Defaults::V1_6, "default", id).unwrap())
            .unwrap();
    s["annotations"] = serde_json::json!({ "filler": "x".repeat(size) });
    serde_json::to_string(&s).unwrap()
}

#[test]
fn namespaces_whose_records_exceed_a_message_are_listed() {
    let d = Daemon::shared();
    let ns = format!("biglist-{}", std::process::id());
    let address = d.address();
    let n = 20;
    let ids: Vec<String> = (0..n).map(|i| format!("big{i:02}")).collect();
    {
        let (address, ns, ids) = (address.clone(), ns.clone(), ids.clone());
        block_on(async move {
            let c = Client::connect(Some(&address), Some(&ns))?;
            for id in &ids {
                let new = NewContainer {
                    id: id.clone(),
                    spec_json: big_spec(id, 1 << 20),
                    ..Default::default()
                };
                c.create_container(&new).await?;
            }
            Ok(())
        })
        .unwrap();
    }
    let client = connect(&address, &ns);
    let listed = list_ids(client);
    // Clean up before asserting.
    {
        let (address, ns, ids) = (address.clone(), ns.clone(), ids.clone());
        block_on(async move {
            let c = Client::connect(Some(&address), Some(&ns))?;
            for id in &ids {
                c.delete_container(id, false).await?;
            }
            Ok(())
        })
        .unwrap();
    }
    assert_eq!(listed.unwrap(), ids);
    assert_eq!(list_ids(client).unwrap(), Vec::<String>::new());
    ctrd_client_free(client);
}

#[test]
fn lists_fall_back_to_the_unary_call_on_old_daemons() {
    for no_stream in [true, false] {
        let (fake, store) = store_server(no_stream);
        for id in ["a", "b", "c"] {
            store.0.containers.lock().unwrap().insert(
                id.into(),
                containers::Container {
                    id: id.into(),
                    ..Default::default()
                },
            );
        }
        let client = connect(&fake.address(), "default");
        assert_eq!(list_ids(client).unwrap(), ["a", "b", "c"]);
        ctrd_client_free(client);
    }
}

// ---------------------------------------------------------------------------
// 8. Specs too large for one message.

#[test]
fn a_spec_larger_than_a_message_is_refused_before_sending() {
    // The fake records whatever reaches it: nothing must.
    let (fake, store) = store_server(false);
    let client = connect(&fake.address(), "default");
    let (idc, specc) = (c("huge"), c(&big_spec("huge", 17 << 20)));
    let opts = ctrd_container_opts {
        struct_size: std::mem::size_of::<ctrd_container_opts>(),
        id: idc.as_ptr(),
        spec_json: specc.as_ptr(),
        image: null(),
        snapshotter: null(),
        snapshot_key: null(),
        runtime: null(),
        labels: null(),
        runtime_options_json: null(),
    };
    let mut k = null_mut();
    let (status, msg) = outcome(ctrd_container_create(client, &opts, &mut k), k).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains("16 MiB"), "{msg}");
    assert!(msg.len() < 400, "{msg}");
    assert!(store.0.containers.lock().unwrap().is_empty());
    ctrd_client_free(client);

    // The real daemon agrees: the same spec is refused the same way, and one
    // just under the limit is accepted.
    let d = Daemon::shared();
    let client = connect(&d.address(), "default");
    let mut k = null_mut();
    let (status, msg) = outcome(ctrd_container_create(client, &opts, &mut k), k).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    let (idc, specc) = (c("almost"), c(&big_spec("almost", (16 << 20) - (64 << 10))));
    let opts = ctrd_container_opts {
        id: idc.as_ptr(),
        spec_json: specc.as_ptr(),
        ..opts
    };
    let mut k = null_mut();
    let k = outcome(ctrd_container_create(client, &opts, &mut k), k)
        .unwrap_or_else(|e| panic!("{e:?}"));
    remove_container(k);
    ctrd_client_free(client);
}

// ---------------------------------------------------------------------------
// 11. Error messages say each thing once and cut long input.

/// The start of a message, for assertion output.
fn brief(s: &str) -> &str {
    let mut end = s.len().min(400);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn error_messages_name_things_once() {
    let d = Daemon::shared();
    let client = connect(&d.address(), "default");
    let mut k = null_mut();
    let (status, msg) = outcome(
        ctrd_container_load(client, c("no-such-box").as_ptr(), &mut k),
        k,
    )
    .unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert_eq!(count(&msg, "no-such-box"), 1, "{msg}");
    assert_eq!(count(&msg, "namespace"), 1, "{msg}");

    // A record that goes away under its handle: delete and task calls.
    let spec = small_spec("ghost");
    let k = {
        let (idc, specc) = (c("ghost"), c(&spec));
        let opts = ctrd_container_opts {
            struct_size: std::mem::size_of::<ctrd_container_opts>(),
            id: idc.as_ptr(),
            spec_json: specc.as_ptr(),
            image: null(),
            snapshotter: null(),
            snapshot_key: null(),
            runtime: null(),
            labels: null(),
            runtime_options_json: null(),
        };
        let mut k = null_mut();
        check(ctrd_container_create(client, &opts, &mut k), CTRD_OK);
        // Creating it again: already exists, said once.
        let mut again = null_mut();
        let (status, msg) =
            outcome(ctrd_container_create(client, &opts, &mut again), again).unwrap_err();
        assert_eq!(status, CTRD_ERR_ALREADY_EXISTS, "{msg}");
        assert_eq!(count(&msg, "ghost"), 1, "{msg}");
        k
    };
    run(d.ctr("default").args(["containers", "rm", "ghost"]));
    let (status, msg) = (ctrd_container_delete(k, 0), last_error());
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert_eq!(count(&msg, "ghost"), 1, "{msg}");
    let io = ctrd_io {
        stdin_path: null(),
        stdout_path: null(),
        stderr_path: null(),
        terminal: false,
    };
    let mut t = null_mut();
    let (status, msg) = outcome(ctrd_container_new_task(k, &io, &mut t), t).unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert_eq!(count(&msg, "ghost"), 1, "{msg}");
    let (status, msg) = outcome(ctrd_container_load_task(k, &mut t), t).unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert_eq!(count(&msg, "ghost"), 1, "{msg}");
    ctrd_container_free(k);
    ctrd_client_free(client);
}

#[test]
fn task_error_messages_name_things_once() {
    let ns = Ns::new("taskmsgs");
    let (k, t) = running_task(ns.client, "gone", &["sleep", "600"]);
    // The task goes away under its handle.
    run(ns.ctr().args(["tasks", "kill", "-s", "SIGKILL", "gone"]));
    let mut code = 0;
    check(ctrd_task_wait(t, 20_000, &mut code), CTRD_OK);
    run(ns.ctr().args(["tasks", "delete", "gone"]));
    type Call<'a> = Box<dyn Fn() -> ctrd_status + 'a>;
    let calls: [(&str, Call); 4] = [
        ("start", Box::new(|| ctrd_task_start(t))),
        ("kill", Box::new(|| ctrd_task_kill(t, libc::SIGTERM, 0))),
        (
            "status",
            Box::new(|| ctrd_task_status(t, null_mut(), null_mut())),
        ),
        ("delete", Box::new(|| ctrd_task_delete(t, 0, null_mut()))),
    ];
    for (name, call) in calls {
        let s = call();
        let msg = last_error();
        assert_eq!(s, CTRD_ERR_NOT_FOUND, "{name}: {msg}");
        assert_eq!(count(&msg, "gone"), 1, "{name}: {msg}");
    }
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn long_input_is_cut_in_messages() {
    let d = Daemon::shared();
    let client = connect(&d.address(), "default");
    let long = "a".repeat(10_000);
    let mut k = null_mut();
    let (status, msg) =
        outcome(ctrd_container_load(client, c(&long).as_ptr(), &mut k), k).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{}", brief(&msg));
    assert!(msg.len() < 300, "{} bytes: {}", msg.len(), brief(&msg));
    assert!(
        msg.contains("10000"),
        "the full length is given: {}",
        brief(&msg)
    );

    // The same for a namespace, a label, a filter, an address.
    let mut other = null_mut();
    let s = ctrd_client_connect(c(&d.address()).as_ptr(), c(&long).as_ptr(), &mut other);
    let (status, msg) = outcome(s, other).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{}", brief(&msg));
    assert!(msg.len() < 300, "{} bytes: {}", msg.len(), brief(&msg));
    let s = ctrd_client_connect(c(&format!("/{long}")).as_ptr(), null(), &mut other);
    let (status, msg) = outcome(s, other).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{}", brief(&msg));
    assert!(msg.len() < 300, "{} bytes: {}", msg.len(), brief(&msg));

    let (idc, specc, label) = (c("labelled"), c(&small_spec("labelled")), c(&long));
    let labels = [label.as_ptr(), null()];
    let opts = ctrd_container_opts {
        struct_size: std::mem::size_of::<ctrd_container_opts>(),
        id: idc.as_ptr(),
        spec_json: specc.as_ptr(),
        image: null(),
        snapshotter: null(),
        snapshot_key: null(),
        runtime: null(),
        labels: labels.as_ptr(),
        runtime_options_json: null(),
    };
    let (status, msg) = outcome(ctrd_container_create(client, &opts, &mut k), k).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{}", brief(&msg));
    assert!(msg.len() < 300, "{} bytes: {}", msg.len(), brief(&msg));

    let filter = c(&format!("labels.\"{long}\"=="));
    let (mut ids, mut len) = (null_mut(), 0usize);
    let s = ctrd_container_list(client, filter.as_ptr(), &mut ids, &mut len);
    let msg = last_error();
    assert_eq!(s, CTRD_ERR_INVALID_ARGUMENT, "{}", brief(&msg));
    assert!(msg.len() < 300, "{} bytes: {}", msg.len(), brief(&msg));
    ctrd_client_free(client);
}

// ---------------------------------------------------------------------------
// A call an older daemon does not implement names the daemon's version.

/// A Version service that answers with a fixed version.
struct FixedVersion;

#[tonic::async_trait]
impl version::version_server::Version for FixedVersion {
    async fn version(
        &self,
        _: tonic::Request<()>,
    ) -> Result<tonic::Response<version::VersionResponse>, tonic::Status> {
        Ok(tonic::Response::new(version::VersionResponse {
            version: "0.9.0-fake".into(),
            revision: "r0".into(),
        }))
    }
}

#[test]
fn an_unimplemented_call_names_the_daemon_version() {
    let v = version::version_server::VersionServer::new(FixedVersion);
    let (_, store) = store_server(false);
    let rest = containers::containers_server::ContainersServer::new(store);
    // Version answers; every other service is "unimplemented", as a
    // daemon that lacks it says.
    let svc = tower::service_fn(move |req: http::Request<tonic::body::Body>| {
        let (mut v, mut rest) = (v.clone(), rest.clone());
        async move {
            if req
                .uri()
                .path()
                .starts_with("/containerd.services.version.")
            {
                tower::Service::call(&mut v, req).await
            } else {
                tower::Service::call(&mut rest, req).await
            }
        }
    });
    let fake = FakeServer::start(svc);
    let client = connect(&fake.address(), "default");
    let status = ctrd_snapshot_remove(client, null(), c("k1").as_ptr());
    let msg = last_error();
    assert_eq!(status, CTRD_ERR_NOT_IMPLEMENTED, "{msg}");
    assert!(
        msg.contains("containerd 0.9.0-fake does not implement"),
        "{msg}"
    );
    ctrd_client_free(client);
}

// ---------------------------------------------------------------------------
// 12. Connections that cannot open streams any more: a GOAWAY from the
// daemon (or a proxy), stream ids run out.

/// A gRPC server on h2's server API: answers Version, and Events Subscribe
/// with an event every 10 ms until `end_streams`. At each `goaway`, every
/// connection open then gets GOAWAY (h2's graceful shutdown: it ends once
/// its open streams did); later connections are served as usual.
struct H2Server {
    path: PathBuf,
    _dir: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
    /// How many times `goaway` was called.
    goaway: tokio::sync::watch::Sender<u32>,
    end: tokio::sync::watch::Sender<bool>,
    /// Connections accepted, and GOAWAYs sent.
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    goaways: Arc<std::sync::atomic::AtomicUsize>,
}

impl H2Server {
    fn start() -> H2Server {
        use std::future::Future as _;
        use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
        let (dir, path) = temp_socket();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = {
            let _g = rt.enter();
            tokio::net::UnixListener::bind(&path).unwrap()
        };
        let (goaway, goaway_rx) = tokio::sync::watch::channel(0u32);
        let (end, end_rx) = tokio::sync::watch::channel(false);
        let accepted = Arc::new(AtomicUsize::new(0));
        let goaways = Arc::new(AtomicUsize::new(0));
        let (n_accepted, n_goaways) = (accepted.clone(), goaways.clone());
        rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                n_accepted.fetch_add(1, SeqCst);
                let (mut goaway, end, goaways) =
                    (goaway_rx.clone(), end_rx.clone(), n_goaways.clone());
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(stream).await else {
                        return;
                    };
                    // Only a GOAWAY asked for after it was made.
                    let made = *goaway.borrow_and_update();
                    let mut sent = false;
                    let mut told = Box::pin(async move {
                        let _ = goaway.wait_for(|g| *g > made).await;
                    });
                    loop {
                        let next = std::future::poll_fn(|cx| {
                            if !sent && told.as_mut().poll(cx).is_ready() {
                                sent = true;
                                conn.graceful_shutdown();
                                goaways.fetch_add(1, SeqCst);
                            }
                            conn.poll_accept(cx)
                        })
                        .await;
                        match next {
                            Some(Ok((request, respond))) => {
                                tokio::spawn(h2_answer(request, respond, end.clone()));
                            }
                            _ => return,
                        }
                    }
                });
            }
        });
        H2Server {
            path,
            _dir: dir,
            _rt: rt,
            goaway,
            end,
            accepted,
            goaways,
        }
    }

    fn goaway(&self) {
        self.goaway.send_modify(|g| *g += 1);
    }

    fn end_streams(&self) {
        self.end.send_replace(true);
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn goaways(&self) -> usize {
        self.goaways.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A gRPC message in its frame (not compressed, its length).
fn grpc_message(m: &impl prost::Message) -> prost::bytes::Bytes {
    let body = m.encode_to_vec();
    let mut framed = vec![0u8];
    framed.extend_from_slice(&(body.len() as u32).to_be_bytes());
    framed.extend_from_slice(&body);
    framed.into()
}

async fn h2_answer(
    request: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<prost::bytes::Bytes>,
    mut end: tokio::sync::watch::Receiver<bool>,
) {
    use containerd_c::api::services::events::v1::Envelope;
    let subscribe = request.uri().path().ends_with("/Subscribe");
    let mut body = request.into_body();
    while let Some(Ok(data)) = body.data().await {
        let _ = body.flow_control().release_capacity(data.len());
    }
    let head = http::Response::builder()
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let Ok(mut send) = respond.send_response(head, false) else {
        return;
    };
    if subscribe {
        for n in 0u64.. {
            let event = Envelope {
                topic: format!("/fake/{n}"),
                namespace: "default".into(),
                ..Default::default()
            };
            if send.send_data(grpc_message(&event), false).is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(10)) => {}
                _ = end.wait_for(|e| *e) => break,
            }
        }
    } else {
        let reply = version::VersionResponse {
            version: "1.0.0-h2".into(),
            revision: "fake".into(),
        };
        if send.send_data(grpc_message(&reply), false).is_err() {
            return;
        }
    }
    let mut trailers = http::HeaderMap::new();
    trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
    let _ = send.send_trailers(trailers);
}

/// `calls` Version calls over `conn` on `rt`: how many succeeded (the
/// first failure's message) and how long they took.
fn versions_over(
    rt: &tokio::runtime::Runtime,
    conn: &containerd_c::core::daemon::conn::Conn,
    calls: usize,
) -> (usize, Option<String>, Duration) {
    let start = Instant::now();
    let (mut ok, mut failure) = (0, None);
    for _ in 0..calls {
        let mut client = version::version_client::VersionClient::new(conn.clone());
        match rt.block_on(client.version(())) {
            Ok(v) if v.get_ref().version == "1.0.0-h2" => ok += 1,
            Ok(v) => failure = failure.or(Some(format!("{v:?}"))),
            Err(e) => failure = failure.or(Some(e.to_string())),
        }
    }
    (ok, failure, start.elapsed())
}

/// A current-thread runtime, as a thread that makes blocking calls has.
fn thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn calls_at_once_on_a_new_client_make_one_connection() {
    use containerd_c::core::daemon::conn::Conn;
    let server = H2Server::start();
    let shared = Conn::shared(&server.path);
    // A hundred calls at once on the shared runtime, none connected yet (a
    // queue's submissions on a new client): one connection serves them all.
    let calls: Vec<_> = (0..100)
        .map(|_| {
            let conn = shared.clone();
            async move {
                let mut client = version::version_client::VersionClient::new(conn);
                client.version(()).await.map(|v| v.into_inner().version)
            }
        })
        .collect();
    let versions = containerd_c::runtime::block_on_shared(async move {
        Ok(futures_util::future::join_all(calls).await)
    })
    .unwrap();
    assert!(
        versions
            .iter()
            .all(|v| v.as_deref().ok() == Some("1.0.0-h2")),
        "{versions:?}"
    );
    assert_eq!(server.accepted(), 1, "connections made");
    // A socket nobody listens on: each waiting call gets the connect's own
    // error (the daemon is unreachable), and the next call tries again.
    let (_dir, nowhere) = temp_socket();
    let dead = Conn::shared(&nowhere);
    let failed = containerd_c::runtime::block_on_shared(async move {
        let calls = (0..10).map(|_| {
            let mut client = version::version_client::VersionClient::new(dead.clone());
            async move { client.version(()).await.map(drop) }
        });
        Ok(futures_util::future::join_all(calls).await)
    })
    .unwrap();
    for f in failed {
        let e = containerd_c::Error::from(f.unwrap_err());
        assert_eq!(e.code, containerd_c::Code::Unavailable, "{e:?}");
    }
}

#[test]
fn after_a_goaway_new_calls_go_over_a_new_connection() {
    use containerd_c::api::services::events::v1 as events;
    use containerd_c::core::daemon::conn::Conn;
    type Events = tonic::Streaming<events::Envelope>;
    let server = H2Server::start();
    let shared_rt = containerd_c::runtime::get().unwrap();
    let local_rt = thread_runtime();
    // The client's shared connection and a thread's own, each with an event
    // stream open on it (which keeps the connection open after the GOAWAY:
    // with none, h2's server closes it at once).
    let shared = Conn::shared(&server.path);
    let local = Conn::local(&server.path);
    let subscribe = |rt: &tokio::runtime::Runtime, conn: &Conn| -> Events {
        let mut client = events::events_client::EventsClient::new(conn.clone());
        rt.block_on(client.subscribe(events::SubscribeRequest::default()))
            .unwrap()
            .into_inner()
    };
    let next_event = |rt: &tokio::runtime::Runtime, stream: &mut Events| {
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), stream.message()).await })
            .expect("an event within 10 s")
    };
    let number = |e: &events::Envelope| e.topic["/fake/".len()..].parse::<u64>().unwrap();
    let mut streams = [
        ("shared", shared_rt, &shared, subscribe(shared_rt, &shared)),
        (
            "thread's own",
            &local_rt,
            &local,
            subscribe(&local_rt, &local),
        ),
    ];
    for (_, rt, conn, stream) in &mut streams {
        assert_eq!(number(&next_event(rt, stream).unwrap().unwrap()), 0);
        assert_eq!(versions_over(rt, conn, 1).0, 1);
    }
    assert_eq!(server.accepted(), 2);

    server.goaway();
    let until = Instant::now() + Duration::from_secs(10);
    while server.goaways() < 2 {
        assert!(Instant::now() < until, "the server sent no GOAWAY");
        std::thread::sleep(Duration::from_millis(5));
    }
    for (name, rt, conn, stream) in &mut streams {
        // Events that went out after the GOAWAY arrive: the connection's
        // task took it in, and the stream goes on.
        let seen = number(&next_event(rt, stream).unwrap().unwrap());
        next_event(rt, stream).unwrap().unwrap();

        let (ok, failure, took) = versions_over(rt, conn, 50);
        eprintln!("after a GOAWAY, {name} connection: {ok}/50 calls succeeded in {took:?}");
        assert_eq!(ok, 50, "{name} connection: first failure: {failure:?}");
        assert!(took < Duration::from_secs(10), "{name}: took {took:?}");

        // The stream opened before the GOAWAY goes on.
        let later = number(&next_event(rt, stream).unwrap().unwrap());
        assert!(later > seen + 1, "event {later} after {seen}");
    }
    // One new connection each (the server accepts them as usual).
    assert_eq!(server.accepted(), 4);

    // A GOAWAY while four threads make calls over the shared connection:
    // each call succeeds (those already sent are answered on the old
    // connection, the others go over a new one).
    let (stop, goaway_at) = (std::sync::atomic::AtomicBool::new(false), 200);
    let counts: Vec<(usize, usize, Option<String>)> = std::thread::scope(|scope| {
        let callers: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(|| {
                    let (mut ok, mut calls, mut failure) = (0, 0, None);
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        let (n, f, _) = versions_over(shared_rt, &shared, 1);
                        ok += n;
                        calls += 1;
                        failure = failure.or(f);
                    }
                    (ok, calls, failure)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(goaway_at));
        server.goaway();
        std::thread::sleep(Duration::from_millis(goaway_at));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        callers.into_iter().map(|c| c.join().unwrap()).collect()
    });
    let (ok, calls) = counts
        .iter()
        .fold((0, 0), |(o, c), (ok, calls, _)| (o + ok, c + calls));
    eprintln!("a GOAWAY amid calls from 4 threads: {ok}/{calls} succeeded");
    assert_eq!(ok, calls, "{counts:?}");
    assert!(server.goaways() >= 4, "the second GOAWAY went out");

    // The streams end as the server ends them.
    server.end_streams();
    for (name, rt, _, stream) in &mut streams {
        loop {
            match next_event(rt, stream) {
                Ok(Some(_)) => continue,
                Ok(None) => break,
                Err(status) => panic!("{name}: the stream ended with {status:?}"),
            }
        }
    }
}

#[test]
fn connections_whose_stream_ids_run_out_are_replaced() {
    use containerd_c::core::daemon::conn::{test_hooks, Conn};
    let server = H2Server::start();
    // Five streams per connection: 2^31 - 9, ..., 2^31 - 1.
    test_hooks::set_first_stream_id(&server.path, (1 << 31) - 9);
    let shared_rt = containerd_c::runtime::get().unwrap();
    let local_rt = thread_runtime();
    let shared = Conn::shared(&server.path);
    let local = Conn::local(&server.path);
    for (name, rt, conn) in [
        ("shared", shared_rt, &shared),
        ("thread's own", &local_rt, &local),
    ] {
        let (ok, failure, took) = versions_over(rt, conn, 50);
        eprintln!("stream ids running out, {name} connection: {ok}/50 calls in {took:?}");
        assert_eq!(ok, 50, "{name} connection: first failure: {failure:?}");
    }
    // Ten connections each.
    assert_eq!(server.accepted(), 20);

    // Through the C API (on whichever connection the call takes).
    let client = connect(&server.path.to_string_lossy(), "default");
    for n in 0..20 {
        let v = server_version(client);
        assert!(v.is_ok(), "call {n}: {v:?}");
    }
    ctrd_client_free(client);
}

#[test]
fn a_call_left_waiting_while_it_connects_holds_up_no_other_call() {
    use containerd_c::core::daemon::conn::Conn;
    use std::future::Future as _;
    let server = H2Server::start();
    let conn = Conn::shared(&server.path);
    let rt = containerd_c::runtime::get().unwrap();
    rt.block_on(async {
        // A caller polls one call once (it starts to connect) and then waits
        // for another before it polls the first again, as a subscription
        // does while it publishes its sync event.
        let mut client = version::version_client::VersionClient::new(conn.clone());
        let first = client.version(());
        tokio::pin!(first);
        let polled =
            std::future::poll_fn(|cx| std::task::Poll::Ready(first.as_mut().poll(cx).is_ready()));
        assert!(!polled.await, "the first call is connecting");
        let mut other = version::version_client::VersionClient::new(conn.clone());
        let second = tokio::time::timeout(Duration::from_secs(5), other.version(())).await;
        assert!(matches!(&second, Ok(Ok(_))), "the other call: {second:?}");
        first.await.unwrap();
    });
}
