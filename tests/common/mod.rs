//! Shared test fixture: a private containerd per test binary (or per test),
//! started through `scripts/daemon.sh`, never the system daemon; the test
//! image built from busybox-static; small helpers for calling the C API.
#![allow(dead_code)]

use std::ffi::{c_char, CStr, CString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use containerd_c::ffi::*;

pub mod queue;

pub const IMAGE: &str = "docker.io/library/ctrd-test:latest";

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn script(name: &str) -> PathBuf {
    repo().join("scripts").join(name)
}

/// Runs a command and returns its stdout, failing the test (with its stderr)
/// when it fails.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("running {cmd:?}: {e} (run scripts/deps.sh to install the tools)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// A private containerd in a temporary directory. `Daemon::start` gives one
/// the test owns (stopped on drop); `Daemon::shared` one for the whole test
/// binary, which a watchdog stops when the binary exits.
pub struct Daemon {
    pub dir: PathBuf,
    pub socket: PathBuf,
    owned: bool,
}

impl Daemon {
    fn launch(owned: bool) -> Daemon {
        let dir = tempfile::Builder::new()
            .prefix("ctrd-")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        std::fs::remove_dir(&dir).expect("daemon.sh makes the dir itself");
        let out = run(Command::new(script("daemon.sh"))
            .arg("start")
            .arg(&dir)
            .arg("--owner-pid")
            .arg(std::process::id().to_string()));
        let socket = PathBuf::from(out.lines().last().expect("socket path").trim());
        Daemon { dir, socket, owned }
    }

    /// A daemon for this test alone.
    pub fn start() -> Daemon {
        Self::launch(true)
    }

    /// The daemon shared by every test of this binary.
    pub fn shared() -> &'static Daemon {
        static SHARED: OnceLock<Daemon> = OnceLock::new();
        SHARED.get_or_init(|| Self::launch(false))
    }

    pub fn address(&self) -> String {
        self.socket.to_str().unwrap().to_string()
    }

    /// Restarts containerd (tasks and shims keep running).
    pub fn restart(&self) {
        run(Command::new(script("daemon.sh"))
            .arg("restart")
            .arg(&self.dir));
    }

    /// Stops containerd only, keeping its state, until `restart`.
    pub fn stop_daemon_only(&self) {
        let pid = std::fs::read_to_string(self.dir.join("containerd.pid")).expect("pid file");
        run(Command::new("kill").arg(pid.trim()));
        // Gone, or a zombie waiting for a slow init to reap it.
        let stat = PathBuf::from(format!("/proc/{}/stat", pid.trim()));
        for _ in 0..200 {
            match std::fs::read_to_string(&stat) {
                Err(_) => return,
                Ok(s) if s.rsplit(") ").next().is_some_and(|r| r.starts_with('Z')) => return,
                Ok(_) => {}
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("containerd {} did not stop", pid.trim());
    }

    /// `ctr` (`$CTR_BIN` if set) against this daemon in namespace `ns`.
    pub fn ctr(&self, ns: &str) -> Command {
        let mut c = Command::new(std::env::var_os("CTR_BIN").unwrap_or_else(|| "ctr".into()));
        c.arg("--address")
            .arg(&self.socket)
            .arg("--namespace")
            .arg(ns);
        c
    }

    /// Imports the test image into namespace `ns` (unpacked for overlayfs).
    pub fn import_image(&self, ns: &str) {
        self.import(ns, image_tar());
    }

    /// Imports an image archive into namespace `ns` (unpacked for overlayfs).
    pub fn import(&self, ns: &str, tar: &Path) {
        run(Command::new(script("import-image.sh"))
            .arg(&self.socket)
            .arg(ns)
            .arg(tar));
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new(script("daemon.sh"))
                .arg("stop")
                .arg(&self.dir)
                .status();
        }
    }
}

/// The test image archive, built once per binary.
pub fn image_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| build_image("ctrd-test", IMAGE, ""))
}

/// The test image whose config says `User: nobody:nogroup`.
pub const IMAGE_NOBODY: &str = "docker.io/library/ctrd-test-nobody:latest";

/// The archive of [`IMAGE_NOBODY`], built once per binary.
pub fn image_nobody_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| build_image("ctrd-test-nobody", IMAGE_NOBODY, "nobody:nogroup"))
}

fn build_image(file: &str, name: &str, user: &str) -> PathBuf {
    let dir = repo().join("target").join("test-image");
    std::fs::create_dir_all(&dir).unwrap();
    let tar = dir.join(format!("{file}-{}.tar", std::process::id()));
    run(Command::new(script("make-image.sh"))
        .arg(&tar)
        .env("IMAGE_NAME", name)
        .env("IMAGE_USER", user));
    tar
}

/// A C string for an argument.
pub fn c(s: &str) -> CString {
    CString::new(s).unwrap()
}

/// The calling thread's `ctrd_last_error()` as a Rust string.
pub fn last_error() -> String {
    // SAFETY: ctrd_last_error never returns NULL and the string lives until
    // the next status-returning call on this thread; we copy it at once.
    unsafe { CStr::from_ptr(ctrd_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// Takes a `char *` result: copies it and frees it with `ctrd_string_free`.
pub fn take_string(p: *mut c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: a NUL-terminated string the library returned.
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    ctrd_string_free(p);
    s
}

/// The name of a status.
pub fn status_name(s: ctrd_status) -> String {
    // SAFETY: ctrd_status_name returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(ctrd_status_name(s as u32)) }
        .to_str()
        .unwrap()
        .to_string()
}

/// Asserts `status` is `want`, showing the last error otherwise.
#[track_caller]
pub fn check(status: ctrd_status, want: ctrd_status) {
    assert_eq!(status, want, "last error: {}", last_error());
}

/// A failed call: its status and `ctrd_last_error()`.
pub type Failure = (ctrd_status, String);

/// The outcome of a call that hands out a handle through `out`: the handle
/// on success; on failure the status and message, after checking that `out`
/// was left NULL (out-params are written only on success).
#[track_caller]
pub fn outcome<T>(status: ctrd_status, out: *mut T) -> Result<*mut T, Failure> {
    match status {
        ctrd_status::CTRD_OK => {
            assert!(!out.is_null(), "success without a handle");
            Ok(out)
        }
        s => {
            assert!(out.is_null(), "out written on failure");
            Err((s, last_error()))
        }
    }
}

/// The outcome of a call that hands out a string array through `names` and
/// `len` (passed in as NULL and `usize::MAX`): the strings on success (the
/// array freed with `ctrd_string_array_free`); on failure the status and
/// message, after checking that neither out-param was written.
#[track_caller]
pub fn strings_outcome(
    status: ctrd_status,
    names: *mut *mut c_char,
    len: usize,
) -> Result<Vec<String>, Failure> {
    if status != ctrd_status::CTRD_OK {
        assert!(
            names.is_null() && len == usize::MAX,
            "out written on failure"
        );
        return Err((status, last_error()));
    }
    assert!(len == 0 || !names.is_null());
    let out = (0..len)
        .map(|i| {
            // SAFETY: an array of `len` C strings from the library.
            unsafe { CStr::from_ptr(*names.add(i)) }
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ctrd_string_array_free(names, len);
    Ok(out)
}

/// Connects a client, panicking on failure.
pub fn connect(address: &str, ns: &str) -> *mut ctrd_client {
    let mut client = std::ptr::null_mut();
    check(
        ctrd_client_connect(c(address).as_ptr(), c(ns).as_ptr(), &mut client),
        ctrd_status::CTRD_OK,
    );
    assert!(!client.is_null());
    client
}

/// The daemon's version through the C API.
pub fn server_version(client: *mut ctrd_client) -> Result<(String, String), (ctrd_status, String)> {
    let (mut v, mut r) = (std::ptr::null_mut(), std::ptr::null_mut());
    match ctrd_client_server_version(client, &mut v, &mut r) {
        ctrd_status::CTRD_OK => Ok((take_string(v), take_string(r))),
        s => {
            assert!(v.is_null() && r.is_null(), "out-params written on failure");
            Err((s, last_error()))
        }
    }
}

/// A unique namespace on the shared daemon with the test image imported, and
/// a client for it. `assert_clean` checks that nothing was left behind.
pub struct Ns {
    pub daemon: &'static Daemon,
    pub name: String,
    pub client: *mut ctrd_client,
    pub snapshots_before: Vec<String>,
}

impl Ns {
    pub fn new(test: &str) -> Ns {
        let daemon = Daemon::shared();
        let name = format!("{test}-{}", std::process::id());
        daemon.import_image(&name);
        let client = connect(&daemon.address(), &name);
        let mut ns = Ns {
            daemon,
            name,
            client,
            snapshots_before: Vec::new(),
        };
        ns.snapshots_before = ns.snapshot_keys();
        ns
    }

    /// A unique namespace on the shared daemon with no image in it.
    pub fn bare(test: &str) -> Ns {
        let daemon = Daemon::shared();
        let name = format!("{test}-{}", std::process::id());
        let client = connect(&daemon.address(), &name);
        let mut ns = Ns {
            daemon,
            name,
            client,
            snapshots_before: Vec::new(),
        };
        ns.snapshots_before = ns.snapshot_keys();
        ns
    }

    pub fn ctr(&self) -> Command {
        self.daemon.ctr(&self.name)
    }

    /// Keys of every snapshot of the overlayfs snapshotter in this namespace.
    pub fn snapshot_keys(&self) -> Vec<String> {
        let out = run(self
            .ctr()
            .args(["snapshots", "--snapshotter", "overlayfs", "ls"]));
        let mut keys: Vec<String> = out
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect();
        keys.sort();
        keys
    }

    pub fn lease_ids(&self) -> Vec<String> {
        run(self.ctr().args(["leases", "ls", "-q"]))
            .lines()
            .map(str::to_string)
            .collect()
    }

    pub fn container_ids(&self) -> Vec<String> {
        run(self.ctr().args(["containers", "ls", "-q"]))
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// No containers, no leases, no snapshots but the image's own.
    pub fn assert_clean(&self) {
        assert_eq!(
            self.container_ids(),
            Vec::<String>::new(),
            "containers left"
        );
        assert_eq!(self.lease_ids(), Vec::<String>::new(), "leases left");
        assert_eq!(
            self.snapshot_keys(),
            self.snapshots_before,
            "snapshots left"
        );
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        ctrd_client_free(self.client);
    }
}

/// Runs `ctr` (a `ctr ... run --rm IMAGE ID` command, without the command
/// to run) with `sh -c "SCRIPT && exit 7"` and asserts that it exits with 7:
/// the script checks inside the container and the exit status tells, since
/// ctr 1.6 under load sometimes loses a `run --rm`'s output, never its exit
/// status.
#[track_caller]
pub fn ctr_run_check(ctr: &mut Command, script: &str) {
    let out = ctr
        .args(["sh", "-c", &format!("{script} && exit 7")])
        .output()
        .unwrap_or_else(|e| panic!("running ctr: {e}"));
    assert_eq!(
        out.status.code(),
        Some(7),
        "in the container, {script:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A spec for container `id` from the test image, running `argv`.
pub fn spec_for(client: *mut ctrd_client, id: &str, argv: &[&str]) -> String {
    spec_for_image(client, id, IMAGE, argv)
}

/// A spec for container `id` from image `image`, running `argv`.
pub fn spec_for_image(client: *mut ctrd_client, id: &str, image: &str, argv: &[&str]) -> String {
    let argv_c: Vec<CString> = argv.iter().map(|s| c(s)).collect();
    let mut argv_p: Vec<*const c_char> = argv_c.iter().map(|s| s.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut json = std::ptr::null_mut();
    check(
        ctrd_spec_generate(
            client,
            c(id).as_ptr(),
            c(image).as_ptr(),
            argv_p.as_ptr(),
            &mut json,
        ),
        ctrd_status::CTRD_OK,
    );
    take_string(json)
}

/// Makes container `id` from the test image with an already made spec (see
/// [`spec_for`]), on its own rootfs snapshot, through `client`.
pub fn container_with_spec(client: *mut ctrd_client, id: &str, spec: &str) -> *mut ctrd_container {
    container_of_image(client, id, IMAGE, spec)
}

/// Makes container `id` from image `image` with the spec `spec`, on its own
/// rootfs snapshot of the image, through `client`.
pub fn container_of_image(
    client: *mut ctrd_client,
    id: &str,
    image: &str,
    spec: &str,
) -> *mut ctrd_container {
    check(
        ctrd_snapshot_prepare_from_image(
            client,
            c(image).as_ptr(),
            std::ptr::null(),
            c(id).as_ptr(),
        ),
        ctrd_status::CTRD_OK,
    );
    let (idc, specc, imagec) = (c(id), c(spec), c(image));
    let opts = ctrd_container_opts {
        struct_size: std::mem::size_of::<ctrd_container_opts>(),
        id: idc.as_ptr(),
        spec_json: specc.as_ptr(),
        image: imagec.as_ptr(),
        snapshotter: std::ptr::null(),
        snapshot_key: idc.as_ptr(),
        runtime: std::ptr::null(),
        labels: std::ptr::null(),
        runtime_options_json: std::ptr::null(),
    };
    let mut k = std::ptr::null_mut();
    check(
        ctrd_container_create(client, &opts, &mut k),
        ctrd_status::CTRD_OK,
    );
    k
}

/// Makes container `id` running `argv` from the test image, through `client`.
pub fn container_via(client: *mut ctrd_client, id: &str, argv: &[&str]) -> *mut ctrd_container {
    let spec = spec_for(client, id, argv);
    container_with_spec(client, id, &spec)
}

/// Makes container `id` running `argv` from the test image in `ns`.
pub fn container(ns: &Ns, id: &str, argv: &[&str]) -> *mut ctrd_container {
    container_via(ns.client, id, argv)
}

/// Deletes and frees a container (its task must be gone).
pub fn remove_container(k: *mut ctrd_container) {
    check(ctrd_container_delete(k, 0), ctrd_status::CTRD_OK);
    ctrd_container_free(k);
}

/// A private registry (Debian's docker-registry) on 127.0.0.1 with basic auth,
/// over plain HTTP or TLS from a throwaway CA, started by
/// `scripts/registry.sh`, with the test images of `scripts/make-images.sh`
/// pushed (`ctrd/busybox`, `ctrd/multi`, `ctrd/layers`, all `:latest`).
/// `Registry::start` gives one the test owns (stopped on drop);
/// `Registry::shared` one per test binary and mode, which a watchdog stops
/// when the binary exits. Other modes of `registry.sh`: a token server
/// instead of basic auth (`--token`: [`Registry::issuer_log`]), blobs
/// redirected to a file server (`--redirect`: [`Registry::storage_log`]).
pub struct Registry {
    pub dir: PathBuf,
    host: String,
    tls: bool,
    owned: bool,
}

impl Registry {
    /// `flags`: registry.sh's "--tls", "--mtls", "--token", "--redirect".
    fn launch(flags: &[&str], owned: bool) -> Registry {
        let tls = flags.iter().any(|f| *f == "--tls" || *f == "--mtls");
        let dir = tempfile::Builder::new()
            .prefix("ctrd-registry-")
            .tempdir_in("/tmp")
            .expect("temp dir")
            .keep();
        let mut cmd = Command::new(script("registry.sh"));
        cmd.arg("start").arg(&dir);
        cmd.args(flags);
        cmd.arg("--owner-pid").arg(std::process::id().to_string());
        let out = run(&mut cmd);
        let host = out.lines().last().expect("HOST:PORT").trim().to_string();
        let reg = Registry {
            dir,
            host,
            tls,
            owned,
        };
        reg.push_images();
        reg
    }

    /// Pushes the test images through a containerd of its own (stopped at
    /// once), so no daemon of the tests holds their blobs beforehand.
    fn push_images(&self) {
        // Own archives per registry: registries may start in parallel.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = repo().join("target").join("registry-images");
        // Archives a killed test binary left behind (PID-N, PID gone).
        for e in std::fs::read_dir(&base).into_iter().flatten().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some((pid, _)) = name.split_once('-') {
                if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let images = base.join(format!("{}-{n}", std::process::id()));
        let daemon = Daemon::start();
        run(Command::new(script("push-test-images.sh"))
            .arg(&daemon.socket)
            .arg(&self.dir)
            .arg(&images));
        drop(daemon);
        let _ = std::fs::remove_dir_all(&images);
    }

    /// A registry for this test alone, images pushed.
    pub fn start(tls: bool) -> Registry {
        Self::launch(if tls { &["--tls"] } else { &[] }, true)
    }

    /// A registry of `registry.sh`'s `flags` for this test alone, images
    /// pushed.
    pub fn start_with(flags: &[&str]) -> Registry {
        Self::launch(flags, true)
    }

    /// A TLS registry for this test alone that wants a client certificate
    /// ([`Registry::client_cert`]), images pushed; its
    /// [`Registry::hosts_dir`] names the certificate.
    pub fn start_mtls() -> Registry {
        Self::launch(&["--mtls"], true)
    }

    /// The client certificate and key an mTLS registry takes.
    pub fn client_cert(&self) -> (PathBuf, PathBuf) {
        (self.dir.join("client.pem"), self.dir.join("client.key"))
    }

    /// The registry (plain HTTP or TLS) shared by every test of this binary.
    pub fn shared(tls: bool) -> &'static Registry {
        static PLAIN: OnceLock<Registry> = OnceLock::new();
        static TLS: OnceLock<Registry> = OnceLock::new();
        if tls { &TLS } else { &PLAIN }
            .get_or_init(|| Self::launch(if tls { &["--tls"] } else { &[] }, false))
    }

    /// The plain HTTP registry with a token server (`--token`) shared by
    /// every test of this binary.
    pub fn shared_token() -> &'static Registry {
        static TOKEN: OnceLock<Registry> = OnceLock::new();
        TOKEN.get_or_init(|| Self::launch(&["--token"], false))
    }

    /// The requests a `--token` registry's token server answered, as JSON
    /// objects (method, path, headers, status, user, scopes, granted).
    pub fn issuer_log(&self) -> Vec<serde_json::Value> {
        json_lines(&self.dir.join("issuer.log"))
    }

    /// The requests a `--redirect` registry's file server answered, as
    /// JSON objects (method, path, headers, status).
    pub fn storage_log(&self) -> Vec<serde_json::Value> {
        json_lines(&self.dir.join("storage.log"))
    }

    /// The user of a `--token` registry whose tokens allow pulls only.
    pub fn read_only_user(&self) -> &str {
        "ctrd-ro"
    }

    /// The user of a `--token` registry whose tokens the registry takes
    /// for `CTRD_TOKEN_BRIEF` seconds (4), while the token server says 60.
    pub fn brief_user(&self) -> &str {
        "ctrd-brief"
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn user(&self) -> &str {
        "ctrd"
    }

    pub fn password(&self) -> &str {
        "ctrd-secret"
    }

    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The CA that signed the server's certificate (TLS only).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.then(|| self.dir.join("ca.pem"))
    }

    /// A `ctr --hosts-dir` for this registry (https + CA with TLS).
    pub fn hosts_dir(&self) -> PathBuf {
        self.dir.join("hosts.d")
    }

    /// `HOST:PORT/ctrd/NAME` (NAME may carry a tag or digest).
    pub fn reference(&self, name: &str) -> String {
        format!("{}/ctrd/{name}", self.host)
    }

    /// The `ctr images pull/push` options to reach this registry with `user`
    /// and `password`: `--plain-http`, or `--hosts-dir` with the CA for TLS.
    pub fn ctr_args_as(&self, user: &str, password: &str) -> Vec<String> {
        let mut v = vec!["--user".to_string(), format!("{user}:{password}")];
        if self.tls {
            v.push("--hosts-dir".into());
            v.push(self.hosts_dir().to_str().unwrap().into());
        } else {
            v.push("--plain-http".into());
        }
        v
    }

    /// [`Registry::ctr_args_as`] with the right credentials.
    pub fn ctr_args(&self) -> Vec<String> {
        self.ctr_args_as(self.user(), self.password())
    }

    /// The registry's PID (None once stopped).
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.dir.join("registry.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if self.owned {
            let _ = Command::new(script("registry.sh"))
                .arg("stop")
                .arg(&self.dir)
                .status();
        }
    }
}

/// The JSON objects of a file of JSON lines (none when it is missing).
fn json_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

// ---------------------------------------------------------------------------
// Fake daemons on a temporary unix socket (fault injection), and C arrays.

/// A socket path in a fresh temporary directory (short: unix paths are).
pub fn temp_socket() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("ctrd-fake-")
        .tempdir_in("/tmp")
        .unwrap();
    let path = dir.path().join("s.sock");
    (dir, path)
}

/// A tonic server on its own runtime: dropping the runtime (`kill`) drops
/// every connection at once, as a daemon that dies does.
pub struct FakeServer {
    rt: Option<tokio::runtime::Runtime>,
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl FakeServer {
    pub fn start<S>(svc: S) -> FakeServer
    where
        S: tower::Service<
                tonic::codegen::http::Request<tonic::body::Body>,
                Response = tonic::codegen::http::Response<tonic::body::Body>,
                Error = std::convert::Infallible,
            > + Clone
            + Send
            + 'static,
        S::Future: Send,
    {
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
        rt.spawn(async move {
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            let _ = tonic::transport::Server::builder()
                .serve_with_incoming(svc, incoming)
                .await;
        });
        FakeServer {
            rt: Some(rt),
            path,
            _dir: dir,
        }
    }

    pub fn address(&self) -> String {
        self.path.to_str().unwrap().to_string()
    }

    /// A client of this server in namespace "default".
    pub fn client(&self) -> *mut ctrd_client {
        connect(&self.address(), "default")
    }

    /// Drops every connection and stops listening.
    pub fn kill(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A NULL-terminated array of C strings, kept alive with its strings.
pub struct CArray {
    _items: Vec<CString>,
    ptrs: Vec<*const c_char>,
}

impl CArray {
    pub fn new(items: &[&str]) -> CArray {
        let items: Vec<CString> = items.iter().map(|s| c(s)).collect();
        let ptrs = items
            .iter()
            .map(|s| s.as_ptr())
            .chain([std::ptr::null()])
            .collect();
        CArray {
            _items: items,
            ptrs,
        }
    }

    pub fn as_ptr(&self) -> *const *const c_char {
        self.ptrs.as_ptr()
    }
}
