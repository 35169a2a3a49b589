//! Task metrics and resource updates against the real private containerd:
//! a busy task's CPU usage grows and its memory usage is non-zero; a memory
//! limit set through `ctrd_task_update` shows in the cgroup, in `ctr tasks
//! metrics` and in the metrics JSON; bad input.

mod common;

use std::path::Path;
use std::ptr::{null, null_mut};
use std::time::Duration;

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use serde_json::Value;

const BUSY: [&str; 3] = ["sh", "-c", "while :; do :; done"];

/// The cgroup hierarchy this host mounts: v1 has a `memory` controller
/// directory under /sys/fs/cgroup (the unified v2 one has `cgroup.controllers`).
fn cgroup_v1() -> bool {
    Path::new("/sys/fs/cgroup/memory").is_dir()
}

/// A started task of a new container `id` running `argv`.
fn running(ns: &Ns, id: &str, argv: &[&str]) -> (*mut ctrd_container, *mut ctrd_task) {
    let k = container(ns, id, argv);
    let mut t = null_mut();
    check(ctrd_container_new_task(k, null(), &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    (k, t)
}

fn finish(k: *mut ctrd_container, t: *mut ctrd_task) {
    check(
        ctrd_task_delete(t, CTRD_TASK_DELETE_FORCE, null_mut()),
        CTRD_OK,
    );
    ctrd_task_free(t);
    remove_container(k);
}

fn metrics(t: *mut ctrd_task) -> Value {
    let mut json = null_mut();
    check(ctrd_task_metrics_json(t, &mut json), CTRD_OK);
    let text = take_string(json);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn number(v: &Value, path: &[&str]) -> u64 {
    let mut at = v;
    for p in path {
        at = &at[p];
    }
    at.as_u64()
        .unwrap_or_else(|| panic!("{} is not a number in {v}", path.join(".")))
}

/// The CPU time used so far (nanoseconds) and memory in use (bytes), by
/// the metrics' own type.
fn cpu_and_memory(m: &Value) -> (u64, u64) {
    match m["type"].as_str().unwrap() {
        "io.containerd.cgroups.v1.Metrics" => (
            number(m, &["data", "cpu", "usage", "total"]),
            number(m, &["data", "memory", "usage", "usage"]),
        ),
        "io.containerd.cgroups.v2.Metrics" => (
            number(m, &["data", "cpu", "usageUsec"]) * 1000,
            number(m, &["data", "memory", "usage"]),
        ),
        other => panic!("unexpected metrics type {other}: {m}"),
    }
}

#[test]
fn a_busy_task_uses_cpu_and_memory() {
    let ns = Ns::new("metrics-busy");
    let (k, t) = running(&ns, "busy", &BUSY);
    std::thread::sleep(Duration::from_millis(300));
    let first = metrics(t);
    let want = if cgroup_v1() {
        "io.containerd.cgroups.v1.Metrics"
    } else {
        "io.containerd.cgroups.v2.Metrics"
    };
    assert_eq!(first["type"], want, "{first}");
    let (cpu1, mem1) = cpu_and_memory(&first);
    assert!(cpu1 > 0, "{first}");
    assert!(mem1 > 0, "{first}");
    assert!(number(&first, &["data", "pids", "current"]) >= 1, "{first}");
    std::thread::sleep(Duration::from_millis(500));
    let second = metrics(t);
    let (cpu2, _) = cpu_and_memory(&second);
    // A busy loop uses most of a core: well over 100 ms in 500 ms.
    assert!(
        cpu2 >= cpu1 + 100_000_000,
        "cpu {cpu1} -> {cpu2} ns in 500 ms"
    );
    finish(k, t);
    ns.assert_clean();
}

#[test]
fn a_memory_limit_shows_in_the_cgroup_ctr_and_metrics() {
    assert!(
        cgroup_v1(),
        "this test reads cgroup v1 files; /sys/fs/cgroup has no memory controller dir"
    );
    let ns = Ns::new("metrics-update");
    let (k, t) = running(&ns, "limited", &["sleep", "1000"]);
    let limit: u64 = 64 << 20;
    check(
        ctrd_task_update(
            t,
            c(&format!(r#"{{"memory":{{"limit":{limit}}}}}"#)).as_ptr(),
        ),
        CTRD_OK,
    );

    // The spec's cgroupsPath is /<namespace>/<id>.
    let file = format!(
        "/sys/fs/cgroup/memory/{}/limited/memory.limit_in_bytes",
        ns.name
    );
    let in_cgroup = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(in_cgroup.trim(), limit.to_string(), "{file}");

    let out = run(ns.ctr().args(["tasks", "metrics", "limited"]));
    let line = out
        .lines()
        .find(|l| l.starts_with("memory.limit_in_bytes"))
        .unwrap_or_else(|| panic!("no memory limit in:\n{out}"));
    assert_eq!(
        line.split_whitespace().nth(1),
        Some(limit.to_string().as_str()),
        "{out}"
    );

    let m = metrics(t);
    assert_eq!(
        number(&m, &["data", "memory", "usage", "limit"]),
        limit,
        "{m}"
    );

    // Members left out keep their values: a pids limit leaves memory alone.
    check(
        ctrd_task_update(t, c(r#"{"pids":{"limit":32}}"#).as_ptr()),
        CTRD_OK,
    );
    let m = metrics(t);
    assert_eq!(number(&m, &["data", "pids", "limit"]), 32, "{m}");
    assert_eq!(
        number(&m, &["data", "memory", "usage", "limit"]),
        limit,
        "{m}"
    );
    finish(k, t);
    ns.assert_clean();
}

#[test]
fn bad_input_is_refused_before_any_call() {
    let ns = Ns::new("metrics-bad");
    let (k, t) = running(&ns, "target", &["sleep", "1000"]);

    let mut json = null_mut();
    assert_eq!(
        ctrd_task_metrics_json(null_mut(), &mut json),
        CTRD_ERR_INVALID_ARGUMENT
    );
    assert!(json.is_null());
    assert_eq!(last_error(), "ctrd_task_metrics_json: task is NULL");
    assert_eq!(
        ctrd_task_metrics_json(t, null_mut()),
        CTRD_ERR_INVALID_ARGUMENT
    );
    assert_eq!(last_error(), "ctrd_task_metrics_json: json is NULL");

    let ok = c(r#"{"memory":{"limit":67108864}}"#);
    assert_eq!(
        ctrd_task_update(null_mut(), ok.as_ptr()),
        CTRD_ERR_INVALID_ARGUMENT
    );
    assert_eq!(last_error(), "ctrd_task_update: task is NULL");
    assert_eq!(ctrd_task_update(t, null()), CTRD_ERR_INVALID_ARGUMENT);
    assert_eq!(last_error(), "ctrd_task_update: resources_json is NULL");
    for (bad, want) in [
        ("{\"memory\":", "is not valid JSON"),
        ("[1,2]", "is not a JSON object"),
        (r#"{"memroy":{"limit":1}}"#, "member \"memroy\" which"),
        (
            r#"{"memory":{"limit":"64M"}}"#,
            "is not an OCI LinuxResources",
        ),
        (r#"{"cpu":{"shares":-1}}"#, "is not an OCI LinuxResources"),
    ] {
        assert_eq!(
            ctrd_task_update(t, c(bad).as_ptr()),
            CTRD_ERR_INVALID_ARGUMENT,
            "{bad}"
        );
        let e = last_error();
        assert!(e.starts_with("ctrd_task_update: resources_json"), "{e}");
        assert!(e.contains(want), "{bad}: {e}");
    }
    // Nothing was sent: the memory limit is still unlimited.
    let m = metrics(t);
    let unset = number(&m, &["data", "memory", "usage", "limit"]);
    assert!(unset > 1 << 40, "{m}");

    // A task that is gone has no metrics and cannot be updated.
    check(
        ctrd_task_delete(t, CTRD_TASK_DELETE_FORCE, null_mut()),
        CTRD_OK,
    );
    assert_eq!(ctrd_task_metrics_json(t, &mut json), CTRD_ERR_NOT_FOUND);
    assert!(json.is_null());
    assert!(last_error().contains("\"target\""), "{}", last_error());
    assert_eq!(ctrd_task_update(t, ok.as_ptr()), CTRD_ERR_NOT_FOUND);
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}
