//! `ctrd_container_commit` against the real private containerd: a running
//! task's file committed (paused for the diff, as the daemon's events show,
//! and running after it), read back by a new container and by `ctr run`;
//! the config's one more diff id and history entry; a Docker image's
//! commit a Docker manifest throughout; an exited task; no
//! pause with `CTRD_COMMIT_NO_PAUSE`; an existing name, a container without
//! an image or snapshot, a snapshot gone, and failures made by test hooks
//! while the task is paused and at the very end leave nothing (snapshots,
//! content, leases, records counted before and after) and the task
//! running; bad input.

mod common;

use std::ffi::{c_char, c_void, CStr};
use std::path::Path;
use std::ptr::{null, null_mut};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use common::*;
use containerd_c::core::task::commit::{test_hooks, Step};
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::ctrd_task_state::*;
use containerd_c::ffi::*;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(30);

fn commit(k: *mut ctrd_container, name: &str, flags: u32) -> Result<*mut ctrd_image, Failure> {
    let mut out = null_mut();
    outcome(
        ctrd_container_commit(k, c(name).as_ptr(), flags, &mut out),
        out,
    )
}

/// Starts a task of `k` with stdout to `stdout` (stdin and stderr none).
fn start_task(k: *mut ctrd_container, stdout: &Path) -> *mut ctrd_task {
    std::fs::write(stdout, b"").unwrap();
    let out = c(stdout.to_str().unwrap());
    let io = ctrd_io {
        stdin_path: null(),
        stdout_path: out.as_ptr(),
        stderr_path: null(),
        terminal: false,
    };
    let mut t = null_mut();
    check(ctrd_container_new_task(k, &io, &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    t
}

/// Waits until file `path` holds `text` (the task's output said so).
#[track_caller]
fn wait_for_output(path: &Path, text: &str) {
    let end = Instant::now() + WAIT;
    loop {
        let now = std::fs::read_to_string(path).unwrap_or_default();
        if now.contains(text) {
            return;
        }
        assert!(Instant::now() < end, "no {text:?} in {path:?}: {now:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn state(t: *mut ctrd_task) -> ctrd_task_state {
    let mut s = CTRD_TASK_UNKNOWN;
    check(ctrd_task_status(t, &mut s, null_mut()), CTRD_OK);
    s
}

/// Kills (if running), deletes and frees a task.
fn end_task(t: *mut ctrd_task) {
    let mut code = 0;
    check(
        ctrd_task_delete(t, CTRD_TASK_DELETE_FORCE, &mut code),
        CTRD_OK,
    );
    ctrd_task_free(t);
}

/// A container of `image` running `argv` (its own snapshot).
fn container_running(ns: &Ns, id: &str, image: &str, argv: &[&str]) -> *mut ctrd_container {
    let spec = spec_for_image(ns.client, id, image, argv);
    container_of_image(ns.client, id, image, &spec)
}

fn config_of(i: *mut ctrd_image) -> Value {
    let mut json = null_mut();
    check(ctrd_image_config_json(i, &mut json), CTRD_OK);
    serde_json::from_str(&take_string(json)).unwrap()
}

fn config_of_name(ns: &Ns, name: &str) -> Value {
    let mut i = null_mut();
    check(ctrd_image_get(ns.client, c(name).as_ptr(), &mut i), CTRD_OK);
    let config = config_of(i);
    ctrd_image_free(i);
    config
}

fn list_len(v: &Value, pointer: &str) -> usize {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}

fn name_of(i: *mut ctrd_image) -> String {
    // SAFETY: a string borrowed from a live handle, copied at once.
    unsafe { CStr::from_ptr(ctrd_image_name(i)) }
        .to_str()
        .unwrap()
        .to_string()
}

/// Runs the daemon's garbage collector and returns when it is done (the
/// synchronous delete of a throwaway name of the test image), so that what
/// an import left unreferenced is gone before holdings are counted.
fn collect_garbage(ns: &Ns) {
    let name = c("docker.io/library/commit-gc:1");
    check(
        ctrd_image_tag(ns.client, c(IMAGE).as_ptr(), name.as_ptr(), 0),
        CTRD_OK,
    );
    check(
        ctrd_image_delete(ns.client, name.as_ptr(), CTRD_IMAGE_DELETE_SYNC),
        CTRD_OK,
    );
}

/// What a namespace holds, to compare before and after a failed commit.
#[derive(Debug, PartialEq)]
struct Holdings {
    snapshots: Vec<String>,
    content: Vec<String>,
    images: Vec<String>,
    leases: Vec<String>,
}

fn holdings(ns: &Ns) -> Holdings {
    let sorted = |out: String| {
        let mut v: Vec<String> = out.lines().map(str::to_string).collect();
        v.sort();
        v
    };
    Holdings {
        snapshots: ns.snapshot_keys(),
        content: sorted(run(ns.ctr().args(["content", "ls", "-q"]))),
        images: sorted(run(ns.ctr().args(["images", "ls", "-q"]))),
        leases: ns.lease_ids(),
    }
}

/// Runs `sh -c SCRIPT` in a new container of `image` made through the C
/// API; returns its stdout.
fn read_back(ns: &Ns, id: &str, image: &str, script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let k = container_running(ns, id, image, &["sh", "-c", script]);
    let t = start_task(k, &out);
    let mut code = u32::MAX;
    check(ctrd_task_wait(t, 30_000, &mut code), CTRD_OK);
    assert_eq!(code, 0, "{script}");
    end_task(t);
    remove_container(k);
    std::fs::read_to_string(out).unwrap()
}

/// Task events of one namespace, as the daemon publishes them.
#[derive(Default)]
struct Events {
    seen: Mutex<Vec<(String, Value)>>,
    cv: Condvar,
}

/// # Safety
/// Called by the library with an `Events` as user data and C strings.
unsafe extern "C-unwind" fn collect(
    user: *mut c_void,
    topic: *const c_char,
    _ns: *const c_char,
    json: *const c_char,
) {
    // SAFETY: user data is a live `Events`; the strings are valid during the call.
    let (events, topic, json) = unsafe {
        (
            &*(user as *const Events),
            CStr::from_ptr(topic).to_str().unwrap().to_string(),
            CStr::from_ptr(json).to_str().unwrap().to_string(),
        )
    };
    let json = serde_json::from_str(&json).unwrap();
    events.seen.lock().unwrap().push((topic, json));
    events.cv.notify_all();
}

impl Events {
    fn subscribe(&self, ns: &Ns) -> *mut ctrd_subscription {
        let filters = [
            c(&format!("namespace=={}", ns.name)),
            c("topic~=\"^/tasks/\""),
        ];
        let ptrs: Vec<*const c_char> = filters.iter().map(|f| f.as_ptr()).chain([null()]).collect();
        let mut s = null_mut();
        let user = self as *const Events as *mut c_void;
        outcome(
            ctrd_events_subscribe(ns.client, ptrs.as_ptr(), Some(collect), user, &mut s),
            s,
        )
        .unwrap()
    }

    /// The topics of container `id`'s events so far.
    fn topics(&self, id: &str) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, j)| j["containerId"] == id)
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// Waits until container `id` has had `n` events of `topic`; returns
    /// its topics then.
    #[track_caller]
    fn wait_for(&self, id: &str, topic: &str, n: usize) -> Vec<String> {
        let end = Instant::now() + WAIT;
        let mut seen = self.seen.lock().unwrap();
        loop {
            let count = seen
                .iter()
                .filter(|(t, j)| t == topic && j["containerId"] == id)
                .count();
            if count >= n {
                drop(seen);
                return self.topics(id);
            }
            let now = Instant::now();
            assert!(now < end, "no {n} {topic} of {id}: {:?}", *seen);
            seen = self.cv.wait_timeout(seen, end - now).unwrap().0;
        }
    }
}

#[test]
fn a_running_task_is_paused_and_its_file_committed() {
    let ns = Ns::new("commit-run");
    let events = Events::default();
    let sub = events.subscribe(&ns);
    let base = config_of_name(&ns, IMAGE);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let k = container_running(
        &ns,
        "c1",
        IMAGE,
        &[
            "sh",
            "-c",
            "echo hi > /committed && echo ready && sleep 1000",
        ],
    );
    let t = start_task(k, &out);
    wait_for_output(&out, "ready");

    let name = "docker.io/library/committed:1";
    let i = commit(k, name, 0).unwrap();
    assert_eq!(name_of(i), name);
    // Paused for the diff, then resumed: running again.
    assert_eq!(state(t), CTRD_TASK_RUNNING);
    let topics = events.wait_for("c1", "/tasks/resumed", 1);
    let paused = topics.iter().position(|t| t == "/tasks/paused");
    let resumed = topics.iter().position(|t| t == "/tasks/resumed");
    assert!(paused.is_some() && paused < resumed, "{topics:?}");

    // One more diff id and history entry; the rest as the base's.
    let config = config_of(i);
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids.len(), list_len(&base, "/rootfs/diff_ids") + 1);
    assert_eq!(
        diff_ids[..diff_ids.len() - 1],
        base["rootfs"]["diff_ids"].as_array().unwrap()[..]
    );
    assert_eq!(
        list_len(&config, "/history"),
        list_len(&base, "/history") + 1
    );
    let entry = config["history"].as_array().unwrap().last().unwrap();
    assert_eq!(entry["created_by"], "containerd-c commit");
    assert_eq!(entry["created"], config["created"]);
    for key in ["architecture", "os", "config"] {
        assert_eq!(config[key], base[key], "{key}");
    }
    // Unpacked on the container's snapshotter, as ctr sees it.
    let mut unpacked = false;
    check(ctrd_image_is_unpacked(i, null(), &mut unpacked), CTRD_OK);
    assert!(unpacked);
    let ls = run(ns.ctr().args(["images", "ls", "-q"]));
    assert!(ls.lines().any(|l| l == name), "{ls}");
    let check_out = run(ns.ctr().args(["images", "check"]));
    let row = check_out.lines().find(|l| l.starts_with(name)).unwrap();
    assert!(row.contains("complete"), "{check_out}");
    ctrd_image_free(i);

    // The file is in the image: for a container of it and for ctr run.
    assert_eq!(read_back(&ns, "c2", name, "cat /committed"), "hi\n");
    ctr_run_check(
        ns.ctr().args(["run", "--rm", name, "ctr-c3"]),
        "test \"$(cat /committed)\" = hi",
    );

    end_task(t);
    remove_container(k);
    ctrd_subscription_free(sub);
    check(
        ctrd_image_delete(ns.client, c(name).as_ptr(), CTRD_IMAGE_DELETE_SYNC),
        CTRD_OK,
    );
    ns.assert_clean();
}

#[test]
fn an_exited_task_or_none_and_no_pause() {
    let ns = Ns::new("commit-exited");
    let events = Events::default();
    let sub = events.subscribe(&ns);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");

    // A task that exited (not deleted): nothing to pause.
    let k = container_running(&ns, "e1", IMAGE, &["sh", "-c", "echo bye > /exited"]);
    let t = start_task(k, &out);
    let mut code = u32::MAX;
    check(ctrd_task_wait(t, 30_000, &mut code), CTRD_OK);
    assert_eq!(code, 0);
    let exited = "docker.io/library/committed:exited";
    ctrd_image_free(commit(k, exited, 0).unwrap());
    assert_eq!(state(t), CTRD_TASK_STOPPED);
    end_task(t);
    // No task at all (no changes: an empty layer), on top of the committed
    // image: two layers more than the test image.
    let k2 = container_running(&ns, "e2", exited, &["true"]);
    let again = "docker.io/library/committed:again";
    let i = commit(k2, again, 0).unwrap();
    let base = config_of_name(&ns, IMAGE);
    assert_eq!(
        list_len(&config_of(i), "/rootfs/diff_ids"),
        list_len(&base, "/rootfs/diff_ids") + 2
    );
    ctrd_image_free(i);
    assert_eq!(read_back(&ns, "e3", again, "cat /exited"), "bye\n");
    remove_container(k2);
    remove_container(k);

    // NO_PAUSE: a running task is left running; the only pause it sees is
    // the one made here afterwards.
    let k = container_running(
        &ns,
        "n1",
        IMAGE,
        &["sh", "-c", "echo np > /nopause && echo ready && sleep 1000"],
    );
    let t = start_task(k, &out);
    wait_for_output(&out, "ready");
    let nopause = "docker.io/library/committed:nopause";
    ctrd_image_free(commit(k, nopause, CTRD_COMMIT_NO_PAUSE).unwrap());
    assert_eq!(state(t), CTRD_TASK_RUNNING);
    check(ctrd_task_pause(t), CTRD_OK);
    // A task paused already stays paused through a commit.
    let paused_commit = "docker.io/library/committed:paused";
    ctrd_image_free(commit(k, paused_commit, 0).unwrap());
    assert_eq!(state(t), CTRD_TASK_PAUSED);
    check(ctrd_task_resume(t), CTRD_OK);
    let topics = events.wait_for("n1", "/tasks/resumed", 1);
    let count = |topic: &str| topics.iter().filter(|t| *t == topic).count();
    assert_eq!(
        (count("/tasks/paused"), count("/tasks/resumed")),
        (1, 1),
        "{topics:?}"
    );
    assert_eq!(read_back(&ns, "n2", nopause, "cat /nopause"), "np\n");
    end_task(t);
    remove_container(k);

    ctrd_subscription_free(sub);
    for name in [exited, again, nopause, paused_commit] {
        check(
            ctrd_image_delete(ns.client, c(name).as_ptr(), CTRD_IMAGE_DELETE_SYNC),
            CTRD_OK,
        );
    }
    ns.assert_clean();
}

/// The test image as a `docker save` archive (Docker schema2 once
/// imported), named `name`.
fn docker_archive(path: &Path, name: &str) {
    let blob = |digest: &str| {
        let out = std::process::Command::new("tar")
            .arg("-xOf")
            .arg(image_tar())
            .arg(format!("blobs/sha256/{}", &digest[7..]))
            .output()
            .unwrap();
        assert!(out.status.success(), "tar: {out:?}");
        out.stdout
    };
    let index: Value = serde_json::from_str(&run(std::process::Command::new("tar")
        .arg("-xOf")
        .arg(image_tar())
        .arg("index.json")))
    .unwrap();
    let manifest: Value =
        serde_json::from_slice(&blob(index["manifests"][0]["digest"].as_str().unwrap())).unwrap();
    let config = manifest["config"]["digest"].as_str().unwrap();
    let layer = manifest["layers"][0]["digest"].as_str().unwrap();
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |file: &str, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, file, data).unwrap();
    };
    add("config.json", &blob(config));
    add("l/layer.tar", &blob(layer));
    let list = serde_json::json!([
        {"Config": "config.json", "RepoTags": [name], "Layers": ["l/layer.tar"]}
    ]);
    add("manifest.json", list.to_string().as_bytes());
    b.into_inner().unwrap();
}

#[test]
fn a_docker_image_gives_a_docker_manifest() {
    let ns = Ns::bare("commit-docker");
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("docker.tar");
    let base = "docker.io/library/ctrd-commit-docker:v1";
    docker_archive(&archive, base);
    run(ns
        .ctr()
        .args(["images", "import", "--snapshotter", "overlayfs"])
        .arg(&archive));
    let k = container_running(&ns, "d1", base, &["sh", "-c", "echo d > /d"]);
    let t = start_task(k, &dir.path().join("out"));
    let mut code = u32::MAX;
    check(ctrd_task_wait(t, 30_000, &mut code), CTRD_OK);
    assert_eq!(code, 0);
    let name = "docker.io/library/committed:docker";
    let i = commit(k, name, 0).unwrap();
    end_task(t);
    remove_container(k);

    // As ctr reads it: a Docker manifest of Docker media types throughout.
    // SAFETY: a string borrowed from a live handle, copied at once.
    let digest = unsafe { CStr::from_ptr(ctrd_image_digest(i)) }
        .to_str()
        .unwrap()
        .to_string();
    ctrd_image_free(i);
    let manifest: Value =
        serde_json::from_str(&run(ns.ctr().args(["content", "get", &digest]))).unwrap();
    let docker_layer = "application/vnd.docker.image.rootfs.diff.tar.gzip";
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.docker.container.image.v1+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    assert!(
        layers.iter().all(|l| l["mediaType"] == docker_layer),
        "{manifest}"
    );
    ctr_run_check(
        ns.ctr().args(["run", "--rm", name, "ctr-d2"]),
        "test \"$(cat /d)\" = d",
    );
    for name in [name, base] {
        check(
            ctrd_image_delete(ns.client, c(name).as_ptr(), CTRD_IMAGE_DELETE_SYNC),
            CTRD_OK,
        );
    }
    ns.assert_clean();
}

#[test]
fn failures_leave_nothing_behind() {
    let ns = Ns::new("commit-fail");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let k = container_running(
        &ns,
        "f1",
        IMAGE,
        &["sh", "-c", "echo x > /x && echo ready && sleep 1000"],
    );
    let t = start_task(k, &out);
    wait_for_output(&out, "ready");
    collect_garbage(&ns);
    let before = holdings(&ns);

    // An existing name: ALREADY_EXISTS, nothing made, the task untouched.
    let (status, msg) = commit(k, IMAGE, 0).unwrap_err();
    assert_eq!(status, CTRD_ERR_ALREADY_EXISTS, "{msg}");
    assert_eq!(
        msg,
        format!(
            "ctrd_container_commit: commit container \"f1\" in namespace \"{ns}\" as image \
             \"{IMAGE}\": image \"{IMAGE}\" in namespace \"{ns}\" already exists",
            ns = ns.name
        )
    );
    assert_eq!(holdings(&ns), before);
    assert_eq!(state(t), CTRD_TASK_RUNNING);

    // Failures on the way (test hooks): with the task paused, right after
    // the diff; and at the very end, the image written and unpacked but its
    // record not made. The task is running again; the layer, config,
    // manifest, unpacked snapshot and lease are gone.
    for step in [Step::AfterDiff, Step::BeforeRecord] {
        let name = format!("docker.io/library/failed:{step:?}");
        test_hooks::fail_commit(&name, step);
        let (status, msg) = commit(k, &name, 0).unwrap_err();
        assert_eq!(status, CTRD_ERR_INTERNAL, "{msg}");
        assert_eq!(
            msg,
            format!(
                "ctrd_container_commit: commit container \"f1\" in namespace \"{}\" as image \
                 \"{name}\": test hook: commit failed at {step:?}",
                ns.name
            )
        );
        assert_eq!(state(t), CTRD_TASK_RUNNING, "{step:?}");
        assert_eq!(holdings(&ns), before, "{step:?}");
    }
    // The same without pausing, then a commit that works: nothing was in
    // its way.
    let name = "docker.io/library/failed:nopause";
    test_hooks::fail_commit(name, Step::AfterDiff);
    assert_eq!(
        commit(k, name, CTRD_COMMIT_NO_PAUSE).unwrap_err().0,
        CTRD_ERR_INTERNAL
    );
    assert_eq!(holdings(&ns), before);
    ctrd_image_free(commit(k, name, 0).unwrap());
    assert_eq!(read_back(&ns, "f4", name, "cat /x"), "x\n");
    check(
        ctrd_image_delete(ns.client, c(name).as_ptr(), CTRD_IMAGE_DELETE_SYNC),
        CTRD_OK,
    );
    assert_eq!(holdings(&ns), before);

    // No image recorded on the container, or no snapshot.
    let spec = spec_for(ns.client, "f2", &["true"]);
    let (id, specc) = (c("f2"), c(&spec));
    let mut opts = ctrd_container_opts_default_for_test();
    opts.id = id.as_ptr();
    opts.spec_json = specc.as_ptr();
    let mut bare = null_mut();
    check(ctrd_container_create(ns.client, &opts, &mut bare), CTRD_OK);
    let (status, msg) = commit(bare, "docker.io/library/x:1", 0).unwrap_err();
    assert_eq!(status, CTRD_ERR_FAILED_PRECONDITION, "{msg}");
    assert!(
        msg.ends_with(
            "the container has no image (a commit adds a layer to the container's image)"
        ),
        "{msg}"
    );
    remove_container(bare);
    let image = c(IMAGE);
    opts.image = image.as_ptr();
    let mut bare = null_mut();
    check(ctrd_container_create(ns.client, &opts, &mut bare), CTRD_OK);
    let (status, msg) = commit(bare, "docker.io/library/x:1", 0).unwrap_err();
    assert_eq!(status, CTRD_ERR_FAILED_PRECONDITION, "{msg}");
    assert!(msg.contains("the container has no snapshot"), "{msg}");
    remove_container(bare);
    // A snapshot removed behind the container's back.
    let gone = container_running(&ns, "f3", IMAGE, &["true"]);
    run(ns.ctr().args(["snapshots", "rm", "f3"]));
    let (status, msg) = commit(gone, "docker.io/library/x:1", 0).unwrap_err();
    assert_eq!(status, CTRD_ERR_FAILED_PRECONDITION, "{msg}");
    assert!(
        msg.ends_with("the container's snapshot \"f3\" on \"overlayfs\" is gone"),
        "{msg}"
    );
    remove_container(gone);
    assert_eq!(holdings(&ns), before);

    // Bad input, named.
    let mut img = null_mut();
    let refused = |status: ctrd_status, msg: &str| {
        assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
        assert_eq!(last_error(), msg);
    };
    let x = c("x");
    refused(
        ctrd_container_commit(null_mut(), x.as_ptr(), 0, &mut img),
        "ctrd_container_commit: container is NULL",
    );
    refused(
        ctrd_container_commit(k, null(), 0, &mut img),
        "ctrd_container_commit: image_name is NULL",
    );
    refused(
        ctrd_container_commit(k, c("").as_ptr(), 0, &mut img),
        "ctrd_container_commit: image_name is empty",
    );
    refused(
        ctrd_container_commit(k, x.as_ptr(), 0, null_mut()),
        "ctrd_container_commit: out is NULL",
    );
    refused(
        ctrd_container_commit(k, x.as_ptr(), 6, &mut img),
        "ctrd_container_commit: unknown flags 0x6",
    );
    assert!(img.is_null());
    // A name longer than the daemon takes: refused before anything is made.
    let huge = format!("docker.io/library/{}", "x".repeat(16 << 20));
    let (status, msg) = commit(k, &huge, 0).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT);
    assert!(
        msg.contains("over containerd's 16 MiB message limit"),
        "{}",
        &msg[..msg.len().min(300)]
    );
    let bad = std::ffi::CString::new(vec![b'x', 0xff]).unwrap();
    check(
        ctrd_container_commit(k, bad.as_ptr(), 0, &mut img),
        CTRD_ERR_INVALID_ARGUMENT,
    );
    assert!(last_error().contains("image_name"), "{}", last_error());
    assert_eq!(holdings(&ns), before);

    end_task(t);
    remove_container(k);
    ns.assert_clean();
}

/// `ctrd_container_opts` with `struct_size` set and every other field NULL.
fn ctrd_container_opts_default_for_test() -> ctrd_container_opts {
    ctrd_container_opts {
        struct_size: std::mem::size_of::<ctrd_container_opts>(),
        id: null(),
        spec_json: null(),
        image: null(),
        snapshotter: null(),
        snapshot_key: null(),
        runtime: null(),
        labels: null(),
        runtime_options_json: null(),
    }
}
