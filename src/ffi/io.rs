//! stdio: `ctrd_io` (the FIFO paths of a task or process), FIFO sets and
//! copying between FIFOs and the caller's file descriptors.

use std::ffi::{c_char, c_int, CString};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::core::error::{Code, Error, Result};
use crate::core::stdio::fifo::{FifoSet, IoPaths};
use crate::core::stdio::session::{Fds, Session};
use crate::ffi::boundary::{ffi_status, ffi_value};
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipBox, OwnershipRef};
use crate::ffi::ptr;

/// The FIFO (or file) paths of a task's or process's stdio. NULL or "" = that
/// stream is not used. Paths must be absolute.
#[repr(C)]
pub struct ctrd_io {
    /// The process reads its stdin from here.
    pub stdin_path: *const c_char,
    /// The process's stdout goes here.
    pub stdout_path: *const c_char,
    /// The process's stderr goes here (unused with a terminal).
    pub stderr_path: *const c_char,
    /// Whether the process gets a terminal (stdout and stderr merged).
    pub terminal: bool,
}

impl Castable for ctrd_io {
    type Ownership = OwnershipRef;
}

/// Reads a `ctrd_io` argument: NULL is `None`; each path NULL or "" is
/// unused, else it must be absolute.
///
/// # Safety
/// `p` is NULL or points to a readable `ctrd_io` whose strings are C strings
/// or NULL (C contract).
pub(crate) unsafe fn io_arg(p: *const ctrd_io, what: &str) -> Result<Option<IoPaths>> {
    let Ok(io) = handle::ref_from_ptr(p, what) else {
        return Ok(None);
    };
    let path = |p: *const c_char, field: &str| -> Result<Option<PathBuf>> {
        let name = format!("{what}.{field}");
        // SAFETY: forwarded contract: each field is a C string or NULL.
        match unsafe { ptr::opt_str_arg(p, &name) }? {
            None | Some("") => Ok(None),
            Some(s) if s.starts_with('/') => Ok(Some(PathBuf::from(s))),
            Some(s) => Err(Error::invalid(format!(
                "{name} {} is not an absolute path",
                crate::core::daemon::ident::shown(s)
            ))),
        }
    };
    Ok(Some(IoPaths {
        stdin: path(io.stdin_path, "stdin_path")?,
        stdout: path(io.stdout_path, "stdout_path")?,
        stderr: path(io.stderr_path, "stderr_path")?,
        terminal: io.terminal,
    }))
}

/// `IoPaths` as C strings owned by a handle, to lend out as a `ctrd_io`.
#[derive(Debug)]
pub(crate) struct IoStrings {
    stdin: CString,
    stdout: CString,
    stderr: CString,
    terminal: bool,
    dir: CString,
}

impl IoStrings {
    pub(crate) fn new(paths: &IoPaths) -> Result<IoStrings> {
        let c =
            |s: String| CString::new(s).map_err(|e| Error::invalid(format!("path holds NUL: {e}")));
        let [i, o, e] = paths.to_daemon();
        let dir = paths
            .dir()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(IoStrings {
            stdin: c(i)?,
            stdout: c(o)?,
            stderr: c(e)?,
            terminal: paths.terminal,
            dir: c(dir)?,
        })
    }

    /// Fills `out` (checked for NULL) with a `ctrd_io` borrowing these
    /// strings ("" for unused streams).
    pub(crate) fn write_to(&self, out: *mut ctrd_io) -> Result<()> {
        ptr::Out::new(out, "out")?.write(ctrd_io {
            stdin_path: self.stdin.as_ptr(),
            stdout_path: self.stdout.as_ptr(),
            stderr_path: self.stderr.as_ptr(),
            terminal: self.terminal,
        });
        Ok(())
    }

    /// Whether the process has a terminal.
    pub(crate) fn terminal(&self) -> bool {
        self.terminal
    }

    /// The directory of the first path ("" when none).
    pub(crate) fn dir(&self) -> *const c_char {
        self.dir.as_ptr()
    }
}

/// A set of stdio FIFOs for one task or exec process, in a fresh directory of
/// its own. Opaque; made by `ctrd_fifo_set_create`, freed (and removed from
/// disk) by `ctrd_fifo_set_free`. Thread-safe.
pub struct ctrd_fifo_set {
    set: FifoSet,
    strings: IoStrings,
    /// The process that made it: only that one removes its FIFOs.
    pid: u32,
}

impl Castable for ctrd_fifo_set {
    type Ownership = OwnershipBox;
}

/// Makes the stdio FIFOs for container `id`, as containerd's Go `cio` does:
/// a fresh directory of mode 0700 with a random name inside `dir`, holding
/// the FIFOs (mode 0700) `<id>-stdin` (only when `with_stdin`),
/// `<id>-stdout` and `<id>-stderr` (not when `terminal`: stdout then carries
/// both).
///
/// `dir` must be absolute; it is created (0700) when missing. NULL uses a
/// private runtime directory: `/run/containerd-c/fifo` for root, else
/// `$XDG_RUNTIME_DIR/containerd-c/fifo`, else
/// `<temp dir>/containerd-c-<uid>/fifo`. The set is for one task or exec
/// process: pass its `ctrd_fifo_set_io` to `ctrd_container_new_task` or
/// `ctrd_task_exec`, and to `ctrd_io_attach`. Attach before creating the
/// task, as Go's `cio` does: containerd's shim opens the output FIFOs while
/// it creates the task and waits until they have a reader.
///
/// On success `*out` receives a new set owned by the caller (free it with
/// `ctrd_fifo_set_free` once the task using it is deleted). Never blocks on
/// the network; no daemon needed. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL
/// `id` or `out`, invalid UTF-8, an invalid id, a relative `dir`),
/// `CTRD_ERR_IO` (the OS refused to make a directory or FIFO; the message
/// names the path), `CTRD_ERR_PERMISSION_DENIED` (the default directory in a
/// shared temp directory belongs to someone else). On failure nothing is
/// left behind but `dir` itself.
#[no_mangle]
pub extern "C" fn ctrd_fifo_set_create(
    dir: *const c_char,
    id: *const c_char,
    with_stdin: bool,
    terminal: bool,
    out: *mut *mut ctrd_fifo_set,
) -> ctrd_status {
    ffi_status! {
        // SAFETY: C strings or NULL (C contract).
        let (dir, id) = unsafe { (ptr::opt_str_arg(dir, "dir")?, ptr::str_arg(id, "id")?) };
        let out = ptr::Out::new(out, "out")?;
        let set = FifoSet::create(dir.map(Path::new), id, with_stdin, terminal)?;
        let strings = match IoStrings::new(&set.paths()) {
            Ok(s) => s,
            Err(e) => {
                let _ = set.remove();
                return Err(e);
            }
        };
        out.write(handle::to_box_ptr(ctrd_fifo_set {
            set,
            strings,
            pid: std::process::id(),
        }));
        Ok(())
    }
}

/// The set's FIFO paths as a `ctrd_io`, ready for `ctrd_container_new_task`,
/// `ctrd_task_exec` and `ctrd_io_attach`: a path is "" for a FIFO the set
/// does not have; `terminal` is as given to `ctrd_fifo_set_create`.
///
/// On success `*out` is filled with strings borrowed from the set: valid
/// until `ctrd_fifo_set_free`; do not free them. Thread-safe, never blocks.
/// Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL `f` or `out`).
#[no_mangle]
pub extern "C" fn ctrd_fifo_set_io(f: *const ctrd_fifo_set, out: *mut ctrd_io) -> ctrd_status {
    ffi_status! {
        let f = handle::ref_from_ptr(f, "fifo set")?;
        f.strings.write_to(out)
    }
}

/// The directory holding the set's FIFOs (made for this set alone).
/// Borrowed from the set: valid until `ctrd_fifo_set_free`. "" for NULL.
/// Thread-safe, never blocks.
#[no_mangle]
pub extern "C" fn ctrd_fifo_set_dir(f: *const ctrd_fifo_set) -> *const c_char {
    ffi_value!(c"".as_ptr(), {
        handle::borrowed_str(f, |f| f.strings.dir())
    })
}

/// Frees a FIFO set and removes its FIFOs and their directory from disk
/// (errors doing so are ignored). NULL is a no-op. Free it only after the
/// task or process using the FIFOs was deleted: FIFOs removed earlier make
/// re-attaching to the task impossible (sessions attached already keep
/// working). Strings from `ctrd_fifo_set_io` and `ctrd_fifo_set_dir` die
/// with it. Never blocks on the FIFOs. In a child after fork(), a set the
/// parent made is only forgotten (its FIFOs stay: they are the parent's).
/// Must not race with another call on the same set.
#[no_mangle]
pub extern "C" fn ctrd_fifo_set_free(f: *mut ctrd_fifo_set) {
    ffi_value!((), {
        match handle::free_box(f) {
            Some(f) if f.pid != std::process::id() => std::mem::forget(f),
            Some(f) => {
                let _ = f.set.remove();
            }
            None => {}
        }
    })
}

/// A background copy between a task's stdio FIFOs and the caller's file
/// descriptors. Opaque; made by `ctrd_io_attach`, freed by
/// `ctrd_io_session_free`. Thread-safe.
pub struct ctrd_io_session {
    pub(crate) inner: Session,
}

impl Castable for ctrd_io_session {
    type Ownership = OwnershipBox;
}

/// A caller's file descriptor argument: -1 is `None`, anything else must be
/// open; the session gets its own duplicate (close-on-exec), so the caller
/// keeps and may close its `fd` once the call returned.
pub(crate) fn fd_arg(fd: c_int, what: &str) -> Result<Option<OwnedFd>> {
    if fd == -1 {
        return Ok(None);
    }
    if fd < 0 {
        return Err(Error::invalid(format!(
            "{what} {fd} is not a file descriptor (-1 = not used)"
        )));
    }
    // SAFETY: F_GETFD reads the descriptor flags of any integer; it touches
    // no memory and fails with EBADF for a descriptor that is not open.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        let e = std::io::Error::last_os_error();
        return Err(Error::invalid(format!(
            "{what} {fd} is not an open file descriptor ({e})"
        )));
    }
    // SAFETY: `fd` is open (just checked) and, per the C contract, the caller
    // keeps it open for the duration of this call; the borrow ends within it.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    borrowed
        .try_clone_to_owned()
        .map(Some)
        .map_err(|e| Error::new(Code::Io, format!("duplicating {what} {fd}: {e}")))
}

/// Starts copying between the FIFOs named in `fifos` and the caller's file
/// descriptors, in the background, as containerd's Go `cio` does: what
/// arrives on `stdin_fd` goes into the stdin FIFO; what the task writes to
/// its stdout and stderr FIFOs goes to `stdout_fd` and `stderr_fd`.
///
/// A stream whose path is NULL or "" in `fifos` is not copied (an fd for
/// such a stream is an error). An output stream whose fd is -1 but whose FIFO
/// exists is still read, and its bytes dropped: the shim waits for a reader
/// on every output FIFO before it creates the task. stdin with -1 is left
/// alone. With
/// `fifos->terminal` there is no stderr: stdout carries both. `fifos` may
/// come from `ctrd_fifo_set_io` (attach before creating the task), or from
/// `ctrd_task_io` / `ctrd_task_fifo_dir` of a task found by
/// `ctrd_container_load_task` (re-attach): the shim keeps each output FIFO
/// open, so output written while no session was attached waits in the pipe
/// and arrives here. Output a task writes while nothing reads blocks the task
/// once a pipe is full (64 KiB): attach to every output stream you do not
/// want to stall.
///
/// The session works on its own duplicates of the fds (the caller keeps its
/// own and may close them) and never changes their flags; blocking and
/// non-blocking fds both work. Output is written with ordinary writes, so a
/// caller's pipe must be read for the copy to go on. At end of file on
/// `stdin_fd` the session closes its stdin FIFO end once the task has read
/// what was written; then the task's stdin must be closed for it to see end
/// of file: `ctrd_task_close_stdin_on_eof` makes the session do that itself
/// (or call `ctrd_task_close_stdin` / `ctrd_process_close_stdin`).
///
/// Threads: the copies of every session run on one library thread for the
/// whole process (`ctrd-io`, started by the first attach), driven by epoll;
/// a caller's pipe is copied with splice(2) (no bytes held in between), a
/// socket or a regular file through a 64 KiB buffer. A stream whose fd is
/// something else (a terminal, a character device: its reads and writes
/// may block whatever poll says) gets a thread of its own. The copy threads
/// block all signals; a write to a closed pipe fails with EPIPE instead of
/// raising SIGPIPE. In a child after fork() every stream attached there
/// gets a thread of its own.
///
/// On success `*out` receives a new session owned by the caller (free it with
/// `ctrd_io_session_free`). Returns at once: never waits for the task or the
/// FIFOs; no daemon needed. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL
/// `fifos` or `out`, invalid UTF-8, a relative path, an fd below -1 or not
/// open, an fd not open for the needed direction, an fd for an unset stream,
/// a stderr fd with a terminal, a path that is not a FIFO), `CTRD_ERR_IO`
/// (opening a FIFO failed, e.g. it does not exist; the message names the
/// path).
#[no_mangle]
pub extern "C" fn ctrd_io_attach(
    fifos: *const ctrd_io,
    stdin_fd: c_int,
    stdout_fd: c_int,
    stderr_fd: c_int,
    out: *mut *mut ctrd_io_session,
) -> ctrd_status {
    ffi_status! {
        // SAFETY: a readable ctrd_io whose strings are C strings or NULL, or
        // NULL (C contract).
        let paths = unsafe { io_arg(fifos, "fifos") }?;
        let out = ptr::Out::new(out, "out")?;
        let paths = paths.ok_or_else(|| Error::invalid("fifos is NULL"))?;
        let fds = Fds {
            stdin: fd_arg(stdin_fd, "stdin_fd")?,
            stdout: fd_arg(stdout_fd, "stdout_fd")?,
            stderr: fd_arg(stderr_fd, "stderr_fd")?,
        };
        let inner = Session::attach(&paths, fds)?;
        out.write(handle::to_box_ptr(ctrd_io_session { inner }));
        Ok(())
    }
}

/// Waits until the task's stdout and stderr (those copied to an fd) reached
/// end of file (the task exited and the shim closed them) and everything was
/// written to the caller's fds. Returns `CTRD_OK` at once when no output
/// stream is copied. A session attached after the task's writers closed sees
/// end of file only on a FIFO that still held output: for an empty one this
/// waits until the timeout (a FIFO cannot tell "no writer yet" from "no
/// writer any more").
///
/// `timeout_ms < 0` waits for ever. Blocks the calling thread; several
/// threads may wait at once. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL),
/// `CTRD_ERR_DEADLINE_EXCEEDED` (the timeout passed first; the session goes
/// on and may be waited for again), `CTRD_ERR_IO` (a copy failed, e.g. the
/// caller's fd was closed: the message says which stream).
#[no_mangle]
pub extern "C" fn ctrd_io_session_wait(s: *mut ctrd_io_session, timeout_ms: i64) -> ctrd_status {
    ffi_status! {
        let s = handle::ref_from_ptr(s, "session")?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        s.inner.wait(timeout)
    }
}

/// Stops the session and frees it. NULL is a no-op. Every copy stops, but
/// bytes already read from a FIFO (at most 64 KiB per stream) are first
/// written to the caller's fd, so none are dropped; what the task wrote and
/// the session did not read stays in the FIFO for a later `ctrd_io_attach`.
/// Takes the session's streams off the library's copy thread (waiting at
/// most for the one step it is making) and stops and joins the threads of
/// streams that have their own: it makes no daemon call and
/// does not wait for the task, for more output, or for a stdin close set up
/// by `ctrd_task_close_stdin_on_eof` (that call is made in the background);
/// but
/// a caller's socket, file or terminal that takes no bytes (one nobody
/// reads) holds it up for as long as that lasts (a pipe does not: its bytes
/// move by splice, none held in between). Cheap after `ctrd_io_session_wait` returned
/// `CTRD_OK`. Closes the session's duplicates of the caller's fds, not the
/// caller's own. In a child after fork() it only forgets the copy threads
/// (they exist in the parent). Must not race with another call on the same
/// session.
#[no_mangle]
pub extern "C" fn ctrd_io_session_free(s: *mut ctrd_io_session) {
    ffi_value!((), { drop(handle::free_box(s)) })
}
