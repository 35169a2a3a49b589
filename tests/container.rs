//! Containers against the real private containerd: create, load, list, spec,
//! delete with snapshot cleanup, rootfs from the test image, default specs,
//! interop with ctr both ways, and a table of bad inputs.

mod common;

use std::ffi::{c_char, CString};
use std::ptr::{null, null_mut};

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use serde_json::Value;

/// Owned strings behind a `ctrd_container_opts`.
#[derive(Default)]
struct Opts {
    id: Option<CString>,
    spec: Option<CString>,
    image: Option<CString>,
    snapshotter: Option<CString>,
    snapshot_key: Option<CString>,
    runtime: Option<CString>,
    labels: Option<Vec<CString>>,
    label_ptrs: Vec<*const c_char>,
}

fn opt(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(null(), |s| s.as_ptr())
}

impl Opts {
    fn new(id: &str, spec: &str) -> Opts {
        Opts {
            id: Some(c(id)),
            spec: Some(c(spec)),
            ..Default::default()
        }
    }
    fn image(mut self, v: &str) -> Self {
        self.image = Some(c(v));
        self
    }
    fn snapshot_key(mut self, v: &str) -> Self {
        self.snapshot_key = Some(c(v));
        self
    }
    fn labels(mut self, v: &[&str]) -> Self {
        self.labels = Some(v.iter().map(|s| c(s)).collect());
        self
    }
    fn raw(&mut self) -> ctrd_container_opts {
        self.label_ptrs = match &self.labels {
            Some(l) => l.iter().map(|s| s.as_ptr()).chain([null()]).collect(),
            None => Vec::new(),
        };
        ctrd_container_opts {
            struct_size: std::mem::size_of::<ctrd_container_opts>(),
            id: opt(&self.id),
            spec_json: opt(&self.spec),
            image: opt(&self.image),
            snapshotter: opt(&self.snapshotter),
            snapshot_key: opt(&self.snapshot_key),
            runtime: opt(&self.runtime),
            labels: if self.labels.is_some() {
                self.label_ptrs.as_ptr()
            } else {
                null()
            },
            runtime_options_json: null(),
        }
    }
}

fn create(client: *mut ctrd_client, o: &mut Opts) -> Result<*mut ctrd_container, Failure> {
    let raw = o.raw();
    let mut k = null_mut();
    let status = ctrd_container_create(client, &raw, &mut k);
    outcome(status, k)
}

fn load(client: *mut ctrd_client, id: &str) -> Result<*mut ctrd_container, Failure> {
    let mut k = null_mut();
    let status = ctrd_container_load(client, c(id).as_ptr(), &mut k);
    outcome(status, k)
}

fn generate(
    client: *mut ctrd_client,
    id: &str,
    image: Option<&str>,
    argv: Option<&[&str]>,
) -> Result<String, Failure> {
    let image = image.map(c);
    let argv: Option<Vec<CString>> = argv.map(|a| a.iter().map(|s| c(s)).collect());
    let argv_ptrs: Option<Vec<*const c_char>> = argv
        .as_ref()
        .map(|a| a.iter().map(|s| s.as_ptr()).chain([null()]).collect());
    let mut json = null_mut();
    match ctrd_spec_generate(
        client,
        c(id).as_ptr(),
        image.as_ref().map_or(null(), |s| s.as_ptr()),
        argv_ptrs.as_ref().map_or(null(), |a| a.as_ptr()),
        &mut json,
    ) {
        CTRD_OK => Ok(take_string(json)),
        s => Err((s, last_error())),
    }
}

fn spec_of(k: *mut ctrd_container) -> String {
    let mut json = null_mut();
    check(ctrd_container_spec_json(k, &mut json), CTRD_OK);
    take_string(json)
}

fn id_of(k: *const ctrd_container) -> String {
    // SAFETY: a borrowed NUL-terminated string, copied at once.
    unsafe { std::ffi::CStr::from_ptr(ctrd_container_id(k)) }
        .to_str()
        .unwrap()
        .to_string()
}

fn list(client: *mut ctrd_client, filter: Option<&str>) -> Vec<String> {
    let filter = filter.map(c);
    let (mut ids, mut len) = (null_mut(), 0usize);
    check(
        ctrd_container_list(
            client,
            filter.as_ref().map_or(null(), |f| f.as_ptr()),
            &mut ids,
            &mut len,
        ),
        CTRD_OK,
    );
    let mut out = Vec::new();
    for i in 0..len {
        // SAFETY: `ids` holds `len` C strings from the library.
        let s = unsafe { std::ffi::CStr::from_ptr(*ids.add(i)) };
        out.push(s.to_str().unwrap().to_string());
    }
    ctrd_string_array_free(ids, len);
    out.sort();
    out
}

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap()
}

fn prepare(client: *mut ctrd_client, key: &str) -> ctrd_status {
    ctrd_snapshot_prepare_from_image(client, c(IMAGE).as_ptr(), null(), c(key).as_ptr())
}

fn delete(k: *mut ctrd_container, flags: u32) -> ctrd_status {
    ctrd_container_delete(k, flags)
}

#[test]
fn create_load_list_and_delete() {
    let ns = Ns::new("containers");
    let spec = generate(ns.client, "c1", None, None).unwrap();
    let a = create(
        ns.client,
        &mut Opts::new("c1", &spec).labels(&["app=web", "tier=front"]),
    )
    .unwrap();
    let b = create(ns.client, &mut Opts::new("c2", &spec).labels(&["app=db"])).unwrap();
    assert_eq!(id_of(a), "c1");

    // Load gives back the same id and the spec exactly as sent.
    let loaded = load(ns.client, "c1").unwrap();
    assert_eq!(id_of(loaded), "c1");
    assert_eq!(spec_of(loaded), spec);

    // List, with and without a filter.
    assert_eq!(list(ns.client, None), vec!["c1", "c2"]);
    assert_eq!(list(ns.client, Some("labels.\"app\"==web")), vec!["c1"]);
    assert_eq!(list(ns.client, Some("labels.app==db")), vec!["c2"]);
    assert_eq!(list(ns.client, Some("id==nothing")), Vec::<String>::new());

    // A duplicate id is refused by the daemon.
    let (status, msg) = create(ns.client, &mut Opts::new("c1", &spec)).unwrap_err();
    assert_eq!(status, CTRD_ERR_ALREADY_EXISTS, "{msg}");
    assert!(msg.contains("\"c1\""), "{msg}");

    // Delete; the handle stays valid to read and free; load then fails.
    check(delete(a, 0), CTRD_OK);
    assert_eq!(id_of(a), "c1");
    let (status, msg) = load(ns.client, "c1").unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    assert!(
        msg.contains("ctrd_container_load: container \"c1\""),
        "{msg}"
    );
    // The handle's copy of the record stays readable; re-reading it fails.
    let before = spec_of(loaded);
    check(ctrd_container_refresh(loaded), CTRD_ERR_NOT_FOUND);
    assert_eq!(spec_of(loaded), before);
    check(delete(loaded, 0), CTRD_ERR_NOT_FOUND);
    check(delete(b, 0), CTRD_OK);
    for k in [a, b, loaded] {
        ctrd_container_free(k);
    }
    ctrd_container_free(null_mut());
    ns.assert_clean();
}

#[test]
fn delete_removes_the_rootfs_snapshot_unless_kept() {
    let ns = Ns::new("snapshots");
    let spec = generate(ns.client, "r1", Some(IMAGE), None).unwrap();
    check(prepare(ns.client, "r1-rootfs"), CTRD_OK);
    check(prepare(ns.client, "r2-rootfs"), CTRD_OK);
    // Until a container refers to them, leases protect the snapshots.
    assert_eq!(ns.lease_ids().len(), 2);
    let r1 = create(
        ns.client,
        &mut Opts::new("r1", &spec)
            .image(IMAGE)
            .snapshot_key("r1-rootfs"),
    )
    .unwrap();
    let r2 = create(
        ns.client,
        &mut Opts::new("r2", &spec)
            .image(IMAGE)
            .snapshot_key("r2-rootfs"),
    )
    .unwrap();
    assert_eq!(
        ns.lease_ids(),
        Vec::<String>::new(),
        "the containers hold the snapshots now"
    );
    assert!(ns.snapshot_keys().contains(&"r1-rootfs".to_string()));

    check(delete(r1, 0), CTRD_OK);
    assert!(!ns.snapshot_keys().contains(&"r1-rootfs".to_string()));

    check(delete(r2, CTRD_DELETE_KEEP_SNAPSHOT), CTRD_OK);
    // Kept, and protected: a synchronous garbage collection leaves it.
    assert_eq!(ns.lease_ids().len(), 1);
    run(ns.ctr().args(["leases", "create", "--id", "gc-trigger"]));
    run(ns.ctr().args(["leases", "delete", "--sync", "gc-trigger"]));
    assert!(ns.snapshot_keys().contains(&"r2-rootfs".to_string()));
    check(
        ctrd_snapshot_remove(ns.client, null(), c("r2-rootfs").as_ptr()),
        CTRD_OK,
    );
    // A snapshot already gone is no error.
    check(
        ctrd_snapshot_remove(ns.client, null(), c("r2-rootfs").as_ptr()),
        CTRD_OK,
    );

    // Deleting a container whose snapshot is already gone works too.
    check(prepare(ns.client, "r3-rootfs"), CTRD_OK);
    let r3 = create(
        ns.client,
        &mut Opts::new("r3", &spec).snapshot_key("r3-rootfs"),
    )
    .unwrap();
    run(ns.ctr().args(["snapshots", "rm", "r3-rootfs"]));
    check(delete(r3, 0), CTRD_OK);
    for k in [r1, r2, r3] {
        ctrd_container_free(k);
    }
    ns.assert_clean();
}

#[test]
fn prepare_from_image_failures_leave_nothing_behind() {
    let ns = Ns::new("prepare");
    // Missing image.
    let s = ctrd_snapshot_prepare_from_image(
        ns.client,
        c("docker.io/library/nothing:1").as_ptr(),
        null(),
        c("k").as_ptr(),
    );
    assert_eq!(s, CTRD_ERR_NOT_FOUND, "{}", last_error());
    assert!(
        last_error().contains("image \"docker.io/library/nothing:1\""),
        "{}",
        last_error()
    );
    // Image not unpacked for that snapshotter.
    let s = ctrd_snapshot_prepare_from_image(
        ns.client,
        c(IMAGE).as_ptr(),
        c("native").as_ptr(),
        c("k").as_ptr(),
    );
    assert_eq!(s, CTRD_ERR_FAILED_PRECONDITION, "{}", last_error());
    assert!(
        last_error().contains("not unpacked for snapshotter \"native\""),
        "{}",
        last_error()
    );
    // Key taken: the daemon refuses, and the failed attempt leaves no lease.
    check(prepare(ns.client, "taken"), CTRD_OK);
    check(prepare(ns.client, "taken"), CTRD_ERR_ALREADY_EXISTS);
    check(
        ctrd_snapshot_remove(ns.client, null(), c("taken").as_ptr()),
        CTRD_OK,
    );
    ns.assert_clean();
}

#[test]
fn delete_is_refused_while_a_task_exists() {
    let ns = Ns::new("busy");
    let spec = generate(ns.client, "busy1", Some(IMAGE), Some(&["sleep", "1000"])).unwrap();
    check(prepare(ns.client, "busy1"), CTRD_OK);
    let k = create(
        ns.client,
        &mut Opts::new("busy1", &spec).image(IMAGE).snapshot_key("busy1"),
    )
    .unwrap();
    run(ns
        .ctr()
        .args(["tasks", "start", "-d", "--null-io", "busy1"]));

    let s = delete(k, 0);
    assert_eq!(s, CTRD_ERR_FAILED_PRECONDITION, "{}", last_error());
    assert!(last_error().contains("has a task"), "{}", last_error());
    // Nothing was deleted.
    assert_eq!(ns.container_ids(), vec!["busy1"]);
    assert!(ns.snapshot_keys().contains(&"busy1".to_string()));

    run(ns.ctr().args(["tasks", "kill", "-s", "SIGKILL", "busy1"]));
    // Wait for it to stop, then delete the task.
    for _ in 0..100 {
        if run(ns.ctr().args(["tasks", "ls"])).contains("STOPPED") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    run(ns.ctr().args(["tasks", "delete", "busy1"]));
    check(delete(k, 0), CTRD_OK);
    ctrd_container_free(k);
    ns.assert_clean();
}

#[test]
fn ctr_made_containers_load_with_the_same_spec() {
    let ns = Ns::new("fromctr");
    run(ns.ctr().args([
        "containers",
        "create",
        "--label",
        "made=ctr",
        IMAGE,
        "byctr",
    ]));
    let k = load(ns.client, "byctr").unwrap();
    let ours = spec_of(k);
    let theirs = run(ns.ctr().args(["containers", "info", "--spec", "byctr"]));
    assert_eq!(json(&ours), json(&theirs));
    assert_eq!(list(ns.client, Some("labels.made==ctr")), vec!["byctr"]);
    // Deleting removes the snapshot ctr prepared for it.
    assert!(ns.snapshot_keys().contains(&"byctr".to_string()));
    check(delete(k, 0), CTRD_OK);
    ctrd_container_free(k);
    ns.assert_clean();
}

#[test]
fn library_made_containers_are_what_ctr_sees_and_runs() {
    let ns = Ns::new("toctr");
    let spec = generate(
        ns.client,
        "lib1",
        Some(IMAGE),
        Some(&["echo", "hello from containerd-c"]),
    )
    .unwrap();
    check(prepare(ns.client, "lib1-rootfs"), CTRD_OK);
    let k = create(
        ns.client,
        &mut Opts::new("lib1", &spec)
            .image(IMAGE)
            .snapshot_key("lib1-rootfs")
            .labels(&["owner=tests", "empty="]),
    )
    .unwrap();

    let info = json(&run(ns.ctr().args(["containers", "info", "lib1"])));
    assert_eq!(info["ID"], "lib1");
    assert_eq!(info["Image"], IMAGE);
    assert_eq!(info["Runtime"]["Name"], "io.containerd.runc.v2");
    assert_eq!(info["Snapshotter"], "overlayfs");
    assert_eq!(info["SnapshotKey"], "lib1-rootfs");
    assert_eq!(info["Labels"]["owner"], "tests");
    // containerd drops a label whose value is empty (as it does for ctr).
    assert_eq!(info["Labels"].get("empty"), None);
    assert_eq!(info["Spec"], json(&spec));
    let spec_only = run(ns.ctr().args(["containers", "info", "--spec", "lib1"]));
    assert_eq!(json(&spec_only), json(&spec));

    // ctr runs it: the generated spec and the prepared rootfs really work.
    let out = run(ns.ctr().args(["tasks", "start", "lib1"]));
    assert_eq!(out.trim_end(), "hello from containerd-c");
    // (ctr deleted the task once it exited.)
    check(delete(k, 0), CTRD_OK);
    ctrd_container_free(k);
    ns.assert_clean();
}

#[test]
fn generated_specs() {
    let ns = Ns::new("specs");
    let plain = json(&generate(ns.client, "g1", None, None).unwrap());
    assert_eq!(plain["root"]["path"], "rootfs");
    assert_eq!(plain["linux"]["cgroupsPath"], format!("/{}/g1", ns.name));
    let ns_types: Vec<&str> = plain["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for t in ["pid", "ipc", "uts", "mount", "network"] {
        assert!(ns_types.contains(&t), "{ns_types:?}");
    }
    let with_image = json(&generate(ns.client, "g1", Some(IMAGE), None).unwrap());
    assert_eq!(with_image["process"]["args"], serde_json::json!(["sh"]));
    assert_eq!(with_image["process"]["cwd"], "/");
    let with_argv = json(&generate(ns.client, "g1", Some(IMAGE), Some(&["ls", "-l"])).unwrap());
    assert_eq!(
        with_argv["process"]["args"],
        serde_json::json!(["ls", "-l"])
    );
    // A user name is resolved from the image's own /etc/passwd and /etc/group.
    ns.daemon.import(&ns.name, image_nobody_tar());
    let nobody = json(&generate(ns.client, "g1", Some(IMAGE_NOBODY), None).unwrap());
    assert_eq!(nobody["process"]["user"]["uid"], 65534);
    assert_eq!(nobody["process"]["user"]["gid"], 65534);
    // The view used to read them is gone again (checked by assert_clean).
    let (status, msg) =
        generate(ns.client, "g1", Some("docker.io/library/none:0"), None).unwrap_err();
    assert_eq!(status, CTRD_ERR_NOT_FOUND, "{msg}");
    ns.assert_clean();
}

/// `struct_size`: required, checked, and a larger struct (a program built
/// against a newer header) works when the fields this library does not know
/// are zero.
#[test]
fn options_struct_size_is_checked() {
    let ns = Ns::new("struct-size");
    let spec = generate(ns.client, "sized", None, None).unwrap();
    #[repr(C)]
    struct Newer {
        opts: ctrd_container_opts,
        unknown: [u64; 2],
    }
    let size = std::mem::size_of::<ctrd_container_opts>();
    let mut o = Opts::new("sized", &spec);
    let try_create = |raw: &ctrd_container_opts| {
        let mut k = null_mut();
        outcome(ctrd_container_create(ns.client, raw, &mut k), k)
    };
    for (struct_size, words) in [
        (
            0,
            "opts->struct_size is 0: set it to sizeof(ctrd_container_opts)",
        ),
        (
            size - 8,
            &format!("opts->struct_size is {}, not the size", size - 8)[..],
        ),
        (1 << 40, "opts->struct_size is 1099511627776, not the size"),
    ] {
        let raw = ctrd_container_opts {
            struct_size,
            ..o.raw()
        };
        let (status, msg) = try_create(&raw).unwrap_err();
        assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
        assert!(msg.contains(words), "{msg}");
    }
    let mut newer = Newer {
        opts: ctrd_container_opts {
            struct_size: std::mem::size_of::<Newer>(),
            ..o.raw()
        },
        unknown: [0, 7],
    };
    let (status, msg) = try_create(&newer.opts).unwrap_err();
    assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "{msg}");
    assert!(
        msg.contains(&format!(
            "a ctrd_container_opts of {} bytes with fields this library ({size} bytes) does \
             not know set: the program was built against a newer containerd-c",
            std::mem::size_of::<Newer>()
        )),
        "{msg}"
    );
    assert_eq!(list(ns.client, None), Vec::<String>::new());
    // The same with the unknown fields zero: created, and loads.
    newer.unknown = [0, 0];
    let k = try_create(&newer.opts).unwrap();
    assert_eq!(id_of(k), "sized");
    let loaded = load(ns.client, "sized").unwrap();
    assert_eq!(spec_of(loaded), spec);
    ctrd_container_free(loaded);
    assert_eq!(delete(k, 0), CTRD_OK);
    ctrd_container_free(k);
}

#[test]
fn bad_inputs_get_invalid_argument_with_a_message() {
    let ns = Ns::new("badin");
    let cl = ns.client;
    let spec = generate(cl, "x", None, None).unwrap();
    let bad_utf8: &[u8] = &[b'a', 0xff, 0];
    let bad = bad_utf8.as_ptr().cast::<c_char>();
    let mut k = null_mut();
    let mut s = null_mut();
    let (mut ids, mut len) = (null_mut(), 0usize);

    let mut cases: Vec<(ctrd_status, String, &str)> = Vec::new();
    let mut case =
        |status: ctrd_status, want: &'static str| cases.push((status, last_error(), want));

    // ctrd_container_create
    let mut good = Opts::new("ok1", &spec);
    let raw = good.raw();
    case(
        ctrd_container_create(null_mut(), &raw, &mut k),
        "client is NULL",
    );
    case(ctrd_container_create(cl, null(), &mut k), "opts is NULL");
    case(ctrd_container_create(cl, &raw, null_mut()), "out is NULL");
    for (mut o, want) in [
        (
            Opts {
                spec: Some(c(&spec)),
                ..Default::default()
            },
            "opts.id is NULL",
        ),
        (
            Opts {
                id: Some(c("x")),
                ..Default::default()
            },
            "opts.spec_json is NULL",
        ),
        (Opts::new("-bad", &spec), "invalid container id \"-bad\""),
        (Opts::new(&"x".repeat(77), &spec), "longer than 76"),
        (Opts::new("a/b", &spec), "not allowed"),
        (Opts::new("x", "{not json"), "spec_json"),
        (Opts::new("x", "[1,2]"), "spec_json"),
        (
            Opts::new("x", &spec).labels(&["novalue"]),
            "label \"novalue\" is not key=value",
        ),
        (Opts::new("x", &spec).labels(&["=v"]), "empty key"),
        (Opts::new("x", &spec).labels(&["a=1", "a=2"]), "given twice"),
        (
            Opts {
                runtime: Some(c("")),
                ..Opts::new("x", &spec)
            },
            "runtime is empty",
        ),
    ] {
        let raw = o.raw();
        case(ctrd_container_create(cl, &raw, &mut k), want);
    }
    let mut o = Opts::new("x", &spec);
    let mut raw = o.raw();
    raw.id = bad;
    case(
        ctrd_container_create(cl, &raw, &mut k),
        "opts.id is not valid UTF-8",
    );
    let a1 = c("a=1");
    let bad_labels = [a1.as_ptr(), bad, null()];
    let mut raw = o.raw();
    raw.labels = bad_labels.as_ptr();
    case(
        ctrd_container_create(cl, &raw, &mut k),
        "opts.labels[1] is not valid UTF-8",
    );

    // ctrd_container_load
    case(
        ctrd_container_load(null_mut(), c("x").as_ptr(), &mut k),
        "client is NULL",
    );
    case(ctrd_container_load(cl, null(), &mut k), "id is NULL");
    case(
        ctrd_container_load(cl, bad, &mut k),
        "id is not valid UTF-8",
    );
    case(
        ctrd_container_load(cl, c("").as_ptr(), &mut k),
        "must not be empty",
    );
    case(
        ctrd_container_load(cl, c("x").as_ptr(), null_mut()),
        "out is NULL",
    );

    // ctrd_container_list
    case(
        ctrd_container_list(null_mut(), null(), &mut ids, &mut len),
        "client is NULL",
    );
    case(
        ctrd_container_list(cl, bad, &mut ids, &mut len),
        "filter is not valid UTF-8",
    );
    case(
        ctrd_container_list(cl, null(), null_mut(), &mut len),
        "ids is NULL",
    );
    case(
        ctrd_container_list(cl, null(), &mut ids, null_mut()),
        "len is NULL",
    );
    case(
        ctrd_container_list(cl, c("labels.==").as_ptr(), &mut ids, &mut len),
        "ctrd_container_list: ",
    );

    // ctrd_container_spec_json / delete
    case(
        ctrd_container_spec_json(null_mut(), &mut s),
        "container is NULL",
    );
    case(ctrd_container_delete(null_mut(), 0), "container is NULL");

    // ctrd_snapshot_prepare_from_image / remove
    case(
        ctrd_snapshot_prepare_from_image(null_mut(), c(IMAGE).as_ptr(), null(), c("k").as_ptr()),
        "client is NULL",
    );
    case(
        ctrd_snapshot_prepare_from_image(cl, null(), null(), c("k").as_ptr()),
        "image is NULL",
    );
    case(
        ctrd_snapshot_prepare_from_image(cl, c(IMAGE).as_ptr(), null(), null()),
        "key is NULL",
    );
    case(
        ctrd_snapshot_prepare_from_image(cl, c(IMAGE).as_ptr(), null(), c("").as_ptr()),
        "key is empty",
    );
    case(
        ctrd_snapshot_prepare_from_image(cl, c(IMAGE).as_ptr(), c("").as_ptr(), c("k").as_ptr()),
        "snapshotter is empty",
    );
    case(
        ctrd_snapshot_prepare_from_image(cl, bad, null(), c("k").as_ptr()),
        "image is not valid UTF-8",
    );
    case(ctrd_snapshot_remove(cl, null(), null()), "key is NULL");
    case(
        ctrd_snapshot_remove(null_mut(), null(), c("k").as_ptr()),
        "client is NULL",
    );

    // ctrd_spec_generate
    case(
        ctrd_spec_generate(null_mut(), c("x").as_ptr(), null(), null(), &mut s),
        "client is NULL",
    );
    case(
        ctrd_spec_generate(cl, null(), null(), null(), &mut s),
        "id is NULL",
    );
    case(
        ctrd_spec_generate(cl, c("bad id").as_ptr(), null(), null(), &mut s),
        "invalid container id",
    );
    case(
        ctrd_spec_generate(cl, c("x").as_ptr(), null(), null(), null_mut()),
        "json is NULL",
    );
    let sh = c("sh");
    let bad_argv = [sh.as_ptr(), bad, null()];
    case(
        ctrd_spec_generate(cl, c("x").as_ptr(), null(), bad_argv.as_ptr(), &mut s),
        "argv[1] is not valid UTF-8",
    );
    let empty_argv = [null()];
    case(
        ctrd_spec_generate(cl, c("x").as_ptr(), null(), empty_argv.as_ptr(), &mut s),
        "ctrd_spec_generate: argv is empty",
    );

    for (i, (status, msg, want)) in cases.iter().enumerate() {
        let allowed = if want.starts_with("ctrd_container_list: ") {
            // A filter the daemon cannot parse: its own words, as invalid.
            matches!(status, CTRD_ERR_INVALID_ARGUMENT | CTRD_ERR_UNKNOWN)
        } else {
            *status == CTRD_ERR_INVALID_ARGUMENT
        };
        assert!(allowed, "case {i} ({want}): {status:?} {msg}");
        assert!(msg.contains(want), "case {i}: {msg:?} lacks {want:?}");
        assert!(
            msg.starts_with("ctrd_"),
            "case {i}: {msg:?} does not name the function"
        );
    }
    assert!(
        k.is_null() && s.is_null() && ids.is_null(),
        "out-params written on failure"
    );

    // A flag the library does not know.
    let real = create(cl, &mut good).unwrap();
    check(delete(real, 0x8), CTRD_ERR_INVALID_ARGUMENT);
    assert!(
        last_error().contains("unknown flags 0x8"),
        "{}",
        last_error()
    );
    check(delete(real, 0), CTRD_OK);
    ctrd_container_free(real);
    ns.assert_clean();
}

#[test]
fn a_failed_snapshot_removal_is_reported_and_the_record_still_goes() {
    let ns = Ns::new("snapfail");
    // The image's own committed layer, with a child so that it cannot go.
    let layer = ns.snapshots_before[0].clone();
    check(prepare(ns.client, "child"), CTRD_OK);
    let spec = generate(ns.client, "sf", None, None).unwrap();
    let k = create(ns.client, &mut Opts::new("sf", &spec).snapshot_key(&layer)).unwrap();
    let status = delete(k, 0);
    let msg = last_error();
    assert_ne!(status, CTRD_OK);
    assert!(msg.contains("container \"sf\" in namespace"), "{msg}");
    assert!(msg.contains("was deleted, but its rootfs"), "{msg}");
    assert!(msg.contains(&format!("remove snapshot {layer:?}")), "{msg}");
    assert_eq!(ns.container_ids(), Vec::<String>::new());
    ctrd_container_free(k);
    check(
        ctrd_snapshot_remove(ns.client, null(), c("child").as_ptr()),
        CTRD_OK,
    );
    ns.assert_clean();
}
