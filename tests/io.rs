//! FIFO sets and IO sessions through the C API, without containerd: a test
//! thread plays the shim (it holds a read end of its own on each output FIFO
//! and writes through a write end, as containerd's runc shim does).

mod common;

use std::ffi::{c_char, CStr, CString};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::ptr::{null, null_mut};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;

/// A FIFO set made through the C API in a private temp base directory.
struct Set {
    ptr: *mut ctrd_fifo_set,
    base: tempfile::TempDir,
}

impl Set {
    fn new(id: &str, with_stdin: bool, terminal: bool) -> Set {
        let base = tempfile::tempdir().unwrap();
        let dir = c(base.path().to_str().unwrap());
        let mut ptr = null_mut();
        check(
            ctrd_fifo_set_create(dir.as_ptr(), c(id).as_ptr(), with_stdin, terminal, &mut ptr),
            CTRD_OK,
        );
        assert!(!ptr.is_null());
        Set { ptr, base }
    }

    fn io(&self) -> ctrd_io {
        let mut io = ctrd_io {
            stdin_path: null(),
            stdout_path: null(),
            stderr_path: null(),
            terminal: false,
        };
        check(ctrd_fifo_set_io(self.ptr, &mut io), CTRD_OK);
        io
    }

    /// The set's paths with the streams not wanted blanked out: an output
    /// FIFO that is named but not attached is read (and dropped) by the
    /// session, which these shim emulations do not write to.
    fn io_for(&self, stdin: bool, stdout: bool, stderr: bool) -> ctrd_io {
        let mut io = self.io();
        if !stdin {
            io.stdin_path = null();
        }
        if !stdout {
            io.stdout_path = null();
        }
        if !stderr {
            io.stderr_path = null();
        }
        io
    }

    fn free(&mut self) {
        ctrd_fifo_set_free(self.ptr);
        self.ptr = null_mut();
    }

    fn stdin(&self) -> PathBuf {
        path_of(self.io().stdin_path).expect("stdin FIFO")
    }
    fn stdout(&self) -> PathBuf {
        path_of(self.io().stdout_path).expect("stdout FIFO")
    }
    fn stderr(&self) -> PathBuf {
        path_of(self.io().stderr_path).expect("stderr FIFO")
    }
}

impl Drop for Set {
    fn drop(&mut self) {
        ctrd_fifo_set_free(self.ptr);
    }
}

/// A borrowed path string of a `ctrd_io`; "" is `None`.
fn path_of(p: *const c_char) -> Option<PathBuf> {
    assert!(!p.is_null(), "ctrd_io strings are never NULL");
    // SAFETY: a NUL-terminated string borrowed from a live handle, copied at once.
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap();
    (!s.is_empty()).then(|| PathBuf::from(s))
}

fn try_attach(io: &ctrd_io, i: RawFd, o: RawFd, e: RawFd) -> Result<*mut ctrd_io_session, Failure> {
    let mut s = null_mut();
    let status = ctrd_io_attach(io, i, o, e, &mut s);
    outcome(status, s)
}

#[track_caller]
fn attach(io: &ctrd_io, i: RawFd, o: RawFd, e: RawFd) -> *mut ctrd_io_session {
    try_attach(io, i, o, e).unwrap_or_else(|(s, m)| panic!("{}: {m}", status_name(s)))
}

/// The shim's side of an output FIFO: its own read end (kept so that output
/// waits in the pipe while no session reads) and a write end.
struct Shim {
    w: Option<File>,
    _r: File,
}

impl Shim {
    fn open(path: &Path) -> Shim {
        let r = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .unwrap();
        let w = OpenOptions::new().write(true).open(path).unwrap();
        Shim { w: Some(w), _r: r }
    }

    fn write(&mut self, data: &[u8]) {
        self.w.as_mut().unwrap().write_all(data).unwrap();
    }
}

/// A pipe as (read end, write end).
fn pipe() -> (File, File) {
    let (r, w): (OwnedFd, OwnedFd) = nix::unistd::pipe().unwrap();
    (File::from(r), File::from(w))
}

/// Reads `r` to end of file on a thread.
fn drain(mut r: File) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        v
    })
}

/// Reads the task's side of a stdin FIFO to end of file, as the shim would,
/// failing the test instead of hanging when that takes over 10 s. Opened
/// without blocking: a FIFO with no writer left reads as empty at once.
fn read_stdin_fifo(path: &Path) -> Vec<u8> {
    let mut fifo = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    loop {
        match fifo.read(&mut buf) {
            Ok(0) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                assert!(!left.is_zero(), "no end of file on {}", path.display());
                let mut fds = [nix::poll::PollFd::new(
                    std::os::fd::AsFd::as_fd(&fifo),
                    nix::poll::PollFlags::POLLIN,
                )];
                let ms = u16::try_from(left.as_millis()).unwrap_or(u16::MAX);
                nix::poll::poll(&mut fds, ms).unwrap();
            }
            Err(e) => panic!("reading {}: {e}", path.display()),
        }
    }
}

/// Everything written to a temp file used as a caller's fd.
fn contents(f: &mut File) -> Vec<u8> {
    let mut v = Vec::new();
    f.rewind().unwrap();
    f.read_to_end(&mut v).unwrap();
    v
}

/// `n` pseudo-random bytes (all 256 values occur).
fn data(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn wait(s: *mut ctrd_io_session, ms: i64) -> Result<(), Failure> {
    match ctrd_io_session_wait(s, ms) {
        CTRD_OK => Ok(()),
        st => Err((st, last_error())),
    }
}

#[test]
fn stdout_and_stderr_arrive_exactly_and_apart() {
    let set = Set::new("apart", false, false);
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    let s = attach(&set.io(), -1, out_w.as_raw_fd(), err_w.as_raw_fd());
    // The session has its own duplicates: ours can go at once.
    drop((out_w, err_w));
    let (out, err) = (drain(out_r), drain(err_r));

    let mut o = Shim::open(&set.stdout());
    let mut e = Shim::open(&set.stderr());
    o.write(b"out 1\n");
    e.write(b"err 1\n");
    o.write(b"\x00\xff binary \r\n");
    e.write(b"err 2 without newline");
    o.write(b"out 2\n");
    drop((o, e));

    wait(s, 10_000).unwrap();
    ctrd_io_session_free(s);
    assert_eq!(out.join().unwrap(), b"out 1\n\x00\xff binary \r\nout 2\n");
    assert_eq!(err.join().unwrap(), b"err 1\nerr 2 without newline");
}

#[test]
fn several_megabytes_without_loss() {
    let set = Set::new("large", false, false);
    let (out_r, out_w) = pipe();
    let (err_r, err_w) = pipe();
    // A non-blocking caller fd works too (its flags are left alone).
    nix::fcntl::fcntl(
        &err_w,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let s = attach(&set.io(), -1, out_w.as_raw_fd(), err_w.as_raw_fd());
    let err_flags = nix::fcntl::fcntl(&err_w, nix::fcntl::FcntlArg::F_GETFL).unwrap();
    assert_ne!(err_flags & libc::O_NONBLOCK, 0, "caller's flags untouched");
    drop((out_w, err_w));
    let (out, err) = (drain(out_r), drain(err_r));

    let big_out = data(8 << 20, 1);
    let big_err = data(3 << 20, 2);
    let writers: Vec<_> = [
        (set.stdout(), big_out.clone()),
        (set.stderr(), big_err.clone()),
    ]
    .into_iter()
    .map(|(path, bytes)| {
        std::thread::spawn(move || {
            let mut shim = Shim::open(&path);
            // Uneven chunks, as a process writes.
            for chunk in bytes.chunks(7919) {
                shim.write(chunk);
            }
        })
    })
    .collect();
    for w in writers {
        w.join().unwrap();
    }
    wait(s, 30_000).unwrap();
    ctrd_io_session_free(s);
    let (got_out, got_err) = (out.join().unwrap(), err.join().unwrap());
    assert_eq!(got_out.len(), big_out.len());
    assert!(got_out == big_out, "stdout bytes differ");
    assert_eq!(got_err.len(), big_err.len());
    assert!(got_err == big_err, "stderr bytes differ");
}

#[test]
fn stdin_round_trip() {
    let set = Set::new("input", true, false);
    let (in_r, mut in_w) = pipe();
    let s = attach(&set.io_for(true, false, false), in_r.as_raw_fd(), -1, -1);
    drop(in_r);
    // No output is copied: wait returns at once.
    wait(s, 0).unwrap();

    // The caller writes everything and closes its end before the task (here:
    // the test) opens the FIFO: nothing may be lost.
    let sent = [b"hello\0world\n".to_vec(), data(1 << 20, 3)].concat();
    let writer = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            in_w.write_all(&sent).unwrap();
        })
    };
    std::thread::sleep(Duration::from_millis(100));
    // End of file arrives when the session closed its end after the caller's
    // end of file and once everything was read.
    let got = read_stdin_fifo(&set.stdin());
    writer.join().unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "stdin bytes differ");
    ctrd_io_session_free(s);
}

#[test]
fn stdin_written_before_the_task_opens_waits_for_it() {
    let set = Set::new("early", true, false);
    let (in_r, mut in_w) = pipe();
    let s = attach(&set.io_for(true, false, false), in_r.as_raw_fd(), -1, -1);
    drop(in_r);
    in_w.write_all(b"typed ahead").unwrap();
    drop(in_w);
    // The session saw end of file long ago but holds the FIFO until read.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read_stdin_fifo(&set.stdin()), b"typed ahead");
    ctrd_io_session_free(s);
}

#[test]
fn wait_times_out_then_succeeds() {
    let set = Set::new("timeout", false, false);
    let mut out = tempfile::tempfile().unwrap();
    let s = attach(&set.io_for(false, true, false), -1, out.as_raw_fd(), -1);

    let t = Instant::now();
    let (st, msg) = wait(s, 150).unwrap_err();
    assert_eq!(st, CTRD_ERR_DEADLINE_EXCEEDED, "{msg}");
    assert!(
        t.elapsed() >= Duration::from_millis(150),
        "{:?}",
        t.elapsed()
    );
    assert!(
        msg.starts_with("ctrd_io_session_wait: stdout did not reach end of file"),
        "{msg}"
    );
    let (st, _) = wait(s, 0).unwrap_err();
    assert_eq!(st, CTRD_ERR_DEADLINE_EXCEEDED);

    let mut shim = Shim::open(&set.stdout());
    shim.write(b"late");
    let (st, _) = wait(s, 50).unwrap_err();
    assert_eq!(st, CTRD_ERR_DEADLINE_EXCEEDED, "writer still open");
    drop(shim);
    wait(s, -1).unwrap();
    wait(s, 0).unwrap();
    assert_eq!(last_error(), "");
    ctrd_io_session_free(s);
    assert_eq!(contents(&mut out), b"late");
}

#[test]
fn attach_before_the_writer_exists() {
    let set = Set::new("early-out", false, false);
    let mut out = tempfile::tempfile().unwrap();
    let mut err = tempfile::tempfile().unwrap();
    let s = attach(&set.io(), -1, out.as_raw_fd(), err.as_raw_fd());
    // No writer yet: that is no end of file.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(wait(s, 0).unwrap_err().0, CTRD_ERR_DEADLINE_EXCEEDED);

    // The shim opens the write ends (a blocking open: it needs our reader).
    let (so, se) = (set.stdout(), set.stderr());
    let shim = std::thread::spawn(move || {
        let mut o = OpenOptions::new().write(true).open(so).unwrap();
        let mut e = OpenOptions::new().write(true).open(se).unwrap();
        o.write_all(b"first out").unwrap();
        e.write_all(b"first err").unwrap();
    });
    wait(s, 10_000).unwrap();
    shim.join().unwrap();
    ctrd_io_session_free(s);
    assert_eq!(contents(&mut out), b"first out");
    assert_eq!(contents(&mut err), b"first err");
}

#[test]
fn reattach_gets_the_rest_without_loss_or_duplication() {
    let set = Set::new("reattach", false, false);
    let sent = data(4 << 20, 4);
    let mut shim = Shim::open(&set.stdout());
    let mut first = tempfile::tempfile().unwrap();
    let s1 = attach(&set.io_for(false, true, false), -1, first.as_raw_fd(), -1);

    // The writer holds back the second half until the first session is
    // freed, so that session cannot get everything however fast it copies.
    let (go_on, second_half) = std::sync::mpsc::channel::<()>();
    let writer = {
        let sent = sent.clone();
        std::thread::spawn(move || {
            let (front, back) = sent.split_at(sent.len() / 2);
            for chunk in front.chunks(4093) {
                shim.write(chunk);
            }
            second_half.recv().unwrap();
            for chunk in back.chunks(4093) {
                shim.write(chunk);
            }
            shim // the writer closes when the test drops it
        })
    };
    // Free the first session in the middle of the stream (the first half
    // may still be flowing).
    while first.metadata().unwrap().len() < 512 << 10 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let t = Instant::now();
    ctrd_io_session_free(s1);
    go_on.send(()).unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "free took {:?}",
        t.elapsed()
    );
    let got_first = contents(&mut first).len();
    assert!(got_first < sent.len(), "the first session got everything");

    // Nobody reads for a while: the writer blocks on a full pipe; nothing is lost.
    std::thread::sleep(Duration::from_millis(100));
    let mut second = tempfile::tempfile().unwrap();
    let s2 = attach(&set.io_for(false, true, false), -1, second.as_raw_fd(), -1);
    let shim = writer.join().unwrap();
    drop(shim);
    wait(s2, 30_000).unwrap();
    ctrd_io_session_free(s2);

    let got = [contents(&mut first), contents(&mut second)].concat();
    assert_eq!(got.len(), sent.len(), "lost or duplicated bytes");
    assert!(got == sent, "bytes differ");
}

#[test]
fn free_returns_promptly_while_writers_are_open() {
    let set = Set::new("prompt", true, false);
    let mut shim = Shim::open(&set.stdout());
    shim.write(b"before free");
    let (in_r, in_w) = pipe(); // stdin never reaches end of file
    let (out_r, out_w) = pipe();
    let s = attach(
        &set.io_for(true, true, false),
        in_r.as_raw_fd(),
        out_w.as_raw_fd(),
        -1,
    );
    drop(out_w);
    // Wait (with a deadline) until the session has copied the bytes out, so
    // the free below happens while the writers are open and idle.
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = {
        let (seen, mut out_r) = (seen.clone(), out_r);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            loop {
                match out_r.read(&mut buf).unwrap() {
                    0 => break,
                    n => seen.lock().unwrap().extend_from_slice(&buf[..n]),
                }
            }
            seen.lock().unwrap().clone()
        })
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().as_slice() != b"before free" {
        assert!(
            Instant::now() < deadline,
            "the session copied nothing in 10 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let t = Instant::now();
    ctrd_io_session_free(s);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "free took {:?}",
        t.elapsed()
    );
    // Read before the free: delivered, and the caller's fd closed after it.
    assert_eq!(out.join().unwrap(), b"before free");
    drop((shim, in_r, in_w));
}

#[test]
fn a_closed_caller_fd_is_an_io_error_not_a_signal() {
    let set = Set::new("epipe", false, false);
    let (out_r, out_w) = pipe();
    let s = attach(&set.io_for(false, true, false), -1, out_w.as_raw_fd(), -1);
    drop((out_r, out_w));
    let mut shim = Shim::open(&set.stdout());
    shim.write(b"nobody reads this");
    let (st, msg) = wait(s, 10_000).unwrap_err();
    assert_eq!(st, CTRD_ERR_IO, "{msg}");
    assert!(msg.contains("writing stdout to its fd"), "{msg}");
    ctrd_io_session_free(s);
}

#[test]
fn terminal_copies_stdin_and_stdout() {
    let set = Set::new("tty", true, true);
    let io = set.io();
    assert!(io.terminal);
    assert_eq!(path_of(io.stderr_path), None);
    let (in_r, mut in_w) = pipe();
    let mut out = tempfile::tempfile().unwrap();
    let (st, msg) =
        try_attach(&io, in_r.as_raw_fd(), out.as_raw_fd(), out.as_raw_fd()).unwrap_err();
    assert_eq!(st, CTRD_ERR_INVALID_ARGUMENT);
    assert!(msg.contains("terminal"), "{msg}");
    let s = attach(&io, in_r.as_raw_fd(), out.as_raw_fd(), -1);
    in_w.write_all(b"ls\n").unwrap();
    drop(in_w);
    assert_eq!(read_stdin_fifo(&set.stdin()), b"ls\n");
    let mut shim = Shim::open(&set.stdout());
    shim.write(b"bin etc\r\n");
    drop(shim);
    wait(s, 10_000).unwrap();
    ctrd_io_session_free(s);
    assert_eq!(contents(&mut out), b"bin etc\r\n");
}

#[test]
fn fifo_set_layout_and_removal() {
    for (with_stdin, terminal) in [(true, false), (false, false), (true, true), (false, true)] {
        let set = Set::new("web-1", with_stdin, terminal);
        let io = set.io();
        assert_eq!(io.terminal, terminal);
        // SAFETY: a borrowed NUL-terminated string, copied at once.
        let dir = PathBuf::from(
            unsafe { CStr::from_ptr(ctrd_fifo_set_dir(set.ptr)) }
                .to_str()
                .unwrap(),
        );
        assert_eq!(
            dir.parent(),
            Some(set.base.path()),
            "a fresh dir in the base"
        );
        let meta = std::fs::symlink_metadata(&dir).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o7777, 0o700);

        let want = [
            ("stdin", with_stdin, io.stdin_path),
            ("stdout", true, io.stdout_path),
            ("stderr", !terminal, io.stderr_path),
        ];
        let mut names = Vec::new();
        for (stream, made, p) in want {
            match path_of(p) {
                None => assert!(!made, "{stream} missing"),
                Some(p) => {
                    assert!(made, "{stream} made but not asked for");
                    assert_eq!(p, dir.join(format!("web-1-{stream}")));
                    let m = std::fs::symlink_metadata(&p).unwrap();
                    assert!(m.file_type().is_fifo(), "{stream} is a FIFO");
                    assert_eq!(m.mode() & 0o7777, 0o700, "{stream} mode");
                    names.push(format!("web-1-{stream}"));
                }
            }
        }
        let mut listed: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        listed.sort();
        names.sort();
        assert_eq!(listed, names, "nothing else in the dir");

        let mut set = set;
        set.free();
        assert!(!dir.exists(), "free removes the FIFOs and their dir");
        assert!(set.base.path().is_dir(), "the base stays");
    }
}

#[test]
fn fifo_sets_get_fresh_dirs_and_the_default_base_works() {
    let a = Set::new("same", false, false);
    let b = Set::new("same", false, false);
    assert_ne!(a.stdout(), b.stdout());

    // NULL dir: a private runtime directory.
    let mut set = null_mut();
    check(
        ctrd_fifo_set_create(null(), c("dflt").as_ptr(), true, false, &mut set),
        CTRD_OK,
    );
    // SAFETY: a borrowed NUL-terminated string, copied at once.
    let dir = PathBuf::from(
        unsafe { CStr::from_ptr(ctrd_fifo_set_dir(set)) }
            .to_str()
            .unwrap(),
    );
    let base = if nix::unistd::geteuid().is_root() {
        PathBuf::from("/run/containerd-c/fifo")
    } else {
        dir.parent().unwrap().to_path_buf()
    };
    assert_eq!(dir.parent(), Some(base.as_path()));
    assert!(dir.join("dflt-stdin").exists());
    ctrd_fifo_set_free(set);
    assert!(!dir.exists());

    // Missing base directories are made.
    let tmp = tempfile::tempdir().unwrap();
    let nested = tmp.path().join("a/b/c");
    let mut set = null_mut();
    check(
        ctrd_fifo_set_create(
            c(nested.to_str().unwrap()).as_ptr(),
            c("x").as_ptr(),
            false,
            false,
            &mut set,
        ),
        CTRD_OK,
    );
    assert!(nested.is_dir());
    ctrd_fifo_set_free(set);
}

#[test]
fn bad_input_is_refused_with_a_message() {
    let set = Set::new("bad", false, false);
    let base = c(set.base.path().to_str().unwrap());
    let bad_utf8 = CString::new(vec![b'/', 0xff, b'x']).unwrap();
    let sentinel = std::ptr::dangling_mut::<ctrd_fifo_set>();

    // ctrd_fifo_set_create
    let create = |dir: *const c_char, id: *const c_char, out: bool| -> Failure {
        let mut f = sentinel;
        let st = ctrd_fifo_set_create(dir, id, true, false, if out { &mut f } else { null_mut() });
        assert_eq!(f, sentinel, "out written on failure");
        (st, last_error())
    };
    let x = c("x");
    let cases: Vec<(Failure, ctrd_status, &str)> = vec![
        (
            create(base.as_ptr(), x.as_ptr(), false),
            CTRD_ERR_INVALID_ARGUMENT,
            "ctrd_fifo_set_create: out is NULL",
        ),
        (
            create(base.as_ptr(), null(), true),
            CTRD_ERR_INVALID_ARGUMENT,
            "ctrd_fifo_set_create: id is NULL",
        ),
        (
            create(bad_utf8.as_ptr(), x.as_ptr(), true),
            CTRD_ERR_INVALID_ARGUMENT,
            "dir is not valid UTF-8",
        ),
        (
            create(c("relative/dir").as_ptr(), x.as_ptr(), true),
            CTRD_ERR_INVALID_ARGUMENT,
            "\"relative/dir\" is not an absolute path",
        ),
        (
            create(c("").as_ptr(), x.as_ptr(), true),
            CTRD_ERR_INVALID_ARGUMENT,
            "is not an absolute path",
        ),
        (
            create(base.as_ptr(), c("a/b").as_ptr(), true),
            CTRD_ERR_INVALID_ARGUMENT,
            "invalid id \"a/b\"",
        ),
        (
            create(base.as_ptr(), c("").as_ptr(), true),
            CTRD_ERR_INVALID_ARGUMENT,
            "invalid id \"\"",
        ),
        (
            create(base.as_ptr(), bad_utf8.as_ptr(), true),
            CTRD_ERR_INVALID_ARGUMENT,
            "id is not valid UTF-8",
        ),
        (
            create(c("/dev/null/fifos").as_ptr(), x.as_ptr(), true),
            CTRD_ERR_IO,
            "/dev/null/fifos",
        ),
    ];
    for (i, ((st, msg), want, text)) in cases.into_iter().enumerate() {
        assert_eq!(st, want, "case {i}: {msg}");
        assert!(msg.contains(text), "case {i}: {msg:?} lacks {text:?}");
    }

    // ctrd_fifo_set_io
    let mut io = set.io();
    assert_eq!(ctrd_fifo_set_io(null(), &mut io), CTRD_ERR_INVALID_ARGUMENT);
    assert_eq!(last_error(), "ctrd_fifo_set_io: fifo set is NULL");
    assert_eq!(
        ctrd_fifo_set_io(set.ptr, null_mut()),
        CTRD_ERR_INVALID_ARGUMENT
    );
    assert_eq!(last_error(), "ctrd_fifo_set_io: out is NULL");
    // SAFETY: a static string.
    assert_eq!(unsafe { CStr::from_ptr(ctrd_fifo_set_dir(null())) }, c"");

    // ctrd_io_attach
    let good = set.io();
    let (_r, w) = pipe();
    let (r2, _w2) = pipe();
    let out = w.as_raw_fd();
    let regular = tempfile::NamedTempFile::new().unwrap();
    let regular_path = c(regular.path().to_str().unwrap());
    let missing = c(&format!("{}/missing", set.base.path().display()));
    let rel = c("relative/stdout");
    let with = |f: &dyn Fn(&mut ctrd_io)| {
        let mut io = set.io();
        f(&mut io);
        io
    };
    let attach_err = |io: *const ctrd_io, i: RawFd, o: RawFd, e: RawFd| -> Failure {
        let mut s = std::ptr::dangling_mut::<ctrd_io_session>();
        let st = ctrd_io_attach(io, i, o, e, &mut s);
        assert_eq!(
            s,
            std::ptr::dangling_mut::<ctrd_io_session>(),
            "out written on failure"
        );
        (st, last_error())
    };
    let cases: Vec<(Failure, ctrd_status, &str)> = vec![
        (
            attach_err(null(), -1, out, -1),
            CTRD_ERR_INVALID_ARGUMENT,
            "ctrd_io_attach: fifos is NULL",
        ),
        (
            {
                let st = ctrd_io_attach(&good, -1, out, -1, null_mut());
                (st, last_error())
            },
            CTRD_ERR_INVALID_ARGUMENT,
            "ctrd_io_attach: out is NULL",
        ),
        (
            attach_err(&with(&|io| io.stdout_path = rel.as_ptr()), -1, out, -1),
            CTRD_ERR_INVALID_ARGUMENT,
            "fifos.stdout_path \"relative/stdout\" is not an absolute path",
        ),
        (
            attach_err(&with(&|io| io.stderr_path = bad_utf8.as_ptr()), -1, out, -1),
            CTRD_ERR_INVALID_ARGUMENT,
            "fifos.stderr_path is not valid UTF-8",
        ),
        (
            attach_err(&good, r2.as_raw_fd(), -1, -1),
            CTRD_ERR_INVALID_ARGUMENT,
            "a stdin fd was given but the stdin path is unset",
        ),
        (
            attach_err(&with(&|io| io.stderr_path = null()), -1, -1, out),
            CTRD_ERR_INVALID_ARGUMENT,
            "a stderr fd was given but the stderr path is unset",
        ),
        (
            attach_err(&good, -1, 9999, -1),
            CTRD_ERR_INVALID_ARGUMENT,
            "stdout_fd 9999 is not an open file descriptor",
        ),
        (
            attach_err(&good, -1, -1, -7),
            CTRD_ERR_INVALID_ARGUMENT,
            "stderr_fd -7 is not a file descriptor (-1 = not used)",
        ),
        (
            attach_err(&good, -1, r2.as_raw_fd(), -1),
            CTRD_ERR_INVALID_ARGUMENT,
            "the stdout fd is not open for writing",
        ),
        (
            attach_err(&with(&|io| io.stdout_path = missing.as_ptr()), -1, out, -1),
            CTRD_ERR_IO,
            "opening stdout FIFO",
        ),
        (
            attach_err(
                &with(&|io| io.stdout_path = regular_path.as_ptr()),
                -1,
                out,
                -1,
            ),
            CTRD_ERR_INVALID_ARGUMENT,
            "is not a FIFO",
        ),
    ];
    for (i, ((st, msg), want, text)) in cases.into_iter().enumerate() {
        assert_eq!(st, want, "case {i}: {msg}");
        assert!(msg.contains(text), "case {i}: {msg:?} lacks {text:?}");
    }
    let (_, msg) = attach_err(&with(&|io| io.stdout_path = missing.as_ptr()), -1, out, -1);
    assert!(
        msg.contains("/missing") && msg.contains("No such file"),
        "{msg}"
    );

    // ctrd_io_session_wait and the frees
    assert_eq!(
        ctrd_io_session_wait(null_mut(), 0),
        CTRD_ERR_INVALID_ARGUMENT
    );
    assert_eq!(last_error(), "ctrd_io_session_wait: session is NULL");
    ctrd_io_session_free(null_mut());
    ctrd_fifo_set_free(null_mut());

    // Nothing was left behind by the failures.
    let entries = std::fs::read_dir(set.base.path()).unwrap().count();
    assert_eq!(entries, 1, "only the good set's dir in the base");
}

#[test]
fn sessions_can_be_waited_for_from_several_threads() {
    let set = Set::new("threads", false, false);
    let mut out = tempfile::tempfile().unwrap();
    let s = attach(&set.io_for(false, true, false), -1, out.as_raw_fd(), -1);
    let addr = s as usize;
    let waiters: Vec<_> = (0..4)
        .map(|_| std::thread::spawn(move || ctrd_io_session_wait(addr as *mut _, 10_000)))
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let mut shim = Shim::open(&set.stdout());
    shim.write(b"shared");
    drop(shim);
    for w in waiters {
        assert_eq!(w.join().unwrap(), CTRD_OK);
    }
    ctrd_io_session_free(s);
    assert_eq!(contents(&mut out), b"shared");
}

#[test]
fn an_output_fifo_not_attached_is_read_and_dropped() {
    // The shim opens its write end of every output FIFO with a blocking open,
    // which waits for a reader: the session is that reader even for a stream
    // whose fd is -1, and drops what arrives there.
    let set = Set::new("drop", false, false);
    let (out_r, out_w) = pipe();
    let got = drain(out_r);
    let s = attach(&set.io(), -1, out_w.as_raw_fd(), -1);
    drop(out_w);
    let stderr = set.stderr();
    let (done_tx, done) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        // Blocks until some reader has the FIFO open.
        let mut w = OpenOptions::new().write(true).open(stderr).unwrap();
        w.write_all(&data(200_000, 9)).unwrap();
        done_tx.send(()).unwrap();
    });
    let stdout = set.stdout();
    let mut shim = Shim {
        w: Some(OpenOptions::new().write(true).open(stdout).unwrap()),
        _r: File::open("/dev/null").unwrap(),
    };
    shim.write(b"kept");
    drop(shim);
    done.recv_timeout(Duration::from_secs(10))
        .expect("the stderr writer still waits for a reader");
    wait(s, 10_000).unwrap();
    ctrd_io_session_free(s);
    assert_eq!(got.join().unwrap(), b"kept");
}

/// Reads `n` bytes from `f` (a FIFO or a pty master, made non-blocking
/// here), failing instead of hanging when that takes over 10 s.
fn read_n(f: &File, n: usize) -> Vec<u8> {
    nix::fcntl::fcntl(
        f,
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 65536];
    let mut r = f;
    while got.len() < n {
        match r.read(&mut buf[..n - got.len()]) {
            Ok(0) => panic!("end of file after {} of {n} bytes", got.len()),
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    Instant::now() < deadline,
                    "{} of {n} bytes in 10 s",
                    got.len()
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("reading: {e}"),
        }
    }
    got
}

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim_end().to_string())
        .collect()
}

#[test]
fn sockets_and_regular_files_as_caller_fds() {
    use std::os::unix::net::UnixStream;
    let set = Set::new("sock", true, false);
    // stdin from a regular file (several pipes full), output to sockets.
    let sent_in = data(300_000, 11);
    let mut in_file = tempfile::tempfile().unwrap();
    in_file.write_all(&sent_in).unwrap();
    in_file.rewind().unwrap();
    let (out_a, out_b) = UnixStream::pair().unwrap();
    let (err_a, err_b) = UnixStream::pair().unwrap();
    let s = attach(
        &set.io(),
        in_file.as_raw_fd(),
        out_b.as_raw_fd(),
        err_b.as_raw_fd(),
    );
    drop((in_file, out_b, err_b));
    let reader = |mut r: UnixStream| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            r.read_to_end(&mut v).unwrap();
            v
        })
    };
    let (out, err) = (reader(out_a), reader(err_a));

    let got_in = read_stdin_fifo(&set.stdin());
    assert_eq!(got_in.len(), sent_in.len());
    assert!(got_in == sent_in, "stdin bytes differ");

    let big_out = data(3 << 20, 12);
    let mut o = Shim::open(&set.stdout());
    let mut e = Shim::open(&set.stderr());
    e.write(b"to a socket");
    for chunk in big_out.chunks(10007) {
        o.write(chunk);
    }
    drop((o, e));
    wait(s, 30_000).unwrap();
    ctrd_io_session_free(s);
    let got_out = out.join().unwrap();
    assert_eq!(got_out.len(), big_out.len());
    assert!(got_out == big_out, "stdout bytes differ");
    assert_eq!(err.join().unwrap(), b"to a socket");
}

#[test]
fn a_terminal_as_caller_fd_is_copied_on_a_thread_of_its_own() {
    // A terminal's reads and writes may block whatever poll says: its
    // streams get threads of their own, and still copy and stop.
    let set = Set::new("pty", true, true);
    let pty = nix::pty::openpty(None, None).unwrap();
    let mut t = nix::sys::termios::tcgetattr(&pty.slave).unwrap();
    nix::sys::termios::cfmakeraw(&mut t);
    nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t).unwrap();
    let s = attach(&set.io(), pty.slave.as_raw_fd(), pty.slave.as_raw_fd(), -1);
    drop(pty.slave);
    // (A thread names itself once it runs.)
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let names = thread_names();
        let has = |name: &str| names.iter().any(|n| n == name);
        if has("ctrd-io-stdin") && has("ctrd-io-stdout") {
            break;
        }
        assert!(Instant::now() < deadline, "no thread per stream: {names:?}");
        std::thread::sleep(Duration::from_millis(5));
    }

    let mut master = File::from(pty.master);
    master.write_all(b"typed\x00bytes").unwrap();
    let stdin = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(set.stdin())
        .unwrap();
    assert_eq!(read_n(&stdin, 11), b"typed\x00bytes");

    let mut shim = Shim::open(&set.stdout());
    shim.write(b"output\x00\xff");
    drop(shim);
    wait(s, 10_000).unwrap();
    assert_eq!(read_n(&master, 8), b"output\x00\xff");
    let t = Instant::now();
    ctrd_io_session_free(s); // its stdin thread waits on the terminal
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "free took {:?}",
        t.elapsed()
    );
}
