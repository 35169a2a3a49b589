//! A copy session: the task's stdio FIFOs joined to the caller's
//! descriptors ([`Session::attach`]), waited for ([`Session::wait`]) and
//! stopped when dropped, with the state its streams share (which are
//! running, the first error, the stdin end-of-file hook).
//!
//! Each stream is copied either by the process's copy thread
//! (`reactor`: pipes, FIFOs, sockets, regular files) or, for a
//! descriptor whose reads and writes may block whatever `poll` says (a
//! terminal, a character device) and in a forked child, by a thread of its
//! own (`thread`). Freeing a session takes its streams off the copy
//! thread at once (under the lock the copy thread holds while it works) and
//! writes what a buffer still holds from a FIFO to the caller's descriptor
//! on the freeing thread; it never waits for the copy thread. Thread-copied
//! streams are stopped through the cancel pipe and joined. After `fork()` a
//! child has no copy thread: freeing a session there forgets it without
//! touching the parent's `epoll` set (which the child shares), and a session
//! attached in the child copies on threads of its own.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, PipeReader, PipeWriter, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use rustix::net::SendFlags;

use crate::core::error::{Code, Error, Result};
use crate::core::files::check_fd_access;
use crate::core::stdio::fifo::IoPaths;
use crate::core::stdio::reactor::{self, Pump, Reactor, Route};
use crate::core::stdio::thread;

/// Bytes moved per read on a thread-copied stream and held by a buffered
/// stream: the default capacity of a Linux pipe.
pub(super) const CHUNK: usize = 64 * 1024;

/// How often a finished stdin copy looks whether the task took everything.
pub(super) const DRAIN_INTERVAL: Duration = Duration::from_millis(10);

/// One of the three stdio streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdin,
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdin => "stdin",
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// The caller's ends of a session: the task's stdin is read from `stdin`,
/// its stdout and stderr written to `stdout` and `stderr`. `None` = that
/// stream is not copied. The session owns these descriptors (pass
/// duplicates to keep your own) and never changes their flags.
#[derive(Debug, Default)]
pub struct Fds {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

pub(super) struct State {
    /// Output streams still copying.
    pub(super) running: [bool; 3],
    /// The first failure of any stream.
    pub(super) error: Option<Error>,
}

/// What to do once the caller's stdin reached end of file and the session
/// closed its stdin FIFO end (see [`Session::on_stdin_eof`]).
pub(super) enum StdinHook {
    Waiting(Option<Hook>),
    Ended,
}

/// A stdin hook, and whether it returns at once (run where the end of file
/// is seen, on the copy thread) or may block (run on a thread of its own).
pub(super) struct Hook {
    run: Box<dyn FnOnce() + Send>,
    quick: bool,
}

impl Hook {
    fn start(self) -> Result<()> {
        if self.quick {
            // A panic stays in the hook, not on the copy thread.
            let _ = crate::runtime::catch_panic(self.run);
            Ok(())
        } else {
            run_detached(self.run)
        }
    }
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) stdin_hook: Mutex<StdinHook>,
    pub(super) changed: Condvar,
    pub(super) cancelled: AtomicBool,
    /// Read end of the cancel pipe of thread-copied streams: `POLLHUP` once
    /// the session dropped the write end. `None` when no stream has a
    /// thread.
    pub(super) cancel: Option<PipeReader>,
}

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Records that `stream` stopped, with its error if any, and wakes the
    /// waiters.
    pub(super) fn finish(&self, stream: Stream, error: Option<Error>) {
        let mut st = self.lock();
        if st.error.is_none() {
            st.error = error;
        }
        st.running[stream.index()] = false;
        drop(st);
        self.changed.notify_all();
    }

    /// The caller's stdin was copied to end of file and the task read it
    /// all (the session's stdin FIFO end is closed): runs the hook, if one
    /// is set: a quick one here, another on a thread of its own (it may make
    /// a daemon call, which freeing the session must not wait for).
    pub(super) fn stdin_ended(&self) -> Result<()> {
        let hook = std::mem::replace(
            &mut *self
                .stdin_hook
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            StdinHook::Ended,
        );
        match hook {
            StdinHook::Waiting(Some(hook)) => hook.start(),
            _ => Ok(()),
        }
    }
}

pub(super) fn panicked(stream: Stream) -> Error {
    Error::internal(format!(
        "copying {}: the copy thread panicked (a bug in containerd-c)",
        stream.name()
    ))
}

/// A running copy between a task's FIFOs and the caller's descriptors, made
/// by [`Session::attach`]. Dropping it stops every copy; bytes already read
/// from a FIFO are first written to the caller's descriptor, the rest stays
/// in the FIFO for the next session. `Send + Sync`.
pub struct Session {
    shared: Arc<Shared>,
    copies_stdin: bool,
    /// The process that attached: a forked child has no copy threads.
    pid: u32,
    /// The session's streams on the copy thread, if any: the key of each is
    /// `id`.
    reactor: Option<(&'static Reactor, u64)>,
    cancel: Option<PipeWriter>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("threads", &self.threads.len())
            .field("on_copy_thread", &self.reactor.is_some())
            .finish_non_exhaustive()
    }
}

/// Opens the FIFO of `stream` without blocking: the output FIFOs read-only,
/// stdin read-write (a write-only open fails while the FIFO has no reader).
fn open_fifo(stream: Stream, path: &Path) -> Result<File> {
    let name = stream.name();
    let not_fifo = || Error::invalid(format!("the {name} path {} is not a FIFO", path.display()));
    let os = |what: &str, e: std::io::Error| {
        Error::new(
            Code::Io,
            format!("{what} {name} FIFO {}: {e}", path.display()),
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| os("opening", e))?;
    if !meta.file_type().is_fifo() {
        return Err(not_fifo());
    }
    let file = OpenOptions::new()
        .read(true)
        .write(stream == Stream::Stdin)
        .custom_flags(OFlag::O_NONBLOCK.bits())
        .open(path)
        .map_err(|e| os("opening", e))?;
    if !file
        .metadata()
        .map_err(|e| os("inspecting", e))?
        .file_type()
        .is_fifo()
    {
        return Err(not_fifo());
    }
    Ok(file)
}

/// Writes all of `data` to the caller's `dst`, waiting while a non-blocking
/// descriptor is full. Never gives up on cancellation: bytes read from a
/// FIFO must not be dropped. A socket is written with `MSG_NOSIGNAL` (this
/// may run on the caller's thread, whose signals are not blocked).
pub(super) fn write_all(dst: &File, mut data: &[u8]) -> std::io::Result<()> {
    let socket = dst.metadata().is_ok_and(|m| m.file_type().is_socket());
    while !data.is_empty() {
        let written = if socket {
            rustix::net::send(dst, data, SendFlags::NOSIGNAL).map_err(std::io::Error::from)
        } else {
            let mut w = dst;
            w.write(data)
        };
        match written {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                let mut fds = [PollFd::new(dst.as_fd(), PollFlags::POLLOUT)];
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(super) fn write_error(stream: Stream, e: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Io,
        format!("writing {} to its fd: {e}", stream.name()),
    )
}

pub(super) fn read_fifo_error(stream: Stream, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Io,
        format!("reading {} FIFO {}: {e}", stream.name(), path.display()),
    )
}

pub(super) fn stdin_fifo_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Io,
        format!("writing stdin FIFO {}: {e}", path.display()),
    )
}

pub(super) fn read_stdin_error(e: impl std::fmt::Display) -> Error {
    Error::new(Code::Io, format!("reading stdin from its fd: {e}"))
}

/// Whether the task took everything from the stdin FIFO (or it cannot be
/// told).
pub(super) fn fifo_empty(fifo: &File) -> bool {
    matches!(rustix::io::ioctl_fionread(fifo), Ok(0) | Err(_))
}

impl Session {
    /// Starts copying between the FIFOs in `paths` and the caller's `fds`:
    /// stdin from `fds.stdin` into the stdin FIFO, the stdout and stderr
    /// FIFOs into `fds.stdout` and `fds.stderr`. Returns at once; the copies
    /// run on the process's copy thread (or, for a terminal or another
    /// descriptor that may block, a thread of the stream's own).
    ///
    /// A stream is copied when both its path and its fd are given; an fd for
    /// a stream whose path is unset is an error. With `paths.terminal` there
    /// is no stderr (stdout carries both). Works before the task exists (the
    /// FIFOs are opened without blocking; output waits for the task's
    /// writer) and for a task that runs already (re-attach: what is still in
    /// the pipes arrives here). At end of the caller's stdin the stdin FIFO
    /// end is closed once the task has read everything written (then close
    /// the task's stdin for it to see end of file).
    ///
    /// Errors: `InvalidArgument` (fd without path, stderr with a terminal,
    /// an fd not open for the needed direction, a path that is not a FIFO),
    /// `Io` (opening a FIFO, with its path; starting a thread).
    pub fn attach(paths: &IoPaths, fds: Fds) -> Result<Session> {
        let Fds {
            stdin,
            stdout,
            stderr,
        } = fds;
        if paths.terminal && stderr.is_some() {
            return Err(Error::invalid(
                "a stderr fd was given but the process has a terminal: stdout carries both",
            ));
        }
        let stderr_path = if paths.terminal { &None } else { &paths.stderr };
        let mut plan: Vec<(Stream, PathBuf, File, Option<File>)> = Vec::new();
        for (stream, path, fd) in [
            (Stream::Stdin, &paths.stdin, stdin),
            (Stream::Stdout, &paths.stdout, stdout),
            (Stream::Stderr, stderr_path, stderr),
        ] {
            let name = stream.name();
            let dst = match (path, fd) {
                (None, Some(_)) => {
                    return Err(Error::invalid(format!(
                        "a {name} fd was given but the {name} path is unset"
                    )))
                }
                (None, None) => continue,
                (Some(_), None) if stream == Stream::Stdin => continue,
                // An output FIFO nobody wants is still read (and dropped), or
                // the shim would wait for a reader and the task never start.
                (Some(_), None) => None,
                (Some(_), Some(fd)) => {
                    check_fd_access(
                        &fd,
                        &format!("the {} fd", stream.name()),
                        stream != Stream::Stdin,
                    )?;
                    Some(File::from(fd))
                }
            };
            let path = path.as_ref().expect("matched Some above");
            plan.push((stream, path.clone(), open_fifo(stream, path)?, dst));
        }

        let mut running = [false; 3];
        // `wait` waits for the outputs the caller receives; a stream only
        // drained does not count (attached after the task's writers closed,
        // an empty FIFO never reports end of file).
        for (stream, _, _, dst) in &plan {
            running[stream.index()] = *stream != Stream::Stdin && dst.is_some();
        }
        let copies_stdin = plan.iter().any(|(stream, ..)| *stream == Stream::Stdin);
        let plan: Vec<(Stream, PathBuf, File, Route)> = plan
            .into_iter()
            .map(|(stream, path, fifo, fd)| (stream, path, fifo, reactor::route(fd)))
            .collect();
        let on_reactor = plan.iter().any(|(.., r)| matches!(r, Route::CopyThread(_)));
        let reactor = match on_reactor {
            true => reactor::reactor()?.map(|r| (r, reactor::next_id())),
            false => None,
        };
        // Without a copy thread (a forked child) every stream gets a thread.
        let plan: Vec<(Stream, PathBuf, File, Route)> = match reactor {
            Some(_) => plan,
            None => plan
                .into_iter()
                .map(|(stream, path, fifo, route)| {
                    let fd = match route {
                        Route::OwnThread(fd) => fd,
                        Route::CopyThread(caller) => caller.into_file(),
                    };
                    (stream, path, fifo, Route::OwnThread(fd))
                })
                .collect(),
        };
        let own_threads = plan.iter().any(|(.., r)| matches!(r, Route::OwnThread(_)));
        let (cancel_r, cancel_w) = if own_threads {
            let (r, w) = std::io::pipe()
                .map_err(|e| Error::new(Code::Io, format!("making the cancel pipe: {e}")))?;
            (Some(r), Some(w))
        } else {
            (None, None)
        };
        let mut session = Session {
            copies_stdin,
            pid: std::process::id(),
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    running,
                    error: None,
                }),
                stdin_hook: Mutex::new(StdinHook::Waiting(None)),
                changed: Condvar::new(),
                cancelled: AtomicBool::new(false),
                cancel: cancel_r,
            }),
            reactor,
            cancel: cancel_w,
            threads: Vec::new(),
        };
        let mut pumps = Vec::new();
        for (stream, path, fifo, route) in plan {
            let shared = session.shared.clone();
            match route {
                Route::CopyThread(caller) => {
                    let (_, session_id) = session.reactor.expect("made above");
                    pumps.push(Pump::new(stream, session_id, shared, path, fifo, caller));
                }
                Route::OwnThread(fd) => session
                    .threads
                    .push(thread::spawn(stream, path, fifo, fd, shared)?),
            }
        }
        if let Some((reactor, _)) = session.reactor {
            reactor.add(pumps);
        }
        Ok(session)
    }

    /// Waits until the task's stdout and stderr (those being copied) reached
    /// end of file, i.e. the task's writers closed them, and everything read
    /// was written to the caller's descriptors. `None` waits for ever.
    ///
    /// Errors: `DeadlineExceeded` when `timeout` passed first (the session
    /// goes on; wait again), or the first copy failure of any stream (`Io`,
    /// e.g. the caller's descriptor was closed). Several threads may wait at
    /// once.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut st = self.shared.lock();
        while st.running.iter().any(|&r| r) {
            st = match deadline {
                None => self
                    .shared
                    .changed
                    .wait(st)
                    .unwrap_or_else(PoisonError::into_inner),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        let open: Vec<&str> = [Stream::Stdout, Stream::Stderr]
                            .into_iter()
                            .filter(|s| st.running[s.index()])
                            .map(Stream::name)
                            .collect();
                        return Err(Error::new(
                            Code::DeadlineExceeded,
                            format!(
                                "{} did not reach end of file within {}",
                                open.join(" and "),
                                humantime::format_duration(timeout.unwrap_or_default())
                            ),
                        ));
                    }
                    self.shared
                        .changed
                        .wait_timeout(st, deadline - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
            };
        }
        match &st.error {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Runs `hook` once the caller's stdin reached end of file and the task
    /// has read everything written (the session's stdin FIFO end is closed by
    /// then) — at once, on a thread of its own, when that happened already.
    /// Not run when the session is dropped first. Used to close the task's
    /// stdin, as the Go client's stdin closer does.
    ///
    /// Errors: `InvalidArgument` when the session does not copy stdin or a
    /// hook is set already.
    pub fn on_stdin_eof(&self, hook: Box<dyn FnOnce() + Send>) -> Result<()> {
        self.set_stdin_hook(Hook {
            run: hook,
            quick: false,
        })
    }

    /// As [`Session::on_stdin_eof`], for a `hook` that returns at once (it
    /// hands its work on, e.g. to the runtime): it runs where the end of file
    /// is seen, on the copy thread (or on the calling thread, when that
    /// happened already), with no thread started for it.
    pub fn on_stdin_eof_quick(&self, hook: Box<dyn FnOnce() + Send>) -> Result<()> {
        self.set_stdin_hook(Hook {
            run: hook,
            quick: true,
        })
    }

    fn set_stdin_hook(&self, hook: Hook) -> Result<()> {
        if !self.copies_stdin {
            return Err(Error::invalid("the session does not copy stdin"));
        }
        let mut state = self
            .shared
            .stdin_hook
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match &mut *state {
            StdinHook::Waiting(Some(_)) => Err(Error::invalid(
                "the session closes a stdin at end of file already",
            )),
            StdinHook::Waiting(slot) => {
                *slot = Some(hook);
                Ok(())
            }
            StdinHook::Ended => {
                drop(state);
                hook.start()
            }
        }
    }

    /// Whether every output stream being copied reached end of file (or
    /// failed). Never blocks.
    pub fn is_done(&self) -> bool {
        !self.shared.lock().running.iter().any(|&r| r)
    }
}

/// Runs a stdin hook on a thread of its own, never joined: the session does
/// not wait for it.
fn run_detached(hook: Box<dyn FnOnce() + Send>) -> Result<()> {
    std::thread::Builder::new()
        .name("ctrd-io-stdin-eof".into())
        .spawn(move || {
            crate::runtime::library_thread();
            hook()
        })
        .map(|_| ())
        .map_err(|e| Error::new(Code::Io, format!("starting a thread: {e}")))
}

impl Drop for Session {
    /// Stops every copy: the streams on the copy thread are taken off it at
    /// once and what a buffer holds from a FIFO is written to the caller's
    /// descriptor here; the threads of thread-copied streams are stopped and
    /// joined (each finishes writing the chunk it has read, nothing more).
    /// Never waits on the FIFO side nor for a stdin hook (it runs on a thread
    /// of its own); a caller's descriptor that takes no bytes can hold it up.
    ///
    /// In a forked child the copy threads do not exist (only the parent has
    /// them): the session forgets its streams instead, touching nothing the
    /// parent's copy thread uses.
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            // Joining a thread that is not there would fail (and panic); the
            // copy thread's lock may be held for ever and its epoll set is
            // the parent's.
            std::mem::forget(std::mem::take(&mut self.threads));
            return;
        }
        self.shared.cancelled.store(true, Ordering::SeqCst);
        if let Some((reactor, id)) = self.reactor {
            for pump in reactor.remove_session(id) {
                pump.flush_to_caller();
            }
        }
        drop(self.cancel.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::sync::mpsc;

    fn fifo(dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(name);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        path
    }

    #[test]
    fn dropping_a_session_does_not_wait_for_its_stdin_hook() {
        let dir = tempfile::tempdir().unwrap();
        let paths = IoPaths {
            stdin: Some(fifo(dir.path(), "stdin")),
            ..Default::default()
        };
        let (caller_stdin, feed) = std::io::pipe().unwrap();
        let session = Session::attach(
            &paths,
            Fds {
                stdin: Some(OwnedFd::from(caller_stdin)),
                ..Default::default()
            },
        )
        .unwrap();
        // The hook stands for a daemon call that takes long (closing the
        // task's stdin while the daemon does not answer).
        let (started, hook_started) = mpsc::channel();
        let (release, wait_release) = mpsc::channel::<()>();
        session
            .on_stdin_eof(Box::new(move || {
                started.send(()).unwrap();
                let _ = wait_release.recv_timeout(Duration::from_secs(10));
            }))
            .unwrap();
        drop(feed); // end of file on the caller's stdin
        hook_started
            .recv_timeout(Duration::from_secs(5))
            .expect("the hook runs at end of file");
        let t0 = Instant::now();
        drop(session);
        let took = t0.elapsed();
        release.send(()).unwrap();
        assert!(
            took < Duration::from_secs(2),
            "dropping the session waited {took:?} for the stdin hook"
        );
    }

    /// The names of this process's threads.
    fn thread_names() -> Vec<String> {
        std::fs::read_dir("/proc/self/task")
            .unwrap()
            .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
            .map(|n| n.trim_end().to_string())
            .collect()
    }

    /// Reads a stdin FIFO as the shim would, to end of file (10 s at most).
    fn read_fifo(path: &Path) -> Vec<u8> {
        let mut fifo = OpenOptions::new()
            .read(true)
            .custom_flags(OFlag::O_NONBLOCK.bits())
            .open(path)
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            match fifo.read(&mut buf) {
                Ok(0) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "no end of file on {path:?}");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("reading {path:?}: {e}"),
            }
        }
    }

    #[test]
    fn many_sessions_share_one_copy_thread() {
        const N: usize = 40;
        let dir = tempfile::tempdir().unwrap();
        let mut all = Vec::new();
        for i in 0..N {
            let paths = IoPaths {
                stdin: Some(fifo(dir.path(), &format!("{i}-stdin"))),
                stdout: Some(fifo(dir.path(), &format!("{i}-stdout"))),
                stderr: Some(fifo(dir.path(), &format!("{i}-stderr"))),
                terminal: false,
            };
            let (in_r, in_w) = std::io::pipe().unwrap();
            let (out_r, out_w) = std::io::pipe().unwrap();
            let (err_r, err_w) = std::io::pipe().unwrap();
            let session = Session::attach(
                &paths,
                Fds {
                    stdin: Some(in_r.into()),
                    stdout: Some(out_w.into()),
                    stderr: Some(err_w.into()),
                },
            )
            .unwrap();
            all.push((paths, session, in_w, out_r, err_r));
        }
        // Three streams each, and not one thread for any of them: one copy
        // thread (which names itself once it runs) for all.
        let deadline = Instant::now() + Duration::from_secs(5);
        while !thread_names().iter().any(|n| n == "ctrd-io") {
            assert!(Instant::now() < deadline, "no copy thread");
            std::thread::sleep(Duration::from_millis(5));
        }
        let names = thread_names();
        let per_stream = names
            .iter()
            .filter(|n| ["ctrd-io-stdin", "ctrd-io-stdout", "ctrd-io-stderr"].contains(&n.as_str()))
            .count();
        assert_eq!(per_stream, 0, "threads: {names:?}");
        assert_eq!(
            names.iter().filter(|n| *n == "ctrd-io").count(),
            1,
            "{names:?}"
        );

        // Distinct bytes through every stream of every session.
        let bytes = |i: usize, s: usize| -> Vec<u8> {
            (0..20_000 + i)
                .map(|j| (j * 31 + i * 7 + s) as u8)
                .collect()
        };
        for (i, (paths, session, in_w, out_r, err_r)) in all.into_iter().enumerate() {
            let mut in_w = in_w;
            in_w.write_all(&bytes(i, 0)).unwrap();
            drop(in_w);
            assert!(
                read_fifo(paths.stdin.as_ref().unwrap()) == bytes(i, 0),
                "stdin {i}"
            );
            for (path, s) in [(&paths.stdout, 1), (&paths.stderr, 2)] {
                let mut w = OpenOptions::new()
                    .write(true)
                    .open(path.as_ref().unwrap())
                    .unwrap();
                w.write_all(&bytes(i, s)).unwrap();
            }
            session.wait(Some(Duration::from_secs(10))).unwrap();
            drop(session);
            for (mut r, s) in [(out_r, 1), (err_r, 2)] {
                let mut got = Vec::new();
                r.read_to_end(&mut got).unwrap();
                assert!(got == bytes(i, s), "stream {s} of session {i}");
            }
        }
    }
}
