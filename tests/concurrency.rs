//! Concurrency against the real private containerd, through the public C API
//! only: one client, one container and one running task, each shared by many
//! threads at once, while other threads make and delete other objects. Every
//! call's result is checked (no wrong value, no lost process, every exec's
//! output and exit status right), and nothing is left behind in the test's
//! namespace. Each test prints its figures (threads, calls) on stderr; see
//! RELIABILITY.md.

mod common;

use std::collections::BTreeSet;
use std::ffi::{c_char, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::ctrd_task_state::*;
use containerd_c::ffi::*;

/// A handle shared by the threads of one test. The C API documents every
/// handle as usable from several threads at once (only freeing must not race,
/// and each test frees its handles after joining every thread).
struct Shared<T>(*mut T);
impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Shared<T> {}
// SAFETY: the library's handles are thread-safe (see the header's
// conventions); the pointer is only passed to the library.
unsafe impl<T> Send for Shared<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Shared<T> {}

/// How long each test keeps its threads busy.
const RUN_FOR: Duration = Duration::from_secs(4);

fn cstr(p: *const c_char) -> String {
    // SAFETY: a borrowed NUL-terminated string from the library, copied at once.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
}

fn list(client: *mut ctrd_client) -> Vec<String> {
    let (mut ids, mut len) = (null_mut(), 0usize);
    check(
        ctrd_container_list(client, null(), &mut ids, &mut len),
        CTRD_OK,
    );
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        // SAFETY: `ids` holds `len` NUL-terminated strings from the library.
        out.push(cstr(unsafe { *ids.add(i) }));
    }
    ctrd_string_array_free(ids, len);
    out.sort();
    out
}

fn spec_json(k: *mut ctrd_container) -> String {
    let mut json = null_mut();
    check(ctrd_container_spec_json(k, &mut json), CTRD_OK);
    take_string(json)
}

fn load(client: *mut ctrd_client, id: &str) -> *mut ctrd_container {
    let mut k = null_mut();
    check(ctrd_container_load(client, c(id).as_ptr(), &mut k), CTRD_OK);
    k
}

#[test]
fn one_client_shared_by_32_threads() {
    const THREADS: usize = 32;
    let ns = Ns::new("conc-client");
    let client = Shared(ns.client);
    let k = container(&ns, "fixed", &["true"]);
    let want_spec = spec_json(k);
    let want_version = server_version(ns.client).unwrap();
    let calls = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for i in 0..THREADS {
            let (calls, want_spec, want_version) = (&calls, &want_spec, &want_version);
            s.spawn(move || {
                let client = client;
                let mut n = 0u64;
                while start.elapsed() < RUN_FOR {
                    match (i + n as usize) % 3 {
                        0 => assert_eq!(&server_version(client.0).unwrap(), want_version),
                        1 => {
                            let k = load(client.0, "fixed");
                            assert_eq!(cstr(ctrd_container_id(k)), "fixed");
                            assert_eq!(&spec_json(k), want_spec);
                            ctrd_container_free(k);
                            n += 1; // load and spec: two calls
                        }
                        _ => assert_eq!(list(client.0), ["fixed"]),
                    }
                    n += 1;
                }
                calls.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let calls = calls.into_inner();
    eprintln!(
        "figures: one client, {THREADS} threads, {calls} calls in {secs:.1} s ({:.0}/s), all right",
        calls as f64 / secs
    );
    assert!(calls >= THREADS as u64, "every thread made calls");
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn one_container_shared_while_others_come_and_go() {
    const READERS: usize = 16;
    const CHURNERS: usize = 4;
    let ns = Ns::new("conc-container");
    let client = Shared(ns.client);
    let k = container(&ns, "shared", &["sleep", "1000"]);
    let mut t = null_mut();
    check(ctrd_container_new_task(k, null(), &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    let pid = ctrd_task_pid(t);
    let want_spec = spec_json(k);
    let shared = Shared(k);
    let (reads, churned) = (AtomicU64::new(0), AtomicU64::new(0));
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..READERS {
            let (reads, want_spec) = (&reads, &want_spec);
            s.spawn(move || {
                let (k, client) = (shared, client);
                let mut n = 0u64;
                while start.elapsed() < RUN_FOR {
                    match n % 4 {
                        0 => {
                            // Re-reading the record while others read the copy.
                            check(ctrd_container_refresh(k.0), CTRD_OK);
                            assert_eq!(&spec_json(k.0), want_spec);
                        }
                        1 => assert_eq!(cstr(ctrd_container_id(k.0)), "shared"),
                        2 => {
                            let mut t = null_mut();
                            check(ctrd_container_load_task(k.0, &mut t), CTRD_OK);
                            assert_eq!(ctrd_task_pid(t), pid);
                            assert_eq!(cstr(ctrd_task_id(t)), "shared");
                            ctrd_task_free(t);
                        }
                        _ => {
                            let ids = list(client.0);
                            assert!(ids.iter().any(|i| i == "shared"), "{ids:?}");
                            for id in &ids {
                                assert!(id == "shared" || id.starts_with("churn-"), "{ids:?}");
                            }
                        }
                    }
                    n += 1;
                }
                reads.fetch_add(n, Ordering::Relaxed);
            });
        }
        for w in 0..CHURNERS {
            let churned = &churned;
            s.spawn(move || {
                let client = client;
                let mut n = 0u64;
                while start.elapsed() < RUN_FOR {
                    let id = format!("churn-{w}-{n}");
                    let k = container_via(client.0, &id, &["true"]);
                    let again = load(client.0, &id);
                    assert_eq!(cstr(ctrd_container_id(again)), id);
                    assert!(list(client.0).contains(&id));
                    remove_container(k);
                    assert_eq!(ctrd_container_refresh(again), CTRD_ERR_NOT_FOUND);
                    ctrd_container_free(again);
                    n += 1;
                }
                churned.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let (reads, churned) = (reads.into_inner(), churned.into_inner());
    eprintln!(
        "figures: one container, {READERS} reader threads, {reads} calls; {CHURNERS} threads \
         created and deleted {churned} other containers meanwhile, in {secs:.1} s, all right"
    );
    assert!(churned >= CHURNERS as u64);
    assert_eq!(list(ns.client), ["shared"]);
    let mut code = 0;
    check(
        ctrd_task_delete(t, CTRD_TASK_DELETE_FORCE, &mut code),
        CTRD_OK,
    );
    assert_eq!(code, 137);
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}

/// One exec on `t`, id `exec_id`, printing its id and exiting with `code`;
/// checks its pid shows in the task's pids while it runs, its exit status
/// and its output.
fn exec_once(t: *mut ctrd_task, exec_id: &str, code: u32, dir: &std::path::Path) {
    let out = dir.join(format!("{exec_id}.out"));
    std::fs::write(&out, b"").unwrap();
    let outc = c(out.to_str().unwrap());
    let io = ctrd_io {
        stdin_path: null(),
        stdout_path: outc.as_ptr(),
        stderr_path: null(),
        terminal: false,
    };
    // The process stays alive until the gate file appears (the directory is
    // bind-mounted into the container at the same path), so its pid can be
    // looked for in the task's pids.
    let gate = dir.join(format!("{exec_id}.go"));
    let script = format!(
        "echo {exec_id}; while [ ! -e {gate} ]; do sleep 0.02; done; exit {code}",
        gate = gate.display()
    );
    let process = serde_json::json!({
        "args": ["sh", "-c", script],
        "cwd": "/",
        "user": {"uid": 0, "gid": 0},
        "env": ["PATH=/bin"],
    })
    .to_string();
    let mut p = null_mut();
    check(
        ctrd_task_exec(t, c(exec_id).as_ptr(), c(&process).as_ptr(), &io, &mut p),
        CTRD_OK,
    );
    check(ctrd_process_start(p), CTRD_OK);
    let ppid = ctrd_process_pid(p);
    assert!(ppid > 0);
    let (mut pids, mut len) = (null_mut(), 0usize);
    check(ctrd_task_pids(t, &mut pids, &mut len), CTRD_OK);
    // SAFETY: `pids` holds `len` pids from the library.
    let seen = unsafe { std::slice::from_raw_parts(pids, len) }.contains(&ppid);
    ctrd_pids_free(pids, len);
    assert!(
        seen,
        "exec {exec_id} (pid {ppid}) missing from the task's pids"
    );
    std::fs::write(&gate, b"").unwrap();
    let mut got = u32::MAX;
    check(ctrd_process_wait(p, 20_000, &mut got), CTRD_OK);
    assert_eq!(got, code, "exit status of {exec_id}");
    let mut deleted = u32::MAX;
    check(ctrd_process_delete(p, &mut deleted), CTRD_OK);
    assert_eq!(deleted, code, "exit status of {exec_id} on delete");
    ctrd_process_free(p);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        format!("{exec_id}\n")
    );
    std::fs::remove_file(&out).unwrap();
    std::fs::remove_file(&gate).unwrap();
}

#[test]
fn one_task_shared_by_many_threads() {
    const READERS: usize = 12;
    const EXECERS: usize = 4;
    let ns = Ns::new("conc-task");
    // The gate files live in a directory the container sees at the same path.
    let dir = tempfile::tempdir().unwrap();
    let spec = spec_for(ns.client, "busy", &["sleep", "1000"]);
    let mount = serde_json::json!({"mounts": [{
        "destination": dir.path(), "type": "bind", "source": dir.path(),
        "options": ["rbind", "rw"]
    }]});
    let mut spec_v: serde_json::Value = serde_json::from_str(&spec).unwrap();
    spec_v["mounts"]
        .as_array_mut()
        .unwrap()
        .extend(mount["mounts"].as_array().unwrap().iter().cloned());
    let k = container_with_spec(ns.client, "busy", &spec_v.to_string());
    let mut t = null_mut();
    check(ctrd_container_new_task(k, null(), &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    let init = ctrd_task_pid(t);
    let task = Shared(t);
    let (reads, execs) = (AtomicU64::new(0), AtomicU64::new(0));
    let start = Instant::now();
    let dirp = dir.path();
    std::thread::scope(|s| {
        for _ in 0..READERS {
            let reads = &reads;
            s.spawn(move || {
                let t = task;
                let mut n = 0u64;
                while start.elapsed() < RUN_FOR {
                    match n % 4 {
                        0 => {
                            let (mut st, mut code) = (CTRD_TASK_UNKNOWN, u32::MAX);
                            check(ctrd_task_status(t.0, &mut st, &mut code), CTRD_OK);
                            assert_eq!(st, CTRD_TASK_RUNNING);
                        }
                        1 => {
                            let (mut pids, mut len) = (null_mut(), 0usize);
                            check(ctrd_task_pids(t.0, &mut pids, &mut len), CTRD_OK);
                            // SAFETY: `pids` holds `len` pids from the library.
                            let v = unsafe { std::slice::from_raw_parts(pids, len) }.to_vec();
                            ctrd_pids_free(pids, len);
                            assert!(v.contains(&init), "init {init} missing from {v:?}");
                        }
                        2 => {
                            // Signal 0 is refused before any call; SIGCONT is
                            // harmless to a running sleep.
                            assert_eq!(ctrd_task_kill(t.0, 0, 0), CTRD_ERR_INVALID_ARGUMENT);
                            check(ctrd_task_kill(t.0, libc::SIGCONT, 0), CTRD_OK);
                        }
                        _ => {
                            assert_eq!(
                                ctrd_task_wait(t.0, 1, null_mut()),
                                CTRD_ERR_DEADLINE_EXCEEDED
                            );
                        }
                    }
                    n += 1;
                }
                reads.fetch_add(n, Ordering::Relaxed);
            });
        }
        for w in 0..EXECERS {
            let execs = &execs;
            s.spawn(move || {
                let t = task;
                let mut n = 0u64;
                while start.elapsed() < RUN_FOR {
                    let code = ((w as u64 * 37 + n * 11) % 256) as u32;
                    exec_once(t.0, &format!("x-{w}-{n}"), code, dirp);
                    n += 1;
                }
                execs.fetch_add(n, Ordering::Relaxed);
            });
        }
    });
    let secs = start.elapsed().as_secs_f64();
    let (reads, execs) = (reads.into_inner(), execs.into_inner());
    eprintln!(
        "figures: one task, {READERS} threads made {reads} status/pids/kill/wait calls while \
         {EXECERS} threads ran {execs} execs (exec+start+pids+wait+delete each), in {secs:.1} s, \
         all right"
    );
    assert!(execs >= EXECERS as u64);
    // Only init is left: every exec was reaped.
    let (mut pids, mut len) = (null_mut(), 0usize);
    check(ctrd_task_pids(t, &mut pids, &mut len), CTRD_OK);
    // SAFETY: `pids` holds `len` pids from the library.
    let left: BTreeSet<u32> = unsafe { std::slice::from_raw_parts(pids, len) }
        .iter()
        .copied()
        .collect();
    ctrd_pids_free(pids, len);
    assert_eq!(left, BTreeSet::from([init]), "processes left in the task");
    let mut code = 0;
    check(
        ctrd_task_delete(t, CTRD_TASK_DELETE_FORCE, &mut code),
        CTRD_OK,
    );
    assert_eq!(code, 137);
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}

/// The open file descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Threads that make calls and end, over and over: each has a runtime and a
/// connection of its own while it lives (and more threads at once than the
/// library gives one to), and what they held goes with them: no descriptor
/// is left behind, nothing aborts when a thread ends, and the calls made
/// meanwhile are right.
#[test]
fn threads_that_make_calls_and_end() {
    const ROUNDS: usize = 10;
    const THREADS: usize = 80; // more than the 64 threads with runtimes of their own
    let ns = Ns::new("conc-churn");
    let client = Shared(ns.client);
    let want_version = server_version(ns.client).unwrap();
    let k = container(&ns, "churn", &["true"]);
    let want_spec = spec_json(k);
    // One round first, so that what stays for the process's life (the
    // shared runtime's workers and connection) is there before counting.
    let round = || {
        let barrier = std::sync::Barrier::new(THREADS);
        std::thread::scope(|s| {
            for i in 0..THREADS {
                let (barrier, want_version, want_spec) = (&barrier, &want_version, &want_spec);
                s.spawn(move || {
                    let client = client;
                    barrier.wait(); // all alive at once
                    assert_eq!(&server_version(client.0).unwrap(), want_version);
                    if i % 2 == 0 {
                        let k = load(client.0, "churn");
                        assert_eq!(&spec_json(k), want_spec);
                        ctrd_container_free(k);
                    }
                });
            }
        });
    };
    round();
    let before = open_fds();
    let start = Instant::now();
    for _ in 0..ROUNDS {
        round();
    }
    let after = open_fds();
    eprintln!(
        "figures: {} threads in {ROUNDS} rounds of {THREADS} at once, each making calls, \
         in {:.1} s; open descriptors {before} before, {after} after",
        ROUNDS * THREADS,
        start.elapsed().as_secs_f64()
    );
    assert!(
        after <= before + 2,
        "descriptors left behind by ended threads: {before} before, {after} after"
    );
    remove_container(k);
    ns.assert_clean();
}
