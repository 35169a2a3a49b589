//! The completion queue (`ctrd_queue` and the `*_submit` functions)
//! against the private daemon: a whole lifecycle, bad input, cancellation
//! (cut, undone, finished), a queue freed with operations running, a wait
//! across a daemon restart, threads sharing a queue (pulls, pushes and
//! imports: tests/queue_images.rs).

mod common;

use std::ffi::CStr;
use std::ptr::{null, null_mut};
use std::sync::Mutex;

use common::queue::*;
use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;

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
    // runc's state is per namespace on the host, shared by every daemon:
    // an id of this process's own.
    let id = format!("rw-{}", std::process::id());
    let k = container_via(client, &id, &["sh", "-c", "sleep 3; exit 7"]);
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
