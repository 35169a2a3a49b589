//! Namespaces and server info against the real private containerd: create
//! with labels (seen by `ctr namespaces ls`), list, a delete refused while a
//! container is left and allowed once it is gone, bad inputs; the
//! introspection JSON compared with `ctr plugins ls` and the daemon's own
//! files; and, on fake daemons, the fields newer daemons send and the parts
//! older ones lack.

mod common;

use std::collections::BTreeSet;
use std::ffi::CString;
use std::ptr::{null, null_mut};

use common::*;
use containerd_c::api::google::rpc::Status;
use containerd_c::api::services::introspection::v1 as intro;
use containerd_c::api::services::version::v1 as version;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use serde_json::Value;

fn create(client: *mut ctrd_client, name: &str, labels: &[&str]) -> Result<(), Failure> {
    let labels = CArray::new(labels);
    match ctrd_namespace_create(client, c(name).as_ptr(), labels.as_ptr()) {
        CTRD_OK => Ok(()),
        s => Err((s, last_error())),
    }
}

fn delete(client: *mut ctrd_client, name: &str) -> Result<(), Failure> {
    match ctrd_namespace_delete(client, c(name).as_ptr()) {
        CTRD_OK => Ok(()),
        s => Err((s, last_error())),
    }
}

fn list(client: *mut ctrd_client) -> Vec<String> {
    let (mut names, mut len) = (null_mut(), usize::MAX);
    let status = ctrd_namespace_list(client, &mut names, &mut len);
    strings_outcome(status, names, len).expect("ctrd_namespace_list")
}

/// `ctr namespaces ls`: each name with its labels column ("k=v,..." sorted,
/// "" for none).
fn ctr_namespaces(daemon: &Daemon) -> Vec<(String, String)> {
    run(daemon.ctr("default").args(["namespaces", "ls"]))
        .lines()
        .skip(1)
        .map(|l| {
            let mut cols = l.split_whitespace();
            let name = cols.next().unwrap().to_string();
            (name, cols.next().unwrap_or("").to_string())
        })
        .collect()
}

/// Makes container `id` in the client's namespace, with a spec but no image
/// or snapshot, so that the container is all the namespace holds.
fn bare_container(client: *mut ctrd_client, id: &str) -> *mut ctrd_container {
    let argv = CArray::new(&["/bin/true"]);
    let mut json = null_mut();
    check(
        ctrd_spec_generate(client, c(id).as_ptr(), null(), argv.as_ptr(), &mut json),
        CTRD_OK,
    );
    let spec = c(&take_string(json));
    let idc = c(id);
    let opts = ctrd_container_opts {
        id: idc.as_ptr(),
        spec_json: spec.as_ptr(),
        ..Default::default()
    };
    let mut k = null_mut();
    check(ctrd_container_create(client, &opts, &mut k), CTRD_OK);
    k
}

#[test]
fn create_list_and_delete_with_the_daemons_refusals() {
    let daemon = Daemon::shared();
    let client = connect(&daemon.address(), "default");
    let name = format!("ns-life-{}", std::process::id());

    create(client, &name, &["owner=ctrd-test", "tier=", "eq=a=b"]).unwrap();
    let row = ctr_namespaces(daemon)
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("ctr namespaces ls does not show {name}"));
    // containerd drops a label whose value is empty.
    assert_eq!(row.1, "eq=a=b,owner=ctrd-test");

    // The library's list is ctr's.
    let names = list(client);
    assert!(names.contains(&name), "{names:?}");
    let ctr_names: Vec<String> = run(daemon.ctr("default").args(["namespaces", "ls", "-q"]))
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(names, ctr_names);

    let (status, message) = create(client, &name, &[]).unwrap_err();
    assert_eq!(status, CTRD_ERR_ALREADY_EXISTS, "{message}");
    assert_eq!(
        message,
        format!("ctrd_namespace_create: namespace \"{name}\": already exists")
    );

    // A label the daemon refuses: its words, and no namespace made.
    let big_name = format!("ns-big-{}", std::process::id());
    let big = format!("big={}", "x".repeat(5000));
    let (status, message) = create(client, &big_name, &[&big]).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{message}");
    // The daemon's own words (1.7 and later also give the length).
    let prefix =
        format!("ctrd_namespace_create: create namespace \"{big_name}\": namespace.Labels: ");
    assert!(message.starts_with(&prefix), "{message}");
    assert!(
        message.contains("greater than maximum size (4096 bytes), key: big: invalid argument"),
        "{message}"
    );
    assert!(!list(client).contains(&big_name));

    // A container keeps the namespace from being deleted, with the daemon's
    // words saying so.
    let inside = connect(&daemon.address(), &name);
    let k = bare_container(inside, "keeper");
    let (status, message) = delete(client, &name).unwrap_err();
    assert_eq!(status, CTRD_ERR_FAILED_PRECONDITION, "{message}");
    assert_eq!(
        message,
        format!(
            "ctrd_namespace_delete: namespace \"{name}\" must be empty, \
             but it still has containers: failed precondition"
        )
    );
    assert!(list(client).contains(&name));

    check(ctrd_container_delete(k, 0), CTRD_OK);
    ctrd_container_free(k);
    delete(client, &name).unwrap();
    assert!(!list(client).contains(&name));
    assert!(!ctr_namespaces(daemon).iter().any(|(n, _)| *n == name));

    let (status, message) = delete(client, &name).unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{message}");
    assert!(
        message.starts_with("ctrd_namespace_delete: ") && message.contains(&name),
        "{message}"
    );

    // A namespace without labels, made from a client bound to another one.
    let bare = format!("ns-bare-{}", std::process::id());
    let status = ctrd_namespace_create(inside, c(&bare).as_ptr(), null());
    check(status, CTRD_OK);
    assert!(ctr_namespaces(daemon).contains(&(bare.clone(), String::new())));
    delete(inside, &bare).unwrap();

    ctrd_client_free(inside);
    ctrd_client_free(client);
}

#[test]
fn bad_input_fails_before_the_daemon_and_says_what_was_wrong() {
    // No daemon listens here: bad input must fail before any call.
    let client = connect("/nonexistent/containerd.sock", "default");
    let long = "n".repeat(77);
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        ("", vec![], "invalid namespace \"\": must not be empty"),
        ("a b", vec![], "invalid namespace \"a b\": character ' '"),
        ("-x", vec![], "invalid namespace \"-x\": must start"),
        ("x-", vec![], "invalid namespace \"x-\": must end"),
        ("ä", vec![], "invalid namespace \"ä\": character 'ä'"),
        (&long, vec![], "longer than 76 characters"),
        ("ok", vec!["novalue"], "label \"novalue\" is not key=value"),
        ("ok", vec!["=v"], "label \"=v\" has an empty key"),
        ("ok", vec!["k=1", "k=2"], "label key \"k\" is given twice"),
    ];
    for (name, labels, want) in cases {
        let (status, message) = create(client, name, &labels).unwrap_err();
        assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{name:?}: {message}");
        assert!(
            message.starts_with("ctrd_namespace_create: ") && message.contains(want),
            "{name:?} {labels:?}: {message}"
        );
        if labels.is_empty() {
            let (status, message) = delete(client, name).unwrap_err();
            assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{message}");
            assert!(
                message.starts_with("ctrd_namespace_delete: ") && message.contains(want),
                "{message}"
            );
        }
    }

    let expect = |status: ctrd_status, want: &str| {
        let message = last_error();
        assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{message}");
        assert_eq!(message, want);
    };
    let ok = c("ok");
    expect(
        ctrd_namespace_create(null_mut(), ok.as_ptr(), null()),
        "ctrd_namespace_create: client is NULL",
    );
    expect(
        ctrd_namespace_create(client, null(), null()),
        "ctrd_namespace_create: name is NULL",
    );
    let bad_utf8 = CString::new(vec![b'k', b'=', 0xff]).unwrap();
    let labels = [bad_utf8.as_ptr(), null()];
    let status = ctrd_namespace_create(client, ok.as_ptr(), labels.as_ptr());
    let message = last_error();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT);
    assert!(
        message.starts_with("ctrd_namespace_create: labels[0] is not valid UTF-8"),
        "{message}"
    );
    expect(
        ctrd_namespace_delete(client, null()),
        "ctrd_namespace_delete: name is NULL",
    );
    expect(
        ctrd_namespace_delete(null_mut(), ok.as_ptr()),
        "ctrd_namespace_delete: client is NULL",
    );
    let (mut names, mut len) = (null_mut(), 7usize);
    expect(
        ctrd_namespace_list(client, null_mut(), &mut len),
        "ctrd_namespace_list: names is NULL",
    );
    expect(
        ctrd_namespace_list(client, &mut names, null_mut()),
        "ctrd_namespace_list: len is NULL",
    );
    expect(
        ctrd_namespace_list(null_mut(), &mut names, &mut len),
        "ctrd_namespace_list: client is NULL",
    );
    assert!(names.is_null() && len == 7, "out-params written on failure");
    let mut json = null_mut();
    expect(
        ctrd_client_server_info_json(client, null_mut()),
        "ctrd_client_server_info_json: json is NULL",
    );
    expect(
        ctrd_client_server_info_json(null_mut(), &mut json),
        "ctrd_client_server_info_json: client is NULL",
    );
    assert!(json.is_null());

    // Good input reaches for the daemon, which is not there.
    let (status, message) = create(client, "fine", &["a=b"]).unwrap_err();
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{message}");
    let status = ctrd_client_server_info_json(client, &mut json);
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{}", last_error());
    assert!(json.is_null());
    ctrd_client_free(client);

    // Nothing bad reached the real daemon.
    let daemon = Daemon::shared();
    let shown = ctr_namespaces(daemon);
    assert!(
        !shown.iter().any(|(n, _)| n == "ok" || n == "fine"),
        "{shown:?}"
    );
}

fn server_info(client: *mut ctrd_client) -> Result<Value, Failure> {
    let mut json = null_mut();
    match ctrd_client_server_info_json(client, &mut json) {
        CTRD_OK => Ok(serde_json::from_str(&take_string(json)).unwrap()),
        s => {
            assert!(json.is_null(), "json written on failure");
            Err((s, last_error()))
        }
    }
}

/// `(major, minor, patch)` of a version such as "1.6.20~ds1" or "v2.0.0".
fn version_triple(v: &str) -> (u32, u32, u32) {
    let mut parts = v
        .trim_start_matches('v')
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

#[test]
fn server_info_matches_ctr_and_the_daemons_files() {
    let daemon = Daemon::shared();
    let client = connect(&daemon.address(), "default");
    let info = server_info(client).unwrap();

    // The uuid the daemon keeps in its root, stable across calls.
    let uuid = info["uuid"].as_str().expect("uuid").to_string();
    assert_eq!(uuid.len(), 36, "{uuid}");
    let stored = daemon
        .dir
        .join("root/io.containerd.grpc.v1.introspection/uuid");
    assert_eq!(std::fs::read_to_string(&stored).unwrap().trim(), uuid);
    assert_eq!(server_info(client).unwrap()["uuid"], uuid.as_str());

    // pid and pidns exactly when the daemon's release sends them.
    let (v, _) = server_version(client).unwrap();
    let t = version_triple(&v);
    let has_pid = t >= (1, 7, 0) || (t.0, t.1) == (1, 6) && t.2 >= 25;
    let pid: u64 = std::fs::read_to_string(daemon.dir.join("containerd.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    if has_pid {
        assert_eq!(info["pid"], pid, "{info}");
        let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap();
        assert_eq!(
            ns.to_str().unwrap(),
            format!("pid:[{}]", info["pidns"].as_u64().unwrap())
        );
    } else {
        assert!(
            info.get("pid").is_none() && info.get("pidns").is_none(),
            "{info}"
        );
    }
    if t < (1, 7, 9) {
        assert!(info.get("deprecations").is_none(), "{info}");
    }

    // The plugins and their statuses are what `ctr plugins ls` shows.
    let ctr: BTreeSet<(String, String, String)> =
        run(daemon.ctr("default").args(["plugins", "ls"]))
            .lines()
            .skip(1)
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(cols.len(), 4, "{l}");
                (cols[0].into(), cols[1].into(), cols[3].into())
            })
            .collect();
    let plugins = info["plugins"].as_array().expect("plugins");
    let ours: BTreeSet<(String, String, String)> = plugins
        .iter()
        .map(|p| {
            let field = |k: &str| p[k].as_str().unwrap().to_string();
            let status = field("status");
            // A message exactly when the plugin did not load.
            match status.as_str() {
                "ok" => assert!(p.get("error").is_none(), "{p}"),
                _ => assert!(!field("error").is_empty(), "{p}"),
            }
            (field("type"), field("id"), status)
        })
        .collect();
    assert_eq!(ours.len(), plugins.len(), "a plugin listed twice");
    assert_eq!(ours, ctr);
    assert!(ours.len() > 10, "{ours:?}");
    let ok = |t: &str, id: &str| ours.contains(&(t.into(), id.into(), "ok".into()));
    assert!(ok("io.containerd.grpc.v1", "introspection"), "{ours:?}");
    assert!(ok("io.containerd.snapshotter.v1", "overlayfs"), "{ours:?}");
    ctrd_client_free(client);
}

// ---------------------------------------------------------------------------
// Fake daemons: what a newer daemon sends, and what an older one lacks.

/// An introspection service answering `server` (or Unimplemented) and
/// `plugins` (or the given error).
#[derive(Clone)]
struct Intro {
    server: Option<intro::ServerResponse>,
    plugins: Result<Vec<intro::Plugin>, tonic::Status>,
}

#[tonic::async_trait]
impl intro::introspection_server::Introspection for Intro {
    async fn plugins(
        &self,
        _: tonic::Request<intro::PluginsRequest>,
    ) -> Result<tonic::Response<intro::PluginsResponse>, tonic::Status> {
        self.plugins
            .clone()
            .map(|plugins| tonic::Response::new(intro::PluginsResponse { plugins }))
    }

    async fn server(
        &self,
        _: tonic::Request<()>,
    ) -> Result<tonic::Response<intro::ServerResponse>, tonic::Status> {
        self.server
            .clone()
            .map(tonic::Response::new)
            .ok_or_else(|| tonic::Status::unimplemented("unknown method Server"))
    }
}

fn plugin(t: &str, id: &str, err: Option<&str>) -> intro::Plugin {
    intro::Plugin {
        r#type: t.into(),
        id: id.into(),
        init_err: err.map(|m| Status {
            code: 2,
            message: m.into(),
            details: vec![],
        }),
        ..Default::default()
    }
}

fn intro_server(i: Intro) -> FakeServer {
    FakeServer::start(intro::introspection_server::IntrospectionServer::new(i))
}

#[test]
fn a_newer_daemon_gives_pid_pidns_and_deprecations() {
    let fake = intro_server(Intro {
        server: Some(intro::ServerResponse {
            uuid: "2b1c1a3e-0000-4000-8000-000000000001".into(),
            pid: 4242,
            pidns: 4026531836,
            deprecations: vec![intro::DeprecationWarning {
                id: "io.containerd.deprecation/cri-registry-mirrors".into(),
                message: "The `mirrors` property is deprecated".into(),
                last_occurrence: Some(prost_types::Timestamp {
                    seconds: 1_704_164_645,
                    nanos: 0,
                }),
            }],
        }),
        plugins: Ok(vec![
            plugin("io.containerd.content.v1", "content", None),
            plugin(
                "io.containerd.snapshotter.v1",
                "zfs",
                Some("path /var/lib/zfs must be a zfs filesystem to be used with the zfs snapshotter: skip plugin"),
            ),
            plugin("io.containerd.internal.v1", "tracing", Some("no OpenTelemetry endpoint")),
        ]),
    });
    let client = fake.client();
    let info = server_info(client).unwrap();
    assert_eq!(
        info,
        serde_json::json!({
            "uuid": "2b1c1a3e-0000-4000-8000-000000000001",
            "pid": 4242,
            "pidns": 4026531836u64,
            "deprecations": [{
                "id": "io.containerd.deprecation/cri-registry-mirrors",
                "message": "The `mirrors` property is deprecated",
                "lastOccurrence": "2024-01-02T03:04:05Z",
            }],
            "plugins": [
                {"type": "io.containerd.content.v1", "id": "content", "status": "ok"},
                {"type": "io.containerd.snapshotter.v1", "id": "zfs", "status": "skip",
                 "error": "path /var/lib/zfs must be a zfs filesystem to be used with the zfs snapshotter: skip plugin"},
                {"type": "io.containerd.internal.v1", "id": "tracing", "status": "error",
                 "error": "no OpenTelemetry endpoint"},
            ],
        })
    );
    ctrd_client_free(client);
}

#[test]
fn a_part_the_daemon_lacks_is_left_out_and_errors_keep_its_words() {
    // No Server method: plugins only.
    let fake = intro_server(Intro {
        server: None,
        plugins: Ok(vec![plugin("io.containerd.grpc.v1", "version", None)]),
    });
    let client = fake.client();
    assert_eq!(
        server_info(client).unwrap(),
        serde_json::json!({"plugins": [
            {"type": "io.containerd.grpc.v1", "id": "version", "status": "ok"}
        ]})
    );
    ctrd_client_free(client);

    // A failure other than Unimplemented is the call's failure.
    let fake = intro_server(Intro {
        server: Some(intro::ServerResponse {
            uuid: "u".into(),
            ..Default::default()
        }),
        plugins: Err(tonic::Status::permission_denied("plugins are secret")),
    });
    let client = fake.client();
    let (status, message) = server_info(client).unwrap_err();
    assert_eq!(status, CTRD_ERR_PERMISSION_DENIED, "{message}");
    assert_eq!(
        message,
        "ctrd_client_server_info_json: introspection plugins: plugins are secret"
    );
    ctrd_client_free(client);

    // No introspection service at all.
    struct V;
    #[tonic::async_trait]
    impl version::version_server::Version for V {
        async fn version(
            &self,
            _: tonic::Request<()>,
        ) -> Result<tonic::Response<version::VersionResponse>, tonic::Status> {
            Ok(tonic::Response::new(version::VersionResponse {
                version: "0.1".into(),
                revision: "x".into(),
            }))
        }
    }
    let fake = FakeServer::start(version::version_server::VersionServer::new(V));
    let client = fake.client();
    let (status, message) = server_info(client).unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_IMPLEMENTED, "{message}");
    assert!(
        message.starts_with("ctrd_client_server_info_json: server info: containerd at ")
            && message.ends_with(" has no introspection service"),
        "{message}"
    );
    ctrd_client_free(client);
}
