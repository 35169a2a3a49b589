//! Copying between a task's stdio FIFOs and the caller's file descriptors in
//! the background, as containerd's Go `cio` does.
//!
//! One thread per copied stream, each blocked in `poll` on its stream and on
//! a cancel pipe shared by the session, so that dropping the session stops
//! every thread at once.
//!
//! Linux FIFO facts this relies on (checked on Linux 6.x):
//! - An output FIFO opened `O_RDONLY|O_NONBLOCK` opens at once, with or
//!   without a writer. Before any writer connected, `poll` reports nothing
//!   (while `read` would return 0); once one did, `POLLIN` for data and
//!   `POLLHUP` when the last writer closed. A reader that opened while a
//!   writer was connected also gets `POLLHUP` when the writers close.
//! - `read` returns 0 exactly when the pipe is empty and has no writer, so
//!   after `poll` reported something, 0 is end of file (also when data was
//!   left behind by writers that closed before this reader opened: `POLLIN`
//!   without `POLLHUP`).
//! - The shim keeps a read end of its own on each output FIFO: bytes this
//!   session does not read wait in the pipe for the next reader (re-attach).
//! - `O_WRONLY|O_NONBLOCK` fails with `ENXIO` while the FIFO has no reader;
//!   `O_RDWR` opens at once, and bytes written then wait in the pipe for the
//!   shim. They are lost if every end closes before the shim opens it, so at
//!   end of input the stdin end is kept until the pipe is empty.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::SigSet;

use crate::core::error::{Code, Error, Result};
use crate::core::fifo::IoPaths;

/// Bytes moved per read: the default capacity of a Linux pipe.
const CHUNK: usize = 64 * 1024;

/// How often a finished stdin copy looks whether the task took everything.
const DRAIN_INTERVAL: Duration = Duration::from_millis(10);

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

    fn index(self) -> usize {
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

struct State {
    /// Output streams still copying.
    running: [bool; 3],
    /// The first failure of any stream.
    error: Option<Error>,
}

/// What to do once the caller's stdin reached end of file and the session
/// closed its stdin FIFO end (see [`Session::on_stdin_eof`]).
enum StdinHook {
    Waiting(Option<Box<dyn FnOnce() + Send>>),
    Ended,
}

struct Shared {
    state: Mutex<State>,
    stdin_hook: Mutex<StdinHook>,
    changed: Condvar,
    cancelled: AtomicBool,
    /// Read end of the cancel pipe: `POLLHUP` once the session dropped the
    /// write end.
    cancel: PipeReader,
}

enum Ready {
    Fd,
    Cancelled,
    Timeout,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// Waits until `fd` has one of `events` (or an error), the session is
    /// cancelled, or `timeout` passes. Cancellation wins.
    fn ready(&self, fd: BorrowedFd, events: PollFlags, timeout: PollTimeout) -> Result<Ready> {
        loop {
            let mut fds = [
                PollFd::new(fd, events),
                PollFd::new(self.cancel.as_fd(), PollFlags::POLLIN),
            ];
            match poll(&mut fds, timeout) {
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::new(Code::Io, format!("poll: {e}"))),
                Ok(0) => return Ok(Ready::Timeout),
                Ok(_) => {
                    let hit = |p: &PollFd| p.revents().is_some_and(|r| !r.is_empty());
                    if hit(&fds[1]) || self.is_cancelled() {
                        return Ok(Ready::Cancelled);
                    }
                    if hit(&fds[0]) {
                        return Ok(Ready::Fd);
                    }
                }
            }
        }
    }

    /// Sleeps for `d` unless cancelled first; true when cancelled.
    fn sleep(&self, d: Duration) -> bool {
        let ms = u16::try_from(d.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.cancel.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(ms));
        self.is_cancelled() || fds[0].revents().is_some_and(|r| !r.is_empty())
    }
}

/// Marks a stream's thread finished, recording its error (or its panic),
/// even when the thread unwinds.
struct Finish<'a> {
    shared: &'a Shared,
    stream: Stream,
    error: Option<Error>,
}

impl Drop for Finish<'_> {
    fn drop(&mut self) {
        let mut error = self.error.take();
        if std::thread::panicking() {
            error = Some(Error::internal(format!(
                "copying {}: the copy thread panicked (a bug in containerd-c)",
                self.stream.name()
            )));
        }
        let mut st = self.shared.lock();
        if st.error.is_none() {
            st.error = error;
        }
        st.running[self.stream.index()] = false;
        drop(st);
        self.shared.changed.notify_all();
    }
}

/// A running copy between a task's FIFOs and the caller's descriptors, made
/// by [`Session::attach`]. Dropping it stops every copy and joins its threads; bytes
/// already read from a FIFO are first written to the caller's descriptor,
/// the rest stays in the FIFO for the next session. `Send + Sync`.
pub struct Session {
    shared: Arc<Shared>,
    copies_stdin: bool,
    /// The process that started the copy threads: a forked child has none.
    pid: u32,
    cancel: Option<PipeWriter>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

/// Checks that `fd` may be read (`write` false) or written.
fn check_access(stream: Stream, fd: &OwnedFd, write: bool) -> Result<()> {
    let name = stream.name();
    let flags = fcntl(fd, FcntlArg::F_GETFL)
        .map_err(|e| Error::invalid(format!("the {name} fd is not usable: {e}")))?;
    let flags = OFlag::from_bits_truncate(flags);
    let mode = flags & OFlag::O_ACCMODE;
    let wanted = if write {
        OFlag::O_WRONLY
    } else {
        OFlag::O_RDONLY
    };
    let ok = !flags.contains(OFlag::O_PATH) && (mode == OFlag::O_RDWR || mode == wanted);
    if ok {
        Ok(())
    } else {
        let how = if write { "writing" } else { "reading" };
        Err(Error::invalid(format!(
            "the {name} fd is not open for {how}"
        )))
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
/// FIFO must not be dropped.
fn write_all(mut dst: &File, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match dst.write(data) {
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

/// FIFO → caller (or nowhere, for a stream the caller does not want), until
/// end of file or cancellation.
fn copy_out(
    stream: Stream,
    fifo: &File,
    path: &Path,
    dst: Option<&File>,
    shared: &Shared,
) -> Result<()> {
    let name = stream.name();
    let mut buf = vec![0u8; CHUNK];
    let mut reader = fifo;
    loop {
        match shared.ready(fifo.as_fd(), PollFlags::POLLIN, PollTimeout::NONE)? {
            Ready::Cancelled => return Ok(()),
            Ready::Timeout | Ready::Fd => {}
        }
        // Drain what is there; stop between chunks when cancelled.
        while !shared.is_cancelled() {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    if let Some(dst) = dst {
                        write_all(dst, &buf[..n]).map_err(|e| {
                            Error::new(Code::Io, format!("writing {name} to its fd: {e}"))
                        })?
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Error::new(
                        Code::Io,
                        format!("reading {name} FIFO {}: {e}", path.display()),
                    ))
                }
            }
        }
    }
}

/// Caller → stdin FIFO, until the caller's end of file or cancellation.
/// `true` when it ended at end of file and the task has read everything.
fn copy_in(src: &File, fifo: &File, path: &Path, shared: &Shared) -> Result<bool> {
    let fifo_error = |e: std::io::Error| {
        Error::new(
            Code::Io,
            format!("writing stdin FIFO {}: {e}", path.display()),
        )
    };
    let mut buf = vec![0u8; CHUNK];
    let (mut reader, mut writer) = (src, fifo);
    loop {
        match shared.ready(src.as_fd(), PollFlags::POLLIN, PollTimeout::NONE)? {
            Ready::Cancelled => return Ok(false),
            Ready::Timeout | Ready::Fd => {}
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {
                continue
            }
            Err(e) => {
                return Err(Error::new(
                    Code::Io,
                    format!("reading stdin from its fd: {e}"),
                ))
            }
        };
        let mut data = &buf[..n];
        while !data.is_empty() {
            match writer.write(data) {
                Ok(0) => return Err(fifo_error(ErrorKind::WriteZero.into())),
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    match shared.ready(fifo.as_fd(), PollFlags::POLLOUT, PollTimeout::NONE)? {
                        Ready::Cancelled => return Ok(false),
                        Ready::Timeout | Ready::Fd => {}
                    }
                }
                Err(e) => return Err(fifo_error(e)),
            }
        }
    }
    // End of input. Closing our end now would throw away what the task has
    // not read yet if no one else holds the FIFO (the shim not started yet):
    // keep it until the pipe is empty.
    loop {
        match rustix::io::ioctl_fionread(fifo) {
            Ok(0) | Err(_) => return Ok(true),
            Ok(_) => {}
        }
        if shared.sleep(DRAIN_INTERVAL) {
            return Ok(false);
        }
    }
}

impl Session {
    /// Starts copying between the FIFOs in `paths` and the caller's `fds`:
    /// stdin from `fds.stdin` into the stdin FIFO, the stdout and stderr
    /// FIFOs into `fds.stdout` and `fds.stderr`. Returns at once; the copies
    /// run on threads of their own.
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
                    check_access(stream, &fd, stream != Stream::Stdin)?;
                    Some(File::from(fd))
                }
            };
            let path = path.as_ref().expect("matched Some above");
            plan.push((stream, path.clone(), open_fifo(stream, path)?, dst));
        }

        let (cancel_r, cancel_w) = std::io::pipe()
            .map_err(|e| Error::new(Code::Io, format!("making the cancel pipe: {e}")))?;
        let mut running = [false; 3];
        // `wait` waits for the outputs the caller receives; a stream only
        // drained does not count (attached after the task's writers closed,
        // an empty FIFO never reports end of file).
        for (stream, _, _, dst) in &plan {
            running[stream.index()] = *stream != Stream::Stdin && dst.is_some();
        }
        let copies_stdin = plan.iter().any(|(stream, ..)| *stream == Stream::Stdin);
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
            cancel: Some(cancel_w),
            threads: Vec::new(),
        };
        for (stream, path, fifo, fd) in plan {
            let shared = session.shared.clone();
            let thread = std::thread::Builder::new()
                .name(format!("ctrd-io-{}", stream.name()))
                .spawn(move || {
                    crate::runtime::library_thread();
                    // Signals are for the application's threads; a write to
                    // a closed pipe then fails with EPIPE instead of killing
                    // the process with SIGPIPE.
                    let _ = SigSet::all().thread_block();
                    let mut finish = Finish {
                        shared: &shared,
                        stream,
                        error: None,
                    };
                    let result = match (stream, &fd) {
                        (Stream::Stdin, Some(src)) => copy_in(src, &fifo, &path, &shared),
                        (Stream::Stdin, None) => Ok(false),
                        _ => copy_out(stream, &fifo, &path, fd.as_ref(), &shared).map(|_| false),
                    };
                    // Our end of the FIFO goes first: the task sees end of
                    // file only once every writer closed.
                    drop(fifo);
                    match result {
                        Ok(true) => {
                            let hook = std::mem::replace(
                                &mut *shared
                                    .stdin_hook
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner),
                                StdinHook::Ended,
                            );
                            if let StdinHook::Waiting(Some(hook)) = hook {
                                // On a thread of its own: the hook may make
                                // a daemon call, which dropping the session
                                // must not wait for.
                                if let Err(e) = run_detached(hook) {
                                    finish.error = Some(e);
                                }
                            }
                        }
                        Ok(false) => {}
                        Err(e) => finish.error = Some(e),
                    }
                })
                .map_err(|e| {
                    Error::new(
                        Code::Io,
                        format!("starting the {} copy thread: {e}", stream.name()),
                    )
                })?;
            session.threads.push(thread);
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
                run_detached(hook)
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
    /// Stops every copy and waits for the threads: each finishes writing the
    /// chunk it has read to the caller's descriptor, nothing more. Never waits
    /// on the FIFO side nor for a stdin hook (it runs on a thread of its
    /// own); a caller's descriptor that takes no bytes can hold it up.
    ///
    /// In a forked child the copy threads do not exist (only the parent has
    /// them): the session forgets them instead of joining.
    fn drop(&mut self) {
        if std::process::id() != self.pid {
            // Joining a thread that is not there would fail (and panic).
            std::mem::forget(std::mem::take(&mut self.threads));
            return;
        }
        self.shared.cancelled.store(true, Ordering::SeqCst);
        drop(self.cancel.take());
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
}
