//! The completion queue (`ctrd_queue` and the `*_submit` functions)
//! against the private daemon: a whole lifecycle, bad input, cancellation
//! (cut, undone, finished), a queue freed with operations running, a wait
//! across a daemon restart, threads sharing a queue, and queued pulls and
//! imports with their progress and cancel.

mod common;

use std::ffi::{c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;

/// A completion as the test reads it; its handles stay to be freed.
#[derive(Debug)]
struct Done {
    tag: u64,
    status: ctrd_status,
    error: String,
    container: *mut ctrd_container,
    task: *mut ctrd_task,
    image: *mut ctrd_image,
    exit_status: u32,
    names: Vec<String>,
}

/// Takes a completion (waiting at most `ms`, < 0 for ever).
fn next_within(q: *mut ctrd_queue, ms: i64) -> Option<Done> {
    let mut c = std::mem::MaybeUninit::<ctrd_completion>::zeroed();
    match ctrd_queue_next(q, ms, c.as_mut_ptr()) {
        CTRD_OK => {}
        CTRD_ERR_DEADLINE_EXCEEDED => return None,
        s => panic!("ctrd_queue_next: {} {}", status_name(s), last_error()),
    }
    // SAFETY: written on success.
    let c = unsafe { c.assume_init() };
    assert!(c.process.is_null(), "no operation makes a process");
    let error = if c.error.is_null() {
        String::new()
    } else {
        take_string(c.error)
    };
    assert_eq!(c.status == CTRD_OK, error.is_empty(), "{error}");
    let names = if c.names.is_null() {
        assert_eq!(c.names_len, 0);
        Vec::new()
    } else {
        strings_outcome(CTRD_OK, c.names, c.names_len).unwrap()
    };
    Some(Done {
        tag: c.tag,
        status: c.status,
        error,
        container: c.container,
        task: c.task,
        image: c.image,
        exit_status: c.exit_status,
        names,
    })
}

fn next(q: *mut ctrd_queue) -> Done {
    next_within(q, -1).unwrap()
}

/// The completion of `tag`, which must be the next one.
#[track_caller]
fn done(q: *mut ctrd_queue, tag: u64) -> Done {
    let d = next(q);
    assert_eq!(d.tag, tag, "{d:?}");
    d
}

/// The completions of `a` and `b`, in whichever order they come (an exit
/// may come before the answer to the start or kill that caused it), as
/// (a's, b's).
#[track_caller]
fn both(q: *mut ctrd_queue, a: u64, b: u64) -> (Done, Done) {
    let (first, second) = (next(q), next(q));
    match (first.tag, second.tag) {
        (x, y) if x == a && y == b => (first, second),
        (x, y) if x == b && y == a => (second, first),
        _ => panic!("want tags {a} and {b}: {first:?} {second:?}"),
    }
}

#[track_caller]
fn ok(q: *mut ctrd_queue, tag: u64) -> Done {
    let d = done(q, tag);
    assert_eq!(d.status, CTRD_OK, "{}", d.error);
    d
}

fn new_queue() -> *mut ctrd_queue {
    let mut q = null_mut();
    check(ctrd_queue_new(&mut q), CTRD_OK);
    q
}

fn readable(q: *mut ctrd_queue) -> bool {
    let mut fds = [libc::pollfd {
        fd: ctrd_queue_fd(q),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) == 1 }
}

/// Waits (polling the descriptor, as an event loop does) for a completion.
fn wait_readable(q: *mut ctrd_queue) {
    let mut fds = [libc::pollfd {
        fd: ctrd_queue_fd(q),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd.
    assert_eq!(unsafe { libc::poll(fds.as_mut_ptr(), 1, 60_000) }, 1);
}

/// Holds the queue's ended operations (test hook) and says how many wait.
fn hold(q: *mut ctrd_queue, on: bool) -> usize {
    let mut held = 0;
    check(ctrd_debug_queue_hold(q, on, &mut held), CTRD_OK);
    held
}

fn until_held(q: *mut ctrd_queue, n: usize) {
    for _ in 0..3000 {
        if hold(q, true) == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{n} operations never reached the hold");
}

struct Opts {
    id: std::ffi::CString,
    spec: std::ffi::CString,
    image: std::ffi::CString,
}

impl Opts {
    fn new(client: *mut ctrd_client, id: &str, argv: &[&str]) -> Opts {
        Opts {
            id: c(id),
            spec: c(&spec_for(client, id, argv)),
            image: c(IMAGE),
        }
    }

    fn c(&self) -> ctrd_container_opts {
        ctrd_container_opts {
            struct_size: std::mem::size_of::<ctrd_container_opts>(),
            id: self.id.as_ptr(),
            spec_json: self.spec.as_ptr(),
            image: self.image.as_ptr(),
            snapshotter: null(),
            snapshot_key: self.id.as_ptr(),
            runtime: null(),
            labels: null(),
            runtime_options_json: null(),
        }
    }
}

/// Prepares the snapshot and creates container `id` through the queue.
fn create(ns: &Ns, q: *mut ctrd_queue, id: &str, argv: &[&str]) -> *mut ctrd_container {
    check(
        ctrd_snapshot_prepare_from_image_submit(
            ns.client,
            c(IMAGE).as_ptr(),
            null(),
            c(id).as_ptr(),
            q,
            1,
        ),
        CTRD_OK,
    );
    ok(q, 1);
    let o = Opts::new(ns.client, id, argv);
    check(
        ctrd_container_create_submit(ns.client, &o.c(), q, 2),
        CTRD_OK,
    );
    let k = ok(q, 2).container;
    assert!(!k.is_null());
    k
}

#[test]
fn a_lifecycle_through_the_queue() {
    let ns = Ns::new("queue-life");
    let q = new_queue();
    assert!(ctrd_queue_fd(q) >= 0);
    assert!(!readable(q));
    let k = create(&ns, q, "life", &["sh", "-c", "sleep 0.3; exit 3"]);
    // SAFETY: borrowed from a live handle.
    assert_eq!(unsafe { CStr::from_ptr(ctrd_container_id(k)) }, c"life");

    check(ctrd_container_new_task_submit(k, null(), q, 3), CTRD_OK);
    let t = ok(q, 3).task;
    assert!(!t.is_null());
    check(ctrd_task_wait_submit(t, q, 5), CTRD_OK);
    check(ctrd_task_start_submit(t, q, 4), CTRD_OK);
    wait_readable(q);
    // The wait's completion comes when the task exits.
    let (started, exited) = both(q, 4, 5);
    assert_eq!((started.status, exited.status), (CTRD_OK, CTRD_OK));
    assert!(started.container.is_null() && started.task.is_null());
    assert_ne!(ctrd_task_pid(t), 0, "the start recorded the pid");
    assert_eq!(exited.exit_status, 3);
    assert!(!readable(q), "nothing waits");

    check(ctrd_task_delete_submit(t, 0, q, 6), CTRD_OK);
    assert_eq!(ok(q, 6).exit_status, 3);
    ctrd_task_free(t);

    // A load and a server version.
    check(
        ctrd_container_load_submit(ns.client, c("life").as_ptr(), q, 7),
        CTRD_OK,
    );
    let loaded = ok(q, 7).container;
    ctrd_container_free(loaded);
    check(ctrd_client_server_version_submit(ns.client, q, 8), CTRD_OK);
    let v = ok(q, 8);
    assert_eq!(v.names, {
        let (ver, rev) = server_version(ns.client).unwrap();
        vec![ver, rev]
    });

    check(ctrd_container_delete_submit(k, 0, q, 9), CTRD_OK);
    ok(q, 9);
    ctrd_container_free(k);
    ctrd_queue_free(q);
    ns.assert_clean();
}

#[test]
fn exec_processes_through_the_queue() {
    let ns = Ns::new("queue-exec");
    let q = new_queue();
    let k = create(&ns, q, "ex", &["sleep", "30"]);
    check(ctrd_container_new_task_submit(k, null(), q, 3), CTRD_OK);
    let t = ok(q, 3).task;
    check(ctrd_task_start_submit(t, q, 4), CTRD_OK);
    ok(q, 4);
    let process =
        r#"{"args":["sh","-c","exit 6"],"cwd":"/","user":{"uid":0,"gid":0},"env":["PATH=/bin"]}"#;
    let mut p = null_mut();
    check(
        ctrd_task_exec(t, c("x1").as_ptr(), c(process).as_ptr(), null(), &mut p),
        CTRD_OK,
    );
    check(ctrd_process_start_submit(p, q, 10), CTRD_OK);
    ok(q, 10);
    assert_ne!(ctrd_process_pid(p), 0);
    check(ctrd_process_wait_submit(p, q, 11), CTRD_OK);
    assert_eq!(ok(q, 11).exit_status, 6);
    ctrd_process_free(p);
    check(ctrd_task_kill_submit(t, 9, CTRD_KILL_ALL, q, 12), CTRD_OK);
    ok(q, 12);
    check(ctrd_task_delete_submit(t, 0, q, 13), CTRD_OK);
    let deleted = done(q, 13);
    // Killed: deleted with 137, or not stopped yet (the delete raced the
    // kill) and then deleted by force.
    if deleted.status != CTRD_OK {
        check(
            ctrd_task_delete_submit(t, CTRD_TASK_DELETE_FORCE, q, 13),
            CTRD_OK,
        );
        assert_eq!(ok(q, 13).exit_status, 137);
    } else {
        assert_eq!(deleted.exit_status, 137);
    }
    ctrd_task_free(t);
    check(ctrd_container_delete_submit(k, 0, q, 14), CTRD_OK);
    ok(q, 14);
    ctrd_container_free(k);
    ctrd_queue_free(q);
    ns.assert_clean();
}

#[test]
fn bad_input_is_refused_at_submission() {
    let ns = Ns::new("queue-bad");
    let q = new_queue();
    let refused = |status: ctrd_status, want: ctrd_status, text: &str| {
        let e = last_error();
        assert_eq!(status, want, "{e}");
        assert!(e.contains(text), "{e:?} lacks {text:?}");
    };
    // NULL queue, client or handle.
    refused(
        ctrd_client_server_version_submit(ns.client, null_mut(), 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "queue is NULL",
    );
    refused(
        ctrd_client_server_version_submit(null_mut(), q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "client is NULL",
    );
    refused(
        ctrd_task_start_submit(null_mut(), q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "task is NULL",
    );
    refused(
        ctrd_task_wait_submit(null_mut(), q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "task is NULL",
    );
    refused(
        ctrd_process_wait_submit(null_mut(), q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "process is NULL",
    );
    refused(
        ctrd_container_delete_submit(null_mut(), 0, q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "container is NULL",
    );
    refused(
        ctrd_container_new_task_submit(null_mut(), null(), q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "container is NULL",
    );
    // Bad arguments.
    refused(
        ctrd_container_load_submit(ns.client, c("bad id!").as_ptr(), q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "container id",
    );
    let o = Opts::new(ns.client, "x", &["true"]);
    let mut bad = o.c();
    let not_json = c("{not json");
    bad.spec_json = not_json.as_ptr();
    refused(
        ctrd_container_create_submit(ns.client, &bad, q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "spec",
    );
    refused(
        ctrd_container_create_submit(ns.client, null(), q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "opts is NULL",
    );
    refused(
        ctrd_snapshot_prepare_from_image_submit(
            ns.client,
            c(IMAGE).as_ptr(),
            null(),
            c("").as_ptr(),
            q,
            1,
        ),
        CTRD_ERR_INVALID_ARGUMENT,
        "key is empty",
    );
    refused(
        ctrd_image_pull_submit(ns.client, c("Bad Ref").as_ptr(), null(), q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "Bad Ref",
    );
    let platform = c("not/a/real/platform/x");
    let opts = ctrd_pull_opts {
        platform: platform.as_ptr(),
        ..ctrd_pull_opts::default()
    };
    refused(
        ctrd_image_pull_submit(ns.client, c("busybox").as_ptr(), &opts, q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "platform",
    );
    refused(
        ctrd_image_import_submit(ns.client, c("relative.tar").as_ptr(), null(), q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "absolute",
    );
    // A tag in use: running, then finished but not taken; free once taken.
    let k = create(&ns, q, "bad", &["sleep", "30"]);
    check(ctrd_container_new_task_submit(k, null(), q, 3), CTRD_OK);
    let t = ok(q, 3).task;
    refused(
        ctrd_task_kill_submit(t, 0, 0, q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "signal 0",
    );
    refused(
        ctrd_task_kill_submit(t, 9, 0x10, q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "unknown flags",
    );
    refused(
        ctrd_task_delete_submit(t, 0x10, q, 1),
        CTRD_ERR_INVALID_ARGUMENT,
        "unknown flags",
    );
    check(ctrd_task_wait_submit(t, q, 77), CTRD_OK);
    refused(
        ctrd_client_server_version_submit(ns.client, q, 77),
        CTRD_ERR_ALREADY_EXISTS,
        "tag 77",
    );
    check(ctrd_task_start_submit(t, q, 78), CTRD_OK);
    wait_readable(q);
    refused(
        ctrd_client_server_version_submit(ns.client, q, 78),
        CTRD_ERR_ALREADY_EXISTS,
        "tag 78",
    );
    refused(
        ctrd_queue_cancel(q, 78),
        CTRD_ERR_NOT_FOUND,
        "finished already",
    );
    ok(q, 78);
    check(ctrd_client_server_version_submit(ns.client, q, 78), CTRD_OK);
    ok(q, 78);
    refused(ctrd_queue_cancel(q, 12345), CTRD_ERR_NOT_FOUND, "tag 12345");
    // Nothing was submitted by the refused calls: only the wait runs.
    assert!(next_within(q, 0).is_none());
    check(ctrd_task_kill_submit(t, 9, 0, q, 79), CTRD_OK);
    let (killed, exited) = both(q, 79, 77);
    assert_eq!((killed.status, exited.status), (CTRD_OK, CTRD_OK));
    assert_eq!(exited.exit_status, 137);
    assert!(next_within(q, 200).is_none());
    check(ctrd_task_delete(t, 0, null_mut()), CTRD_OK);
    ctrd_task_free(t);
    remove_container(k);
    ctrd_queue_free(q);
    ctrd_queue_free(null_mut());
    ns.assert_clean();
}

#[test]
fn a_cancel_cuts_a_wait_and_undoes_what_a_create_made() {
    let ns = Ns::new("queue-cancel");
    let q = new_queue();
    let k = create(&ns, q, "cw", &["sleep", "30"]);
    check(ctrd_container_new_task_submit(k, null(), q, 3), CTRD_OK);
    let t = ok(q, 3).task;
    check(ctrd_task_start_submit(t, q, 4), CTRD_OK);
    ok(q, 4);
    // A wait is cut at once; the task goes on.
    check(ctrd_task_wait_submit(t, q, 5), CTRD_OK);
    check(ctrd_queue_cancel(q, 5), CTRD_OK);
    check(ctrd_queue_cancel(q, 5), CTRD_OK);
    let cut = done(q, 5);
    assert_eq!(cut.status, CTRD_ERR_CANCELLED, "{}", cut.error);
    assert!(
        cut.error.starts_with("ctrd_task_wait_submit: cancelled"),
        "{}",
        cut.error
    );
    let mut state = ctrd_task_state::CTRD_TASK_UNKNOWN;
    check(ctrd_task_status(t, &mut state, null_mut()), CTRD_OK);
    assert_eq!(state, ctrd_task_state::CTRD_TASK_RUNNING);

    // A kill whose work is done cannot be taken back: its completion says
    // what it did.
    hold(q, true);
    check(ctrd_task_kill_submit(t, 9, 0, q, 6), CTRD_OK);
    until_held(q, 1);
    check(ctrd_queue_cancel(q, 6), CTRD_OK);
    hold(q, false);
    ok(q, 6);
    check(
        ctrd_task_delete(t, CTRD_TASK_DELETE_FORCE, null_mut()),
        CTRD_OK,
    );
    ctrd_task_free(t);

    // A new task the daemon made is deleted again.
    hold(q, true);
    check(ctrd_container_new_task_submit(k, null(), q, 7), CTRD_OK);
    until_held(q, 1);
    let mut loaded = null_mut();
    check(ctrd_container_load_task(k, &mut loaded), CTRD_OK);
    ctrd_task_free(loaded);
    check(ctrd_queue_cancel(q, 7), CTRD_OK);
    hold(q, false);
    let undone = done(q, 7);
    assert_eq!(undone.status, CTRD_ERR_CANCELLED, "{}", undone.error);
    assert!(undone.task.is_null());
    assert_eq!(
        ctrd_container_load_task(k, &mut loaded),
        CTRD_ERR_NOT_FOUND,
        "the task was left"
    );
    remove_container(k);

    // A snapshot and a container the daemon made are removed again; the
    // container's snapshot stays (as with CTRD_DELETE_KEEP_SNAPSHOT).
    hold(q, true);
    check(
        ctrd_snapshot_prepare_from_image_submit(
            ns.client,
            c(IMAGE).as_ptr(),
            null(),
            c("cs").as_ptr(),
            q,
            8,
        ),
        CTRD_OK,
    );
    until_held(q, 1);
    assert!(ns.snapshot_keys().contains(&"cs".to_string()));
    check(ctrd_queue_cancel(q, 8), CTRD_OK);
    hold(q, false);
    assert_eq!(done(q, 8).status, CTRD_ERR_CANCELLED);
    assert!(
        !ns.snapshot_keys().contains(&"cs".to_string()),
        "snapshot left"
    );
    assert_eq!(ns.lease_ids(), Vec::<String>::new(), "lease left");

    check(
        ctrd_snapshot_prepare_from_image(ns.client, c(IMAGE).as_ptr(), null(), c("cc").as_ptr()),
        CTRD_OK,
    );
    let o = Opts::new(ns.client, "cc", &["true"]);
    hold(q, true);
    check(
        ctrd_container_create_submit(ns.client, &o.c(), q, 9),
        CTRD_OK,
    );
    until_held(q, 1);
    assert_eq!(ns.container_ids(), ["cc"]);
    check(ctrd_queue_cancel(q, 9), CTRD_OK);
    hold(q, false);
    let undone = done(q, 9);
    assert_eq!(undone.status, CTRD_ERR_CANCELLED, "{}", undone.error);
    assert!(undone.container.is_null());
    assert_eq!(ns.container_ids(), Vec::<String>::new(), "container left");
    assert!(
        ns.snapshot_keys().contains(&"cc".to_string()),
        "its snapshot went"
    );
    check(
        ctrd_snapshot_remove(ns.client, null(), c("cc").as_ptr()),
        CTRD_OK,
    );

    // Cancelled before it ran (right after the submission) or undone: no
    // container either way.
    check(
        ctrd_snapshot_prepare_from_image(ns.client, c(IMAGE).as_ptr(), null(), c("cc").as_ptr()),
        CTRD_OK,
    );
    check(
        ctrd_container_create_submit(ns.client, &o.c(), q, 10),
        CTRD_OK,
    );
    check(ctrd_queue_cancel(q, 10), CTRD_OK);
    assert_eq!(done(q, 10).status, CTRD_ERR_CANCELLED);
    assert_eq!(ns.container_ids(), Vec::<String>::new(), "container left");
    check(
        ctrd_snapshot_remove(ns.client, null(), c("cc").as_ptr()),
        CTRD_OK,
    );
    ctrd_queue_free(q);
    ns.assert_clean();
}

#[test]
fn a_queue_freed_with_operations_running() {
    let ns = Ns::new("queue-free");
    let q = new_queue();
    let k = create(&ns, q, "fw", &["sleep", "30"]);
    check(ctrd_container_new_task_submit(k, null(), q, 3), CTRD_OK);
    let t = ok(q, 3).task;
    check(ctrd_task_start_submit(t, q, 4), CTRD_OK);
    ok(q, 4);
    // Waits that never end, a create held after the daemon made it, and
    // completions nobody takes.
    for tag in 100..110 {
        check(ctrd_task_wait_submit(t, q, tag), CTRD_OK);
    }
    for tag in 200..205 {
        check(
            ctrd_client_server_version_submit(ns.client, q, tag),
            CTRD_OK,
        );
    }
    check(
        ctrd_container_load_submit(ns.client, c("fw").as_ptr(), q, 6),
        CTRD_OK,
    );
    wait_readable(q);
    check(
        ctrd_snapshot_prepare_from_image(ns.client, c(IMAGE).as_ptr(), null(), c("fc").as_ptr()),
        CTRD_OK,
    );
    let o = Opts::new(ns.client, "fc", &["true"]);
    hold(q, true);
    check(
        ctrd_container_create_submit(ns.client, &o.c(), q, 5),
        CTRD_OK,
    );
    until_held(q, 1);
    assert_eq!(ns.container_ids().len(), 2);
    ctrd_queue_free(q);
    // The create was undone before the free returned; the task runs on.
    assert_eq!(ns.container_ids(), ["fw"]);
    let mut state = ctrd_task_state::CTRD_TASK_UNKNOWN;
    check(ctrd_task_status(t, &mut state, null_mut()), CTRD_OK);
    assert_eq!(state, ctrd_task_state::CTRD_TASK_RUNNING);
    check(
        ctrd_task_delete(t, CTRD_TASK_DELETE_FORCE, null_mut()),
        CTRD_OK,
    );
    ctrd_task_free(t);
    remove_container(k);
    check(
        ctrd_snapshot_remove(ns.client, null(), c("fc").as_ptr()),
        CTRD_OK,
    );
    ns.assert_clean();
}

#[test]
fn a_queued_wait_is_made_again_across_a_daemon_restart() {
    let daemon = Daemon::start();
    daemon.import_image("default");
    let client = connect(&daemon.address(), "default");
    let q = new_queue();
    let k = container_via(client, "rw", &["sh", "-c", "sleep 3; exit 7"]);
    let mut t = null_mut();
    check(ctrd_container_new_task(k, null(), &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    check(ctrd_task_wait_submit(t, q, 1), CTRD_OK);
    daemon.restart();
    let d = ok(q, 1);
    assert_eq!(d.exit_status, 7);
    check(ctrd_task_delete(t, 0, null_mut()), CTRD_OK);
    ctrd_task_free(t);
    remove_container(k);
    ctrd_queue_free(q);
    ctrd_client_free(client);
}

#[test]
fn threads_share_a_queue() {
    let ns = Ns::bare("queue-threads");
    let q = new_queue();
    struct Shared(*mut ctrd_queue, *mut ctrd_client);
    // SAFETY: the queue and the client are thread-safe (C contract).
    unsafe impl Sync for Shared {}
    let shared = Shared(q, ns.client);
    let seen = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for thread in 0..4u64 {
            let shared = &shared;
            s.spawn(move || {
                for i in 0..25 {
                    check(
                        ctrd_client_server_version_submit(shared.1, shared.0, thread * 100 + i),
                        CTRD_OK,
                    );
                }
            });
        }
        for _ in 0..2 {
            let (shared, seen) = (&shared, &seen);
            s.spawn(move || loop {
                if seen.lock().unwrap().len() >= 100 {
                    break;
                }
                if let Some(d) = next_within(shared.0, 50) {
                    assert_eq!(d.status, CTRD_OK, "{}", d.error);
                    assert_eq!(d.names.len(), 2);
                    seen.lock().unwrap().push(d.tag);
                }
            });
        }
    });
    let mut seen = seen.into_inner().unwrap();
    seen.sort();
    let want: Vec<u64> = (0..4)
        .flat_map(|t| (0..25).map(move |i| t * 100 + i))
        .collect();
    assert_eq!(seen, want, "each completion once");
    assert!(!readable(q));
    ctrd_queue_free(q);
}

/// Progress of a queued pull: the phases seen, and whether a call came after
/// the completion was taken.
#[derive(Default)]
struct Progress {
    phases: Mutex<Vec<String>>,
    taken: AtomicBool,
    late: AtomicUsize,
    /// Cancels tag 2 of this queue at the first layer fetched.
    cancel: Mutex<Option<QueuePtr>>,
}

#[derive(Clone, Copy)]
struct QueuePtr(*mut ctrd_queue);
// SAFETY: a queue is thread-safe (C contract).
unsafe impl Send for QueuePtr {}

unsafe extern "C-unwind" fn progress_cb(user: *mut c_void, p: *const ctrd_progress) {
    // SAFETY: the test passes a Progress alive for the pull; `p` is valid
    // during the call.
    let (w, p) = unsafe { (&*(user as *const Progress), &*p) };
    // SAFETY: NUL-terminated, valid during the call.
    let phase = unsafe { CStr::from_ptr(p.phase) }
        .to_string_lossy()
        .into_owned();
    if w.taken.load(Ordering::SeqCst) {
        w.late.fetch_add(1, Ordering::SeqCst);
    }
    if phase == "fetching" && p.layers_done >= 1 {
        if let Some(q) = w.cancel.lock().unwrap().take() {
            check(ctrd_queue_cancel(q.0, 2), CTRD_OK);
        }
    }
    w.phases.lock().unwrap().push(phase);
}

/// A TCP proxy to `upstream` that sends answers on slowly (about 4 MB/s),
/// so that a pull lasts long enough to be cancelled midway.
fn slow_proxy(upstream: String) -> String {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let copy = |mut from: TcpStream, mut to: TcpStream, slow: bool| {
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 16 << 10];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        if slow {
                            std::thread::sleep(Duration::from_millis(4));
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
    host
}

#[test]
fn queued_pulls_and_imports() {
    let reg = Registry::start(false);
    // A daemon of its own: none of the blobs may be there already.
    let daemon = Daemon::start();
    let client = connect(&daemon.address(), "default");
    let q = new_queue();
    let (user, secret) = (c(reg.user()), c(reg.password()));
    let opts_with = |w: &Progress| ctrd_pull_opts {
        username: user.as_ptr(),
        secret: secret.as_ptr(),
        plain_http: true,
        no_unpack: true,
        progress: Some(progress_cb),
        user_data: w as *const Progress as *mut c_void,
        ..ctrd_pull_opts::default()
    };

    // Cancelled through the queue midway: what was fetched stays for the
    // next pull, under the image's resume lease.
    let proxy = slow_proxy(reg.host().to_string());
    let slow_ref = c(&format!("{proxy}/ctrd/layers:latest"));
    let w = Progress::default();
    *w.cancel.lock().unwrap() = Some(QueuePtr(q));
    check(
        ctrd_image_pull_submit(client, slow_ref.as_ptr(), &opts_with(&w), q, 2),
        CTRD_OK,
    );
    let cut = done(q, 2);
    w.taken.store(true, Ordering::SeqCst);
    assert_eq!(cut.status, CTRD_ERR_CANCELLED, "{}", cut.error);
    assert!(
        cut.error.starts_with("ctrd_image_pull_submit: "),
        "{}",
        cut.error
    );
    assert!(
        w.cancel.lock().unwrap().is_none(),
        "cancelled before a layer came"
    );
    let leases = run(daemon.ctr("default").args(["leases", "ls", "-q"]));
    assert!(
        leases
            .lines()
            .any(|l| l.starts_with("containerd-c.pull-resume.")),
        "{leases}"
    );

    // The caller's own signal works as for the blocking pull.
    let mut signal = null_mut();
    check(ctrd_cancel_new(&mut signal), CTRD_OK);
    ctrd_cancel_trigger(signal);
    let w2 = Progress::default();
    let o = ctrd_pull_opts {
        cancel: signal,
        ..opts_with(&w2)
    };
    check(
        ctrd_image_pull_submit(client, slow_ref.as_ptr(), &o, q, 3),
        CTRD_OK,
    );
    assert_eq!(done(q, 3).status, CTRD_ERR_CANCELLED);
    ctrd_cancel_free(signal);

    // A whole pull: progress ends with "done" before the completion.
    let reference = c(&reg.reference("layers:latest"));
    let w3 = Progress::default();
    check(
        ctrd_image_pull_submit(client, reference.as_ptr(), &opts_with(&w3), q, 4),
        CTRD_OK,
    );
    let pulled = ok(q, 4);
    w3.taken.store(true, Ordering::SeqCst);
    assert!(!pulled.image.is_null());
    // SAFETY: borrowed from a live handle.
    let name = unsafe { CStr::from_ptr(ctrd_image_name(pulled.image)) };
    assert_eq!(name.to_str().unwrap(), reg.reference("layers:latest"));
    // SAFETY: borrowed from a live handle.
    let pulled_digest = unsafe { CStr::from_ptr(ctrd_image_digest(pulled.image)) }.to_owned();
    ctrd_image_free(pulled.image);
    assert_eq!(w3.phases.lock().unwrap().last().unwrap(), "done");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        w3.late.load(Ordering::SeqCst),
        0,
        "progress after the completion"
    );
    assert_eq!(
        w.late.load(Ordering::SeqCst),
        0,
        "progress after the completion"
    );

    // A push of it under another name, and its bad input; a pull of what
    // was pushed.
    let name = c(&reg.reference("layers:latest"));
    let pushed = c(&reg.reference("queued/pushed:1"));
    let push_opts = ctrd_push_opts {
        username: user.as_ptr(),
        secret: secret.as_ptr(),
        plain_http: true,
        ..ctrd_push_opts::default()
    };
    check(
        ctrd_image_push_submit(client, c("").as_ptr(), null(), &push_opts, q, 6),
        CTRD_ERR_INVALID_ARGUMENT,
    );
    check(
        ctrd_image_push_submit(
            client,
            name.as_ptr(),
            c("Bad Ref").as_ptr(),
            &push_opts,
            q,
            6,
        ),
        CTRD_ERR_INVALID_ARGUMENT,
    );
    check(
        ctrd_image_push_submit(client, name.as_ptr(), pushed.as_ptr(), &push_opts, q, 6),
        CTRD_OK,
    );
    ok(q, 6);
    let w4 = Progress::default();
    check(
        ctrd_image_pull_submit(client, pushed.as_ptr(), &opts_with(&w4), q, 7),
        CTRD_OK,
    );
    let again = ok(q, 7);
    // SAFETY: borrowed from a live handle.
    let digest = unsafe { CStr::from_ptr(ctrd_image_digest(again.image)) }.to_owned();
    assert_eq!(digest, pulled_digest, "pushed as it was pulled");
    ctrd_image_free(again.image);

    // An import.
    let tar = c(image_tar().to_str().unwrap());
    check(
        ctrd_image_import_submit(client, tar.as_ptr(), null(), q, 5),
        CTRD_OK,
    );
    let imported = ok(q, 5);
    assert_eq!(imported.names, [IMAGE]);
    ctrd_queue_free(q);
    ctrd_client_free(client);
}
