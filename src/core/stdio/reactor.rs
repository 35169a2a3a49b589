//! The copy thread: one thread for the whole process (`ctrd-io`, started by
//! the first session, in each process that attaches one) moves the bytes of
//! every stream whose caller descriptor allows it, driven by `epoll`: a
//! stream costs no thread, and 200 attached containers cost one thread in
//! all.
//!
//! Each stream waits on one side at a time (level-triggered, one-shot,
//! re-armed after each step): its FIFO or the caller's descriptor, the one
//! that stopped it. Each step moves at most `BUDGET` bytes before the other
//! streams get their turn. What the copy does with the caller's descriptor
//! depends on what it is, so that it never blocks the thread and never
//! changes the descriptor's flags (which the caller shares):
//! - a pipe or FIFO: `splice(2)` between the two pipes with
//!   `SPLICE_F_NONBLOCK`, which does not block on either pipe whatever its
//!   `O_NONBLOCK` flag says; no copy through user space, and no bytes held
//!   by the session in between;
//! - a socket: `recv`/`send` with `MSG_DONTWAIT` (and `MSG_NOSIGNAL`),
//!   through a buffer of the stream's;
//! - a regular file or block device: plain `read`/`write` through a buffer
//!   (they do not wait for a reader or writer; `epoll` refuses them);
//! - anything else (a terminal, a character device), whose reads and
//!   writes may block whatever `poll` said, is not copied here
//!   ([`route`] sends it to a thread of its own, [`super::thread`]).
//!
//! The copy thread blocks all signals (a write to a closed pipe fails with
//! `EPIPE` instead of raising `SIGPIPE`). A forked child has none
//! ([`reactor`] gives `None` there).
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
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::poll::PollTimeout;
use nix::sys::epoll::{Epoll, EpollEvent};
use nix::sys::signal::SigSet;
use once_cell::sync::OnceCell;
use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::net::{RecvFlags, SendFlags};
use rustix::pipe::SpliceFlags;

use crate::core::error::{Code, Error, Result};
use crate::core::stdio::session::{
    fifo_empty, panicked, read_fifo_error, read_stdin_error, stdin_fifo_error, write_all,
    write_error, Shared, Stream, CHUNK, DRAIN_INTERVAL,
};

/// Bytes asked for by one `splice`: more than a pipe holds, so that one
/// call moves everything there is.
const SPLICE_LEN: usize = 1 << 20;

/// Bytes a stream moves in one turn on the copy thread before the other
/// streams get theirs.
const BUDGET: usize = 1 << 20;

/// What the caller's descriptor of a stream on the copy thread is.
pub(super) enum Caller {
    /// No descriptor: an output stream read and dropped.
    None,
    /// A pipe or FIFO: `splice` with the FIFO.
    Pipe(File),
    /// A socket: `recv`/`send` with `MSG_DONTWAIT`.
    Socket(File),
    /// A regular file or block device: `read`/`write`, never waited for.
    File(File),
}

impl Caller {
    /// The caller's descriptor, for a stream copied on a thread of its own
    /// instead.
    pub(super) fn into_file(self) -> Option<File> {
        match self {
            Caller::None => None,
            Caller::Pipe(f) | Caller::Socket(f) | Caller::File(f) => Some(f),
        }
    }
}

/// How a caller's descriptor is copied.
pub(super) enum Route {
    CopyThread(Caller),
    OwnThread(Option<File>),
}

pub(super) fn route(fd: Option<File>) -> Route {
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
pub(super) struct Pump {
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
    /// Stream `stream` of session `session`, as it starts.
    pub(super) fn new(
        stream: Stream,
        session: u64,
        shared: Arc<Shared>,
        path: PathBuf,
        fifo: File,
        caller: Caller,
    ) -> (u64, Pump) {
        let pump = Pump {
            stream,
            session,
            shared,
            path,
            fifo,
            caller,
            buf: Vec::new(),
            at: 0,
            len: 0,
            ready_seen: false,
            registered: [false; 2],
        };
        (next_id(), pump)
    }

    /// Writes what the buffer still holds from an output FIFO to the
    /// caller's descriptor (the stream was taken off the copy thread).
    pub(super) fn flush_to_caller(&self) {
        if let (Caller::Socket(dst) | Caller::File(dst), Stream::Stdout | Stream::Stderr) =
            (&self.caller, self.stream)
        {
            if self.at < self.len {
                let _ = write_all(dst, &self.buf[self.at..self.len]);
            }
        }
    }

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
                    match splice(&self.fifo, dst) {
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
                    let mut r: &File = &self.fifo;
                    match r.read(buffer(&mut self.buf)) {
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
                Caller::Pipe(src) => match splice(src, &self.fifo) {
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
                },
                Caller::Socket(src) => {
                    match rustix::net::recv(src, buffer(&mut self.buf), RecvFlags::DONTWAIT) {
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
                    let mut r: &File = src;
                    match r.read(buffer(&mut self.buf)) {
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

/// One `splice` between two pipes that waits for neither, moving what
/// there is.
fn splice(from: &File, to: &File) -> rustix::io::Result<usize> {
    rustix::pipe::splice(
        from,
        None,
        to,
        None,
        SPLICE_LEN,
        SpliceFlags::NONBLOCK | SpliceFlags::MOVE,
    )
}

/// A stream's buffer, allocated on first use.
fn buffer(buf: &mut Vec<u8>) -> &mut [u8] {
    if buf.is_empty() {
        *buf = vec![0u8; CHUNK];
    }
    buf
}

/// The process's copy thread and the streams it copies.
pub(super) struct Reactor {
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

/// A new key for a session or a stream.
pub(super) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The copy thread of this process, started on first use; `None` in a
/// forked child, whose streams get threads of their own (the parent's copy
/// thread is not there, and its locks may have been held at the fork).
pub(super) fn reactor() -> Result<Option<&'static Reactor>> {
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
    pub(super) fn add(&self, pumps: Vec<(u64, Pump)>) {
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
    pub(super) fn remove_session(&self, session: u64) -> Vec<Pump> {
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
