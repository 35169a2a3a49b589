//! `ctrd_image_push` against the real private containerd and the private
//! registries of `scripts/registry.sh` (plain HTTP and TLS with basic
//! auth, mTLS through a hosts directory): an imported image pushed, then
//! pulled back by `ctr` into a daemon of its own and run there, digests
//! equal; a second push that sends no blob; a multi-platform index pushed
//! with the platforms present only (blobs mounted from the repository they
//! were pulled from), or one platform's manifest; wrong credentials; an
//! image that does not exist; hosts.toml capabilities; a registry that
//! takes the bytes and never answers, cut by cancel and timeout; bad
//! arguments.

mod common;

use std::ffi::{c_void, CStr};
use std::process::Command;
use std::ptr::{null, null_mut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use serde_json::Value;

/// Owned push options (C strings kept alive).
#[derive(Default, Clone)]
struct Opts {
    platform: Option<String>,
    username: Option<String>,
    secret: Option<String>,
    plain_http: bool,
    ca_file: Option<String>,
    hosts_dir: Option<String>,
    cancel: Option<usize>,
    timeout_ms: u64,
    struct_size: Option<usize>,
}

impl Opts {
    /// The credentials and transport for `reg` (CA file with TLS), no host
    /// directory.
    fn for_registry(reg: &Registry) -> Opts {
        Opts {
            username: Some(reg.user().into()),
            secret: Some(reg.password().into()),
            plain_http: !reg.tls(),
            ca_file: reg.ca_file().map(|p| p.to_str().unwrap().to_string()),
            hosts_dir: Some(String::new()),
            ..Default::default()
        }
    }
}

/// Progress callbacks as seen: (phase, bytes done, bytes total, layers
/// done, layers total).
type Seen = (String, u64, u64, u32, u32);

#[derive(Default)]
struct Watch {
    calls: Mutex<Vec<Seen>>,
}

unsafe extern "C-unwind" fn watch_cb(user: *mut c_void, p: *const ctrd_progress) {
    // SAFETY: the test passes a `Watch` alive for the call; `p` is valid
    // during the callback.
    let (w, p) = unsafe { (&*(user as *const Watch), &*p) };
    // SAFETY: NUL-terminated strings valid during the call.
    let phase = unsafe { CStr::from_ptr(p.phase) }
        .to_string_lossy()
        .into_owned();
    w.calls.lock().unwrap().push((
        phase,
        p.bytes_done,
        p.bytes_total,
        p.layers_done,
        p.layers_total,
    ));
}

fn push_with(
    client: *mut ctrd_client,
    name: Option<&str>,
    remote: Option<&str>,
    o: &Opts,
    watch: Option<&Watch>,
) -> Result<(), Failure> {
    let cs = |s: &Option<String>| s.as_deref().map(c);
    let (platform, username, secret, ca_file, hosts_dir) = (
        cs(&o.platform),
        cs(&o.username),
        cs(&o.secret),
        cs(&o.ca_file),
        cs(&o.hosts_dir),
    );
    let p = |s: &Option<std::ffi::CString>| s.as_ref().map_or(null(), |s| s.as_ptr());
    let opts = ctrd_push_opts {
        struct_size: o
            .struct_size
            .unwrap_or(std::mem::size_of::<ctrd_push_opts>()),
        platform: p(&platform),
        username: p(&username),
        secret: p(&secret),
        plain_http: o.plain_http,
        skip_verify: false,
        ca_file: p(&ca_file),
        hosts_dir: p(&hosts_dir),
        progress: watch.map(|_| watch_cb as unsafe extern "C-unwind" fn(_, _)),
        user_data: watch.map_or(null_mut(), |w| w as *const Watch as *mut c_void),
        cancel: o.cancel.map_or(null(), |c| c as *const ctrd_cancel),
        timeout_ms: o.timeout_ms,
    };
    let (name, remote) = (name.map(c), remote.map(c));
    let status = ctrd_image_push(
        client,
        name.as_ref().map_or(null(), |n| n.as_ptr()),
        remote.as_ref().map_or(null(), |r| r.as_ptr()),
        &opts,
    );
    match status {
        CTRD_OK => Ok(()),
        s => Err((s, last_error())),
    }
}

#[track_caller]
fn push_ok(client: *mut ctrd_client, name: &str, remote: &str, o: &Opts) {
    if let Err(e) = push_with(client, Some(name), Some(remote), o, None) {
        panic!("push {name} to {remote}: {e:?}");
    }
}

#[track_caller]
fn push_err(client: *mut ctrd_client, name: &str, remote: &str, o: &Opts) -> Failure {
    match push_with(client, Some(name), Some(remote), o, None) {
        Ok(()) => panic!("push {name} to {remote} succeeded"),
        Err(e) => e,
    }
}

/// The target digest of image `name` in the client's namespace.
fn digest_of(client: *mut ctrd_client, name: &str) -> String {
    let mut i = null_mut();
    check(ctrd_image_get(client, c(name).as_ptr(), &mut i), CTRD_OK);
    // SAFETY: borrowed from a live handle.
    let d = unsafe { CStr::from_ptr(ctrd_image_digest(i)) }
        .to_str()
        .unwrap()
        .to_string();
    ctrd_image_free(i);
    d
}

/// This library's requests in the registry's log: (method, uri, status).
fn our_requests(reg: &Registry) -> Vec<(String, String, u32)> {
    let log = std::fs::read_to_string(reg.dir.join("registry.log")).unwrap_or_default();
    let field = |l: &str, k: &str| -> Option<String> {
        let i = l.find(&format!(" {k}="))? + k.len() + 2;
        let rest = &l[i..];
        Some(if let Some(r) = rest.strip_prefix('"') {
            r[..r.find('"')?].to_string()
        } else {
            rest.split_whitespace().next()?.to_string()
        })
    };
    log.lines()
        .filter(|l| l.contains("msg=\"response completed") && l.contains("containerd-c/"))
        .filter_map(|l| {
            Some((
                field(l, "http.request.method")?,
                field(l, "http.request.uri")?,
                field(l, "http.response.status")?.parse().ok()?,
            ))
        })
        .collect()
}

/// Our requests to `repo` (`ctrd/NAME`) since the first `skip` of the log
/// (the registry logs a request once its answer is sent: waits a moment
/// for the last one).
fn requests_to(reg: &Registry, repo: &str, skip: usize) -> Vec<(String, String, u32)> {
    std::thread::sleep(Duration::from_millis(300));
    let prefix = format!("/v2/{repo}/");
    our_requests(reg)
        .into_iter()
        .skip(skip)
        .filter(|r| r.1.starts_with(&prefix))
        .collect()
}

/// Manifest or index `reference` of `repo` as the registry serves it
/// (curl, the registry's credentials and CA).
fn registry_get(reg: &Registry, repo: &str, reference: &str) -> (String, Value) {
    let scheme = if reg.tls() { "https" } else { "http" };
    let mut cmd = Command::new("curl");
    cmd.args(["-sSf", "-D", "-", "-u"])
        .arg(format!("{}:{}", reg.user(), reg.password()))
        .args([
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json, \
             application/vnd.oci.image.manifest.v1+json, \
             application/vnd.docker.distribution.manifest.v2+json, \
             application/vnd.docker.distribution.manifest.list.v2+json",
        ]);
    if let Some(ca) = reg.ca_file() {
        cmd.arg("--cacert").arg(ca);
    }
    cmd.arg(format!(
        "{scheme}://{}/v2/{repo}/manifests/{reference}",
        reg.host()
    ));
    let out = run(&mut cmd);
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    let digest = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("docker-content-digest:")
                .map(|d| d.trim().to_string())
        })
        .unwrap();
    (digest, serde_json::from_str(body).unwrap())
}

/// This machine's OCI architecture.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no test image for {other}"),
    }
}

/// Pushes the imported test image to `reg` (with progress), then pulls it
/// back with `ctr` into a daemon of its own (nothing there before) and runs
/// it: the digest is the image's. A second push sends no blob.
fn push_pull_run(reg: &Registry, test: &str) {
    let ns = Ns::new(test);
    let remote = reg.reference(&format!("{test}:v1"));
    let watch = Watch::default();
    let before = our_requests(reg).len();
    push_with(
        ns.client,
        Some(IMAGE),
        Some(&remote),
        &Opts::for_registry(reg),
        Some(&watch),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let digest = digest_of(ns.client, IMAGE);
    let repo = format!("ctrd/{test}");
    let sent = requests_to(reg, &repo, before);
    let puts = |r: &[(String, String, u32)]| -> usize {
        r.iter()
            .filter(|(m, u, s)| m == "PUT" && u.contains("/blobs/uploads/") && *s == 201)
            .count()
    };
    // The config and the layer (a manifest or index and an index, maybe).
    assert!(puts(&sent) >= 2, "{sent:?}");
    assert!(
        sent.iter()
            .any(|(m, u, s)| m == "PUT" && u.ends_with("/manifests/v1") && *s == 201),
        "{sent:?}"
    );
    // Progress: "pushing", then "done" once, last, with everything.
    let calls = watch.calls.lock().unwrap().clone();
    assert!(
        calls.iter().all(|c| c.0 == "pushing" || c.0 == "done"),
        "{calls:?}"
    );
    let last = calls.last().unwrap();
    assert_eq!(last.0, "done", "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.0 == "done").count(), 1);
    assert!(last.1 == last.2 && last.2 > 0 && last.4 >= 1, "{calls:?}");
    let total = last.2;

    // What the registry serves under the tag is the image, byte for byte.
    let (served, _) = registry_get(reg, &repo, "v1");
    assert_eq!(served, digest);

    // ctr pulls it into a daemon that has nothing, and runs it.
    let daemon = Daemon::start();
    let ctr = |args: &[&str]| {
        let mut c = daemon.ctr("pushed");
        c.args(args);
        c
    };
    let mut pull = ctr(&["images", "pull"]);
    pull.args(reg.ctr_args()).arg(&remote);
    run(&mut pull);
    let listed = run(&mut ctr(&["images", "ls"]));
    let line = listed.lines().find(|l| l.starts_with(&remote)).unwrap();
    assert_eq!(
        line.split_whitespace().nth(2),
        Some(digest.as_str()),
        "{listed}"
    );
    ctr_run_check(
        &mut ctr(&[
            "run",
            "--rm",
            &remote,
            &format!("{test}-{}", std::process::id()),
        ]),
        "test -x /bin/busybox",
    );
    drop(daemon);

    // Again: every blob is there (HEAD), none is sent; the tag is put again.
    let before = our_requests(reg).len();
    let watch = Watch::default();
    push_with(
        ns.client,
        Some(IMAGE),
        Some(&remote),
        &Opts::for_registry(reg),
        Some(&watch),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    let again = requests_to(reg, &repo, before);
    assert!(
        again
            .iter()
            .all(|(m, _, _)| m == "HEAD" || m == "PUT" || m == "GET"),
        "{again:?}"
    );
    assert!(
        again
            .iter()
            .all(|(m, u, _)| m != "PUT" || u.contains("/manifests/")),
        "{again:?}"
    );
    let last = watch.calls.lock().unwrap().last().cloned().unwrap();
    assert_eq!((last.0.as_str(), last.1, last.2), ("done", total, total));
    ns.assert_clean();
}

#[test]
fn push_then_ctr_pulls_and_runs_it_plain_http() {
    push_pull_run(Registry::shared(false), "pushed-plain");
}

#[test]
fn push_then_ctr_pulls_and_runs_it_over_tls() {
    push_pull_run(Registry::shared(true), "pushed-tls");
}

/// An index pulled for this platform only: pushed with the platforms
/// present (a new index naming this platform's manifest), its blobs mounted
/// from the repository they were pulled from; with a platform, that
/// platform's manifest is the tag's target; one the store lacks is
/// NOT_FOUND.
#[test]
fn a_multi_platform_index_is_pushed_with_the_platforms_present() {
    let reg = Registry::shared(false);
    let ns = Ns::bare("push-multi");
    let source = reg.reference("multi:latest");
    let (user, secret) = (c(reg.user()), c(reg.password()));
    let popts = ctrd_pull_opts {
        username: user.as_ptr(),
        secret: secret.as_ptr(),
        plain_http: true,
        no_unpack: true,
        ..Default::default()
    };
    let mut image = null_mut();
    check(
        ctrd_image_pull(ns.client, c(&source).as_ptr(), &popts, &mut image),
        CTRD_OK,
    );
    ctrd_image_free(image);
    let (index_digest, index) = registry_get(reg, "ctrd/multi", "latest");
    assert_eq!(digest_of(ns.client, &source), index_digest);
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    let host_entry = entries
        .iter()
        .find(|m| m["platform"]["architecture"] == host_arch())
        .unwrap();
    let host_manifest = host_entry["digest"].as_str().unwrap();

    let remote = reg.reference("multi-pushed:latest");
    let before = our_requests(reg).len();
    push_ok(ns.client, &source, &remote, &Opts::for_registry(reg));
    let sent = requests_to(reg, "ctrd/multi-pushed", before);
    let (pushed_digest, pushed) = registry_get(reg, "ctrd/multi-pushed", "latest");
    assert_ne!(pushed_digest, index_digest);
    let kept = pushed["manifests"].as_array().unwrap();
    assert_eq!(kept.len(), 1, "{pushed}");
    assert_eq!(&kept[0], host_entry, "the entry as it was");
    assert_eq!(pushed["mediaType"], index["mediaType"]);
    // The blobs came from ctrd/multi of the same registry: mounted, not
    // sent.
    let mounts: Vec<_> = sent
        .iter()
        .filter(|(m, u, s)| {
            m == "POST" && u.contains("mount=") && u.contains("from=ctrd%2Fmulti") && *s == 201
        })
        .collect();
    assert_eq!(mounts.len(), 2, "{sent:?}");
    assert!(
        !sent
            .iter()
            .any(|(m, u, _)| m == "PUT" && u.contains("/blobs/uploads/")),
        "{sent:?}"
    );

    // One platform: its manifest, as the tag's target.
    let mut o = Opts::for_registry(reg);
    o.platform = Some(format!("linux/{}", host_arch()));
    let remote = reg.reference("multi-one:latest");
    push_ok(ns.client, &source, &remote, &o);
    let (one, manifest) = registry_get(reg, "ctrd/multi-one", "latest");
    assert_eq!(one, host_manifest);
    assert!(manifest["config"].is_object(), "{manifest}");

    // The other platform: not in the store.
    let other = if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    o.platform = Some(format!("linux/{other}"));
    let (status, msg) = push_err(ns.client, &source, &remote, &o);
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert!(msg.contains("is not in the content store"), "{msg}");
    // A platform the index does not have.
    o.platform = Some("linux/s390x".into());
    let (status, msg) = push_err(ns.client, &source, &remote, &o);
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert!(msg.contains("no manifest for linux/s390x"), "{msg}");
    // A digest in the reference that is not what is pushed.
    let (status, msg) = push_err(
        ns.client,
        &source,
        &format!("{}@{index_digest}", reg.reference("multi-digest")),
        &Opts::for_registry(reg),
    );
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains(&pushed_digest), "{msg}");
    ns.assert_clean();
}

/// What the registry or the daemon refuse: wrong credentials; an image
/// that does not exist.
#[test]
fn refusals() {
    let reg = Registry::shared(false);
    let ns = Ns::new("push-refused");
    let remote = reg.reference("refused:v1");
    let mut o = Opts::for_registry(reg);
    o.secret = Some("wrong".into());
    let (status, msg) = push_err(ns.client, IMAGE, &remote, &o);
    assert_eq!(status, CTRD_ERR_UNAUTHENTICATED, "{msg}");
    assert!(
        msg.contains(&remote) && msg.contains("refused the credentials"),
        "{msg}"
    );

    let (status, msg) = push_err(
        ns.client,
        "docker.io/library/no-such-image:1",
        &remote,
        &Opts::for_registry(reg),
    );
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert!(msg.contains("no-such-image"), "{msg}");
    // Nothing reached the repository.
    assert!(
        our_requests(reg)
            .iter()
            .all(|(m, u, _)| !u.starts_with("/v2/ctrd/refused/") || m == "GET"),
        "{:?}",
        our_requests(reg)
    );
}

/// A registry with a token server (`auth: token`): the push asks one
/// token for its scope (pull and push at the repository) and uses it for
/// every request; a user whose tokens allow pulls only is refused, in the
/// registry's words, and nothing reaches the repository.
#[test]
fn push_through_a_token_server() {
    let reg = Registry::start_with(&["--token"]);
    let ns = Ns::new("push-token");
    let ours = |reg: &Registry| -> Vec<Value> {
        reg.issuer_log()
            .into_iter()
            .filter(|e| {
                e["headers"]["user-agent"]
                    .as_str()
                    .is_some_and(|u| u.starts_with("containerd-c/"))
            })
            .collect()
    };

    let remote = reg.reference("token-push:v1");
    push_ok(ns.client, IMAGE, &remote, &Opts::for_registry(&reg));
    let asked = ours(&reg);
    assert_eq!(asked.len(), 1, "one token for the whole push: {asked:?}");
    assert_eq!(asked[0]["status"], 200, "{asked:?}");
    assert_eq!(
        asked[0]["scopes"],
        serde_json::json!(["repository:ctrd/token-push:pull,push"]),
        "{asked:?}"
    );
    assert_eq!(
        asked[0]["granted"][0]["actions"],
        serde_json::json!(["pull", "push"]),
        "{asked:?}"
    );
    // What was pushed is there: the registry serves the manifest.
    let sent = requests_to(&reg, "ctrd/token-push", 0);
    assert!(
        sent.iter()
            .any(|(m, u, s)| m == "PUT" && u.contains("/manifests/v1") && *s == 201),
        "{sent:?}"
    );

    let mut o = Opts::for_registry(&reg);
    o.username = Some(reg.read_only_user().into());
    let remote = reg.reference("token-denied:v1");
    let before = our_requests(&reg).len();
    let (status, msg) = push_err(ns.client, IMAGE, &remote, &o);
    // The token server knows the user but grants no push: the registry's
    // insufficient_scope is PERMISSION_DENIED, with its words.
    assert_eq!(status, CTRD_ERR_PERMISSION_DENIED, "{msg}");
    assert!(
        msg.contains(&remote)
            // The registry names the scope's actions in either order.
            && (msg.contains("repository:ctrd/token-denied:pull,push")
                || msg.contains("repository:ctrd/token-denied:push,pull"))
            && msg.contains("insufficient_scope")
            && msg.contains("authentication required"),
        "{msg}"
    );
    let sent = requests_to(&reg, "ctrd/token-denied", before);
    assert!(
        sent.iter().all(|(m, _, s)| m == "HEAD" || *s >= 400),
        "nothing stored in the repository: {sent:?}"
    );
    ns.assert_clean();
}

/// Host directories: the push goes to the first host with the "push"
/// capability (a mirror that only pulls is passed over, as containerd
/// does); none that may push is NOT_FOUND; an mTLS registry is pushed to
/// with the client certificate its hosts.toml names.
#[test]
fn hosts_dir_push_capability_and_mtls() {
    let reg = Registry::start_mtls();
    let ns = Ns::new("push-mtls");
    let remote = reg.reference("mtls:v1");
    let mut o = Opts::for_registry(&reg);
    o.ca_file = None;
    o.hosts_dir = Some(reg.hosts_dir().to_str().unwrap().into());
    push_ok(ns.client, IMAGE, &remote, &o);
    assert_eq!(
        registry_get_mtls(&reg, "ctrd/mtls", "v1"),
        digest_of(ns.client, IMAGE)
    );

    // A mirror first that may pull only (nothing listens there).
    let down = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let own = std::fs::read_to_string(reg.hosts_dir().join(reg.host()).join("hosts.toml")).unwrap();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(reg.host());
    std::fs::create_dir_all(&dir).unwrap();
    let mirror = format!("[host.\"http://{down}\"]\n  capabilities = [\"pull\"]\n");
    let (top, hosts) = own.split_once("\n[host.").unwrap();
    std::fs::write(
        dir.join("hosts.toml"),
        format!("{top}\n{mirror}[host.{hosts}"),
    )
    .unwrap();
    o.hosts_dir = Some(root.path().to_str().unwrap().into());
    push_ok(ns.client, IMAGE, &reg.reference("mtls:v2"), &o);

    // No host may push (the server neither).
    let hosts = hosts.replace(
        "[\"pull\", \"resolve\", \"push\"]",
        "[\"pull\", \"resolve\"]",
    );
    std::fs::write(
        dir.join("hosts.toml"),
        format!("{top}\ncapabilities = [\"pull\"]\n{mirror}[host.{hosts}"),
    )
    .unwrap();
    let (status, msg) = push_err(ns.client, IMAGE, &reg.reference("mtls:v3"), &o);
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert!(msg.contains("may push"), "{msg}");
}

/// The digest the mTLS registry serves for `repo:reference`.
fn registry_get_mtls(reg: &Registry, repo: &str, reference: &str) -> String {
    let (cert, key) = reg.client_cert();
    let out = run(Command::new("curl")
        .args(["-sSf", "-o", "/dev/null", "-D", "-", "-u"])
        .arg(format!("{}:{}", reg.user(), reg.password()))
        .arg("--cacert")
        .arg(reg.ca_file().unwrap())
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .args([
            "-H",
            "Accept: application/vnd.oci.image.index.v1+json, \
             application/vnd.oci.image.manifest.v1+json",
        ])
        .arg(format!(
            "https://{}/v2/{repo}/manifests/{reference}",
            reg.host()
        )));
    out.lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("docker-content-digest:")
                .map(|d| d.trim().to_string())
        })
        .unwrap()
}

/// A registry that starts uploads and then takes a blob's bytes without
/// ever answering: plain HTTP, no auth, every blob missing. Returns its
/// `host:port`.
fn silent_registry() -> String {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            length = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut parts = first.split(' ');
                    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                    let answer = match method {
                        "GET" => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}".to_string(),
                        "HEAD" => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_string(),
                        "POST" => format!(
                            "HTTP/1.1 202 Accepted\r\nLocation: {}session\r\nContent-Length: 0\r\n\r\n",
                            path.split('?').next().unwrap_or("")
                        ),
                        _ => {
                            // The bytes, then silence.
                            let _ = std::io::copy(&mut (&mut reader).take(length as u64), &mut std::io::sink());
                            std::thread::sleep(Duration::from_secs(600));
                            return;
                        }
                    };
                    if conn.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    host
}

/// A registry that takes the bytes and never answers: a cancel triggered
/// from another thread gives CANCELLED, the call's timeout
/// DEADLINE_EXCEEDED, each soon after (figures printed); a cancel
/// triggered before the call stops it at once.
#[test]
fn cancel_and_timeout_cut_a_push() {
    let host = silent_registry();
    let ns = Ns::new("push-cancel");
    let remote = format!("{host}/ctrd/silent:v1");
    let plain = Opts {
        plain_http: true,
        hosts_dir: Some(String::new()),
        ..Default::default()
    };

    let mut cancel = null_mut();
    check(ctrd_cancel_new(&mut cancel), CTRD_OK);
    let o = Opts {
        cancel: Some(cancel as usize),
        ..plain.clone()
    };
    let at = cancel as usize;
    let trigger = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(1));
        ctrd_cancel_trigger(at as *mut ctrd_cancel);
        Instant::now()
    });
    let (status, msg) = push_err(ns.client, IMAGE, &remote, &o);
    let took = trigger.join().unwrap().elapsed();
    println!("cancel: returned {took:?} after the trigger");
    assert_eq!(status, CTRD_ERR_CANCELLED, "{msg}");
    assert!(msg.contains(&remote) && msg.contains("cancelled"), "{msg}");
    // Already triggered: it does not start.
    let (status, msg) = push_err(ns.client, IMAGE, &remote, &o);
    assert_eq!(status, CTRD_ERR_CANCELLED, "{msg}");
    ctrd_cancel_free(cancel);

    let o = Opts {
        timeout_ms: 1500,
        ..plain
    };
    let start = Instant::now();
    let (status, msg) = push_err(ns.client, IMAGE, &remote, &o);
    println!("timeout_ms 1500: returned after {:?}", start.elapsed());
    assert_eq!(status, CTRD_ERR_DEADLINE_EXCEEDED, "{msg}");
    assert!(msg.contains("1500 ms"), "{msg}");
    assert!(start.elapsed() >= Duration::from_millis(1500));
    ns.assert_clean();
}

/// Bad arguments: named, nothing pushed.
#[test]
fn bad_arguments() {
    let reg = Registry::shared(false);
    let ns = Ns::new("push-bad");
    let o = Opts::for_registry(reg);
    let remote = reg.reference("bad:v1");
    let invalid = |r: Result<(), Failure>, says: &str| {
        let (status, msg) = r.unwrap_err();
        assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
        assert!(msg.contains(says), "{says:?}: {msg}");
    };
    invalid(
        push_with(null_mut(), Some(IMAGE), Some(&remote), &o, None),
        "client is NULL",
    );
    invalid(
        push_with(ns.client, None, Some(&remote), &o, None),
        "name is NULL",
    );
    invalid(
        push_with(ns.client, Some(""), Some(&remote), &o, None),
        "empty",
    );
    invalid(
        push_with(ns.client, Some(IMAGE), Some("ctrd/UPPER:v1"), &o, None),
        "ctrd/UPPER",
    );
    let mut bad = o.clone();
    bad.platform = Some("not/a/platform/at/all".into());
    invalid(
        push_with(ns.client, Some(IMAGE), Some(&remote), &bad, None),
        "platform",
    );
    let mut bad = o.clone();
    bad.struct_size = Some(0);
    invalid(
        push_with(ns.client, Some(IMAGE), Some(&remote), &bad, None),
        "struct_size is 0",
    );
    let mut bad = o.clone();
    bad.struct_size = Some(8);
    invalid(
        push_with(ns.client, Some(IMAGE), Some(&remote), &bad, None),
        "ctrd_push_opts",
    );
    let mut bad = o.clone();
    bad.username = Some("u".into());
    bad.secret = None;
    invalid(
        push_with(ns.client, Some(IMAGE), Some(&remote), &bad, None),
        "secret",
    );
    let mut bad = o.clone();
    bad.ca_file = Some("/nonexistent/ca.pem".into());
    bad.plain_http = false;
    invalid(
        push_with(ns.client, Some(IMAGE), Some(&remote), &bad, None),
        "/nonexistent/ca.pem",
    );
    let mut bad = o.clone();
    bad.hosts_dir = Some("/nonexistent/certs.d".into());
    invalid(
        push_with(ns.client, Some(IMAGE), Some(&remote), &bad, None),
        "hosts_dir /nonexistent/certs.d",
    );
    // Invalid UTF-8 in the name.
    let name = std::ffi::CString::new(vec![0xffu8, 0xfe]).unwrap();
    let status = ctrd_image_push(ns.client, name.as_ptr(), null(), null());
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("UTF-8"), "{}", last_error());
    // NULL remote_ref: the name itself, docker.io here (not reached: the
    // name is checked first, and there is no such image).
    let (status, msg) = push_with(
        ns.client,
        Some("docker.io/library/absent:1"),
        None,
        &Opts::default(),
        None,
    )
    .unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert!(msg.contains("docker.io/library/absent:1"), "{msg}");
    assert!(
        !our_requests(reg)
            .iter()
            .any(|(_, u, _)| u.starts_with("/v2/ctrd/bad/")),
        "a bad push reached the registry"
    );
}
