//! The rest of containerd's Go `Container` surface against the real private
//! containerd: the record kept on the handle (info, spec, refresh), label
//! and spec updates, and runc options, each compared with what
//! `ctr containers info` shows, plus a table of bad inputs.

mod common;

use std::ffi::c_char;
use std::os::unix::fs::PermissionsExt;
use std::ptr::{null, null_mut};

use common::*;
use containerd_c::api::containerd::runc::v1::Options as RuncOptions;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use prost::Message as _;
use serde_json::{json, Value};

fn json_of(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
}

fn info(k: *mut ctrd_container) -> Value {
    let mut out = null_mut();
    check(ctrd_container_info_json(k, &mut out), CTRD_OK);
    json_of(&take_string(out))
}

fn spec_of(k: *mut ctrd_container) -> Value {
    let mut out = null_mut();
    check(ctrd_container_spec_json(k, &mut out), CTRD_OK);
    json_of(&take_string(out))
}

fn ctr_info(ns: &Ns, id: &str) -> Value {
    json_of(&run(ns.ctr().args(["containers", "info", id])))
}

fn set_labels(k: *mut ctrd_container, items: &[&str]) -> ctrd_status {
    let a = CArray::new(items);
    ctrd_container_set_labels(k, a.as_ptr())
}

fn update_spec(k: *mut ctrd_container, spec: &str) -> ctrd_status {
    ctrd_container_update_spec(k, c(spec).as_ptr())
}

/// Creates container `id` from the test image on its own snapshot, with
/// `labels` and `runtime_options_json`.
fn create(
    ns: &Ns,
    id: &str,
    argv: &[&str],
    labels: &[&str],
    runtime_options: Option<&str>,
) -> Result<*mut ctrd_container, Failure> {
    let spec = spec_for(ns.client, id, argv);
    let (idc, specc, imagec) = (c(id), c(&spec), c(IMAGE));
    let labels = CArray::new(labels);
    let options = runtime_options.map(c);
    check(
        ctrd_snapshot_prepare_from_image(ns.client, imagec.as_ptr(), null(), idc.as_ptr()),
        CTRD_OK,
    );
    let opts = ctrd_container_opts {
        id: idc.as_ptr(),
        spec_json: specc.as_ptr(),
        image: imagec.as_ptr(),
        snapshot_key: idc.as_ptr(),
        labels: labels.as_ptr(),
        runtime_options_json: options.as_ref().map_or(null(), |s| s.as_ptr()),
        ..Default::default()
    };
    let mut k = null_mut();
    let made = outcome(ctrd_container_create(ns.client, &opts, &mut k), k);
    if made.is_err() {
        check(
            ctrd_snapshot_remove(ns.client, null(), idc.as_ptr()),
            CTRD_OK,
        );
    }
    made
}

/// A timestamp string (Go's RFC 3339 with trimmed fraction, or ours) as
/// seconds and nanoseconds.
fn instant(v: &Value) -> (i64, i32) {
    let t: prost_types::Timestamp = v
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e:?}"));
    (t.seconds, t.nanos)
}

/// A map as Go writes it: an empty one may be null.
fn go_map(v: &Value) -> Value {
    match v {
        Value::Null => json!({}),
        v => v.clone(),
    }
}

/// Every field `ctr containers info` and `ctrd_container_info_json` both
/// show agrees.
#[track_caller]
fn assert_same_as_ctr(ours: &Value, theirs: &Value) {
    assert_eq!(ours["id"], theirs["ID"]);
    assert_eq!(ours["labels"], go_map(&theirs["Labels"]));
    assert_eq!(ours["image"], theirs["Image"]);
    assert_eq!(ours["runtime"]["name"], theirs["Runtime"]["Name"]);
    let (our_opts, their_opts) = (&ours["runtime"]["options"], &theirs["Runtime"]["Options"]);
    assert_eq!(
        our_opts.is_null(),
        their_opts.is_null(),
        "{our_opts} vs {their_opts}"
    );
    if !their_opts.is_null() {
        assert_eq!(our_opts["typeUrl"], their_opts["type_url"]);
        // Go leaves out empty bytes.
        let their_value = their_opts.get("value").cloned().unwrap_or(json!(""));
        assert_eq!(our_opts["value"], their_value);
    }
    assert_eq!(ours["snapshotter"], theirs["Snapshotter"]);
    assert_eq!(ours["snapshotKey"], theirs["SnapshotKey"]);
    assert_eq!(instant(&ours["createdAt"]), instant(&theirs["CreatedAt"]));
    assert_eq!(instant(&ours["updatedAt"]), instant(&theirs["UpdatedAt"]));
    assert_eq!(ours["extensions"], go_map(&theirs["Extensions"]));
    assert_eq!(ours["spec"], theirs["Spec"]);
}

#[test]
fn info_is_what_ctr_shows() {
    let ns = Ns::new("info");
    let options =
        r#"{"NoPivotRoot":true,"SystemdCgroup":false,"Root":"/run/ctrd-test-runc","IoUid":7}"#;
    let k = create(
        &ns,
        "info1",
        &["true"],
        &["app=web", "tier=1"],
        Some(options),
    )
    .unwrap();
    let ours = info(k);
    let theirs = ctr_info(&ns, "info1");
    assert_same_as_ctr(&ours, &theirs);
    assert_eq!(ours["id"], "info1");
    assert_eq!(ours["labels"], json!({"app": "web", "tier": "1"}));
    assert_eq!(ours["snapshotKey"], "info1");
    assert_eq!(
        ours["runtime"]["options"]["typeUrl"],
        "containerd.runc.v1.Options"
    );
    // ctr shows the options' bytes; they are the options given.
    let bytes = base64_decode(theirs["Runtime"]["Options"]["value"].as_str().unwrap());
    let o = RuncOptions::decode(bytes.as_slice()).unwrap();
    assert!(o.no_pivot_root && !o.systemd_cgroup);
    assert_eq!((o.root.as_str(), o.io_uid), ("/run/ctrd-test-runc", 7));
    assert_eq!(
        ours["runtime"]["options"]["decoded"],
        json!({
            "NoPivotRoot": true, "NoNewKeyring": false, "ShimCgroup": "", "IoUid": 7,
            "IoGid": 0, "BinaryName": "", "Root": "/run/ctrd-test-runc", "CriuPath": "",
            "SystemdCgroup": false, "CriuImagePath": "", "CriuWorkPath": "",
        })
    );
    // The spec is the one stored, as ctr info --spec shows it too.
    assert_eq!(ours["spec"], spec_of(k));
    let spec_only = json_of(&run(ns.ctr().args([
        "containers",
        "info",
        "--spec",
        "info1",
    ])));
    assert_eq!(ours["spec"], spec_only);

    // Loading gives the same record; a container without options has none.
    let mut loaded = null_mut();
    check(
        ctrd_container_load(ns.client, c("info1").as_ptr(), &mut loaded),
        CTRD_OK,
    );
    assert_eq!(info(loaded), ours);
    ctrd_container_free(loaded);
    let plain = create(&ns, "info2", &["true"], &[], None).unwrap();
    let plain_info = info(plain);
    assert_same_as_ctr(&plain_info, &ctr_info(&ns, "info2"));
    assert_eq!(
        plain_info["runtime"],
        json!({"name": "io.containerd.runc.v2"})
    );

    remove_container(k);
    remove_container(plain);
    ns.assert_clean();
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(s).unwrap()
}

#[test]
fn labels_set_here_show_in_ctr_and_the_other_way_after_refresh() {
    let ns = Ns::new("labels");
    let k = create(&ns, "lab1", &["true"], &["keep=yes", "gone=soon"], None).unwrap();
    let created = info(k);

    check(set_labels(k, &["a=1", "dotted.key/x=2", "gone="]), CTRD_OK);
    let want = json!({"keep": "yes", "a": "1", "dotted.key/x": "2"});
    let ours = info(k);
    assert_eq!(ours["labels"], want);
    assert_same_as_ctr(&ours, &ctr_info(&ns, "lab1"));
    // Only the labels changed (and the update time).
    assert_eq!(ours["spec"], created["spec"]);
    assert_eq!(ours["createdAt"], created["createdAt"]);
    assert_ne!(ours["updatedAt"], created["updatedAt"]);
    // Setting a value again replaces it; removing one not there is fine.
    check(set_labels(k, &["a=3", "never="]), CTRD_OK);
    assert_eq!(info(k)["labels"]["a"], "3");
    assert_eq!(info(k)["labels"].get("never"), None);

    // Labels ctr sets show once the handle is refreshed, not before.
    run(ns
        .ctr()
        .args(["containers", "label", "lab1", "by=ctr", "keep="]));
    assert_eq!(info(k)["labels"]["keep"], "yes");
    assert_eq!(info(k)["labels"].get("by"), None);
    check(ctrd_container_refresh(k), CTRD_OK);
    let refreshed = info(k);
    assert_eq!(
        refreshed["labels"],
        json!({"a": "3", "dotted.key/x": "2", "by": "ctr"})
    );
    assert_same_as_ctr(&refreshed, &ctr_info(&ns, "lab1"));
    // And they filter listings as ever.
    let (mut ids, mut len) = (null_mut(), 0usize);
    check(
        ctrd_container_list(ns.client, c("labels.by==ctr").as_ptr(), &mut ids, &mut len),
        CTRD_OK,
    );
    assert_eq!(len, 1);
    ctrd_string_array_free(ids, len);

    // A label the daemon refuses keeps its words, and the copy stays.
    let long = format!("big={}", "x".repeat(5000));
    check(set_labels(k, &[&long]), CTRD_ERR_INVALID_ARGUMENT);
    assert!(last_error().contains("label"), "{}", last_error());
    assert_eq!(info(k), refreshed);

    remove_container(k);
    ns.assert_clean();
}

#[test]
fn spec_updates_and_the_handles_copy() {
    let ns = Ns::new("specupd");
    let k = create(&ns, "sp1", &["true"], &["l=1"], None).unwrap();
    let mut other = null_mut();
    check(
        ctrd_container_load(ns.client, c("sp1").as_ptr(), &mut other),
        CTRD_OK,
    );
    let before = info(k);
    let mut spec = spec_of(k);
    spec["hostname"] = json!("updated-host");
    spec["process"]["args"] = json!(["echo", "new args"]);
    let text = serde_json::to_string_pretty(&spec).unwrap();
    check(update_spec(k, &text), CTRD_OK);

    // Stored exactly as given, read from the handle's copy.
    let mut raw = null_mut();
    check(ctrd_container_spec_json(k, &mut raw), CTRD_OK);
    assert_eq!(take_string(raw), text);
    let after = info(k);
    assert_eq!(after["spec"]["hostname"], "updated-host");
    assert_eq!(after["labels"], before["labels"]);
    assert_eq!(after["createdAt"], before["createdAt"]);
    let theirs = ctr_info(&ns, "sp1");
    assert_same_as_ctr(&after, &theirs);
    assert_eq!(theirs["Spec"]["hostname"], "updated-host");

    // The other handle keeps its copy until it refreshes.
    assert_eq!(spec_of(other), before["spec"]);
    check(ctrd_container_refresh(other), CTRD_OK);
    assert_eq!(spec_of(other), spec);
    assert_eq!(info(other), after);

    // The next task runs the new spec.
    let dir = tempfile::tempdir().unwrap();
    let out_path = dir.path().join("out");
    // The shim opens the file, it does not create it.
    std::fs::write(&out_path, "").unwrap();
    let (outc, nullc) = (c(out_path.to_str().unwrap()), c("/dev/null"));
    let io = ctrd_io {
        stdin_path: null(),
        stdout_path: outc.as_ptr(),
        stderr_path: nullc.as_ptr(),
        terminal: false,
    };
    let mut t = null_mut();
    check(ctrd_container_new_task(k, &io, &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    let mut code = 99;
    check(ctrd_task_wait(t, 20_000, &mut code), CTRD_OK);
    assert_eq!(code, 0);
    check(ctrd_task_delete(t, 0, null_mut()), CTRD_OK);
    ctrd_task_free(t);
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "new args\n");

    // Bad specs change nothing, refused before any call.
    for (bad, want) in [
        ("{not json", "spec_json: spec is not valid JSON"),
        ("[1]", "not an OCI runtime spec"),
        (r#"{"process":{}}"#, "\"ociVersion\" is missing"),
    ] {
        check(update_spec(k, bad), CTRD_ERR_INVALID_ARGUMENT);
        assert!(last_error().contains(want), "{}", last_error());
        assert!(
            last_error().starts_with("ctrd_container_update_spec: "),
            "{}",
            last_error()
        );
    }
    let mut big = spec.clone();
    big["annotations"] = json!({ "filler": "x".repeat(17 << 20) });
    check(
        update_spec(k, &serde_json::to_string(&big).unwrap()),
        CTRD_ERR_INVALID_ARGUMENT,
    );
    assert!(last_error().contains("16 MiB"), "{}", &last_error()[..200]);
    assert!(last_error().len() < 400, "{}", last_error().len());
    check(ctrd_container_refresh(k), CTRD_OK);
    assert_eq!(info(k), after);

    ctrd_container_free(other);
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn a_deleted_container_is_not_found_but_its_copy_stays() {
    let ns = Ns::new("gone");
    let k = create(&ns, "gone1", &["true"], &[], None).unwrap();
    let copy = info(k);
    let spec = serde_json::to_string(&copy["spec"]).unwrap();
    run(ns.ctr().args(["containers", "delete", "gone1"]));

    check(ctrd_container_refresh(k), CTRD_ERR_NOT_FOUND);
    assert!(last_error().contains("\"gone1\""), "{}", last_error());
    check(set_labels(k, &["a=1"]), CTRD_ERR_NOT_FOUND);
    check(update_spec(k, &spec), CTRD_ERR_NOT_FOUND);
    assert_eq!(info(k), copy);
    assert_eq!(spec_of(k), copy["spec"]);
    // Bad input is refused before any call: INVALID_ARGUMENT, not NOT_FOUND.
    check(set_labels(k, &["=x"]), CTRD_ERR_INVALID_ARGUMENT);
    check(update_spec(k, "{}"), CTRD_ERR_INVALID_ARGUMENT);
    ctrd_container_free(k);
    ns.assert_clean();
}

#[test]
fn runc_binary_name_is_used_by_the_shim() {
    let ns = Ns::new("runcbin");
    let runc = run(std::process::Command::new("sh").args(["-c", "command -v runc"]));
    let runc = runc.trim();
    let dir = tempfile::tempdir().unwrap();
    let calls = dir.path().join("calls");
    let wrapper = dir.path().join("runc-wrapper");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\nexec '{runc}' \"$@\"\n",
            calls.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let options = json!({"BinaryName": wrapper.to_str().unwrap()}).to_string();
    let k = create(&ns, "bin1", &["sh", "-c", "exit 7"], &[], Some(&options)).unwrap();

    let ours = info(k);
    assert_eq!(
        ours["runtime"]["options"]["decoded"]["BinaryName"],
        wrapper.to_str().unwrap()
    );
    let theirs = ctr_info(&ns, "bin1");
    assert_same_as_ctr(&ours, &theirs);
    let bytes = base64_decode(theirs["Runtime"]["Options"]["value"].as_str().unwrap());
    let o = RuncOptions::decode(bytes.as_slice()).unwrap();
    assert_eq!(o.binary_name, wrapper.to_str().unwrap());

    // The task starts and runs through the named binary.
    let mut t = null_mut();
    check(ctrd_container_new_task(k, null(), &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    let mut code = 0;
    check(ctrd_task_wait(t, 20_000, &mut code), CTRD_OK);
    assert_eq!(code, 7);
    check(ctrd_task_delete(t, 0, null_mut()), CTRD_OK);
    ctrd_task_free(t);
    let log = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(log.lines().any(|l| l.contains("create")), "{log}");
    assert!(log.lines().any(|l| l.contains("start")), "{log}");
    remove_container(k);

    // The path runc has here, given plainly, starts too.
    let plain = json!({"BinaryName": runc}).to_string();
    let k = create(&ns, "bin2", &["true"], &[], Some(&plain)).unwrap();
    let mut t = null_mut();
    check(ctrd_container_new_task(k, null(), &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    check(ctrd_task_wait(t, 20_000, &mut code), CTRD_OK);
    assert_eq!(code, 0);
    check(ctrd_task_delete(t, 0, null_mut()), CTRD_OK);
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn bad_inputs_get_invalid_argument_with_a_message() {
    let ns = Ns::new("badsurf");
    let k = create(&ns, "bad1", &["true"], &["l=1"], None).unwrap();
    let before = info(k);
    let bad_utf8: &[u8] = &[b'a', b'=', 0xff, 0];
    let bad = bad_utf8.as_ptr().cast::<c_char>();
    let mut s = null_mut();

    let mut cases: Vec<(ctrd_status, String, &str)> = Vec::new();
    let mut case =
        |status: ctrd_status, want: &'static str| cases.push((status, last_error(), want));

    case(
        ctrd_container_info_json(null_mut(), &mut s),
        "ctrd_container_info_json: container is NULL",
    );
    case(
        ctrd_container_info_json(k, null_mut()),
        "ctrd_container_info_json: json is NULL",
    );
    case(
        ctrd_container_spec_json(null_mut(), &mut s),
        "container is NULL",
    );
    case(ctrd_container_spec_json(k, null_mut()), "json is NULL");
    case(
        ctrd_container_refresh(null_mut()),
        "ctrd_container_refresh: container is NULL",
    );
    case(
        set_labels(null_mut(), &["a=1"]),
        "ctrd_container_set_labels: container is NULL",
    );
    case(ctrd_container_set_labels(k, null()), "labels is NULL");
    case(set_labels(k, &[]), "labels has no items");
    case(
        set_labels(k, &["novalue"]),
        "label \"novalue\" is not key=value",
    );
    case(set_labels(k, &["=v"]), "label \"=v\" has an empty key");
    case(set_labels(k, &["="]), "label \"=\" has an empty key");
    case(
        set_labels(k, &["k=1", "k=2"]),
        "label key \"k\" is given twice",
    );
    let ok = c("ok=1");
    let with_bad = [ok.as_ptr(), bad, null()];
    case(
        ctrd_container_set_labels(k, with_bad.as_ptr()),
        "labels[1] is not valid UTF-8",
    );
    case(
        ctrd_container_update_spec(null_mut(), c("{}").as_ptr()),
        "ctrd_container_update_spec: container is NULL",
    );
    case(ctrd_container_update_spec(k, null()), "spec_json is NULL");
    case(
        ctrd_container_update_spec(k, bad),
        "spec_json is not valid UTF-8",
    );
    case(update_spec(k, ""), "spec_json: spec is not valid JSON");

    // runtime_options_json of ctrd_container_create, checked before any call.
    for (options, want) in [
        ("{not json", "runtime_options_json is not valid JSON"),
        ("[]", "runtime_options_json must be a JSON object"),
        (r#"{"binary_name":"x"}"#, "unknown key \"binary_name\""),
        (
            r#"{"SystemdCgroup":1}"#,
            "\"SystemdCgroup\" must be true or false",
        ),
        (r#"{"Root":false}"#, "\"Root\" must be a string"),
        (r#"{"IoUid":"0"}"#, "\"IoUid\" must be a whole number"),
    ] {
        let (idc, specc, optc) = (c("bad2"), c("{\"ociVersion\":\"1.0.2\"}"), c(options));
        let opts = ctrd_container_opts {
            id: idc.as_ptr(),
            spec_json: specc.as_ptr(),
            runtime_options_json: optc.as_ptr(),
            ..Default::default()
        };
        let mut made = null_mut();
        let status = ctrd_container_create(ns.client, &opts, &mut made);
        assert!(made.is_null());
        case(status, want);
    }
    let (idc, specc) = (c("bad2"), c("{\"ociVersion\":\"1.0.2\"}"));
    let opts = ctrd_container_opts {
        id: idc.as_ptr(),
        spec_json: specc.as_ptr(),
        runtime_options_json: bad,
        ..Default::default()
    };
    let mut made = null_mut();
    case(
        ctrd_container_create(ns.client, &opts, &mut made),
        "opts.runtime_options_json is not valid UTF-8",
    );

    assert!(s.is_null(), "an out-param was written on failure");
    for (status, msg, want) in &cases {
        assert_eq!(*status, CTRD_ERR_INVALID_ARGUMENT, "{msg} (want {want:?})");
        assert!(msg.contains(want), "{msg:?} does not contain {want:?}");
    }
    // Nothing changed, nothing was made.
    check(ctrd_container_refresh(k), CTRD_OK);
    assert_eq!(info(k), before);
    remove_container(k);
    ns.assert_clean();
}
