//! The copy of a stream on a thread of its own: for a caller's descriptor
//! whose reads and writes may block whatever `poll` said (a terminal, a
//! character device), and for every stream in a forked child (which has no
//! copy thread). The thread blocks in `poll` on its stream and on a cancel
//! pipe shared by the session's threads; dropping the session closes the
//! pipe's write end and joins the threads.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::SigSet;

use crate::core::error::{Code, Error, Result};
use crate::core::stdio::session::{
    fifo_empty, panicked, read_stdin_error, stdin_fifo_error, write_all, write_error, Shared,
    Stream, CHUNK, DRAIN_INTERVAL,
};

enum Ready {
    Fd,
    Cancelled,
    Timeout,
}

impl Shared {
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

/// Starts the thread that copies `stream` between its FIFO and the
/// caller's `fd` (`None`: an output stream read and dropped).
pub(super) fn spawn(
    stream: Stream,
    path: PathBuf,
    fifo: File,
    fd: Option<File>,
    shared: Arc<Shared>,
) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
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
        })
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
