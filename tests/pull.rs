//! `ctrd_image_pull` against the real private containerd and the private
//! registries of `scripts/registry.sh` (plain HTTP and TLS, basic auth):
//! credentials from the options, a docker config and a credential helper;
//! bearer tokens from the realm a 401 names (a token-auth front for the
//! real registry, as Docker Hub has);
//! TLS with a CA file, without verification, without the CA, and plain HTTP
//! against TLS; what the registry refuses (bad password, unknown repository
//! or tag) and malformed references; a multi-platform index; progress;
//! the content labels and image record as `ctr` sees them; a second pull
//! that fetches nothing; a registry killed mid-pull; a write left unfinished
//! resumed with a ranged request; bad arguments. In `pull/`: `front` (a
//! fake front for the real registry: a bearer flow of its own, faults),
//! `tokens` (registry.sh's token server mode), `redirects` (blobs from a
//! file server), `retries` (429, 5xx and resets tried again).

mod common;
#[path = "pull/front.rs"]
mod front;
#[path = "pull/redirects.rs"]
mod redirects;
#[path = "pull/retries.rs"]
mod retries;
#[path = "pull/tokens.rs"]
mod tokens;

use std::ffi::{c_void, CStr};
use std::path::Path;
use std::process::Command;
use std::ptr::{null, null_mut};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use front::Front;
use serde_json::Value;

/// A namespace of its own (no image imported) and a client for it, on the
/// shared daemon or one of the test's own.
struct Space<'a> {
    daemon: &'a Daemon,
    name: String,
    client: *mut ctrd_client,
}

impl Space<'static> {
    fn new(test: &str) -> Space<'static> {
        Space::on(Daemon::shared(), test)
    }
}

impl<'a> Space<'a> {
    /// On `daemon`: one whose content store (shared by its namespaces)
    /// holds nothing another test pulled.
    fn on(daemon: &'a Daemon, test: &str) -> Space<'a> {
        let name = format!("pull-{test}-{}", std::process::id());
        Space {
            client: connect(&daemon.address(), &name),
            daemon,
            name,
        }
    }

    fn ctr(&self) -> Command {
        self.daemon.ctr(&self.name)
    }

    /// `ctr images ls`: name → target digest.
    fn images(&self) -> Vec<(String, String)> {
        run(self.ctr().args(["images", "ls"]))
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f[0].to_string(), f[2].to_string())
            })
            .collect()
    }

    fn leases(&self) -> Vec<String> {
        run(self.ctr().args(["leases", "ls", "-q"]))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Digests in the content store.
    fn content(&self) -> Vec<String> {
        run(self.ctr().args(["content", "ls", "-q"]))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// A blob's labels as `ctr content ls` shows them ("k=v,k=v").
    fn labels(&self, digest: &str) -> Vec<String> {
        let out = run(self.ctr().args(["content", "ls"]));
        let line = out
            .lines()
            .find(|l| l.starts_with(digest))
            .unwrap_or_else(|| panic!("{digest} not in content ls:\n{out}"));
        let last = line.split_whitespace().last().unwrap();
        if last == "-" {
            return vec![];
        }
        let mut v: Vec<String> = last.split(',').map(str::to_string).collect();
        v.sort();
        v
    }

    fn blob_json(&self, digest: &str) -> Value {
        let s = run(self.ctr().args(["content", "get", digest]));
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("{digest}: {e}: {s}"))
    }
}

impl Drop for Space<'_> {
    fn drop(&mut self) {
        ctrd_client_free(self.client);
    }
}

/// Owned pull options (C strings kept alive).
#[derive(Default, Clone)]
struct Opts {
    platform: Option<String>,
    snapshotter: Option<String>,
    no_unpack: bool,
    username: Option<String>,
    secret: Option<String>,
    plain_http: bool,
    skip_verify: bool,
    ca_file: Option<String>,
    cancel: CancelPtr,
    timeout_ms: u64,
    /// `struct_size` as a program built before `cancel` and `timeout_ms`
    /// were added passes it (the fields are set all the same: they must
    /// not be read).
    old_size: bool,
    hosts_dir: Option<String>,
    /// `struct_size` as a program built before `hosts_dir` passes it.
    before_hosts_dir: bool,
}

/// A `ctrd_cancel` the test owns (NULL = none).
#[derive(Clone, Copy)]
struct CancelPtr(*mut ctrd_cancel);

impl Default for CancelPtr {
    fn default() -> Self {
        CancelPtr(null_mut())
    }
}

// SAFETY: a ctrd_cancel is thread-safe (its C contract).
unsafe impl Send for CancelPtr {}
// SAFETY: as above.
unsafe impl Sync for CancelPtr {}

impl CancelPtr {
    fn new() -> CancelPtr {
        let mut c = null_mut();
        check(ctrd_cancel_new(&mut c), CTRD_OK);
        CancelPtr(c)
    }
}

impl Opts {
    /// The credentials and transport for `reg` (CA file with TLS).
    fn for_registry(reg: &Registry) -> Opts {
        Opts {
            username: Some(reg.user().into()),
            secret: Some(reg.password().into()),
            plain_http: !reg.tls(),
            ca_file: reg.ca_file().map(|p| p.to_str().unwrap().to_string()),
            ..Default::default()
        }
    }

    fn no_unpack(mut self) -> Opts {
        self.no_unpack = true;
        self
    }
}

/// Progress callbacks as seen: (phase, bytes done, bytes total, layers done,
/// layers total).
type Seen = (String, u64, u64, u32, u32);

#[derive(Default)]
struct Watch {
    calls: Mutex<Vec<Seen>>,
    /// Killed once a layer is in the store while others still stream.
    kill_pid: Option<u32>,
    killed: Mutex<bool>,
    first_fetch: Mutex<Option<Seen>>,
    /// Triggered (on the callback's thread) once a layer is in the store
    /// while others still stream.
    cancel_at_layer: Option<CancelPtr>,
    cancelled_at: Mutex<Option<std::time::Instant>>,
    /// `retries` of the last callback.
    retries: Mutex<u32>,
}

unsafe extern "C-unwind" fn watch_cb(user: *mut c_void, p: *const ctrd_progress) {
    // SAFETY: the test passes a `Watch` alive for the call; `p` is valid
    // during the callback.
    let (w, p) = unsafe { (&*(user as *const Watch), &*p) };
    // SAFETY: NUL-terminated strings valid during the call.
    let phase = unsafe { CStr::from_ptr(p.phase) }
        .to_string_lossy()
        .into_owned();
    let seen = (
        phase.clone(),
        p.bytes_done,
        p.bytes_total,
        p.layers_done,
        p.layers_total,
    );
    if phase == "fetching" {
        w.first_fetch.lock().unwrap().get_or_insert(seen.clone());
    }
    w.calls.lock().unwrap().push(seen);
    *w.retries.lock().unwrap() = p.retries;
    if let Some(cancel) = w.cancel_at_layer {
        let mut at = w.cancelled_at.lock().unwrap();
        if at.is_none() && phase == "fetching" && p.layers_done >= 1 {
            ctrd_cancel_trigger(cancel.0);
            *at = Some(std::time::Instant::now());
        }
    }
    if let Some(pid) = w.kill_pid {
        let mut killed = w.killed.lock().unwrap();
        // A layer is committed, the others are still streaming.
        if !*killed && phase == "fetching" && p.layers_done >= 1 {
            // SAFETY: plain kill(2) of the registry this test started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            *killed = true;
        }
    }
}

fn pull_with(
    client: *mut ctrd_client,
    reference: &str,
    o: &Opts,
    watch: Option<&Watch>,
) -> Result<*mut ctrd_image, Failure> {
    let cs = |s: &Option<String>| s.as_deref().map(c);
    let (platform, snapshotter, username, secret, ca_file, hosts_dir) = (
        cs(&o.platform),
        cs(&o.snapshotter),
        cs(&o.username),
        cs(&o.secret),
        cs(&o.ca_file),
        cs(&o.hosts_dir),
    );
    let p = |s: &Option<std::ffi::CString>| s.as_ref().map_or(null(), |s| s.as_ptr());
    let opts = ctrd_pull_opts {
        platform: p(&platform),
        snapshotter: p(&snapshotter),
        no_unpack: o.no_unpack,
        username: p(&username),
        secret: p(&secret),
        plain_http: o.plain_http,
        skip_verify: o.skip_verify,
        ca_file: p(&ca_file),
        progress: watch.map(|_| watch_cb as unsafe extern "C-unwind" fn(_, _)),
        user_data: watch.map_or(null_mut(), |w| w as *const Watch as *mut c_void),
        cancel: o.cancel.0,
        timeout_ms: o.timeout_ms,
        hosts_dir: p(&hosts_dir),
        struct_size: if o.old_size {
            std::mem::offset_of!(ctrd_pull_opts, cancel)
        } else if o.before_hosts_dir {
            std::mem::offset_of!(ctrd_pull_opts, hosts_dir)
        } else {
            std::mem::size_of::<ctrd_pull_opts>()
        },
    };
    let mut out = null_mut();
    outcome(
        ctrd_image_pull(client, c(reference).as_ptr(), &opts, &mut out),
        out,
    )
}

fn pull(space: &Space, reference: &str, o: &Opts) -> Result<*mut ctrd_image, Failure> {
    pull_with(space.client, reference, o, None)
}

#[track_caller]
fn pull_ok(space: &Space, reference: &str, o: &Opts) -> *mut ctrd_image {
    pull(space, reference, o).unwrap_or_else(|e| panic!("pull {reference}: {e:?}"))
}

#[track_caller]
fn pull_err(space: &Space, reference: &str, o: &Opts) -> Failure {
    match pull(space, reference, o) {
        Ok(i) => {
            ctrd_image_free(i);
            panic!("pull {reference} succeeded")
        }
        Err(e) => e,
    }
}

fn name_of(i: *mut ctrd_image) -> String {
    // SAFETY: borrowed from a live handle.
    unsafe { CStr::from_ptr(ctrd_image_name(i)) }
        .to_str()
        .unwrap()
        .to_string()
}

fn digest_of(i: *mut ctrd_image) -> String {
    // SAFETY: borrowed from a live handle.
    unsafe { CStr::from_ptr(ctrd_image_digest(i)) }
        .to_str()
        .unwrap()
        .to_string()
}

/// This library's requests in the registry's log: (method, uri, status,
/// bytes written).
fn our_requests(reg: &Registry) -> Vec<(String, String, u32, u64)> {
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
                field(l, "http.response.written")?.parse().ok()?,
            ))
        })
        .collect()
}

/// The layer digests of image `i`'s manifest, asserting that one of them
/// is among `kept` (what an interrupted pull left in the store).
fn layers_with_one_of(space: &Space, i: *mut ctrd_image, kept: &[String]) -> Vec<String> {
    let manifest = space.blob_json(&digest_of(i));
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    assert!(
        layers.iter().any(|l| kept.contains(l)),
        "no layer kept: {kept:?}"
    );
    layers
}

/// Blob GETs of this library for repository `repo` in the registry's log.
fn blob_gets(reg: &Registry, repo: &str) -> Vec<(String, u32, u64)> {
    let prefix = format!("/v2/ctrd/{repo}/blobs/");
    our_requests(reg)
        .into_iter()
        .filter(|(m, u, _, _)| m == "GET" && u.starts_with(&prefix))
        .map(|(_, u, s, w)| (u[prefix.len()..].to_string(), s, w))
        .collect()
}

/// This machine's OCI architecture.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => panic!("no test image for {other}"),
    }
}

#[test]
fn plain_http_pull_with_basic_auth() {
    let reg = Registry::shared(false);
    let space = Space::new("plain");
    let reference = reg.reference("busybox:latest");
    let watch = Watch::default();
    let image = pull_with(
        space.client,
        &reference,
        &Opts::for_registry(reg),
        Some(&watch),
    )
    .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(name_of(image), reference);
    let digest = digest_of(image);
    assert_eq!(space.images(), [(reference.clone(), digest.clone())]);
    assert_eq!(space.leases(), Vec::<String>::new(), "lease left");
    // ctr: complete, unpacked, and it runs.
    let checked = run(space.ctr().args(["images", "check"]));
    let line = checked.lines().find(|l| l.starts_with(&reference)).unwrap();
    assert!(line.contains("complete"), "{checked}");
    assert!(line.trim_end().ends_with("true"), "not unpacked: {checked}");
    let mut unpacked = false;
    check(
        ctrd_image_is_unpacked(image, null(), &mut unpacked),
        CTRD_OK,
    );
    assert!(unpacked);
    ctr_run_check(
        space.ctr().args([
            "run",
            "--rm",
            &reference,
            &format!("pull-run-{}", std::process::id()),
        ]),
        "test -x /bin/busybox",
    );

    // The labels containerd's GC follows, and the source, as Go sets them.
    let manifest = space.blob_json(&digest);
    let config = manifest["config"]["digest"].as_str().unwrap().to_string();
    let layers: Vec<String> = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    let source = format!(
        "containerd.io/distribution.source.{}=ctrd/busybox",
        reg.host()
    );
    let mut want = vec![
        format!("containerd.io/gc.ref.content.config={config}"),
        source.clone(),
    ];
    want.extend(
        layers
            .iter()
            .enumerate()
            .map(|(i, l)| format!("containerd.io/gc.ref.content.l.{i}={l}")),
    );
    want.sort();
    assert_eq!(space.labels(&digest), want);
    for blob in layers.iter().chain([&config]) {
        let labels = space.labels(blob);
        assert!(labels.contains(&source), "{blob}: {labels:?}");
    }
    // The unpack's: the layers' diff ids, the snapshot the config keeps.
    for blob in &layers {
        let labels = space.labels(blob);
        assert!(
            labels
                .iter()
                .any(|l| l.starts_with("containerd.io/uncompressed=sha256:")),
            "{blob}: {labels:?}"
        );
    }
    let labels = space.labels(&config);
    assert!(
        labels
            .iter()
            .any(|l| l.starts_with("containerd.io/gc.ref.snapshot.overlayfs=sha256:")),
        "{labels:?}"
    );

    // Progress: resolving first, bytes up to the total, "done" once, last.
    let calls = watch.calls.lock().unwrap().clone();
    // Phases in order (a quick "resolving" may fall between two samples).
    let order = ["resolving", "fetching", "unpacking", "done"];
    let rank = |p: &str| order.iter().position(|o| *o == p).expect(p);
    assert!(
        calls.windows(2).all(|w| rank(&w[0].0) <= rank(&w[1].0)),
        "{calls:?}"
    );
    let last = calls.last().unwrap();
    assert_eq!(last.0, "done", "{calls:?}");
    assert_eq!(calls.iter().filter(|c| c.0 == "done").count(), 1);
    let total = manifest["config"]["size"].as_u64().unwrap()
        + manifest["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["size"].as_u64().unwrap())
            .sum::<u64>()
        + manifest_size(&space, &digest);
    assert_eq!((last.1, last.2), (total, total), "{calls:?}");
    assert_eq!((last.3, last.4), (layers.len() as u32, layers.len() as u32));
    assert!(
        calls.iter().any(|c| c.0 == "unpacking") || calls.len() < 4,
        "{calls:?}"
    );
    ctrd_image_free(image);
}

/// The size of blob `digest` as the content store has it.
fn manifest_size(space: &Space, digest: &str) -> u64 {
    run(space.ctr().args(["content", "get", digest])).len() as u64
}

#[test]
fn tls_with_the_ca_file_or_without_verification() {
    let reg = Registry::shared(true);
    let reference = reg.reference("busybox:latest");
    let space = Space::new("tls");
    let i = pull_ok(&space, &reference, &Opts::for_registry(reg).no_unpack());
    assert_eq!(name_of(i), reference);
    ctrd_image_free(i);

    // skip_verify: no CA needed.
    let space = Space::new("tls-skip");
    let mut o = Opts::for_registry(reg).no_unpack();
    o.ca_file = None;
    o.skip_verify = true;
    ctrd_image_free(pull_ok(&space, &reference, &o));
    assert_eq!(space.images().len(), 1);

    // Without the CA the certificate is not trusted: said, with the host.
    let space = Space::new("tls-noca");
    o.skip_verify = false;
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    assert!(msg.contains("not trusted"), "{msg}");
    assert!(msg.contains(reg.host()), "{msg}");
    assert!(msg.contains(&reference), "{msg}");
    assert_eq!(space.images(), Vec::<(String, String)>::new());
    assert_eq!(space.leases(), Vec::<String>::new());

    // Plain HTTP to the TLS registry: the registry's own answer.
    let mut o = Opts::for_registry(reg).no_unpack();
    o.plain_http = true;
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    assert!(
        msg.contains("HTTP 400") && msg.contains("HTTPS server"),
        "{msg}"
    );
    assert!(msg.contains(&reference), "{msg}");

    // A CA file that is not there.
    let mut o = Opts::for_registry(reg).no_unpack();
    o.ca_file = Some("/nonexistent/ca.pem".into());
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains("/nonexistent/ca.pem"), "{msg}");

    // Only a regular file of at most 1 MiB: /dev/zero is not read without
    // end, a FIFO does not block the pull.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("ca.fifo");
    let made = std::process::Command::new("mkfifo").arg(&fifo).status();
    assert!(made.unwrap().success());
    let big = dir.path().join("big.pem");
    std::fs::write(&big, vec![b'#'; (1 << 20) + 1]).unwrap();
    let rss = || {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let kib = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap();
        kib.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let before = rss();
    for (path, why) in [
        (Path::new("/dev/zero"), "not a regular file"),
        (&fifo, "not a regular file"),
        (dir.path(), "not a regular file"),
        (&big, "more than the 1 MiB read"),
    ] {
        o.ca_file = Some(path.to_str().unwrap().into());
        let start = Instant::now();
        let (status, msg) = pull_err(&space, &reference, &o);
        let took = start.elapsed();
        eprintln!("ca_file {}: {took:?}", path.display());
        assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
        assert!(
            msg.contains(&format!("ca_file {}: {why}", path.display())),
            "{msg}"
        );
        assert!(took < Duration::from_secs(5), "{took:?}: {msg}");
    }
    eprintln!("RSS {} KiB before, {} KiB after", before, rss());
    assert!(
        rss() < before + (64 << 10),
        "{} KiB, {before} KiB before",
        rss()
    );
}

#[test]
fn what_the_registry_refuses() {
    let reg = Registry::shared(false);
    let space = Space::new("refused");
    let reference = reg.reference("busybox:latest");

    let mut o = Opts::for_registry(reg).no_unpack();
    o.secret = Some("not-the-password".into());
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_UNAUTHENTICATED, "{msg}");
    assert!(msg.contains(&reference) && msg.contains("401"), "{msg}");

    let o = Opts::for_registry(reg).no_unpack();
    for missing in [
        reg.reference("busybox:no-such-tag"),
        reg.reference("no-such-repo:latest"),
        reg.reference(&format!("busybox@sha256:{}", "0".repeat(64))),
    ] {
        let (status, msg) = pull_err(&space, &missing, &o);
        assert_eq!(status, CTRD_ERR_NOT_FOUND, "{missing}: {msg}");
        assert!(msg.contains(&missing), "{msg}");
    }

    // Nothing is there to connect to.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let (status, msg) = pull_err(&space, &format!("127.0.0.1:{port}/x/y:1"), &o);
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    assert!(msg.contains(&format!("127.0.0.1:{port}/x/y:1")), "{msg}");

    for (bad, why) in [
        ("", "empty"),
        ("UPPER/Case", "uppercase repository"),
        ("a b", "space"),
        ("busybox:", "empty tag"),
        ("busybox@sha256:abc", "short digest"),
        ("busybox@md5:0123", "unknown digest algorithm"),
    ] {
        let (status, msg) = pull_err(&space, bad, &o);
        assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{why}: {msg}");
        assert!(msg.contains(&format!("{bad:?}")), "{why}: {msg}");
    }
    let mut o2 = o.clone();
    o2.platform = Some("linux//v8".into());
    let (status, msg) = pull_err(&space, &reference, &o2);
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains("linux//v8"), "{msg}");
    let mut o2 = o.clone();
    o2.secret = None;
    let (status, msg) = pull_err(&space, &reference, &o2);
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    assert!(msg.contains("without a secret"), "{msg}");

    assert_eq!(space.images(), Vec::<(String, String)>::new());
    assert_eq!(space.leases(), Vec::<String>::new());
}

#[test]
fn multi_platform_index() {
    let reg = Registry::shared(false);
    let reference = reg.reference("multi:latest");
    let o = Opts::for_registry(reg).no_unpack();

    // Default: this machine's platform.
    let space = Space::new("multi-host");
    let i = pull_ok(&space, &reference, &o);
    let index = space.blob_json(&digest_of(i));
    let manifests = index["manifests"].as_array().unwrap();
    assert_eq!(manifests.len(), 2);
    let digest_for = |arch: &str| {
        manifests
            .iter()
            .find(|m| m["platform"]["architecture"] == arch)
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let host_m = digest_for(host_arch());
    let other = if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let other_m = digest_for(other);
    let have = space.content();
    assert!(have.contains(&host_m));
    assert!(!have.contains(&other_m), "the {other} manifest was fetched");
    // The index labels every manifest it lists, as Go's client does.
    let labels = space.labels(&digest_of(i));
    for (n, m) in manifests.iter().enumerate() {
        let want = format!(
            "containerd.io/gc.ref.content.m.{n}={}",
            m["digest"].as_str().unwrap()
        );
        assert!(labels.contains(&want), "{labels:?}");
    }
    let mut config = null_mut();
    check(ctrd_image_config_json(i, &mut config), CTRD_OK);
    let config: Value = serde_json::from_str(&take_string(config)).unwrap();
    assert_eq!(config["architecture"], host_arch());
    ctrd_image_free(i);

    // linux/arm64 when asked (its config says so).
    let space = Space::new("multi-arm64");
    let mut o2 = o.clone();
    o2.platform = Some("linux/arm64".into());
    let i = pull_ok(&space, &reference, &o2);
    let arm_m = digest_for("arm64");
    let have = space.content();
    assert!(have.contains(&arm_m));
    let manifest = space.blob_json(&arm_m);
    let config = space.blob_json(manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["architecture"], "arm64");
    if host_arch() != "arm64" {
        assert!(!have.contains(&host_m), "the host manifest was fetched");
    }
    ctrd_image_free(i);

    // A platform the index lacks: named, with what it has.
    let space = Space::new("multi-none");
    let mut o2 = o.clone();
    o2.platform = Some("linux/s390x".into());
    let (status, msg) = pull_err(&space, &reference, &o2);
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert!(msg.contains("linux/s390x"), "{msg}");
    assert!(
        msg.contains("linux/amd64") && msg.contains("linux/arm64/v8"),
        "{msg}"
    );
    assert!(msg.contains(&reference), "{msg}");
    assert_eq!(space.images(), Vec::<(String, String)>::new());
    assert_eq!(space.leases(), Vec::<String>::new());
}

#[test]
fn progress_and_a_second_pull_that_fetches_nothing() {
    // A registry of its own: its log holds only this test's requests; a
    // daemon of its own: its content store has none of the blobs yet.
    let reg = Registry::start(false);
    let daemon = Daemon::start();
    let space = Space::on(&daemon, "layers");
    let reference = reg.reference("layers:latest");
    let o = Opts::for_registry(&reg).no_unpack();
    let watch = Watch::default();
    let i = pull_with(space.client, &reference, &o, Some(&watch)).unwrap();
    let manifest = space.blob_json(&digest_of(i));
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 5);
    let calls = watch.calls.lock().unwrap().clone();
    let last = calls.last().unwrap();
    assert_eq!(last.0, "done");
    assert_eq!(last.1, last.2);
    assert!(last.2 > 4 << 20, "{last:?}");
    assert_eq!((last.3, last.4), (5, 5));
    let fetching: Vec<&Seen> = calls.iter().filter(|c| c.0 == "fetching").collect();
    assert!(
        fetching.windows(2).all(|w| w[0].1 <= w[1].1),
        "bytes went back: {calls:?}"
    );
    assert!(fetching.iter().all(|c| c.2 == last.2 && c.4 == 5));
    // Each blob fetched once, whole.
    let gets = blob_gets(&reg, "layers");
    assert_eq!(gets.len(), 6, "{gets:?}");
    assert!(gets.iter().all(|g| g.1 == 200), "{gets:?}");
    ctrd_image_free(i);

    // Again: the blobs are there, so none is fetched; the record stays.
    let watch = Watch::default();
    let i = pull_with(space.client, &reference, &o, Some(&watch)).unwrap();
    assert_eq!(blob_gets(&reg, "layers").len(), 6, "blobs fetched again");
    let calls = watch.calls.lock().unwrap().clone();
    assert_eq!(calls.last().unwrap().1, last.2);
    assert_eq!(space.images().len(), 1);
    assert_eq!(space.leases(), Vec::<String>::new());
    ctrd_image_free(i);

    // Another namespace of the same daemon: containerd shares the blobs it
    // has, so they are committed there without a fetch.
    let other = Space::on(&daemon, "layers-other");
    let i = pull_with(other.client, &reference, &o, None).unwrap();
    assert_eq!(blob_gets(&reg, "layers").len(), 6, "blobs fetched again");
    let checked = run(other.ctr().args(["images", "check"]));
    assert!(checked.contains("complete"), "{checked}");
    ctrd_image_free(i);
}

#[test]
fn concurrent_pulls_of_one_image() {
    // ctrd/layers is pulled from the shared registry by the library in this
    // test alone (ctr pulls it elsewhere; the log counts only the library).
    let reg = Registry::shared(false);
    let space = Space::new("concurrent");
    let reference = reg.reference("layers:latest");
    let o = Opts::for_registry(reg).no_unpack();
    let digests: Vec<String> = std::thread::scope(|s| {
        let pulls: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    let client = connect(&Daemon::shared().address(), &space.name);
                    let i =
                        pull_with(client, &reference, &o, None).unwrap_or_else(|e| panic!("{e:?}"));
                    let d = digest_of(i);
                    ctrd_image_free(i);
                    ctrd_client_free(client);
                    d
                })
            })
            .collect();
        pulls.into_iter().map(|p| p.join().unwrap()).collect()
    });
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    assert_eq!(space.images().len(), 1);
    assert_eq!(space.leases(), Vec::<String>::new());
    // A pull that met another's write of the same blob waited for it and
    // found it there (containerd may report the lock only after the fetch
    // began, so a blob can be fetched more than once, but not by every
    // pull: the store may have them all from another test already).
    let gets = blob_gets(reg, "layers");
    assert!(gets.len() <= 3 * 6, "{gets:?}");
    let checked = run(space.ctr().args(["images", "check"]));
    assert!(checked.contains("complete"), "{checked}");
}

/// The path of blob `digest` in the registry's storage.
fn registry_blob(reg: &Registry, digest: &str) -> std::path::PathBuf {
    let hex = digest.strip_prefix("sha256:").unwrap();
    reg.dir
        .join("storage/docker/registry/v2/blobs/sha256")
        .join(&hex[..2])
        .join(hex)
        .join("data")
}

#[test]
fn an_unfinished_write_is_resumed_with_a_range() {
    use containerd_c::core::Client;
    use containerd_c::runtime::block_on;
    use std::sync::Arc;
    let reg = Registry::start(false);
    // A daemon of its own: a blob another namespace has counts as there.
    let daemon = Daemon::start();
    let space = Space::on(&daemon, "resume");
    let reference = reg.reference("layers:latest");
    let o = Opts::for_registry(&reg).no_unpack();
    // The manifest, read from the registry's storage through its tag.
    let tag = reg.dir.join(
        "storage/docker/registry/v2/repositories/ctrd/layers/_manifests/tags/latest/current/link",
    );
    let manifest_digest = std::fs::read_to_string(tag).unwrap();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(registry_blob(&reg, manifest_digest.trim())).unwrap(),
    )
    .unwrap();
    let layer = &manifest["layers"][4];
    let (digest, size) = (
        layer["digest"].as_str().unwrap().to_string(),
        layer["size"].as_u64().unwrap(),
    );
    let data = std::fs::read(registry_blob(&reg, &digest)).unwrap();
    assert_eq!(data.len() as u64, size);
    // The first MiB of the layer written under the ref Go's client (and
    // this library) use, in a write stream that ends without a commit: the
    // daemon keeps it as an active ingest under the test's lease. The call
    // returns once the daemon ended the stream, so its lock on the ref is
    // gone (a writer meeting the lock would get a fresh ref instead).
    let lease = format!("pull-resume-test-{}", std::process::id());
    let core = Arc::new(Client::connect(Some(&daemon.address()), Some(&space.name)).unwrap());
    let half = 1 << 20;
    assert!(data.len() > half);
    let (c, lease_id, layer_digest) = (core.clone(), lease.clone(), digest.clone());
    let first = data[..half].to_vec();
    block_on(async move {
        use containerd_c::api::services::content::v1::{WriteAction, WriteContentRequest};
        let (core, lease, digest) = (c, lease_id, layer_digest);
        core.create_lease(&lease).await?;
        let write = WriteContentRequest {
            action: WriteAction::Write as i32,
            r#ref: format!("layer-{digest}"),
            total: size as i64,
            expected: digest.clone(),
            offset: 0,
            data: first,
            ..Default::default()
        };
        let req = core.request_with_lease(tokio_stream::iter(vec![write]), &lease)?;
        let mut answers = core
            .content()
            .write(req)
            .await
            .map_err(|s| core.status_error("write", s))?
            .into_inner();
        while answers
            .message()
            .await
            .map_err(|s| core.status_error("write", s))?
            .is_some()
        {}
        Ok::<_, containerd_c::core::Error>(())
    })
    .unwrap();
    let active = run(space.ctr().args(["content", "active"]));
    assert!(
        active
            .lines()
            .any(|l| l.starts_with(&format!("layer-{digest}")) && l.contains("1.049MB")),
        "the unfinished write is not active: {active}"
    );

    let watch = Watch::default();
    let i = pull_with(space.client, &reference, &o, Some(&watch)).unwrap();
    let gets = blob_gets(&reg, "layers");
    let hits: Vec<_> = gets.iter().filter(|g| g.0 == digest).collect();
    assert_eq!(
        hits,
        [&(digest.clone(), 206, size - half as u64)],
        "{gets:?}"
    );
    let checked = run(space.ctr().args(["images", "check"]));
    assert!(checked.contains("complete"), "{checked}");
    ctrd_image_free(i);
    block_on(async move { core.delete_lease(&lease).await }).unwrap();
}

/// A TCP proxy to `upstream` that sends the answers on at about 4 MB/s, so
/// that a pull lasts long enough to be cut off midway. Each connection ends
/// when either side closes; the listener ends on drop.
struct SlowProxy {
    host: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl SlowProxy {
    fn start(upstream: &str) -> SlowProxy {
        use std::io::{Read, Write};
        use std::net::{Shutdown, TcpListener, TcpStream};
        use std::sync::atomic::Ordering;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (upstream, stopping) = (upstream.to_string(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopping.load(Ordering::Acquire) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let copy = |mut from: TcpStream, mut to: TcpStream, slow: bool| {
                    std::thread::spawn(move || {
                        let mut buf = vec![0u8; 16 << 10];
                        loop {
                            match from.read(&mut buf) {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        break;
                                    }
                                    if slow {
                                        std::thread::sleep(std::time::Duration::from_millis(4));
                                    }
                                }
                            }
                        }
                        let _ = to.shutdown(Shutdown::Both);
                        let _ = from.shutdown(Shutdown::Both);
                    });
                };
                copy(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    false,
                );
                copy(server, client, true);
            }
        });
        SlowProxy { host, stop }
    }
}

impl Drop for SlowProxy {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Release);
        // Wakes the accept.
        let _ = std::net::TcpStream::connect(&self.host);
    }
}

#[test]
fn a_registry_killed_mid_pull() {
    let reg = Registry::start(false);
    let proxy = SlowProxy::start(reg.host());
    // A daemon of its own: none of the blobs may be there already.
    let daemon = Daemon::start();
    let space = Space::on(&daemon, "killed");
    let reference = format!("{}/ctrd/layers:latest", proxy.host);
    let o = Opts::for_registry(&reg).no_unpack();
    let watch = Watch {
        kill_pid: Some(reg.pid().expect("the registry's pid")),
        ..Default::default()
    };
    let (status, msg) = match pull_with(space.client, &reference, &o, Some(&watch)) {
        Ok(_) => panic!("the pull outlived its registry"),
        Err(e) => e,
    };
    assert!(*watch.killed.lock().unwrap(), "never killed: {msg}");
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    assert!(msg.contains(&reference), "{msg}");
    let calls = watch.calls.lock().unwrap().clone();
    assert!(calls.iter().all(|c| c.0 != "done"), "{calls:?}");
    // No image record; the pull's own lease is gone, and what it fetched is
    // kept for the next pull by the image's resume lease only.
    assert_eq!(space.images(), Vec::<(String, String)>::new());
    let leases = space.leases();
    assert!(
        leases.len() == 1 && leases[0].starts_with("containerd-c.pull-resume."),
        "{leases:?}"
    );
    drop(proxy);
    // The garbage collector runs now: only the resume lease keeps the blobs.
    let (address, ns) = (space.daemon.address(), space.name.clone());
    containerd_c::runtime::block_on(async move {
        let client = containerd_c::core::Client::connect(Some(&address), Some(&ns))?;
        client.create_lease("gc-now").await?;
        client.delete_lease_with("gc-now", true).await
    })
    .unwrap();
    let kept = space.content();
    assert!(!kept.is_empty(), "the resume lease kept nothing");

    // Another registry with the same images: the pull completes, fetching
    // only what the first one did not get (at least the layer committed
    // before the kill), and removes the resume lease.
    drop(reg);
    let reg = Registry::start(false);
    let reference = reg.reference("layers:latest");
    let i = pull_ok(&space, &reference, &Opts::for_registry(&reg).no_unpack());
    let checked = run(space.ctr().args(["images", "check"]));
    assert!(checked.contains("complete"), "{checked}");
    assert_eq!(space.leases(), Vec::<String>::new());
    assert_eq!(
        leases[0],
        containerd_c::core::image::pull::resume_lease_id(&digest_of(i))
    );
    layers_with_one_of(&space, i, &kept);
    let gets = blob_gets(&reg, "layers");
    assert!(
        gets.len() < 6 && gets.iter().all(|g| !kept.contains(&g.0)),
        "fetched again: {gets:?} (kept: {kept:?})"
    );
    ctrd_image_free(i);
}

#[test]
fn a_failed_unpack_leaves_no_record() {
    let reg = Registry::shared(false);
    let space = Space::new("unpack-fails");
    let reference = reg.reference("busybox:latest");
    let mut o = Opts::for_registry(reg);
    o.snapshotter = Some("no-such-snapshotter".into());
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_ne!(status, CTRD_OK);
    assert!(msg.contains(&reference), "{msg}");
    assert!(msg.contains("no-such-snapshotter"), "{msg}");
    // The record comes only after the unpack; the lease is gone.
    assert_eq!(space.images(), Vec::<(String, String)>::new());
    assert_eq!(space.leases(), Vec::<String>::new());
}

#[test]
fn bad_arguments() {
    let reg = Registry::shared(false);
    let space = Space::new("bad");
    let reference = c(&reg.reference("busybox:latest"));
    let opts = ctrd_pull_opts {
        struct_size: std::mem::size_of::<ctrd_pull_opts>(),
        platform: null(),
        snapshotter: c"".as_ptr(),
        no_unpack: false,
        username: null(),
        secret: null(),
        plain_http: true,
        skip_verify: false,
        ca_file: null(),
        progress: None,
        user_data: null_mut(),
        cancel: null(),
        timeout_ms: 0,
        hosts_dir: null(),
    };
    let unsized_opts = ctrd_pull_opts {
        struct_size: 0,
        plain_http: true,
        ..Default::default()
    };
    // As a program built against a newer header that sets a field this
    // library does not know.
    #[repr(C)]
    struct Newer {
        opts: ctrd_pull_opts,
        unknown: u64,
    }
    let newer = Newer {
        opts: ctrd_pull_opts {
            struct_size: std::mem::size_of::<Newer>(),
            plain_http: true,
            ..Default::default()
        },
        unknown: 1,
    };
    let between = ctrd_pull_opts {
        struct_size: std::mem::offset_of!(ctrd_pull_opts, cancel) + 4,
        plain_http: true,
        ..Default::default()
    };
    let smaller = ctrd_pull_opts {
        struct_size: std::mem::offset_of!(ctrd_pull_opts, cancel) - 8,
        plain_http: true,
        ..Default::default()
    };
    type Call<'a> = Box<dyn Fn(*mut *mut ctrd_image) -> ctrd_status + 'a>;
    let cases: Vec<(&str, Call, &str)> = vec![
        (
            "NULL client",
            Box::new(|out| ctrd_image_pull(null_mut(), reference.as_ptr(), null(), out)),
            "client",
        ),
        (
            "NULL ref",
            Box::new(|out| ctrd_image_pull(space.client, null(), null(), out)),
            "ref",
        ),
        (
            "NULL out",
            Box::new(|_| ctrd_image_pull(space.client, reference.as_ptr(), null(), null_mut())),
            "out",
        ),
        (
            "invalid UTF-8",
            Box::new(|out| ctrd_image_pull(space.client, c"\xff\xfe".as_ptr(), null(), out)),
            "ref",
        ),
        (
            "empty snapshotter",
            Box::new(|out| ctrd_image_pull(space.client, reference.as_ptr(), &opts, out)),
            "snapshotter",
        ),
        (
            "struct_size 0",
            Box::new(|out| ctrd_image_pull(space.client, reference.as_ptr(), &unsized_opts, out)),
            "opts->struct_size is 0: set it to sizeof(ctrd_pull_opts)",
        ),
        (
            "a newer header's field set",
            Box::new(|out| ctrd_image_pull(space.client, reference.as_ptr(), &newer.opts, out)),
            "built against a newer containerd-c",
        ),
        (
            "a size between the older layout's and this one's",
            Box::new(|out| ctrd_image_pull(space.client, reference.as_ptr(), &between, out)),
            "not the size of a ctrd_pull_opts",
        ),
        (
            "a size below the older layout's",
            Box::new(|out| ctrd_image_pull(space.client, reference.as_ptr(), &smaller, out)),
            "not the size of a ctrd_pull_opts",
        ),
    ];
    for (case, call, word) in cases {
        let mut out = null_mut();
        let status = call(&mut out);
        let msg = last_error();
        assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{case}: {msg}");
        assert!(msg.starts_with("ctrd_image_pull: "), "{case}: {msg}");
        assert!(msg.contains(word), "{case}: {msg}");
        assert!(out.is_null(), "{case}: out written");
    }
    assert_eq!(space.images(), Vec::<(String, String)>::new());
}

/// Credentials from the docker config, in a child process of this test
/// binary with `DOCKER_CONFIG` and `PATH` of its own (the environment of
/// this process, shared by the tests running at once, stays untouched).
#[test]
fn credentials_from_the_docker_config() {
    if let Ok(reference) = std::env::var("CTRD_PULL_CHILD_REF") {
        // The child: pull with no credentials in the options.
        let address = std::env::var("CTRD_PULL_CHILD_ADDRESS").unwrap();
        let ns = std::env::var("CTRD_PULL_CHILD_NS").unwrap();
        let client = connect(&address, &ns);
        let o = Opts {
            plain_http: true,
            no_unpack: true,
            ..Default::default()
        };
        match pull_with(client, &reference, &o, None) {
            Ok(i) => {
                println!("RESULT ok {}", digest_of(i));
                ctrd_image_free(i);
            }
            Err((s, m)) => println!("RESULT err {} {m}", status_name(s)),
        }
        ctrd_client_free(client);
        return;
    }
    let reg = Registry::shared(false);
    let reference = reg.reference("busybox:latest");
    let dir = tempfile::tempdir().unwrap();
    let child = |config: Option<&str>, helper: Option<&str>, ns: &str| -> String {
        let space = Space::new(ns);
        let cfg = dir.path().join(ns);
        std::fs::create_dir_all(&cfg).unwrap();
        if let Some(json) = config {
            std::fs::write(cfg.join("config.json"), json).unwrap();
        }
        let bin = dir.path().join(format!("{ns}-bin"));
        std::fs::create_dir_all(&bin).unwrap();
        if let Some(script) = helper {
            let path = bin.join("docker-credential-test");
            std::fs::write(&path, script).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "credentials_from_the_docker_config",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CTRD_PULL_CHILD_REF", &reference)
            .env("CTRD_PULL_CHILD_ADDRESS", Daemon::shared().address())
            .env("CTRD_PULL_CHILD_NS", &space.name)
            .env("DOCKER_CONFIG", &cfg)
            .env("HOME", dir.path())
            .env("PATH", path)
            // A helper that never answers is killed after 2 s, not 30.
            .env("CTRD_TEST_HELPER_TIMEOUT_MS", "2000")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "child failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .find_map(|l| l.split_once("RESULT ").map(|(_, r)| r))
            .unwrap_or_else(|| panic!("no result: {stdout}"))
            .to_string()
    };
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let host = reg.host();

    // auths with base64 "user:password".
    let auths = format!(
        r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#,
        b64(&format!("{}:{}", reg.user(), reg.password()))
    );
    let r = child(Some(&auths), None, "cfg-auths");
    assert!(r.starts_with("ok sha256:"), "{r}");

    // A wrong password there: the registry's 401.
    let wrong = format!(
        r#"{{"auths":{{"{host}":{{"auth":"{}"}}}}}}"#,
        b64(&format!("{}:nope", reg.user()))
    );
    let r = child(Some(&wrong), None, "cfg-wrong");
    assert!(r.starts_with("err CTRD_ERR_UNAUTHENTICATED"), "{r}");

    // credsStore: docker-credential-test on PATH, asked for the host.
    let helper = format!(
        "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread -r server\n\
         if [ \"$server\" = \"{host}\" ]; then\n\
         printf '{{\"ServerURL\":\"%s\",\"Username\":\"{}\",\"Secret\":\"{}\"}}' \"$server\"\n\
         else echo 'credentials not found in native keychain'; exit 1; fi\n",
        reg.user(),
        reg.password()
    );
    let r = child(Some(r#"{"credsStore":"test"}"#), Some(&helper), "cfg-store");
    assert!(r.starts_with("ok sha256:"), "{r}");
    // credHelpers for this host.
    let helpers = format!(r#"{{"credHelpers":{{"{host}":"test"}}}}"#);
    let r = child(Some(&helpers), Some(&helper), "cfg-helpers");
    assert!(r.starts_with("ok sha256:"), "{r}");

    // A config that is not one: said, with the file, not anonymous.
    let r = child(Some(r#"{"auths": "#), None, "cfg-malformed");
    let file = dir.path().join("cfg-malformed").join("config.json");
    assert!(
        r.starts_with("err CTRD_ERR_INVALID_ARGUMENT")
            && r.contains(&format!(
                "the docker config {}: not a docker config",
                file.display()
            )),
        "{r}"
    );
    // A helper that never answers: killed, and named.
    let start = Instant::now();
    let r = child(
        Some(r#"{"credsStore":"test"}"#),
        Some("#!/bin/sh\nexec sleep 1000\n"),
        "cfg-slow",
    );
    let took = start.elapsed();
    eprintln!("a helper that never answers: the pull failed in {took:?}");
    assert!(
        r.starts_with("err CTRD_ERR_UNAUTHENTICATED")
            && r.contains(&format!(
                "credential helper docker-credential-test: no answer for {host} in 2s"
            )),
        "{r}"
    );
    assert!(took < Duration::from_secs(20), "{took:?}");

    // No config at all: anonymous, which this registry refuses.
    let r = child(None, None, "cfg-none");
    assert!(r.starts_with("err CTRD_ERR_UNAUTHENTICATED"), "{r}");
    assert!(r.contains("none were found"), "{r}");
}

#[test]
fn bearer_tokens_from_the_realm_a_401_names() {
    let reg = Registry::shared(false);
    let front = Front::start_token(reg, false);
    let space = Space::new("bearer");
    let reference = format!("{}/ctrd/busybox:latest", front.host);

    // Wrong password: the token endpoint refuses it.
    let mut o = Opts::for_registry(reg);
    o.secret = Some("wrong".into());
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_UNAUTHENTICATED, "{msg}");
    assert!(msg.contains(&reference), "{msg}");
    assert!(front.tokens.lock().unwrap().contains(&false));
    assert_eq!(
        front.forwarded.load(std::sync::atomic::Ordering::Relaxed),
        0
    );

    // The right one: a token from the realm, then the registry with it.
    let o = Opts::for_registry(reg);
    let i = pull_ok(&space, &reference, &o);
    assert!(front.tokens.lock().unwrap().contains(&true));
    // At least the manifest (the daemon may share the blobs already, from
    // other tests' pulls).
    assert!(front.forwarded.load(std::sync::atomic::Ordering::Relaxed) >= 1);
    assert_eq!(name_of(i), reference);
    let checked = run(space.ctr().args(["images", "check"]));
    assert!(checked.contains("complete"), "{checked}");
    assert_eq!(space.leases(), Vec::<String>::new());
    ctrd_image_free(i);
}

#[test]
fn a_blob_that_does_not_match_its_digest() {
    let reg = Registry::shared(false);
    let front = Front::start_token(reg, true);
    // A daemon of its own: none of the blobs may be there already.
    let daemon = Daemon::start();
    let space = Space::on(&daemon, "corrupt");
    let reference = format!("{}/ctrd/busybox:latest", front.host);
    let (status, msg) = pull_err(&space, &reference, &Opts::for_registry(reg));
    assert_eq!(status, CTRD_ERR_FAILED_PRECONDITION, "{msg}");
    assert!(msg.contains(&reference), "{msg}");
    assert!(msg.contains("digest"), "{msg}");
    // Nothing visible, nothing kept: not an interruption.
    assert_eq!(space.images(), Vec::<(String, String)>::new());
    assert_eq!(space.leases(), Vec::<String>::new());
}

#[test]
fn an_image_ctr_pulled_runs_through_the_library() {
    let reg = Registry::shared(false);
    let space = Space::new("ctr-pulled");
    let image = reg.reference("layers:latest");
    // ctr as users run it (on 2.x through the daemon's transfer service).
    run(space
        .ctr()
        .args(["images", "pull"])
        .args(reg.ctr_args())
        .arg(&image));
    let mut i = null_mut();
    check(
        ctrd_image_get(space.client, c(&image).as_ptr(), &mut i),
        CTRD_OK,
    );
    let mut unpacked = false;
    check(ctrd_image_is_unpacked(i, null(), &mut unpacked), CTRD_OK);
    assert!(unpacked, "ctr unpacked it; the library does not see it");
    ctrd_image_free(i);
    // Its rootfs (all 5 layers) runs through the library.
    let id = format!("ctr-pulled-{}", std::process::id());
    let spec = spec_for_image(
        space.client,
        &id,
        &image,
        &[
            "sh",
            "-c",
            "test -s /data/4.bin && test -x /bin/busybox && exit 7",
        ],
    );
    let k = container_of_image(space.client, &id, &image, &spec);
    let mut t = null_mut();
    check(ctrd_container_new_task(k, null(), &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    let mut status = 0;
    check(ctrd_task_wait(t, 30_000, &mut status), CTRD_OK);
    assert_eq!(status, 7, "the command did not find the image's files");
    check(ctrd_task_delete(t, 0, null_mut()), CTRD_OK);
    ctrd_task_free(t);
    remove_container(k);
}

/// A fake registry over plain HTTP, on threads: `/v2/` answers 200,
/// `/v2/<repo>/manifests/<tag or digest>` and `/v2/<repo>/blobs/<digest>`
/// come from `files` (keyed by what follows `manifests/` or `blobs/`), the
/// bodies of those in `slow` a byte every 100 ms (a stalling registry).
/// Each answer closes its connection. Records the paths asked for.
struct FakeRegistry {
    host: String,
    seen: std::sync::Arc<Mutex<Vec<String>>>,
}

impl FakeRegistry {
    fn start(files: Vec<(String, &'static str, Vec<u8>)>, slow: Vec<String>) -> FakeRegistry {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let (files, slow) = (std::sync::Arc::new(files), std::sync::Arc::new(slow));
        let record = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (files, slow, record) = (files.clone(), slow.clone(), record.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut first = String::new();
                    if reader.read_line(&mut first).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                            break;
                        }
                    }
                    let path = first.split(' ').nth(1).unwrap_or("").to_string();
                    record.lock().unwrap().push(path.clone());
                    let key = path
                        .split_once("/manifests/")
                        .or_else(|| path.split_once("/blobs/"))
                        .map(|(_, k)| k.to_string());
                    let found = key.and_then(|k| files.iter().find(|f| f.0 == k).cloned());
                    let (status, kind, body) = match (path.as_str(), found) {
                        ("/v2/", _) => ("200 OK", "application/json", b"{}".to_vec()),
                        (_, Some((_, kind, body))) => ("200 OK", kind, body),
                        _ => ("404 Not Found", "application/json", b"{}".to_vec()),
                    };
                    let head = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
                         Connection: close\r\n\r\n",
                        body.len()
                    );
                    if conn.write_all(head.as_bytes()).is_err() {
                        return;
                    }
                    if slow.iter().any(|s| path.ends_with(s.as_str())) {
                        for b in body {
                            std::thread::sleep(std::time::Duration::from_millis(100));
                            if conn.write_all(&[b]).is_err() {
                                return;
                            }
                        }
                    } else {
                        let _ = conn.write_all(&body);
                    }
                });
            }
        });
        FakeRegistry { host, seen }
    }
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{:x}", sha2::Sha256::digest(bytes))
}

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// An OCI manifest for `config` and `layers` (digest, size) as JSON.
fn manifest_json(config: (&str, u64), layers: &[(&str, u64)]) -> Vec<u8> {
    let layers: Vec<Value> = layers
        .iter()
        .map(|(d, n)| {
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": d, "size": n,
            })
        })
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config.0, "size": config.1,
        },
        "layers": layers,
    }))
    .unwrap()
}

/// A fake registry with images (repository `a`): `fast:t` (a config and a
/// layer), `slow:t` (the same config and a 4 KiB layer that trickles),
/// `big:t` (a config said to have 1 GiB), `lying:t` (a layer whose size is
/// one more than its bytes, `lie`, have). Returns the registry and `lie`.
fn fake_images() -> (FakeRegistry, Vec<u8>) {
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": host_arch(), "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": []},
    }))
    .unwrap();
    let layer = b"a layer's bytes".to_vec();
    let slow_layer: Vec<u8> = (0..4096u32).map(|i| (i % 251) as u8).collect();
    let lie = format!("bytes no pull fetched, {}", std::process::id()).into_bytes();
    let (dc, dl, ds, dlie) = (
        sha256(&config),
        sha256(&layer),
        sha256(&slow_layer),
        sha256(&lie),
    );
    let n = |b: &[u8]| b.len() as u64;
    let fast = manifest_json((&dc, n(&config)), &[(&dl, n(&layer))]);
    let slow = manifest_json((&dc, n(&config)), &[(&ds, n(&slow_layer))]);
    let big = manifest_json((&sha256(b"big"), 1 << 30), &[(&dl, n(&layer))]);
    let lying = manifest_json((&dc, n(&config)), &[(&dlie, n(&lie) + 1)]);
    let blob = "application/octet-stream";
    let files = vec![
        ("fast".to_string(), OCI_MANIFEST, fast),
        ("slow".to_string(), OCI_MANIFEST, slow),
        ("big".to_string(), OCI_MANIFEST, big),
        ("lying".to_string(), OCI_MANIFEST, lying),
        (dc, blob, config),
        (dl, blob, layer),
        (ds.clone(), blob, slow_layer),
    ];
    (FakeRegistry::start(files, vec![ds]), lie)
}

fn plain() -> Opts {
    Opts {
        plain_http: true,
        no_unpack: true,
        ..Default::default()
    }
}

/// A pull from a registry that trickles a layer (a byte every 100 ms):
/// a cancel triggered from another thread, or the call's timeout, ends it
/// within a second with CANCELLED or DEADLINE_EXCEEDED, keeping what was
/// fetched for the next pull; a cancel triggered before the call stops it
/// at once. A program built before the fields existed (a smaller
/// `struct_size`) gets neither, whatever follows its struct.
#[test]
fn cancel_and_timeout_cut_a_stalled_pull() {
    use std::time::{Duration, Instant};
    let (fake, _) = fake_images();
    let space = Space::new("cancel");
    let slow = format!("{}/a:slow", fake.host);

    // Cancelled from another thread after a second.
    let cancel = CancelPtr::new();
    let o = Opts {
        cancel,
        timeout_ms: 60_000,
        ..plain()
    };
    let trigger = std::thread::spawn(move || {
        let cancel = cancel;
        std::thread::sleep(Duration::from_secs(1));
        ctrd_cancel_trigger(cancel.0);
        Instant::now()
    });
    let (status, msg) = pull_err(&space, &slow, &o);
    let returned = Instant::now();
    let triggered = trigger.join().unwrap();
    let took = returned - triggered;
    println!("cancel: returned {took:?} after the trigger");
    assert_eq!(status, CTRD_ERR_CANCELLED, "{msg}");
    assert!(msg.contains(&slow) && msg.contains("cancelled"), "{msg}");
    assert!(took < Duration::from_secs(1), "{took:?}");
    assert!(ctrd_cancel_is_triggered(cancel.0));
    // What was fetched (the manifest and config) stays for the next pull,
    // under the image's resume lease only.
    let leases = space.leases();
    assert!(
        leases.len() == 1 && leases[0].starts_with("containerd-c.pull-resume."),
        "{leases:?}"
    );
    let manifest = run(space.ctr().args(["content", "ls", "-q"]));
    assert!(manifest.lines().count() >= 2, "{manifest}");
    assert_eq!(space.images(), Vec::<(String, String)>::new());

    // Already triggered: it does not start.
    let start = Instant::now();
    let (status, msg) = pull_err(&space, &slow, &o);
    assert_eq!(status, CTRD_ERR_CANCELLED, "{msg}");
    assert!(start.elapsed() < Duration::from_millis(500));
    ctrd_cancel_free(cancel.0);

    // The timeout.
    let o = Opts {
        timeout_ms: 1500,
        ..plain()
    };
    let start = Instant::now();
    let (status, msg) = pull_err(&space, &slow, &o);
    let took = start.elapsed();
    println!("timeout_ms 1500: returned after {took:?}");
    assert_eq!(status, CTRD_ERR_DEADLINE_EXCEEDED, "{msg}");
    assert!(msg.contains(&slow) && msg.contains("1500 ms"), "{msg}");
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_millis(2500),
        "{took:?}"
    );

    // An older program's struct: the fields past its size are not read
    // (here a triggered cancel and a 1 ms timeout).
    let cancel = CancelPtr::new();
    ctrd_cancel_trigger(cancel.0);
    let o = Opts {
        cancel,
        timeout_ms: 1,
        old_size: true,
        ..plain()
    };
    let i = pull_ok(&space, &format!("{}/a:fast", fake.host), &o);
    ctrd_image_free(i);
    ctrd_cancel_free(cancel.0);
}

/// A config is read into memory by the unpack: one said to be larger than
/// the library reads is refused before a byte of it is fetched.
#[test]
fn a_config_too_large_is_refused_before_fetching() {
    let (fake, _) = fake_images();
    let space = Space::new("big-config");
    let reference = format!("{}/a:big", fake.host);
    let (status, msg) = pull_err(&space, &reference, &plain());
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    let config = sha256(b"big");
    assert!(
        msg.contains(&reference) && msg.contains(&config) && msg.contains("1073741824 bytes"),
        "{msg}"
    );
    let seen = fake.seen.lock().unwrap().clone();
    assert!(!seen.iter().any(|p| p.contains(&config)), "{seen:?}");
    assert!(!seen.iter().any(|p| p.contains("/blobs/")), "{seen:?}");
}

/// A blob the content store has already whose size is not the one the
/// descriptor says: the descriptor does not describe it, so the pull
/// fails instead of taking it.
#[test]
fn an_existing_blob_of_another_size_is_not_trusted() {
    let (fake, lie) = fake_images();
    let space = Space::new("lying-size");
    let (address, ns, data) = (space.daemon.address(), space.name.clone(), lie.clone());
    containerd_c::runtime::block_on(async move {
        let client = containerd_c::core::Client::connect(Some(&address), Some(&ns))?;
        client.create_lease("keep-lie").await?;
        client
            .write_blob("keep-lie", data, Default::default())
            .await?;
        Ok(())
    })
    .unwrap();
    let reference = format!("{}/a:lying", fake.host);
    let (status, msg) = pull_err(&space, &reference, &plain());
    assert_eq!(status, CTRD_ERR_FAILED_PRECONDITION, "{msg}");
    assert!(
        msg.contains(&reference)
            && msg.contains(&sha256(&lie))
            && msg.contains(&format!("{} bytes", lie.len()))
            && msg.contains(&format!("{}", lie.len() + 1)),
        "{msg}"
    );
    assert_eq!(space.images(), Vec::<(String, String)>::new());
}

/// A pull of the real registry's image cancelled (from the progress
/// callback's thread) once a layer is in: the next pull fetches only the
/// rest.
#[test]
fn a_cancelled_pull_is_resumed() {
    let reg = Registry::start(false);
    let proxy = SlowProxy::start(reg.host());
    // A daemon of its own: none of the blobs may be there already.
    let daemon = Daemon::start();
    let space = Space::on(&daemon, "cancelled");
    let reference = format!("{}/ctrd/layers:latest", proxy.host);
    let cancel = CancelPtr::new();
    let o = Opts {
        cancel,
        ..Opts::for_registry(&reg).no_unpack()
    };
    let watch = Watch {
        cancel_at_layer: Some(cancel),
        ..Default::default()
    };
    let (status, msg) = match pull_with(space.client, &reference, &o, Some(&watch)) {
        Ok(_) => panic!("the pull was not cancelled"),
        Err(e) => e,
    };
    let returned = std::time::Instant::now();
    let at = watch.cancelled_at.lock().unwrap().expect("never cancelled");
    println!(
        "cancel mid-pull: returned {:?} after the trigger",
        returned - at
    );
    assert!(returned - at < std::time::Duration::from_secs(1));
    assert_eq!(status, CTRD_ERR_CANCELLED, "{msg}");
    ctrd_cancel_free(cancel.0);
    let leases = space.leases();
    assert!(
        leases.len() == 1 && leases[0].starts_with("containerd-c.pull-resume."),
        "{leases:?}"
    );
    let kept = space.content();
    drop(proxy);
    // From another registry with the same images (its log holds only the
    // second pull's requests): only what the first pull did not get.
    drop(reg);
    let reg = Registry::start(false);
    let reference = reg.reference("layers:latest");
    let i = pull_ok(&space, &reference, &Opts::for_registry(&reg).no_unpack());
    assert_eq!(space.leases(), Vec::<String>::new());
    let layers = layers_with_one_of(&space, i, &kept);
    let gets: Vec<_> = blob_gets(&reg, "layers")
        .into_iter()
        .filter(|g| layers.contains(&g.0))
        .collect();
    assert!(
        gets.iter().all(|g| !kept.contains(&g.0)) && gets.len() < layers.len() * 2,
        "fetched again: {gets:?} (kept: {kept:?})"
    );
    ctrd_image_free(i);
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

/// A host directory root with `hosts.toml` text for registry `host`
/// (`127.0.0.1:PORT`, in containerd's `127.0.0.1_PORT_` directory).
fn hosts_root(host: &str, text: &str) -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join(format!("{}_", host.replace(':', "_")));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hosts.toml"), text).unwrap();
    root
}

/// hosts.toml mirrors, as containerd's certs.d has them: a registry that
/// is down pulled through its mirror (the image named after the registry,
/// the mirror's requests with `?ns=`); a mirror that is down passed over for
/// the registry; every host down: the message lists them.
#[test]
fn mirrors_from_the_hosts_dir() {
    let reg = Registry::shared(false);
    let down = closed_port();
    // Registry `down` has `reg` as its mirror.
    let root = hosts_root(
        &down,
        &format!(
            "[host.\"http://{}\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
            reg.host()
        ),
    );
    let space = Space::new("mirror");
    let reference = format!("{down}/ctrd/busybox:latest");
    let mut o = Opts::for_registry(reg).no_unpack();
    o.hosts_dir = Some(root.path().to_str().unwrap().into());
    let i = pull_ok(&space, &reference, &o);
    assert_eq!(name_of(i), reference);
    ctrd_image_free(i);
    // The registry logs a request once its answer is sent. (The blobs may
    // be in the daemon's store already, from another test's pull.)
    let ns = format!("ns={}", down.replace(':', "%3A"));
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let through: Vec<_> = our_requests(reg)
            .into_iter()
            .filter(|r| r.1.contains(&ns))
            .collect();
        if through
            .iter()
            .any(|r| r.1.starts_with("/v2/ctrd/busybox/manifests/latest?"))
        {
            break;
        }
        assert!(Instant::now() < deadline, "{through:?}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The registry itself after a mirror that is down.
    let root = hosts_root(reg.host(), &format!("[host.\"http://{down}\"]\n"));
    let space = Space::new("mirror-down");
    let reference = reg.reference("busybox:latest");
    let mut o = Opts::for_registry(reg).no_unpack();
    o.hosts_dir = Some(root.path().to_str().unwrap().into());
    ctrd_image_free(pull_ok(&space, &reference, &o));

    // Everything down: each host and why.
    let other = closed_port();
    let root = hosts_root(&other, &format!("[host.\"http://{down}\"]\n"));
    let space = Space::new("all-down");
    o.hosts_dir = Some(root.path().to_str().unwrap().into());
    let reference = format!("{other}/ctrd/busybox:latest");
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    let want = format!(
        "ctrd_image_pull: pull \"{reference}\": resolve: every host failed: http://{down}/v2 (connect to {down}: "
    );
    assert!(msg.starts_with(&want), "{msg}");
    assert!(
        msg.contains(&format!("; http://{other}/v2 (connect to {other}: ")),
        "{msg}"
    );
    assert_eq!(space.images(), Vec::<(String, String)>::new());

    // "" = no host directory: the registry alone.
    o.hosts_dir = Some(String::new());
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    assert!(!msg.contains(&down), "{msg}");
}

/// A registry that wants a client certificate: refused without one (said),
/// pulled with the one its hosts.toml names; a client key that cannot be
/// read is an invalid argument naming it.
#[test]
fn client_certificates_from_the_hosts_dir() {
    let reg = Registry::start_mtls();
    let reference = reg.reference("busybox:latest");
    let space = Space::new("mtls-none");
    let mut o = Opts::for_registry(&reg).no_unpack();
    o.hosts_dir = Some(String::new());
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    assert!(msg.contains("client certificate"), "{msg}");

    let space = Space::new("mtls");
    o.hosts_dir = Some(reg.hosts_dir().to_str().unwrap().into());
    o.ca_file = None;
    let i = pull_ok(&space, &reference, &o);
    assert_eq!(name_of(i), reference);
    ctrd_image_free(i);

    // A relative client pair, the key missing; then the certificate and
    // key in one file.
    let (cert, key) = reg.client_cert();
    let ca = reg.ca_file().unwrap();
    let text = |client: &str| {
        format!(
            "server = \"https://{}\"\nca = \"{}\"\nclient = {client}\n",
            reg.host(),
            ca.display()
        )
    };
    let root = hosts_root(reg.host(), &text("[[\"c.pem\", \"gone.key\"]]"));
    let dir = root
        .path()
        .join(format!("{}_", reg.host().replace(':', "_")));
    std::fs::copy(&cert, dir.join("c.pem")).unwrap();
    o.hosts_dir = Some(root.path().to_str().unwrap().into());
    let space = Space::new("mtls-nokey");
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    let gone = dir.join("gone.key");
    assert!(
        msg.contains(&format!("client key {}: no such file", gone.display())),
        "{msg}"
    );
    // A key that is not the certificate's (the server's).
    let other_key = reg.dir.join("server.key");
    let pair = format!("[[\"c.pem\", \"{}\"]]", other_key.display());
    std::fs::write(dir.join("hosts.toml"), text(&pair)).unwrap();
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    assert!(
        msg.contains(&format!("client key {} (certificate ", other_key.display())),
        "{msg}"
    );
    let mut both = std::fs::read(&cert).unwrap();
    both.extend(std::fs::read(&key).unwrap());
    std::fs::write(dir.join("both.pem"), both).unwrap();
    // Several: the first the server takes (its own certificate is issued by
    // another CA than the one it takes client certificates from).
    let client = format!(
        "[[\"{}\", \"{}\"], \"both.pem\"]",
        reg.dir.join("server.pem").display(),
        other_key.display()
    );
    std::fs::write(dir.join("hosts.toml"), text(&client)).unwrap();
    let space = Space::new("mtls-both");
    ctrd_image_free(pull_ok(&space, &reference, &o));
}

/// A malformed hosts.toml: an invalid argument naming the file, the line
/// and the key; not read by a program built before `hosts_dir`.
#[test]
fn a_malformed_hosts_toml() {
    let reg = Registry::shared(false);
    let root = hosts_root(
        reg.host(),
        "[host.\"http://127.0.0.1:1\"]\n  capabilities = [\"pull\", \"fetch\"]\n",
    );
    let space = Space::new("hosts-bad");
    let reference = reg.reference("busybox:latest");
    let mut o = Opts::for_registry(reg).no_unpack();
    o.hosts_dir = Some(root.path().to_str().unwrap().into());
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    let file = root
        .path()
        .join(format!("{}_", reg.host().replace(':', "_")))
        .join("hosts.toml");
    assert_eq!(
        msg,
        format!(
            "ctrd_image_pull: pull \"{reference}\": hosts.toml {}: line 2: host.\"http://127.0.0.1:1\".capabilities: \
             unknown capability \"fetch\" (pull, resolve, push)",
            file.display()
        )
    );
    // Not a directory.
    o.hosts_dir = Some(file.to_str().unwrap().into());
    let (status, msg) = pull_err(&space, &reference, &o);
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    assert!(msg.ends_with("not a directory"), "{msg}");
    // The struct of a program built before hosts_dir: not read.
    o.before_hosts_dir = true;
    ctrd_image_free(pull_ok(&space, &reference, &o));
}
