//! Tasks with FIFO stdio against the real private containerd: exact bytes,
//! stdin, terminals with resize, re-attaching from a second process, and a
//! task that outlives a daemon restart with its output and exit status.

mod common;

use std::ffi::{c_char, CStr};
use std::fs::File;
use std::io::{BufRead, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::ptr::{null, null_mut};
use std::time::{Duration, Instant};

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;

fn cstr(p: *const c_char) -> String {
    // SAFETY: a borrowed NUL-terminated string from the library, copied at once.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
}

fn fifo_set(
    dir: &Path,
    id: &str,
    with_stdin: bool,
    terminal: bool,
) -> (*mut ctrd_fifo_set, ctrd_io) {
    let mut f = null_mut();
    check(
        ctrd_fifo_set_create(
            c(dir.to_str().unwrap()).as_ptr(),
            c(id).as_ptr(),
            with_stdin,
            terminal,
            &mut f,
        ),
        CTRD_OK,
    );
    let mut io = ctrd_io {
        stdin_path: null(),
        stdout_path: null(),
        stderr_path: null(),
        terminal: false,
    };
    check(ctrd_fifo_set_io(f, &mut io), CTRD_OK);
    (f, io)
}

fn attach(io: &ctrd_io, stdin: i32, stdout: i32, stderr: i32) -> *mut ctrd_io_session {
    let mut s = null_mut();
    check(ctrd_io_attach(io, stdin, stdout, stderr, &mut s), CTRD_OK);
    s
}

fn new_task(k: *mut ctrd_container, io: &ctrd_io) -> *mut ctrd_task {
    let mut t = null_mut();
    check(ctrd_container_new_task(k, io, &mut t), CTRD_OK);
    t
}

fn wait(t: *mut ctrd_task, timeout_ms: i64) -> u32 {
    let mut code = 0;
    check(ctrd_task_wait(t, timeout_ms, &mut code), CTRD_OK);
    code
}

fn out_file(dir: &Path, name: &str) -> (PathBuf, File) {
    let p = dir.join(name);
    (p.clone(), File::create(&p).unwrap())
}

/// Waits (bounded) until `path` holds `want`.
fn wait_for_content(path: &Path, want: &str) {
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(20) {
        if std::fs::read_to_string(path)
            .unwrap_or_default()
            .contains(want)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{} never held {want:?}: {:?}",
        path.display(),
        std::fs::read_to_string(path)
    );
}

/// The end of a test whose task has stopped, in the order the contract asks:
/// delete the task, free the session (after the task: nothing read is
/// dropped), free the FIFO set (only once the task is deleted), remove the
/// container; then nothing may be left in the namespace.
fn finish(
    ns: &Ns,
    k: *mut ctrd_container,
    t: *mut ctrd_task,
    s: *mut ctrd_io_session,
    f: *mut ctrd_fifo_set,
) {
    check(ctrd_task_delete(t, 0, null_mut()), CTRD_OK);
    ctrd_io_session_free(s);
    ctrd_task_free(t);
    ctrd_fifo_set_free(f);
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn exact_stdout_and_stderr_bytes_through_fifos() {
    let ns = Ns::new("fifobytes");
    let tmp = tempfile::tempdir().unwrap();
    // Bytes that text handling would mangle, and enough to fill a pipe.
    let script = "printf 'a\\000b\\377\\n'; printf 'err\\r\\n' >&2; head -c 300000 /dev/zero | tr '\\0' x; printf 'tail' >&2";
    let k = container(&ns, "bytes", &["sh", "-c", script]);
    let (f, io) = fifo_set(tmp.path(), "bytes", false, false);
    let fifo_dir = cstr(ctrd_fifo_set_dir(f));
    assert_eq!(cstr(io.stdin_path), "");
    let (out_path, out) = out_file(tmp.path(), "out");
    let (err_path, err) = out_file(tmp.path(), "err");
    let s = attach(&io, -1, out.as_raw_fd(), err.as_raw_fd());
    let t = new_task(k, &io);
    check(ctrd_task_start(t), CTRD_OK);
    assert_eq!(wait(t, 20_000), 0);
    check(ctrd_io_session_wait(s, 10_000), CTRD_OK);
    let mut want_out = b"a\0b\xff\n".to_vec();
    want_out.extend(std::iter::repeat_n(b'x', 300_000));
    assert_eq!(std::fs::read(&out_path).unwrap(), want_out);
    assert_eq!(std::fs::read(&err_path).unwrap(), b"err\r\ntail");
    check(ctrd_task_delete(t, 0, null_mut()), CTRD_OK);
    ctrd_io_session_free(s);
    ctrd_task_free(t);
    assert!(Path::new(&fifo_dir).exists());
    ctrd_fifo_set_free(f);
    assert!(!Path::new(&fifo_dir).exists(), "FIFO dir left behind");
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn stdin_round_trip_and_close() {
    let ns = Ns::new("stdin");
    let tmp = tempfile::tempdir().unwrap();
    let k = container(&ns, "cat", &["cat"]);
    let (f, io) = fifo_set(tmp.path(), "cat", true, false);
    let (out_path, out) = out_file(tmp.path(), "out");
    let (err_path, err) = out_file(tmp.path(), "err");
    let (stdin_r, stdin_w): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
    let s = attach(&io, stdin_r.as_raw_fd(), out.as_raw_fd(), err.as_raw_fd());
    drop(stdin_r); // the session has its own copy
    let t = new_task(k, &io);
    check(ctrd_task_start(t), CTRD_OK);
    let mut w = File::from(stdin_w);
    w.write_all(b"hello\nworld\n").unwrap();
    // cat echoes it while stdin stays open...
    wait_for_content(&out_path, "hello\nworld\n");
    let mut state = ctrd_task_state::CTRD_TASK_UNKNOWN;
    check(ctrd_task_status(t, &mut state, null_mut()), CTRD_OK);
    assert_eq!(state, ctrd_task_state::CTRD_TASK_RUNNING);
    // The caller's stdin ends: the session closes its FIFO end, but the shim
    // holds one too, so cat goes on...
    drop(w);
    std::thread::sleep(Duration::from_millis(300));
    check(ctrd_task_status(t, &mut state, null_mut()), CTRD_OK);
    assert_eq!(state, ctrd_task_state::CTRD_TASK_RUNNING);
    // ...until its stdin is closed.
    check(ctrd_task_close_stdin(t), CTRD_OK);
    assert_eq!(wait(t, 20_000), 0);
    check(ctrd_io_session_wait(s, 10_000), CTRD_OK);
    assert_eq!(
        std::fs::read_to_string(&out_path).unwrap(),
        "hello\nworld\n"
    );
    assert_eq!(std::fs::read_to_string(&err_path).unwrap(), "");
    finish(&ns, k, t, s, f);
}

#[test]
fn stdin_eof_reaches_the_task() {
    // The caller's stdin ending (EOF) ends the task's stdin too.
    let ns = Ns::new("stdineof");
    let tmp = tempfile::tempdir().unwrap();
    let k = container(&ns, "wc", &["wc", "-c"]);
    let (f, io) = fifo_set(tmp.path(), "wc", true, false);
    let (out_path, out) = out_file(tmp.path(), "out");
    let input = tmp.path().join("in");
    std::fs::write(&input, vec![b'z'; 100_000]).unwrap();
    let stdin = File::open(&input).unwrap();
    // stdout only: the stderr FIFO is read (and dropped) all the same.
    let s = attach(&io, stdin.as_raw_fd(), out.as_raw_fd(), -1);
    let t = new_task(k, &io);
    check(ctrd_task_close_stdin_on_eof(t, s), CTRD_OK);
    assert_eq!(
        ctrd_task_close_stdin_on_eof(t, s),
        CTRD_ERR_INVALID_ARGUMENT
    );
    assert!(last_error().contains("already"), "{}", last_error());
    check(ctrd_task_start(t), CTRD_OK);
    assert_eq!(wait(t, 20_000), 0);
    check(ctrd_io_session_wait(s, 10_000), CTRD_OK);
    assert_eq!(std::fs::read_to_string(&out_path).unwrap().trim(), "100000");
    finish(&ns, k, t, s, f);
}

#[test]
fn terminal_mode_with_resize() {
    let ns = Ns::new("tty");
    let tmp = tempfile::tempdir().unwrap();
    let script = "tty; n=0; while [ \"$(stty size)\" != '50 120' ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n+1)); done; stty size; echo out; echo err >&2";
    let spec = spec_for(ns.client, "term", &["sh", "-c", script]);
    let mut with_tty = null_mut();
    check(
        ctrd_spec_patch(
            c(&spec).as_ptr(),
            c(r#"{"process":{"terminal":true}}"#).as_ptr(),
            &mut with_tty,
        ),
        CTRD_OK,
    );
    let k = container_with_spec(ns.client, "term", &take_string(with_tty));
    let (f, io) = fifo_set(tmp.path(), "term", false, true);
    assert!(io.terminal);
    assert_eq!(cstr(io.stderr_path), "", "no stderr FIFO with a terminal");
    let (out_path, out) = out_file(tmp.path(), "out");
    let s = attach(&io, -1, out.as_raw_fd(), -1);
    let t = new_task(k, &io);
    check(ctrd_task_start(t), CTRD_OK);
    wait_for_content(&out_path, "/dev/pts/");
    check(ctrd_task_resize(t, 120, 50), CTRD_OK);
    assert_eq!(wait(t, 20_000), 0);
    check(ctrd_io_session_wait(s, 10_000), CTRD_OK);
    // One terminal: stdout and stderr merged, with the terminal's \r\n.
    let text = std::fs::read_to_string(&out_path).unwrap();
    assert!(text.contains("50 120\r\nout\r\nerr\r\n"), "{text:?}");
    finish(&ns, k, t, s, f);
}

#[test]
fn exec_with_fifos() {
    let ns = Ns::new("execfifo");
    let tmp = tempfile::tempdir().unwrap();
    let k = container(&ns, "host", &["sleep", "1000"]);
    let t = new_task(
        k,
        &ctrd_io {
            stdin_path: null(),
            stdout_path: null(),
            stderr_path: null(),
            terminal: false,
        },
    );
    check(ctrd_task_start(t), CTRD_OK);
    let (f, io) = fifo_set(tmp.path(), "x1", false, false);
    let (out_path, out) = out_file(tmp.path(), "out");
    let (err_path, err) = out_file(tmp.path(), "err");
    let s = attach(&io, -1, out.as_raw_fd(), err.as_raw_fd());
    let process = r#"{"args":["sh","-c","echo from-exec; echo exec-err >&2; exit 3"],"cwd":"/","user":{"uid":0,"gid":0},"env":["PATH=/bin"]}"#;
    let mut p = null_mut();
    check(
        ctrd_task_exec(t, c("x1").as_ptr(), c(process).as_ptr(), &io, &mut p),
        CTRD_OK,
    );
    check(ctrd_process_start(p), CTRD_OK);
    let mut code = 0;
    check(ctrd_process_wait(p, 20_000, &mut code), CTRD_OK);
    assert_eq!(code, 3);
    check(ctrd_io_session_wait(s, 10_000), CTRD_OK);
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), "from-exec\n");
    assert_eq!(std::fs::read_to_string(&err_path).unwrap(), "exec-err\n");
    check(ctrd_process_delete(p, null_mut()), CTRD_OK);
    ctrd_process_free(p);
    ctrd_io_session_free(s);
    ctrd_fifo_set_free(f);
    check(
        ctrd_task_delete(t, CTRD_TASK_DELETE_FORCE, null_mut()),
        CTRD_OK,
    );
    ctrd_task_free(t);
    remove_container(k);
    ns.assert_clean();
}

/// The second process of `reattach_from_a_second_process`, which runs this
/// test binary again with `--ignored --exact reattach_child` and
/// CTRD_REATTACH set: it loads the task, re-attaches to its stdout, waits for
/// it, and prints the exit status. Ignored in a normal run, so it is never
/// counted as a test that passed; run any other way it fails.
#[test]
#[ignore = "the second process of reattach_from_a_second_process, which runs it"]
fn reattach_child() {
    let spec = std::env::var("CTRD_REATTACH")
        .expect("reattach_child is run only by reattach_from_a_second_process (CTRD_REATTACH)");
    let [address, ns, id, out]: [&str; 4] = spec.split('|').collect::<Vec<_>>().try_into().unwrap();
    let client = connect(address, ns);
    let mut k = null_mut();
    check(ctrd_container_load(client, c(id).as_ptr(), &mut k), CTRD_OK);
    let mut t = null_mut();
    check(ctrd_container_load_task(k, &mut t), CTRD_OK);
    let mut io = ctrd_io {
        stdin_path: null(),
        stdout_path: null(),
        stderr_path: null(),
        terminal: false,
    };
    check(ctrd_task_io(t, &mut io), CTRD_OK);
    let out = File::create(out).unwrap();
    let s = attach(&io, -1, out.as_raw_fd(), -1);
    println!("child-attached");
    let code = wait(t, 30_000);
    check(ctrd_io_session_wait(s, 10_000), CTRD_OK);
    ctrd_io_session_free(s);
    println!("child-exit={code} pid={}", ctrd_task_pid(t));
    ctrd_task_free(t);
    ctrd_container_free(k);
    ctrd_client_free(client);
}

#[test]
fn reattach_from_a_second_process() {
    let ns = Ns::new("reattach");
    let tmp = tempfile::tempdir().unwrap();
    // The task goes on only when told (touch /tmp/go, /tmp/end): output is
    // lost once a task exits with no reader, so the second process must be
    // attached before it ends.
    // It lingers after /tmp/end appears: its exit kills what still runs in
    // the container, and the `touch` exec that made the file must have
    // ended by then (ctr reported it killed, 137, on a loaded 2.1 run).
    let script = "echo one; while [ ! -e /tmp/go ]; do sleep 0.05; done; echo two; \
                  while [ ! -e /tmp/end ]; do sleep 0.05; done; sleep 0.5; exit 4";
    let k = container(&ns, "re1", &["sh", "-c", script]);
    let (f, io) = fifo_set(tmp.path(), "re1", false, false);
    let (first_path, first) = out_file(tmp.path(), "first");
    let s = attach(&io, -1, first.as_raw_fd(), -1);
    let t = new_task(k, &io);
    check(ctrd_task_start(t), CTRD_OK);
    wait_for_content(&first_path, "one\n");
    // This process lets go of the task's output; a second one takes over.
    ctrd_io_session_free(s);
    // Output written while nobody listens waits in the FIFO.
    run(ns.ctr().args([
        "tasks",
        "exec",
        "--exec-id",
        "go",
        "re1",
        "touch",
        "/tmp/go",
    ]));
    let second = tmp.path().join("second");
    let spec = format!(
        "{}|{}|re1|{}",
        ns.daemon.address(),
        ns.name,
        second.display()
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "reattach_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("CTRD_REATTACH", spec)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push(line.clone());
        if line.ends_with("child-attached") {
            break;
        }
    }
    run(ns.ctr().args([
        "tasks",
        "exec",
        "--exec-id",
        "end",
        "re1",
        "touch",
        "/tmp/end",
    ]));
    seen.extend(lines.map(|l| l.unwrap()));
    assert!(child.wait().unwrap().success(), "{seen:?}");
    let want = format!("child-exit=4 pid={}", ctrd_task_pid(t));
    assert!(seen.contains(&want), "{seen:?}");
    assert_eq!(std::fs::read_to_string(&first_path).unwrap(), "one\n");
    assert_eq!(std::fs::read_to_string(&second).unwrap(), "two\n");
    let mut code = 0;
    check(ctrd_task_delete(t, 0, &mut code), CTRD_OK);
    assert_eq!(code, 4);
    ctrd_task_free(t);
    ctrd_fifo_set_free(f);
    remove_container(k);
    ns.assert_clean();
}

#[test]
fn a_task_outlives_a_daemon_restart() {
    // A daemon of its own: this test stops and starts it.
    let d = Daemon::start();
    d.import_image("default");
    let client = connect(&d.address(), "default");
    let tmp = tempfile::tempdir().unwrap();
    let script = "i=0; while [ $i -lt 40 ]; do echo tick$i; i=$((i+1)); sleep 0.05; done; exit 9";
    // runc's state directory (/run/containerd/runc/<namespace>) is shared by
    // every containerd on the machine: an id of this process's own.
    let id = format!("survivor-{}", std::process::id());
    let k = container_via(client, &id, &["sh", "-c", script]);
    let (f, io) = fifo_set(tmp.path(), &id, false, false);
    let (out_path, out) = out_file(tmp.path(), "out");
    let s = attach(&io, -1, out.as_raw_fd(), -1);
    let t = new_task(k, &io);
    check(ctrd_task_start(t), CTRD_OK);
    // A wait in flight while the daemon goes away is made again, not
    // reported as an exit.
    let waiter = {
        let t = t as usize;
        std::thread::spawn(move || {
            let mut code = 0;
            let s = ctrd_task_wait(t as *mut ctrd_task, 60_000, &mut code);
            (s, code, last_error())
        })
    };
    wait_for_content(&out_path, "tick3\n");
    d.stop_daemon_only();
    std::thread::sleep(Duration::from_millis(500));
    d.restart();
    // After the restart: load the task again, its output went on.
    let mut loaded = null_mut();
    check(ctrd_container_load_task(k, &mut loaded), CTRD_OK);
    assert_eq!(ctrd_task_pid(loaded), ctrd_task_pid(t));
    assert_eq!(wait(loaded, 30_000), 9);
    let (status, code, msg) = waiter.join().unwrap();
    assert_eq!((status, code), (CTRD_OK, 9), "{msg}");
    check(ctrd_io_session_wait(s, 10_000), CTRD_OK);
    let want: String = (0..40).map(|i| format!("tick{i}\n")).collect();
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), want);
    check(ctrd_task_delete(loaded, 0, null_mut()), CTRD_OK);
    ctrd_io_session_free(s);
    ctrd_task_free(t);
    ctrd_task_free(loaded);
    ctrd_fifo_set_free(f);
    remove_container(k);
    assert_eq!(
        run(d.ctr("default").args(["containers", "ls", "-q"])).trim(),
        ""
    );
    ctrd_client_free(client);
}
