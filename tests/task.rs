//! Tasks against the real private containerd: the lifecycle (start, wait,
//! kill, status, delete, pause/resume, pids), exit codes, exec, terminals,
//! async wait, and bad input. stdio here goes to plain files; tests/stdio.rs
//! covers FIFOs and re-attaching.

mod common;

use std::ffi::{c_void, CStr, CString};
use std::path::Path;
use std::ptr::{null, null_mut};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::ctrd_task_state::*;
use containerd_c::ffi::*;

/// stdio paths for a task; NULL for `None`.
struct Io {
    paths: [Option<CString>; 3],
    terminal: bool,
}

impl Io {
    fn none() -> Io {
        Io {
            paths: [None, None, None],
            terminal: false,
        }
    }
    fn files(stdout: &Path, stderr: &Path) -> Io {
        for p in [stdout, stderr] {
            std::fs::write(p, b"").unwrap();
        }
        Io {
            paths: [
                None,
                Some(c(stdout.to_str().unwrap())),
                Some(c(stderr.to_str().unwrap())),
            ],
            terminal: false,
        }
    }
    fn raw(&self) -> ctrd_io {
        let p = |i: usize| self.paths[i].as_ref().map_or(null(), |s| s.as_ptr());
        ctrd_io {
            stdin_path: p(0),
            stdout_path: p(1),
            stderr_path: p(2),
            terminal: self.terminal,
        }
    }
}

fn new_task(k: *mut ctrd_container, io: &Io) -> *mut ctrd_task {
    let raw = io.raw();
    let mut t = null_mut();
    check(ctrd_container_new_task(k, &raw, &mut t), CTRD_OK);
    t
}

fn wait(t: *mut ctrd_task, timeout_ms: i64) -> Result<u32, ctrd_status> {
    let mut code = 12345;
    match ctrd_task_wait(t, timeout_ms, &mut code) {
        CTRD_OK => Ok(code),
        s => {
            assert_eq!(code, 12345, "exit status written on failure");
            Err(s)
        }
    }
}

fn state(t: *mut ctrd_task) -> ctrd_task_state {
    let mut s = CTRD_TASK_UNKNOWN;
    check(ctrd_task_status(t, &mut s, null_mut()), CTRD_OK);
    s
}

fn delete_task(t: *mut ctrd_task, flags: u32) -> u32 {
    let mut code = 0;
    check(ctrd_task_delete(t, flags, &mut code), CTRD_OK);
    code
}

fn cstr(p: *const std::ffi::c_char) -> String {
    // SAFETY: a borrowed NUL-terminated string from the library, copied at once.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
}

/// Runs `argv` in a fresh container to its end; returns (exit, stdout, stderr).
fn run_to_end(ns: &Ns, id: &str, argv: &[&str]) -> (u32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let k = container(ns, id, argv);
    let t = new_task(k, &Io::files(&out, &err));
    assert!(ctrd_task_pid(t) > 0);
    assert_eq!(state(t), CTRD_TASK_CREATED);
    check(ctrd_task_start(t), CTRD_OK);
    let code = wait(t, 20_000).unwrap();
    assert_eq!(state(t), CTRD_TASK_STOPPED);
    assert_eq!(delete_task(t, 0), code);
    ctrd_task_free(t);
    remove_container(k);
    (
        code,
        std::fs::read_to_string(out).unwrap(),
        std::fs::read_to_string(err).unwrap(),
    )
}

#[test]
fn exit_codes_and_separate_stdout_and_stderr() {
    let ns = Ns::new("exits");
    let (code, out, err) = run_to_end(
        &ns,
        "ok",
        &["sh", "-c", "printf 'to out\\n'; printf 'to err' >&2"],
    );
    assert_eq!(
        (code, out.as_str(), err.as_str()),
        (0, "to out\n", "to err")
    );
    let (code, ..) = run_to_end(&ns, "seven", &["sh", "-c", "exit 7"]);
    assert_eq!(code, 7);
    ns.assert_clean();
}

#[test]
fn kill_wait_timeout_and_forced_delete() {
    let ns = Ns::new("kill");
    let k = container(&ns, "sleeper", &["sleep", "1000"]);
    let t = new_task(k, &Io::none());
    check(ctrd_task_start(t), CTRD_OK);
    assert_eq!(state(t), CTRD_TASK_RUNNING);

    // A wait that times out leaves the task running.
    assert_eq!(wait(t, 200), Err(CTRD_ERR_DEADLINE_EXCEEDED));
    assert!(
        last_error().contains("did not exit within 200 ms"),
        "{}",
        last_error()
    );
    assert_eq!(state(t), CTRD_TASK_RUNNING);

    // Deleting a running task is refused, and changes nothing.
    let mut code = 99;
    assert_eq!(
        ctrd_task_delete(t, 0, &mut code),
        CTRD_ERR_FAILED_PRECONDITION,
        "{}",
        last_error()
    );
    assert!(last_error().contains("running"), "{}", last_error());
    assert_eq!(code, 99);
    assert_eq!(state(t), CTRD_TASK_RUNNING);
    // So is deleting its container.
    assert_eq!(ctrd_container_delete(k, 0), CTRD_ERR_FAILED_PRECONDITION);

    // pids: the init process is there.
    let (mut pids, mut len) = (null_mut(), 0usize);
    check(ctrd_task_pids(t, &mut pids, &mut len), CTRD_OK);
    // SAFETY: `pids` holds `len` numbers from the library.
    let list = unsafe { std::slice::from_raw_parts(pids, len) }.to_vec();
    ctrd_pids_free(pids, len);
    assert!(list.contains(&ctrd_task_pid(t)), "{list:?}");

    // SIGKILL: exit status 137.
    check(ctrd_task_kill(t, 9, 0), CTRD_OK);
    assert_eq!(wait(t, 20_000), Ok(137));
    assert_eq!(delete_task(t, 0), 137);
    ctrd_task_free(t);

    // Forced delete of a running task kills it first.
    let t = new_task(k, &Io::none());
    check(ctrd_task_start(t), CTRD_OK);
    assert_eq!(delete_task(t, CTRD_TASK_DELETE_FORCE), 137);
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn pause_resume_and_forced_delete_of_a_paused_task() {
    let ns = Ns::new("pause");
    let k = container(&ns, "p1", &["sleep", "1000"]);
    let t = new_task(k, &Io::none());
    check(ctrd_task_start(t), CTRD_OK);
    check(ctrd_task_pause(t), CTRD_OK);
    assert_eq!(state(t), CTRD_TASK_PAUSED);
    check(ctrd_task_resume(t), CTRD_OK);
    assert_eq!(state(t), CTRD_TASK_RUNNING);
    check(ctrd_task_pause(t), CTRD_OK);
    assert_eq!(delete_task(t, CTRD_TASK_DELETE_FORCE), 137);
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn load_task_finds_the_running_task() {
    let ns = Ns::new("load");
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let k = container(&ns, "l1", &["sleep", "1000"]);
    let t = new_task(k, &Io::files(&out, &err));
    check(ctrd_task_start(t), CTRD_OK);

    let mut loaded = null_mut();
    check(ctrd_container_load_task(k, &mut loaded), CTRD_OK);
    assert_eq!(ctrd_task_pid(loaded), ctrd_task_pid(t));
    assert_eq!(cstr(ctrd_task_id(loaded)), "l1");
    let mut io = ctrd_io {
        stdin_path: null(),
        stdout_path: null(),
        stderr_path: null(),
        terminal: true,
    };
    check(ctrd_task_io(loaded, &mut io), CTRD_OK);
    assert_eq!(cstr(io.stdin_path), "");
    assert_eq!(cstr(io.stdout_path), out.to_str().unwrap());
    assert_eq!(cstr(io.stderr_path), err.to_str().unwrap());
    assert!(!io.terminal);
    assert_eq!(
        cstr(ctrd_task_fifo_dir(loaded)),
        dir.path().to_str().unwrap()
    );

    // The loaded handle drives the same task.
    // (SIGKILL: a container's pid 1 ignores signals it has no handler for.)
    check(ctrd_task_kill(loaded, 9, CTRD_KILL_ALL), CTRD_OK);
    assert_eq!(wait(t, 20_000), Ok(137));
    assert_eq!(delete_task(loaded, 0), 137);
    let mut none = null_mut();
    assert_eq!(ctrd_container_load_task(k, &mut none), CTRD_ERR_NOT_FOUND);
    assert!(none.is_null());
    ctrd_task_free(t);
    ctrd_task_free(loaded);
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn only_one_output_stream_still_works() {
    // containerd 1.6's shim fails on a task whose stdout is set but whose
    // stderr is ""; the library fills the unused one with /dev/null.
    let ns = Ns::new("oneout");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::write(&out, b"").unwrap();
    let k = container(&ns, "o1", &["sh", "-c", "echo only-out; echo lost >&2"]);
    let outc = c(out.to_str().unwrap());
    let io = ctrd_io {
        stdin_path: null(),
        stdout_path: outc.as_ptr(),
        stderr_path: c"".as_ptr(),
        terminal: false,
    };
    let mut t = null_mut();
    check(ctrd_container_new_task(k, &io, &mut t), CTRD_OK);
    // The stand-in is not reported as a path.
    let mut back = ctrd_io {
        stdin_path: null(),
        stdout_path: null(),
        stderr_path: null(),
        terminal: false,
    };
    let mut loaded = null_mut();
    check(ctrd_container_load_task(k, &mut loaded), CTRD_OK);
    check(ctrd_task_io(loaded, &mut back), CTRD_OK);
    assert_eq!(cstr(back.stderr_path), "");
    check(ctrd_task_start(t), CTRD_OK);
    assert_eq!(wait(t, 20_000), Ok(0));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "only-out\n");
    delete_task(t, 0);
    ctrd_task_free(t);
    ctrd_task_free(loaded);
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn exec_has_its_own_output_and_exit_code() {
    let ns = Ns::new("exec");
    let k = container(&ns, "e1", &["sleep", "1000"]);
    let t = new_task(k, &Io::none());
    check(ctrd_task_start(t), CTRD_OK);

    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("out"), dir.path().join("err"));
    let io = Io::files(&out, &err);
    let process = r#"{"args":["sh","-c","echo exec-out; echo exec-err >&2; exit 5"],"cwd":"/","user":{"uid":0,"gid":0},"env":["PATH=/bin"]}"#;
    let mut p = null_mut();
    let raw = io.raw();
    check(
        ctrd_task_exec(t, c("x1").as_ptr(), c(process).as_ptr(), &raw, &mut p),
        CTRD_OK,
    );
    assert_eq!(ctrd_process_pid(p), 0);
    check(ctrd_process_start(p), CTRD_OK);
    assert!(ctrd_process_pid(p) > 0);
    let mut code = 0;
    check(ctrd_process_wait(p, 20_000, &mut code), CTRD_OK);
    assert_eq!(code, 5);
    let mut deleted = 0;
    check(ctrd_process_delete(p, &mut deleted), CTRD_OK);
    assert_eq!(deleted, 5);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "exec-out\n");
    assert_eq!(std::fs::read_to_string(&err).unwrap(), "exec-err\n");
    ctrd_process_free(p);

    // The same exec id twice, and an exec that is killed.
    let mut p = null_mut();
    let sleeper = r#"{"args":["/bin/sleep","1000"],"cwd":"/","user":{"uid":0,"gid":0}}"#;
    check(
        ctrd_task_exec(t, c("x2").as_ptr(), c(sleeper).as_ptr(), null(), &mut p),
        CTRD_OK,
    );
    let mut dup = null_mut();
    assert_eq!(
        ctrd_task_exec(t, c("x2").as_ptr(), c(sleeper).as_ptr(), null(), &mut dup),
        CTRD_ERR_ALREADY_EXISTS
    );
    check(ctrd_process_start(p), CTRD_OK);
    // No terminal: a resize is refused by the library (the shim would
    // silently ignore it).
    assert_eq!(ctrd_process_resize(p, 80, 24), CTRD_ERR_FAILED_PRECONDITION);
    assert_eq!(
        last_error(),
        "ctrd_process_resize: exec process \"x2\" of task \"e1\" has no terminal to resize"
    );
    assert_eq!(
        ctrd_process_wait(p, 100, null_mut()),
        CTRD_ERR_DEADLINE_EXCEEDED
    );
    check(ctrd_process_kill(p, 9), CTRD_OK);
    check(ctrd_process_wait(p, 20_000, &mut code), CTRD_OK);
    assert_eq!(code, 137);
    check(ctrd_process_delete(p, null_mut()), CTRD_OK);
    ctrd_process_free(p);

    assert_eq!(delete_task(t, CTRD_TASK_DELETE_FORCE), 137);
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}

/// What `on_exit` reports: status, exit status, the thread it ran on, and
/// whether a blocking library call made from inside the callback worked.
type Report = (ctrd_status, u32, String, bool);
type ExitUser = (mpsc::Sender<Report>, usize);

unsafe extern "C-unwind" fn on_exit(user_data: *mut c_void, status: ctrd_status, exit_status: u32) {
    // SAFETY: user_data is the box the test leaked for this callback.
    let user = unsafe { Box::from_raw(user_data.cast::<ExitUser>()) };
    let (tx, client) = *user;
    let thread = std::thread::current().name().unwrap_or("").to_string();
    // The callback may call blocking functions of the library.
    let nested = server_version(client as *mut ctrd_client).is_ok();
    let _ = tx.send((status, exit_status, thread, nested));
}

fn exit_user(tx: mpsc::Sender<Report>, client: *mut ctrd_client) -> *mut c_void {
    Box::into_raw(Box::new((tx, client as usize))).cast()
}

#[test]
fn wait_async_calls_back_once_on_a_library_thread() {
    let ns = Ns::new("async");
    let k = container(&ns, "a1", &["sh", "-c", "sleep 0.3; exit 3"]);
    let t = new_task(k, &Io::none());
    check(ctrd_task_start(t), CTRD_OK);
    let (tx, rx) = mpsc::channel::<Report>();
    let user = exit_user(tx, ns.client);
    check(
        ctrd_task_wait_async(t, Some(on_exit), user, null_mut()),
        CTRD_OK,
    );
    // Freeing the task before the callback fires is fine.
    let mut again = null_mut();
    check(ctrd_container_load_task(k, &mut again), CTRD_OK);
    ctrd_task_free(t);
    let (status, code, thread, nested) =
        rx.recv_timeout(Duration::from_secs(20)).expect("callback");
    assert_eq!((status, code), (CTRD_OK, 3));
    assert!(nested, "a blocking call inside the callback failed");
    assert_ne!(
        thread,
        std::thread::current().name().unwrap_or("").to_string()
    );
    assert!(
        rx.recv_timeout(Duration::from_millis(300)).is_err(),
        "called back twice"
    );
    assert_eq!(delete_task(again, 0), 3);

    // A wait that fails still calls back, with the error.
    let (tx, rx) = mpsc::channel::<Report>();
    let user = exit_user(tx, ns.client);
    check(
        ctrd_task_wait_async(again, Some(on_exit), user, null_mut()),
        CTRD_OK,
    );
    let (status, code, _, _) = rx.recv_timeout(Duration::from_secs(20)).expect("callback");
    assert_eq!((status, code), (CTRD_ERR_NOT_FOUND, 0));
    assert_eq!(
        ctrd_task_wait_async(again, None, null_mut(), null_mut()),
        CTRD_ERR_INVALID_ARGUMENT
    );
    assert!(last_error().contains("cb is NULL"));
    ctrd_task_free(again);
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn task_bad_inputs() {
    let ns = Ns::new("taskbad");
    let k = container(&ns, "b1", &["sleep", "1000"]);
    let mut t = null_mut();
    let bad = [b'a', 0xff, 0];
    let badp = bad.as_ptr().cast::<std::ffi::c_char>();
    let rel = c("relative/out");
    let cases: Vec<(ctrd_status, &str)> = vec![
        (
            ctrd_container_new_task(null_mut(), null(), &mut t),
            "container is NULL",
        ),
        (
            ctrd_container_new_task(k, null(), null_mut()),
            "out is NULL",
        ),
        (
            ctrd_container_new_task(
                k,
                &ctrd_io {
                    stdin_path: null(),
                    stdout_path: rel.as_ptr(),
                    stderr_path: null(),
                    terminal: false,
                },
                &mut t,
            ),
            "io.stdout_path \"relative/out\" is not an absolute path",
        ),
        (
            ctrd_container_new_task(
                k,
                &ctrd_io {
                    stdin_path: badp,
                    stdout_path: null(),
                    stderr_path: null(),
                    terminal: false,
                },
                &mut t,
            ),
            "io.stdin_path is not valid UTF-8",
        ),
        (ctrd_container_load_task(k, null_mut()), "out is NULL"),
        (ctrd_task_start(null_mut()), "task is NULL"),
        (ctrd_task_wait(null_mut(), 1, null_mut()), "task is NULL"),
        (ctrd_task_kill(null_mut(), 9, 0), "task is NULL"),
        (
            ctrd_task_status(null_mut(), null_mut(), null_mut()),
            "task is NULL",
        ),
        (ctrd_task_delete(null_mut(), 0, null_mut()), "task is NULL"),
        (ctrd_task_close_stdin(null_mut()), "task is NULL"),
        (ctrd_task_resize(null_mut(), 80, 24), "task is NULL"),
        (ctrd_task_pause(null_mut()), "task is NULL"),
        (ctrd_task_resume(null_mut()), "task is NULL"),
        (
            ctrd_task_pids(null_mut(), null_mut(), null_mut()),
            "pids is NULL",
        ),
        (ctrd_task_io(null(), null_mut()), "task is NULL"),
        (
            ctrd_task_exec(
                null_mut(),
                c("x").as_ptr(),
                c("{}").as_ptr(),
                null(),
                null_mut(),
            ),
            "task is NULL",
        ),
        (ctrd_process_start(null_mut()), "process is NULL"),
        (
            ctrd_process_wait(null_mut(), 1, null_mut()),
            "process is NULL",
        ),
        (ctrd_process_kill(null_mut(), 9), "process is NULL"),
        (
            ctrd_process_delete(null_mut(), null_mut()),
            "process is NULL",
        ),
        (
            ctrd_task_wait_async(null_mut(), Some(on_exit), null_mut(), null_mut()),
            "task is NULL",
        ),
    ];
    for (i, (status, want)) in cases.iter().enumerate() {
        assert_eq!(*status, CTRD_ERR_INVALID_ARGUMENT, "case {i}: {want}");
    }
    assert!(t.is_null());
    // Messages, on a live task.
    let t = new_task(k, &Io::none());
    let msg = |s: ctrd_status| {
        assert_eq!(s, CTRD_ERR_INVALID_ARGUMENT);
        last_error()
    };
    assert!(msg(ctrd_task_kill(t, 0, 0)).contains("signal 0 is not a signal number"));
    assert!(msg(ctrd_task_kill(t, 99, 0)).contains("signal 99"));
    assert!(msg(ctrd_task_kill(t, 9, 4)).contains("unknown flags 0x4"));
    assert!(msg(ctrd_task_delete(t, 2, null_mut())).contains("unknown flags 0x2"));
    assert!(msg(ctrd_task_resize(t, 0, 24)).contains("empty"));
    // A task without a terminal cannot be resized (the shim would ignore it).
    assert_eq!(ctrd_task_resize(t, 80, 24), CTRD_ERR_FAILED_PRECONDITION);
    assert!(
        last_error().starts_with("ctrd_task_resize: task ")
            && last_error().ends_with("has no terminal to resize"),
        "{}",
        last_error()
    );
    let mut p = null_mut();
    for (id, json, want) in [
        (
            "bad id",
            r#"{"args":["sh"],"cwd":"/","user":{"uid":0,"gid":0}}"#,
            "invalid exec id",
        ),
        ("x", "{", "not valid JSON"),
        ("x", r#"{"args":"sh"}"#, "not an OCI process"),
        (
            "x",
            r#"{"args":[],"cwd":"/","user":{"uid":0,"gid":0}}"#,
            "no args",
        ),
    ] {
        let m = msg(ctrd_task_exec(
            t,
            c(id).as_ptr(),
            c(json).as_ptr(),
            null(),
            &mut p,
        ));
        assert!(m.starts_with("ctrd_task_exec: ") && m.contains(want), "{m}");
    }
    assert!(p.is_null());
    assert!(
        msg(ctrd_task_exec(t, badp, c("{}").as_ptr(), null(), &mut p))
            .contains("exec_id is not valid UTF-8")
    );
    assert_eq!(ctrd_task_pid(null()), 0);
    assert_eq!(cstr(ctrd_task_id(null())), "");
    assert_eq!(cstr(ctrd_task_fifo_dir(t)), "");
    ctrd_task_free(null_mut());
    ctrd_process_free(null_mut());
    ctrd_pids_free(null_mut(), 0);
    delete_task(t, CTRD_TASK_DELETE_FORCE);
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}

/// Makes checkpoint image `name` by hand: an index naming a blob of the
/// checkpoint media type (not a real CRIU image).
fn fake_checkpoint_image(ns: &Ns, name: &str) {
    use containerd_c::api::services::images::v1::{CreateImageRequest, Image};
    use containerd_c::api::types::Descriptor;
    use containerd_c::core::task::checkpoint::CHECKPOINT_MEDIA_TYPE;
    let (address, nsname, name) = (ns.daemon.address(), ns.name.clone(), name.to_string());
    containerd_c::runtime::block_on(async move {
        let c = containerd_c::core::Client::connect(Some(&address), Some(&nsname))?;
        c.leases()
            .create(
                c.request(containerd_c::api::services::leases::v1::CreateRequest {
                    id: "fake-ckpt".into(),
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        // An empty tar archive (two zero blocks): the daemon unpacks it at
        // create, so the task is created; runc's restore at start then fails
        // in CRIU, as a real checkpoint does on a kernel CRIU cannot handle.
        let blob = vec![0u8; 10240];
        let size = blob.len();
        let digest = c.write_blob("fake-ckpt", blob, Default::default()).await?;
        let index = serde_json::json!({"schemaVersion": 2, "manifests": [
            {"mediaType": CHECKPOINT_MEDIA_TYPE, "digest": digest, "size": size}]})
        .to_string()
        .into_bytes();
        let index_size = index.len() as i64;
        let labels = [("containerd.io/gc.ref.content.m.0".to_string(), digest)].into();
        let index_digest = c.write_blob("fake-ckpt", index, labels).await?;
        let image = Image {
            name,
            target: Some(Descriptor {
                media_type: "application/vnd.oci.image.index.v1+json".into(),
                digest: index_digest,
                size: index_size,
                annotations: Default::default(),
            }),
            ..Default::default()
        };
        c.call(
            "create",
            c.images()
                .create(c.request(CreateImageRequest { image: Some(image) })),
        )
        .await?;
        c.delete_lease("fake-ckpt").await
    })
    .unwrap();
}

#[test]
fn checkpoint_and_deferred_restore() {
    let ns = Ns::new("ckpt");
    let k = container(&ns, "c1", &["sleep", "1000"]);
    let t = new_task(k, &Io::none());
    check(ctrd_task_start(t), CTRD_OK);
    let status = ctrd_task_checkpoint(t, c("ckpt-1").as_ptr());
    if status == CTRD_OK {
        // CRIU works on this machine: restore the checkpoint for real.
        delete_task(t, CTRD_TASK_DELETE_FORCE);
        let mut r = null_mut();
        check(
            ctrd_container_new_task_checkpoint(k, null(), c("ckpt-1").as_ptr(), &mut r),
            CTRD_OK,
        );
        assert_eq!(ctrd_task_pid(r), 0);
        check(ctrd_task_start(r), CTRD_OK);
        assert_eq!(state(r), CTRD_TASK_RUNNING);
        delete_task(r, CTRD_TASK_DELETE_FORCE);
        ctrd_task_free(r);
    } else {
        // CRIU does not work here (this kernel): the runtime's own words come
        // back, and the task was resumed and goes on running.
        let msg = last_error();
        assert!(msg.to_lowercase().contains("criu"), "{status:?}: {msg}");
        assert_eq!(state(t), CTRD_TASK_RUNNING);
        assert!(!run(ns.ctr().args(["images", "ls", "-q"])).contains("ckpt-1"));
        delete_task(t, CTRD_TASK_DELETE_FORCE);
        fake_checkpoint_image(&ns, "ckpt-1");
    }
    ctrd_task_free(t);

    // The deferred create: nothing exists on the daemon until start.
    let mut r = null_mut();
    check(
        ctrd_container_new_task_checkpoint(k, null(), c("ckpt-1").as_ptr(), &mut r),
        CTRD_OK,
    );
    assert_eq!(ctrd_task_pid(r), 0);
    assert_eq!(run(ns.ctr().args(["tasks", "ls", "-q"])).trim(), "");
    if status != CTRD_OK {
        // Restoring the fake checkpoint fails at start, in the runtime's
        // words: the task was created and runc's restore failed.
        assert_eq!(ctrd_task_start(r), CTRD_ERR_UNKNOWN, "{}", last_error());
        let first = last_error();
        assert!(
            first.starts_with("ctrd_task_start: start task \"c1\"") && first.contains("restore"),
            "{first}"
        );
        assert_eq!(state(r), CTRD_TASK_CREATED);
        // The retry only starts again (the create happened already): the same
        // restore error, not ALREADY_EXISTS from a second create.
        assert_eq!(ctrd_task_start(r), CTRD_ERR_UNKNOWN, "{}", last_error());
        let second = last_error();
        assert!(
            second.starts_with("ctrd_task_start: start task \"c1\"") && second.contains("restore"),
            "{second}"
        );
        // And the task that never ran can be deleted.
        delete_task(r, 0);
        assert_eq!(run(ns.ctr().args(["tasks", "ls", "-q"])).trim(), "");
    } else {
        check(ctrd_task_start(r), CTRD_OK);
        delete_task(r, CTRD_TASK_DELETE_FORCE);
    }
    ctrd_task_free(r);

    // Images that are not checkpoints, or not there.
    let mut none = null_mut();
    assert_eq!(
        ctrd_container_new_task_checkpoint(k, null(), c(IMAGE).as_ptr(), &mut none),
        CTRD_ERR_INVALID_ARGUMENT
    );
    assert!(
        last_error().contains("holds no task checkpoint"),
        "{}",
        last_error()
    );
    assert_eq!(
        ctrd_container_new_task_checkpoint(k, null(), c("nope:1").as_ptr(), &mut none),
        CTRD_ERR_NOT_FOUND
    );
    assert_eq!(
        ctrd_task_checkpoint(null_mut(), c("x").as_ptr()),
        CTRD_ERR_INVALID_ARGUMENT
    );
    assert!(none.is_null());
    run(ns.ctr().args(["images", "rm", "ckpt-1"]));
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn waits_are_not_bounded_by_the_client_timeout() {
    // The client's timeout bounds calls, not waits: a wait for ever outlasts it.
    let ns = Ns::new("longwait");
    let k = container(&ns, "w1", &["sh", "-c", "sleep 2; exit 6"]);
    let t = new_task(k, &Io::none());
    check(ctrd_task_start(t), CTRD_OK);
    check(ctrd_client_set_timeout_ms(ns.client, 500), CTRD_OK);
    assert_eq!(wait(t, -1), Ok(6));
    check(ctrd_client_set_timeout_ms(ns.client, 30_000), CTRD_OK);
    assert_eq!(delete_task(t, 0), 6);
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}
