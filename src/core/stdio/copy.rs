//! Copying between a task's stdio FIFOs and the caller's file descriptors in
//! the background, as containerd's Go `cio` does.
//!
//! # Design
//!
//! One copy thread for the whole process (`ctrd-io`, started by the first
//! session, in each process that attaches one) moves the bytes of every
//! session whose caller descriptors allow it, driven by `epoll`: a stream
//! costs no thread, and 200 attached containers cost one thread in all.
//! Each stream waits on one side at a time (level-triggered, one-shot,
//! re-armed after each step): its FIFO or the caller's descriptor, the one
//! that stopped it. Each step moves at most `BUDGET` bytes before the
//! other streams get their turn. What the copy does with the caller's
//! descriptor depends on what it is, so that it never blocks the thread
//! and never changes the descriptor's flags (which the caller shares):
//! - a pipe or FIFO: `splice(2)` between the two pipes with
//!   `SPLICE_F_NONBLOCK`, which does not block on either pipe whatever its
//!   `O_NONBLOCK` flag says; no copy through user space, and no bytes held
//!   by the session in between;
//! - a socket: `recv`/`send` with `MSG_DONTWAIT` (and `MSG_NOSIGNAL`),
//!   through a buffer of the stream's;
//! - a regular file or block device: plain `read`/`write` through a buffer
//!   (they do not wait for a reader or writer; `epoll` refuses them);
//! - anything else (a terminal, a character device), whose reads and
//!   writes may block whatever `poll` said: a thread of its own for that
//!   stream, blocked in `poll` on its stream and on a cancel pipe shared by
//!   the session's threads, as every stream had before.
//!
//! Freeing a session takes its streams off the copy thread at once (under
//! the lock the copy thread holds while it works) and writes what a buffer
//! still holds from a FIFO to the caller's descriptor on the freeing
//! thread; it never waits for the copy thread. Thread-copied streams are
//! stopped through the cancel pipe and joined.
//!
//! The copy thread blocks all signals (a write to a closed pipe fails with
//! `EPIPE` instead of raising `SIGPIPE`). After `fork()` a child has no copy
//! thread: freeing a session there forgets it without touching the parent's
//! `epoll` set (which the child shares), and a session attached in the
//! child starts a copy thread of the child's own.
//!
//! Linux FIFO facts this relies on (checked on Linux 6.x):
//! - An output FIFO opened `O_RDONLY|O_NONBLOCK` opens at once, with or
//!   without a writer. Before any writer connected, `poll` (and `epoll`)
//!   reports nothing (while `read` or `splice` would return 0); once one
//!   did, `POLLIN` for data and `POLLHUP` when the last writer closed. A
//!   reader that opened while a writer was connected also gets `POLLHUP`
//!   when the writers close. So an output FIFO is read only once it was
//!   reported ready.
//! - `read` (and `splice` from it) returns 0 exactly when the pipe is empty
//!   and has no writer, so after `poll` reported something, 0 is end of
//!   file (also when data was left behind by writers that closed before
//!   this reader opened: `POLLIN` without `POLLHUP`).
//! - The shim keeps a read end of its own on each output FIFO: bytes this
//!   session does not read wait in the pipe for the next reader (re-attach).
//! - `O_WRONLY|O_NONBLOCK` fails with `ENXIO` while the FIFO has no reader;
//!   `O_RDWR` opens at once, and bytes written then wait in the pipe for the
//!   shim. They are lost if every end closes before the shim opens it, so at
//!   end of input the stdin end is kept until the pipe is empty (looked at
//!   every `DRAIN_INTERVAL`).
//! - `splice` between two pipes with `SPLICE_F_NONBLOCK` fails with
//!   `EAGAIN` when the input is empty or the output full; `FIONREAD` on the
//!   input tells which.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::epoll::{Epoll, EpollEvent};
use nix::sys::signal::SigSet;
use once_cell::sync::OnceCell;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::net::{RecvFlags, SendFlags};
use rustix::pipe::SpliceFlags;

use crate::core::error::{Code, Error, Result};
use crate::core::files::check_fd_access;
use crate::core::stdio::fifo::IoPaths;

/// Bytes moved per read on a thread-copied stream and held by a buffered
/// stream: the default capacity of a Linux pipe.
const CHUNK: usize = 64 * 1024;

/// Bytes asked for by one `splice`: more than a pipe holds, so that one
/// call moves everything there is.
const SPLICE_LEN: usize = 1 << 20;

/// Bytes a stream moves in one turn on the copy thread before the other
/// streams get theirs.
const BUDGET: usize = 1 << 20;

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
    Waiting(Option<Hook>),
    Ended,
}

/// A stdin hook, and whether it returns at once (run where the end of file
/// is seen, on the copy thread) or may block (run on a thread of its own).
struct Hook {
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

struct Shared {
    state: Mutex<State>,
    stdin_hook: Mutex<StdinHook>,
    changed: Condvar,
    cancelled: AtomicBool,
    /// Read end of the cancel pipe of thread-copied streams: `POLLHUP` once
    /// the session dropped the write end. `None` when no stream has a
    /// thread.
    cancel: Option<PipeReader>,
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
    /// cancelled, or `timeout` passes. Cancellation wins. Thread-copied
    /// streams only.
    fn ready(&self, fd: BorrowedFd, events: PollFlags, timeout: PollTimeout) -> Result<Ready> {
        let Some(cancel) = &self.cancel else {
            return Err(Error::internal("a copy thread without a cancel pipe"));
        };
        loop {
            let mut fds = [
                PollFd::new(fd, events),
                PollFd::new(cancel.as_fd(), PollFlags::POLLIN),
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
    /// Thread-copied streams only.
    fn sleep(&self, d: Duration) -> bool {
        let Some(cancel) = &self.cancel else {
            return true;
        };
        let ms = u16::try_from(d.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(cancel.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(ms));
        self.is_cancelled() || fds[0].revents().is_some_and(|r| !r.is_empty())
    }

    /// Records that `stream` stopped, with its error if any, and wakes the
    /// waiters.
    fn finish(&self, stream: Stream, error: Option<Error>) {
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
    fn stdin_ended(&self) -> Result<()> {
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
            error = Some(panicked(self.stream));
        }
        self.shared.finish(self.stream, error);
    }
}

fn panicked(stream: Stream) -> Error {
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
fn write_all(dst: &File, mut data: &[u8]) -> std::io::Result<()> {
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

/// FIFO → caller (or nowhere, for a stream the caller does not want), until
/// end of file or cancellation. Thread-copied streams.
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
                        write_all(dst, &buf[..n]).map_err(|e| write_error(stream, e))?
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

fn write_error(stream: Stream, e: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Io,
        format!("writing {} to its fd: {e}", stream.name()),
    )
}

fn read_fifo_error(stream: Stream, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Io,
        format!("reading {} FIFO {}: {e}", stream.name(), path.display()),
    )
}

fn stdin_fifo_error(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::new(
        Code::Io,
        format!("writing stdin FIFO {}: {e}", path.display()),
    )
}

fn read_stdin_error(e: impl std::fmt::Display) -> Error {
    Error::new(Code::Io, format!("reading stdin from its fd: {e}"))
}

/// Caller → stdin FIFO, until the caller's end of file or cancellation.
/// `true` when it ended at end of file and the task has read everything.
/// Thread-copied streams.
fn copy_in(src: &File, fifo: &File, path: &Path, shared: &Shared) -> Result<bool> {
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
            Err(e) => return Err(read_stdin_error(e)),
        };
        let mut data = &buf[..n];
        while !data.is_empty() {
            match writer.write(data) {
                Ok(0) => {
                    return Err(stdin_fifo_error(
                        path,
                        std::io::Error::from(ErrorKind::WriteZero),
                    ))
                }
                Ok(n) => data = &data[n..],
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    match shared.ready(fifo.as_fd(), PollFlags::POLLOUT, PollTimeout::NONE)? {
                        Ready::Cancelled => return Ok(false),
                        Ready::Timeout | Ready::Fd => {}
                    }
                }
                Err(e) => return Err(stdin_fifo_error(path, e)),
            }
        }
    }
    // End of input. Closing our end now would throw away what the task has
    // not read yet if no one else holds the FIFO (the shim not started yet):
    // keep it until the pipe is empty.
    loop {
        if fifo_empty(fifo) {
            return Ok(true);
        }
        if shared.sleep(DRAIN_INTERVAL) {
            return Ok(false);
        }
    }
}

/// Whether the task took everything from the stdin FIFO (or it cannot be
/// told).
fn fifo_empty(fifo: &File) -> bool {
    matches!(rustix::io::ioctl_fionread(fifo), Ok(0) | Err(_))
}

// ---------------------------------------------------------------------------
// The copy thread.

/// What the caller's descriptor of a stream on the copy thread is.
enum Caller {
    /// No descriptor: an output stream read and dropped.
    None,
    /// A pipe or FIFO: `splice` with the FIFO.
    Pipe(File),
    /// A socket: `recv`/`send` with `MSG_DONTWAIT`.
    Socket(File),
    /// A regular file or block device: `read`/`write`, never waited for.
    File(File),
}

/// How a caller's descriptor is copied.
enum Route {
    CopyThread(Caller),
    OwnThread(Option<File>),
}

fn route(fd: Option<File>) -> Route {
    let Some(file) = fd else {
        return Route::CopyThread(Caller::None);
    };
    match file.metadata().map(|m| m.file_type()) {
        Ok(t) if t.is_fifo() => Route::CopyThread(Caller::Pipe(file)),
        Ok(t) if t.is_socket() => Route::CopyThread(Caller::Socket(file)),
        Ok(t) if t.is_file() || t.is_block_device() => Route::CopyThread(Caller::File(file)),
        _ => Route::OwnThread(Some(file)),
    }
}

/// Which descriptor of a stream an `epoll` event is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Fifo = 0,
    Caller = 1,
}

/// What a stream waits for after a step.
enum Step {
    /// That side to have these events.
    Wait(Side, EventFlags),
    /// Nothing: it may go on at once (a regular file is always ready).
    Again,
    /// stdin at the caller's end of file: for the task to empty the FIFO.
    Drain,
    /// The copy ended: `Ok(true)` = stdin at end of file, all read.
    Done(Result<bool>),
}

/// A stream copied by the copy thread.
struct Pump {
    stream: Stream,
    session: u64,
    shared: Arc<Shared>,
    path: PathBuf,
    fifo: File,
    caller: Caller,
    /// Bytes read and not yet written (buffered streams): `buf[at..len]`.
    buf: Vec<u8>,
    at: usize,
    len: usize,
    /// An output FIFO was reported ready once: from then on, 0 is end of
    /// file.
    ready_seen: bool,
    /// Which of the descriptors are in the `epoll` set.
    registered: [bool; 2],
}

impl Pump {
    fn fd(&self, side: Side) -> Option<BorrowedFd<'_>> {
        match side {
            Side::Fifo => Some(self.fifo.as_fd()),
            Side::Caller => match &self.caller {
                Caller::None | Caller::File(_) => None,
                Caller::Pipe(f) | Caller::Socket(f) => Some(f.as_fd()),
            },
        }
    }

    /// The first step of a new stream.
    fn first(&self) -> Step {
        match (self.stream, &self.caller) {
            (Stream::Stdin, Caller::File(_)) => Step::Again,
            (Stream::Stdin, _) => Step::Wait(Side::Caller, EventFlags::IN),
            _ => Step::Wait(Side::Fifo, EventFlags::IN),
        }
    }

    fn step(&mut self) -> Step {
        if self.stream == Stream::Stdin {
            self.step_in()
        } else {
            self.step_out()
        }
    }

    /// FIFO → caller.
    fn step_out(&mut self) -> Step {
        let stream = self.stream;
        let mut moved = 0;
        while moved < BUDGET {
            // What a buffer holds goes out first.
            if self.at < self.len {
                let data = &self.buf[self.at..self.len];
                let written = match &self.caller {
                    Caller::Socket(f) => {
                        rustix::net::send(f, data, SendFlags::DONTWAIT | SendFlags::NOSIGNAL)
                            .map_err(std::io::Error::from)
                    }
                    Caller::File(f) => {
                        let mut w: &File = f;
                        w.write(data)
                    }
                    Caller::None | Caller::Pipe(_) => Ok(data.len()),
                };
                match written {
                    Ok(0) => return Step::Done(Err(write_error(stream, "wrote nothing"))),
                    Ok(n) => self.at += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        return Step::Wait(Side::Caller, EventFlags::OUT)
                    }
                    Err(e) => return Step::Done(Err(write_error(stream, e))),
                }
                continue;
            }
            let n = match &self.caller {
                Caller::Pipe(dst) => {
                    match rustix::pipe::splice(
                        &self.fifo,
                        None,
                        dst,
                        None,
                        SPLICE_LEN,
                        SpliceFlags::NONBLOCK | SpliceFlags::MOVE,
                    ) {
                        Ok(n) => n,
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(rustix::io::Errno::AGAIN) => {
                            // Which pipe stopped it: bytes left in the FIFO
                            // mean the caller's is full.
                            return match rustix::io::ioctl_fionread(&self.fifo) {
                                Ok(0) => Step::Wait(Side::Fifo, EventFlags::IN),
                                _ => Step::Wait(Side::Caller, EventFlags::OUT),
                            };
                        }
                        Err(e) => {
                            // Tell a failing caller's pipe from a failing
                            // FIFO as the read/write copy does.
                            return Step::Done(Err(match e {
                                rustix::io::Errno::PIPE => {
                                    write_error(stream, std::io::Error::from(e))
                                }
                                _ => Error::new(
                                    Code::Io,
                                    format!(
                                        "copying {} FIFO {} to its fd: {}",
                                        stream.name(),
                                        self.path.display(),
                                        std::io::Error::from(e)
                                    ),
                                ),
                            }));
                        }
                    }
                }
                _ => {
                    if self.buf.is_empty() {
                        self.buf = vec![0u8; CHUNK];
                    }
                    let mut r: &File = &self.fifo;
                    match r.read(&mut self.buf) {
                        Ok(n) => {
                            if matches!(self.caller, Caller::None) {
                                (self.at, self.len) = (0, 0);
                            } else {
                                (self.at, self.len) = (0, n);
                            }
                            n
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            return Step::Wait(Side::Fifo, EventFlags::IN)
                        }
                        Err(e) => return Step::Done(Err(read_fifo_error(stream, &self.path, e))),
                    }
                }
            };
            if n == 0 {
                return Step::Done(Ok(false));
            }
            moved += n;
        }
        // Others' turn; the FIFO (level-triggered) calls again at once.
        if self.at < self.len {
            match self.caller {
                Caller::File(_) => Step::Again,
                _ => Step::Wait(Side::Caller, EventFlags::OUT),
            }
        } else {
            Step::Wait(Side::Fifo, EventFlags::IN)
        }
    }

    /// Caller → stdin FIFO.
    fn step_in(&mut self) -> Step {
        let mut moved = 0;
        while moved < BUDGET {
            if self.at < self.len {
                let mut w: &File = &self.fifo;
                match w.write(&self.buf[self.at..self.len]) {
                    Ok(0) => {
                        return Step::Done(Err(stdin_fifo_error(
                            &self.path,
                            std::io::Error::from(ErrorKind::WriteZero),
                        )))
                    }
                    Ok(n) => self.at += n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        return Step::Wait(Side::Fifo, EventFlags::OUT)
                    }
                    Err(e) => return Step::Done(Err(stdin_fifo_error(&self.path, e))),
                }
                continue;
            }
            let n = match &self.caller {
                Caller::Pipe(src) => {
                    match rustix::pipe::splice(
                        src,
                        None,
                        &self.fifo,
                        None,
                        SPLICE_LEN,
                        SpliceFlags::NONBLOCK | SpliceFlags::MOVE,
                    ) {
                        Ok(n) => n,
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(rustix::io::Errno::AGAIN) => {
                            return match rustix::io::ioctl_fionread(src) {
                                Ok(0) => Step::Wait(Side::Caller, EventFlags::IN),
                                _ => Step::Wait(Side::Fifo, EventFlags::OUT),
                            };
                        }
                        Err(e) => {
                            return Step::Done(Err(Error::new(
                                Code::Io,
                                format!(
                                    "copying stdin from its fd to FIFO {}: {}",
                                    self.path.display(),
                                    std::io::Error::from(e)
                                ),
                            )))
                        }
                    }
                }
                Caller::Socket(src) => {
                    if self.buf.is_empty() {
                        self.buf = vec![0u8; CHUNK];
                    }
                    match rustix::net::recv(src, &mut self.buf[..], RecvFlags::DONTWAIT) {
                        Ok((n, _)) => {
                            (self.at, self.len) = (0, n);
                            n
                        }
                        Err(rustix::io::Errno::INTR) => continue,
                        Err(rustix::io::Errno::AGAIN) => {
                            return Step::Wait(Side::Caller, EventFlags::IN)
                        }
                        Err(e) => {
                            return Step::Done(Err(read_stdin_error(std::io::Error::from(e))))
                        }
                    }
                }
                Caller::File(src) => {
                    if self.buf.is_empty() {
                        self.buf = vec![0u8; CHUNK];
                    }
                    let mut r: &File = src;
                    match r.read(&mut self.buf) {
                        Ok(n) => {
                            (self.at, self.len) = (0, n);
                            n
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(e) => return Step::Done(Err(read_stdin_error(e))),
                    }
                }
                Caller::None => 0,
            };
            if n == 0 {
                return Step::Drain;
            }
            moved += n;
        }
        match self.caller {
            Caller::Pipe(_) | Caller::Socket(_) if self.at == self.len => {
                Step::Wait(Side::Caller, EventFlags::IN)
            }
            Caller::File(_) if self.at == self.len => Step::Again,
            _ => Step::Wait(Side::Fifo, EventFlags::OUT),
        }
    }
}

/// The process's copy thread and the streams it copies.
struct Reactor {
    /// The process it runs in (a forked child starts its own).
    pid: u32,
    epoll: Epoll,
    /// An eventfd in the `epoll` set: wakes the thread for streams that
    /// wait on nothing (`Inner::again`).
    wake: OwnedFd,
    inner: Mutex<Inner>,
}

struct Inner {
    pumps: HashMap<u64, Pump>,
    /// Streams to step without an event.
    again: Vec<u64>,
    /// stdin streams waiting for the task to empty the FIFO.
    draining: Vec<u64>,
}

/// The `epoll` key of the wake eventfd.
const WAKE: u64 = u64::MAX;

fn key(id: u64, side: Side) -> u64 {
    id << 1 | side as u64
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The copy thread of this process, started on first use; `None` in a
/// forked child, whose streams get threads of their own (the parent's copy
/// thread is not there, and its locks may have been held at the fork).
fn reactor() -> Result<Option<&'static Reactor>> {
    static REACTOR: OnceCell<&'static Reactor> = OnceCell::new();
    if crate::runtime::is_forked_child() {
        return Ok(None);
    }
    let r = REACTOR.get_or_try_init(start_reactor)?;
    Ok((r.pid == std::process::id()).then_some(*r))
}

fn start_reactor() -> Result<&'static Reactor> {
    let os = |what: &str, e: rustix::io::Errno| {
        Error::new(
            Code::Io,
            format!(
                "starting the copy thread: {what}: {}",
                std::io::Error::from(e)
            ),
        )
    };
    let epoll = epoll::create(epoll::CreateFlags::CLOEXEC).map_err(|e| os("epoll_create", e))?;
    let wake = rustix::event::eventfd(
        0,
        rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
    )
    .map_err(|e| os("eventfd", e))?;
    epoll::add(&epoll, &wake, EventData::new_u64(WAKE), EventFlags::IN)
        .map_err(|e| os("epoll_ctl", e))?;
    let r: &'static Reactor = Box::leak(Box::new(Reactor {
        pid: std::process::id(),
        epoll: Epoll(epoll),
        wake,
        inner: Mutex::new(Inner {
            pumps: HashMap::new(),
            again: Vec::new(),
            draining: Vec::new(),
        }),
    }));
    std::thread::Builder::new()
        .name("ctrd-io".into())
        .spawn(move || {
            crate::runtime::library_thread();
            // Signals are for the application's threads; a write to a closed
            // pipe then fails with EPIPE instead of killing the process.
            let _ = SigSet::all().thread_block();
            r.run()
        })
        .map_err(|e| Error::new(Code::Io, format!("starting the copy thread: {e}")))?;
    Ok(r)
}

impl Reactor {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self) {
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }

    /// Takes `pumps` over (one session's streams) and starts them.
    fn add(&self, pumps: Vec<(u64, Pump)>) {
        let mut inner = self.lock();
        let mut woken = false;
        for (id, pump) in pumps {
            let first = pump.first();
            inner.pumps.insert(id, pump);
            woken |= matches!(first, Step::Again);
            self.apply(&mut inner, id, first);
        }
        drop(inner);
        if woken {
            self.wake();
        }
    }

    /// Takes a session's streams off the thread (what their buffers hold is
    /// returned, for the caller's descriptor).
    fn remove_session(&self, session: u64) -> Vec<Pump> {
        let mut inner = self.lock();
        let ids: Vec<u64> = inner
            .pumps
            .iter()
            .filter(|(_, p)| p.session == session)
            .map(|(id, _)| *id)
            .collect();
        ids.into_iter()
            .filter_map(|id| self.take(&mut inner, id))
            .collect()
    }

    /// Takes stream `id` out of the set and the `epoll` set.
    fn take(&self, inner: &mut Inner, id: u64) -> Option<Pump> {
        let mut pump = inner.pumps.remove(&id)?;
        for side in [Side::Fifo, Side::Caller] {
            if pump.registered[side as usize] {
                if let Some(fd) = pump.fd(side) {
                    let _ = epoll::delete(&self.epoll.0, fd);
                }
                pump.registered[side as usize] = false;
            }
        }
        Some(pump)
    }

    /// Does what `step` says for stream `id`.
    fn apply(&self, inner: &mut Inner, id: u64, step: Step) {
        match step {
            Step::Wait(side, events) => {
                let Some(pump) = inner.pumps.get_mut(&id) else {
                    return;
                };
                let armed = match pump.fd(side) {
                    None => Err(rustix::io::Errno::INVAL),
                    Some(fd) => {
                        let data = EventData::new_u64(key(id, side));
                        let flags = events | EventFlags::ONESHOT;
                        if pump.registered[side as usize] {
                            epoll::modify(&self.epoll.0, fd, data, flags)
                        } else {
                            epoll::add(&self.epoll.0, fd, data, flags)
                        }
                    }
                };
                match armed {
                    Ok(()) => pump.registered[side as usize] = true,
                    Err(e) => {
                        let e = Error::new(
                            Code::Io,
                            format!(
                                "copying {}: epoll_ctl: {}",
                                pump.stream.name(),
                                std::io::Error::from(e)
                            ),
                        );
                        self.apply(inner, id, Step::Done(Err(e)))
                    }
                }
            }
            Step::Again => inner.again.push(id),
            Step::Drain => inner.draining.push(id),
            Step::Done(result) => {
                let Some(pump) = self.take(inner, id) else {
                    return;
                };
                let Pump {
                    stream,
                    shared,
                    fifo,
                    caller,
                    ..
                } = pump;
                // Our end of the FIFO goes first: the task sees end of file
                // only once every writer closed.
                drop(fifo);
                drop(caller);
                let error = match result {
                    Ok(true) => shared.stdin_ended().err(),
                    Ok(false) => None,
                    Err(e) => Some(e),
                };
                shared.finish(stream, error);
            }
        }
    }

    /// Steps stream `id`, turning a panic into that stream's error.
    fn step(&self, inner: &mut Inner, id: u64) {
        let Some(pump) = inner.pumps.get_mut(&id) else {
            return;
        };
        let stream = pump.stream;
        let step = crate::runtime::catch_panic(|| pump.step())
            .unwrap_or_else(|_| Step::Done(Err(panicked(stream))));
        self.apply(inner, id, step);
    }

    fn run(&self) {
        let mut buf = vec![EpollEvent::empty(); 256];
        loop {
            let timeout = {
                let inner = self.lock();
                if !inner.again.is_empty() {
                    PollTimeout::ZERO
                } else if !inner.draining.is_empty() {
                    PollTimeout::try_from(DRAIN_INTERVAL).unwrap_or(PollTimeout::MAX)
                } else {
                    PollTimeout::NONE
                }
            };
            // nix's wait calls glibc's epoll_wait. Not rustix's epoll::wait:
            // it makes the epoll_pwait system call with a NULL signal mask
            // and no sigsetsize argument at all, leaving in that register
            // whatever the compiler had there; the kernel ignores it, but
            // valgrind checks it and reports it uninitialised (seen with the
            // release library, failing `valgrind --error-exitcode`).
            let n = match self.epoll.wait(&mut buf, timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => 0,
                Err(_) => {
                    std::thread::sleep(DRAIN_INTERVAL);
                    0
                }
            };
            let events = &buf[..n];
            // The lock is taken for each stream's turn, so that attaching and
            // freeing sessions wait for one turn at most.
            for event in events {
                let k = event.data();
                if k == WAKE {
                    let mut b = [0u8; 8];
                    let _ = rustix::io::read(&self.wake, &mut b);
                    continue;
                }
                let (id, side) = (k >> 1, if k & 1 == 0 { Side::Fifo } else { Side::Caller });
                let mut inner = self.lock();
                let Some(pump) = inner.pumps.get_mut(&id) else {
                    continue; // taken off since
                };
                if side == Side::Fifo {
                    pump.ready_seen = true;
                } else if pump.stream != Stream::Stdin && !pump.ready_seen {
                    continue; // cannot happen: the FIFO is waited on first
                }
                self.step(&mut inner, id);
            }
            let again = std::mem::take(&mut self.lock().again);
            for id in again {
                self.step(&mut self.lock(), id);
            }
            let mut inner = self.lock();
            let draining = std::mem::take(&mut inner.draining);
            for id in draining {
                match inner.pumps.get(&id) {
                    None => {}
                    Some(p) if fifo_empty(&p.fifo) => {
                        self.apply(&mut inner, id, Step::Done(Ok(true)))
                    }
                    Some(_) => inner.draining.push(id),
                }
            }
        }
    }
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
            .map(|(stream, path, fifo, fd)| (stream, path, fifo, route(fd)))
            .collect();
        let on_reactor = plan.iter().any(|(.., r)| matches!(r, Route::CopyThread(_)));
        let reactor = match on_reactor {
            true => reactor()?.map(|r| (r, NEXT_ID.fetch_add(1, Ordering::Relaxed))),
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
                        Route::CopyThread(Caller::None) => None,
                        Route::CopyThread(
                            Caller::Pipe(f) | Caller::Socket(f) | Caller::File(f),
                        ) => Some(f),
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
            let fd = match route {
                Route::CopyThread(caller) => {
                    let (_, session_id) = session.reactor.expect("made above");
                    pumps.push((
                        NEXT_ID.fetch_add(1, Ordering::Relaxed),
                        Pump {
                            stream,
                            session: session_id,
                            shared: session.shared.clone(),
                            path,
                            fifo,
                            caller,
                            buf: Vec::new(),
                            at: 0,
                            len: 0,
                            ready_seen: false,
                            registered: [false; 2],
                        },
                    ));
                    continue;
                }
                Route::OwnThread(fd) => fd,
            };
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
                        Ok(true) => finish.error = shared.stdin_ended().err(),
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
                if let (Caller::Socket(dst) | Caller::File(dst), Stream::Stdout | Stream::Stderr) =
                    (&pump.caller, pump.stream)
                {
                    if pump.at < pump.len {
                        let _ = write_all(dst, &pump.buf[pump.at..pump.len]);
                    }
                }
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
