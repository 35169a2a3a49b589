//! `ctrd_task`: containerd's Go `Task` — new task, load task (re-attach),
//! restore from a checkpoint, the lifecycle, async wait. Exec processes are
//! in `process`.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use futures_util::FutureExt as _;

use crate::core::error::{Code, Error, Result};
use crate::core::queue::OnCancel;
use crate::core::stdio::fifo::IoPaths;
use crate::core::task::checkpoint::DeferredRestore;
use crate::core::task::State;
use crate::core::{self};
use crate::ffi::boundary::{ffi_status, ffi_value};
use crate::ffi::container::ctrd_container;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipArc};
use crate::ffi::io::{ctrd_io, ctrd_io_session, io_arg, IoStrings};
use crate::ffi::ptr;
use crate::ffi::queue::{self, ctrd_queue, Payload};
use crate::ffi::wait::{self, ctrd_wait};
use crate::runtime;

/// A container's task (its init process). Opaque; made by
/// `ctrd_container_new_task` or `ctrd_container_load_task`, freed by
/// `ctrd_task_free`. Keeps its client's connection alive. Thread-safe.
pub struct ctrd_task {
    pub(crate) client: Arc<core::Client>,
    id: CString,
    pid: AtomicU32,
    io: IoStrings,
    /// A task restored from a checkpoint is created only at start (as the
    /// Go client's deferred create).
    deferred: DeferredRestore,
}

impl Castable for ctrd_task {
    type Ownership = OwnershipArc;
}

/// The state of a task, from `ctrd_task_status`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ctrd_task_state {
    /// The daemon did not say.
    CTRD_TASK_UNKNOWN = 0,
    /// Created, not started yet.
    CTRD_TASK_CREATED,
    /// Running.
    CTRD_TASK_RUNNING,
    /// Exited; the exit status is known.
    CTRD_TASK_STOPPED,
    /// Frozen by `ctrd_task_pause`.
    CTRD_TASK_PAUSED,
    /// Being frozen.
    CTRD_TASK_PAUSING,
}

impl From<State> for ctrd_task_state {
    fn from(s: State) -> Self {
        match s {
            State::Unknown => ctrd_task_state::CTRD_TASK_UNKNOWN,
            State::Created => ctrd_task_state::CTRD_TASK_CREATED,
            State::Running => ctrd_task_state::CTRD_TASK_RUNNING,
            State::Stopped => ctrd_task_state::CTRD_TASK_STOPPED,
            State::Paused => ctrd_task_state::CTRD_TASK_PAUSED,
            State::Pausing => ctrd_task_state::CTRD_TASK_PAUSING,
        }
    }
}

/// `ctrd_task_kill` flag: signal every process of the task, not only its
/// init process.
pub const CTRD_KILL_ALL: u32 = 1;
/// `ctrd_task_delete` flag: kill (SIGKILL) and wait for a task that still
/// runs (resuming it first when paused) before deleting it.
pub const CTRD_TASK_DELETE_FORCE: u32 = 1;

/// Called once, on a library thread, when a task or process waited for by
/// `ctrd_task_wait_async` or `ctrd_process_wait_async` exits: `status` is
/// `CTRD_OK` and `exit_status` the exit status, or `status` tells why the
/// wait failed (then `exit_status` is 0).
///
/// The thread is one the library starts for this call: not the caller's, not
/// a runtime worker, so the callback may call blocking `ctrd_*` functions
/// (and `ctrd_wait_free` of its own wait). It may also end its thread
/// (`pthread_exit`; a language runtime shutting down may do it): only that
/// thread ends.
pub type ctrd_exit_cb = Option<
    unsafe extern "C-unwind" fn(user_data: *mut c_void, status: ctrd_status, exit_status: u32),
>;

impl ctrd_task {
    fn new(
        client: Arc<core::Client>,
        id: &str,
        pid: u32,
        io: &IoPaths,
        deferred: DeferredRestore,
    ) -> Result<ctrd_task> {
        Ok(ctrd_task {
            client,
            id: CString::new(id).map_err(|e| Error::internal(e.to_string()))?,
            pid: AtomicU32::new(pid),
            io: IoStrings::new(io)?,
            deferred,
        })
    }

    pub(crate) fn id(&self) -> String {
        self.id.to_string_lossy().into_owned()
    }
}

pub(crate) fn signal_arg(signal: c_int) -> Result<u32> {
    match u32::try_from(signal) {
        Ok(s @ 1..=64) => Ok(s),
        _ => Err(Error::invalid(format!(
            "signal {signal} is not a signal number (1-64)"
        ))),
    }
}

fn flags_arg(flags: u32, known: u32) -> Result<()> {
    match flags & !known {
        0 => Ok(()),
        unknown => Err(Error::invalid(format!("unknown flags {unknown:#x}"))),
    }
}

/// Creates the container's task, as containerd's Go `NewTask`: the rootfs
/// mounts come from the container's snapshot, stdio from `io` (NULL = no
/// stdio; each path absolute, NULL or "" = that stream unused). The task is
/// created, not started: start it with `ctrd_task_start`.
///
/// With FIFOs, call `ctrd_io_attach` on them before this: containerd's shim
/// waits for a reader on each output FIFO while it creates the task, so this
/// call would wait (until the client's timeout) for one. On success `*out` receives a new task
/// owned by the caller (free it with `ctrd_task_free`). Blocks for a few
/// round trips. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULLs, relative paths),
/// `CTRD_ERR_NOT_FOUND` (container gone), `CTRD_ERR_ALREADY_EXISTS` (it has a
/// task), `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, and the
/// daemon's errors with its words (e.g. the shim failing to open a path).
#[no_mangle]
pub extern "C" fn ctrd_container_new_task(
    k: *mut ctrd_container,
    io: *const ctrd_io,
    out: *mut *mut ctrd_task,
) -> ctrd_status {
    ffi_status! {
        let k = handle::arc_from_ptr(k, "container")?;
        // SAFETY: a readable ctrd_io whose strings are C strings or NULL, or
        // NULL (C contract).
        let io = unsafe { io_arg(io, "io") }?.unwrap_or_default();
        let out = ptr::Out::new(out, "out")?;
        new_task_handle(&k, out, |client, id| async move {
            let pid = client.create_task(&id, &io, None, None).await?;
            Ok((pid, io, DeferredRestore::default()))
        })
    }
}

/// As `ctrd_container_new_task`, through queue `q` (see `ctrd_queue`):
/// checks its arguments now and returns; the completion with `tag` brings
/// `.task` (the caller's) or the failure. Cancelled, the task is deleted
/// again once the daemon made it (see `ctrd_queue_cancel`). Errors (then
/// no completion comes): `CTRD_ERR_INVALID_ARGUMENT` (NULL `k` or `q`,
/// relative paths), `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`),
/// `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_container_new_task_submit(
    k: *mut ctrd_container,
    io: *const ctrd_io,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let k = handle::arc_from_ptr(k, "container")?;
        // SAFETY: a readable ctrd_io whose strings are C strings or NULL, or
        // NULL (C contract).
        let io = unsafe { io_arg(io, "io") }?.unwrap_or_default();
        let (client, id) = (k.client.clone(), k.id().to_string());
        let work = new_task_work(&k, |client, id| async move {
            let pid = client.create_task(&id, &io, None, None).await?;
            Ok((pid, io, DeferredRestore::default()))
        });
        let undo =
            queue::undo(move || async move { client.delete_task(&id, true).await.map(|_| ()) });
        // Mapped, not awaited in an async block of its own: that would
        // hold the future twice (as captured and as awaited).
        let work = work.map(|task| task.map(Payload::Task));
        queue::submit(q, tag, "ctrd_container_new_task_submit", undo, work)
    }
}

/// Runs `call` with the container's client and id, then writes to `out` a
/// task handle for what it gave: the task's pid, stdio paths and deferred
/// restore.
fn new_task_handle<F>(
    k: &ctrd_container,
    out: ptr::Out<*mut ctrd_task>,
    call: impl FnOnce(Arc<core::Client>, String) -> F,
) -> Result<()>
where
    F: std::future::Future<Output = Result<(u32, IoPaths, DeferredRestore)>> + Send + 'static,
{
    let task = runtime::block_on(new_task_work(k, call))?;
    out.write(handle::to_arc_ptr(task));
    Ok(())
}

/// The work of a new task: `call` with the container's client and id, then
/// the task for what it gave.
fn new_task_work<F>(
    k: &ctrd_container,
    call: impl FnOnce(Arc<core::Client>, String) -> F,
) -> impl std::future::Future<Output = Result<ctrd_task>> + Send + 'static
where
    F: std::future::Future<Output = Result<(u32, IoPaths, DeferredRestore)>> + Send + 'static,
{
    let (client, id) = (k.client.clone(), k.id().to_string());
    call(client.clone(), id.clone()).map(move |made| {
        let (pid, io, deferred) = made?;
        ctrd_task::new(client, &id, pid, &io, deferred)
    })
}

/// Attaches to the container's existing task, as containerd's Go
/// `LoadTask`: its pid, FIFO paths and terminal flag come from the daemon
/// (see `ctrd_task_io`), so a second process, or this one after a crash or a
/// daemon restart, can re-attach to its stdio with `ctrd_io_attach`.
///
/// On success `*out` receives a new task owned by the caller (free it with
/// `ctrd_task_free`). Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND` (no task),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_container_load_task(
    k: *mut ctrd_container,
    out: *mut *mut ctrd_task,
) -> ctrd_status {
    ffi_status! {
        let k = handle::arc_from_ptr(k, "container")?;
        let out = ptr::Out::new(out, "out")?;
        new_task_handle(&k, out, |client, id| async move {
            let info = client.get_process(&id, "").await?;
            Ok((info.pid, info.io, DeferredRestore::default()))
        })
    }
}

/// The task's stdio paths: `*out` receives strings borrowed from the task
/// (valid until it is freed), "" for an unused stream. Never blocks. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL).
#[no_mangle]
pub extern "C" fn ctrd_task_io(t: *const ctrd_task, out: *mut ctrd_io) -> ctrd_status {
    ffi_status! {
        let t = handle::ref_from_ptr(t, "task")?;
        t.io.write_to(out)
    }
}

/// The directory of the task's first stdio path (where a FIFO set lives),
/// borrowed from the task; "" when it has no stdio or for NULL. Never blocks.
#[no_mangle]
pub extern "C" fn ctrd_task_fifo_dir(t: *const ctrd_task) -> *const c_char {
    ffi_value!(c"".as_ptr(), { handle::borrowed_str(t, |t| t.io.dir()) })
}

/// The task's id (its container's id), borrowed from the task; "" for NULL.
/// Never blocks.
#[no_mangle]
pub extern "C" fn ctrd_task_id(t: *const ctrd_task) -> *const c_char {
    ffi_value!(c"".as_ptr(), { handle::borrowed_str(t, |t| t.id.as_ptr()) })
}

/// The pid of the task's init process (0 for NULL). Never blocks.
#[no_mangle]
pub extern "C" fn ctrd_task_pid(t: *const ctrd_task) -> u32 {
    ffi_value!(0, {
        handle::ref_from_ptr(t, "task").map_or(0, |t| t.pid.load(Ordering::Relaxed))
    })
}

/// Runs `f` with the task's client and id on the runtime and waits for it.
fn task_call<T: Send + 'static, F>(
    t: *const ctrd_task,
    f: impl FnOnce(Arc<core::Client>, String) -> F,
) -> Result<T>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let t = handle::arc_from_ptr(t, "task")?;
    runtime::block_on(f(t.client.clone(), t.id()))
}

/// Starts the created task. Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`,
/// `CTRD_ERR_FAILED_PRECONDITION` (already started), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`, and the daemon's errors (e.g. the command
/// not found in the rootfs) in its words.
#[no_mangle]
pub extern "C" fn ctrd_task_start(t: *mut ctrd_task) -> ctrd_status {
    ffi_status! {
        let t = handle::arc_from_ptr(t, "task")?;
        runtime::get()?; // fails in a forked child before a step is taken
        runtime::block_on(start(t))
    }
}

/// Starts the task (or restores and starts a deferred one) and records its
/// pid. The deferred restore's step is taken out for this attempt, so no
/// lock is held while the call runs; what was not done goes back.
async fn start(t: Arc<ctrd_task>) -> Result<()> {
    let (client, id) = (t.client.clone(), t.id());
    let pid = match t.deferred.take() {
        None => client.start_process(&id, "").await?,
        Some(step) => match client.start_restored(&id, step).await {
            Ok(pid) => pid,
            Err((e, left)) => {
                t.deferred.put_back(left);
                return Err(e);
            }
        },
    };
    t.pid.store(pid, Ordering::Relaxed);
    Ok(())
}

/// As `ctrd_task_start`, through queue `q` (see `ctrd_queue`); the
/// completion with `tag` has no result but its status. Not cut by a cancel
/// once sent. Errors (then no completion comes):
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `t` or `q`), `CTRD_ERR_ALREADY_EXISTS`
/// (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_task_start_submit(
    t: *mut ctrd_task,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let t = handle::arc_from_ptr(t, "task")?;
        queue::submit(q, tag, "ctrd_task_start_submit", OnCancel::Finish, async move {
            start(t).await.map(|()| Payload::Done)
        })
    }
}

/// Checkpoints the running task with CRIU into a new checkpoint image named
/// `image_name` (an index of the runtime's checkpoint, labelled
/// `containerd.io/checkpoint=true`, as containerd's Go `Task.Checkpoint`);
/// the task is paused meanwhile and goes on running afterwards. Restore it
/// with `ctrd_container_new_task_checkpoint`. Blocks until the checkpoint is
/// written. Errors: `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`,
/// `CTRD_ERR_ALREADY_EXISTS` (image name taken), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`, and the runtime's errors in its words (e.g.
/// CRIU missing or failing on this kernel).
#[no_mangle]
pub extern "C" fn ctrd_task_checkpoint(
    t: *mut ctrd_task,
    image_name: *const c_char,
) -> ctrd_status {
    ffi_status! {
        // SAFETY: a C string or NULL (C contract).
        let name = unsafe { ptr::str_arg(image_name, "image_name") }?.to_string();
        if name.is_empty() {
            return Err(Error::invalid("image_name is empty"));
        }
        task_call(t, move |c, id| async move {
            c.checkpoint_task(&id, &name).await
        })
    }
}

/// Makes a task that will be restored from the checkpoint image
/// `checkpoint_image` (from `ctrd_task_checkpoint` or `ctr tasks
/// checkpoint`), with stdio `io` as for `ctrd_container_new_task`. As in
/// containerd's Go client the create is deferred: nothing exists on the
/// daemon until `ctrd_task_start`, which restores and starts it (and which
/// can be called again if the restore failed); `ctrd_task_pid` is 0 until
/// then.
///
/// On success `*out` receives a new task owned by the caller (free it with
/// `ctrd_task_free`). Blocks for a few round trips (reading the image).
/// Errors: `CTRD_ERR_INVALID_ARGUMENT` (also: the image holds no task
/// checkpoint), `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_container_new_task_checkpoint(
    k: *mut ctrd_container,
    io: *const ctrd_io,
    checkpoint_image: *const c_char,
    out: *mut *mut ctrd_task,
) -> ctrd_status {
    ffi_status! {
        let k = handle::arc_from_ptr(k, "container")?;
        // SAFETY: a readable ctrd_io whose strings are C strings or NULL, and
        // a C string, each or NULL (C contract).
        let (io, image) = unsafe {
            (
                io_arg(io, "io")?.unwrap_or_default(),
                ptr::str_arg(checkpoint_image, "checkpoint_image")?.to_string(),
            )
        };
        let out = ptr::Out::new(out, "out")?;
        new_task_handle(&k, out, |client, _| async move {
            let checkpoint = client.checkpoint_descriptor(&image).await?;
            Ok((0, io.clone(), DeferredRestore::new(io, checkpoint)))
        })
    }
}

/// Waits until the task exits; `*exit_status` (may be NULL) receives its exit
/// status (128 + n after signal n). `timeout_ms` < 0 waits for ever; on
/// timeout `CTRD_ERR_DEADLINE_EXCEEDED` and the task is untouched. A wait cut
/// off by the daemon restarting is made again, not reported as an exit.
/// Blocks the calling thread. Errors: `CTRD_ERR_INVALID_ARGUMENT`,
/// `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_UNAVAILABLE`
/// (daemon unreachable for longer than the client's timeout).
#[no_mangle]
pub extern "C" fn ctrd_task_wait(
    t: *mut ctrd_task,
    timeout_ms: i64,
    exit_status: *mut u32,
) -> ctrd_status {
    ffi_status! {
        let out = ptr::Out::optional(exit_status);
        let limit = runtime::timeout_from_ms(timeout_ms);
        let code = task_call(t, move |c, id| async move {
            c.wait_process(&id, "", limit).await
        })?;
        if let Some(o) = out {
            o.write(code);
        }
        Ok(())
    }
}

/// As `ctrd_task_wait` with no timeout, through queue `q` (see
/// `ctrd_queue`): the completion with `tag` brings `.exit_status`. A wait
/// cut off by a daemon restart is made again, as the blocking wait does;
/// `ctrd_queue_cancel` cuts it at once. Errors (then no completion comes):
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `t` or `q`), `CTRD_ERR_ALREADY_EXISTS`
/// (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_task_wait_submit(
    t: *mut ctrd_task,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let t = handle::ref_from_ptr(t, "task")?;
        let (c, id) = (t.client.clone(), t.id());
        queue::submit(q, tag, "ctrd_task_wait_submit", OnCancel::Drop, async move {
            c.wait_process(&id, "", None).await.map(Payload::Exit)
        })
    }
}

/// Sends `signal` to the task's init process, or with `CTRD_KILL_ALL` in
/// `flags` to all its processes. Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (not a signal 1-64, unknown flags),
/// `CTRD_ERR_NOT_FOUND` (no such task or process already gone),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_task_kill(t: *mut ctrd_task, signal: c_int, flags: u32) -> ctrd_status {
    ffi_status! {
        let signal = signal_arg(signal)?;
        flags_arg(flags, CTRD_KILL_ALL)?;
        let all = flags & CTRD_KILL_ALL != 0;
        task_call(t, move |c, id| async move {
            c.kill_process(&id, "", signal, all).await
        })
    }
}

/// As `ctrd_task_kill`, through queue `q` (see `ctrd_queue`); the
/// completion with `tag` has no result but its status. Not cut by a cancel
/// once sent. Errors (then no completion comes): as `ctrd_task_kill`'s
/// argument errors, and `CTRD_ERR_INVALID_ARGUMENT` (NULL `q`),
/// `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_task_kill_submit(
    t: *mut ctrd_task,
    signal: c_int,
    flags: u32,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let t = handle::ref_from_ptr(t, "task")?;
        let signal = signal_arg(signal)?;
        flags_arg(flags, CTRD_KILL_ALL)?;
        let all = flags & CTRD_KILL_ALL != 0;
        let (c, id) = (t.client.clone(), t.id());
        queue::submit(q, tag, "ctrd_task_kill_submit", OnCancel::Finish, async move {
            c.kill_process(&id, "", signal, all).await.map(|()| Payload::Done)
        })
    }
}

/// The task's state and, once stopped, its exit status (either out-pointer
/// may be NULL). Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_task_status(
    t: *mut ctrd_task,
    state: *mut ctrd_task_state,
    exit_status: *mut u32,
) -> ctrd_status {
    ffi_status! {
        let (state, exit) = (ptr::Out::optional(state), ptr::Out::optional(exit_status));
        let info = task_call(t, |c, id| async move { c.get_process(&id, "").await })?;
        if let Some(o) = state {
            o.write(info.state.into());
        }
        if let Some(o) = exit {
            o.write(info.exit_status);
        }
        Ok(())
    }
}

/// Deletes the stopped task; `*exit_status` (may be NULL) receives its exit
/// status. A task that still runs is refused (`CTRD_ERR_FAILED_PRECONDITION`)
/// unless `flags` has `CTRD_TASK_DELETE_FORCE`, which kills it with SIGKILL
/// (resuming it first if paused) and waits for it, bounded by the client's
/// timeout. The handle stays valid to free. Remove the task's FIFOs only
/// after this. Errors: `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`,
/// `CTRD_ERR_FAILED_PRECONDITION`, `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_task_delete(
    t: *mut ctrd_task,
    flags: u32,
    exit_status: *mut u32,
) -> ctrd_status {
    ffi_status! {
        flags_arg(flags, CTRD_TASK_DELETE_FORCE)?;
        let force = flags & CTRD_TASK_DELETE_FORCE != 0;
        let out = ptr::Out::optional(exit_status);
        let code = task_call(
            t,
            move |c, id| async move { c.delete_task(&id, force).await },
        )?;
        if let Some(o) = out {
            o.write(code);
        }
        Ok(())
    }
}

/// As `ctrd_task_delete`, through queue `q` (see `ctrd_queue`): the
/// completion with `tag` brings `.exit_status`. Not cut by a cancel once
/// sent. Errors (then no completion comes): `CTRD_ERR_INVALID_ARGUMENT`
/// (NULL `t` or `q`, unknown flags), `CTRD_ERR_ALREADY_EXISTS` (`tag` in
/// use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_task_delete_submit(
    t: *mut ctrd_task,
    flags: u32,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let t = handle::ref_from_ptr(t, "task")?;
        flags_arg(flags, CTRD_TASK_DELETE_FORCE)?;
        let force = flags & CTRD_TASK_DELETE_FORCE != 0;
        let (c, id) = (t.client.clone(), t.id());
        queue::submit(q, tag, "ctrd_task_delete_submit", OnCancel::Finish, async move {
            c.delete_task(&id, force).await.map(Payload::Exit)
        })
    }
}

/// Closes the task's stdin: the process reads EOF once what was written to
/// the stdin FIFO is consumed. Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_task_close_stdin(t: *mut ctrd_task) -> ctrd_status {
    ffi_status! {
        task_call(t, |c, id| async move { c.close_stdin(&id, "").await })
    }
}

/// Closes `client`'s process stdin once `s` copied its caller's stdin to
/// end of file.
pub(crate) fn close_stdin_on_eof(
    s: *mut ctrd_io_session,
    client: Arc<core::Client>,
    container_id: String,
    exec_id: String,
) -> Result<()> {
    let s = handle::ref_from_ptr(s, "session")?;
    let rt = runtime::get()?;
    s.inner.on_stdin_eof_quick(Box::new(move || {
        // Handed to the runtime: the copy thread that runs this must not
        // wait for a round trip. A task that is gone already has nothing to
        // close.
        rt.spawn(async move {
            let _ = client.close_stdin(&container_id, &exec_id).await;
        });
    }))
}

/// Makes session `s` close the task's stdin (as `ctrd_task_close_stdin`)
/// once the caller's stdin it copies reached end of file and the task has
/// read everything written — what containerd's Go client does for `ctr run`
/// with a piped stdin. Then a task reading its stdin (`cat`) sees end of
/// file. The close is a call made in the background (no thread of its own),
/// at once when that end of file came already; not at all when the session
/// is freed first. Returns at once.
/// Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL, a session that does not copy
/// stdin, or one that closes a stdin already), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_task_close_stdin_on_eof(
    t: *mut ctrd_task,
    s: *mut ctrd_io_session,
) -> ctrd_status {
    ffi_status! {
        let t = handle::arc_from_ptr(t, "task")?;
        close_stdin_on_eof(s, t.client.clone(), t.id(), String::new())
    }
}

/// Resizes the task's terminal. Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL, zero size),
/// `CTRD_ERR_FAILED_PRECONDITION` (the task has no terminal: its `ctrd_io`,
/// or for a loaded task the daemon, says so; no call is made),
/// `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_task_resize(t: *mut ctrd_task, width: u32, height: u32) -> ctrd_status {
    ffi_status! {
        if width == 0 || height == 0 {
            return Err(Error::invalid(format!("size {width}x{height} is empty")));
        }
        let t = handle::arc_from_ptr(t, "task")?;
        if !t.io.terminal() {
            return Err(Error::new(
                Code::FailedPrecondition,
                format!("task {:?} has no terminal to resize", t.id()),
            ));
        }
        let (c, id) = (t.client.clone(), t.id());
        runtime::block_on(async move { c.resize_pty(&id, "", width, height).await })
    }
}

/// Freezes every process of the task (state `CTRD_TASK_PAUSED`). Blocks for
/// one round trip. Errors: `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`,
/// `CTRD_ERR_FAILED_PRECONDITION`, `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_task_pause(t: *mut ctrd_task) -> ctrd_status {
    ffi_status! {
        task_call(t, |c, id| async move { c.pause_task(&id).await })
    }
}

/// Thaws a paused task. Blocks for one round trip. Errors as
/// `ctrd_task_pause`.
#[no_mangle]
pub extern "C" fn ctrd_task_resume(t: *mut ctrd_task) -> ctrd_status {
    ffi_status! {
        task_call(t, |c, id| async move { c.resume_task(&id).await })
    }
}

/// The pids of every process in the task. On success `*pids` receives an
/// array of `*len` pids owned by the caller (free it with `ctrd_pids_free`).
/// Blocks for one round trip. Errors: `CTRD_ERR_INVALID_ARGUMENT`,
/// `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_task_pids(
    t: *mut ctrd_task,
    pids: *mut *mut u32,
    len: *mut usize,
) -> ctrd_status {
    ffi_status! {
        let (pids, len) = (ptr::Out::new(pids, "pids")?, ptr::Out::new(len, "len")?);
        let list = task_call(t, |c, id| async move { c.task_pids(&id).await })?;
        let (array, n) = ptr::u32_array(list);
        pids.write(array);
        len.write(n);
        Ok(())
    }
}

/// Frees an array from `ctrd_task_pids`. NULL is a no-op.
#[no_mangle]
pub extern "C" fn ctrd_pids_free(pids: *mut u32, len: usize) {
    ffi_value!((), { ptr::free_u32_array(pids, len) })
}

/// The task's resource usage as the daemon reports it (containerd's Go
/// `Task.Metrics`), as a JSON object:
/// `{"type": "<type URL>", "data": {...}}`.
///
/// With the runc runtime, `type` is `io.containerd.cgroups.v1.Metrics` or
/// `io.containerd.cgroups.v2.Metrics` (as the host mounts its cgroups), and
/// `data` the cgroup statistics in protobuf's JSON form: lowerCamelCase
/// names, every field present (0 or empty when the kernel reports nothing),
/// an unset group left out. cgroup v1: `cpu.usage.{total,kernel,user,perCpu}`
/// (nanoseconds), `cpu.throttling`, `memory.usage.{usage,limit,max,failcnt}`
/// (bytes; a limit of 9223372036854771712 means none), `memory.swap`,
/// `memory.{cache,rss,...}`, `pids.{current,limit}`, `blkio.*`, `hugetlb`,
/// `rdma`, `network`, `cgroupStats`, `memoryOomControl`. cgroup v2:
/// `cpu.{usageUsec,userUsec,systemUsec,...}`,
/// `memory.{usage,usageLimit,swapUsage,...}`, `pids`, `io.usage`, `hugetlb`,
/// `rdma`, `memoryEvents`. Unlike protobuf's JSON mapping, 64-bit counters
/// are plain JSON numbers (exact: up to 18446744073709551615), not strings.
/// Any other type (another runtime) has `data` in the generic form
/// `{"typeUrl": "...", "value": "<standard base64>"}`, plus `"error"` when
/// the bytes of a known type do not decode.
///
/// On success `*json` receives a string owned by the caller (free it with
/// `ctrd_string_free`). Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL task or `json`), `CTRD_ERR_NOT_FOUND`
/// (no such task, or the daemon reports no metrics for it, e.g. it is not
/// running), `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, and the
/// daemon's errors in its words.
#[no_mangle]
pub extern "C" fn ctrd_task_metrics_json(t: *mut ctrd_task, json: *mut *mut c_char) -> ctrd_status {
    ffi_status! {
        let out = ptr::Out::new(json, "json")?;
        let text = task_call(t, |c, id| async move { c.task_metrics_json(&id).await })?;
        out.write(ptr::c_string(text)?);
        Ok(())
    }
}

/// Changes the resources of the running task (containerd's Go
/// `Task.Update` with resources): `resources_json` is an OCI runtime-spec
/// `LinuxResources` object, e.g. `{"memory":{"limit":67108864}}`,
/// `{"cpu":{"quota":50000,"period":100000}}` or `{"pids":{"limit":64}}`;
/// members left out keep their values. It is checked, then sent as given
/// (type `types.containerd.io/opencontainers/runtime-spec/1/LinuxResources`);
/// the runtime applies it to the task's cgroup. The container's spec is not
/// changed.
///
/// Blocks for one round trip. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL
/// task or `resources_json`, text that is not JSON, not an object, has a
/// member `LinuxResources` has not, or a member of the wrong type; the
/// message names it; nothing is sent), `CTRD_ERR_NOT_FOUND` (no such task),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, and the runtime's
/// errors in its words (e.g. a limit the kernel refuses, or a task that has
/// exited).
#[no_mangle]
pub extern "C" fn ctrd_task_update(
    t: *mut ctrd_task,
    resources_json: *const c_char,
) -> ctrd_status {
    ffi_status! {
        let t = handle::arc_from_ptr(t, "task")?;
        // SAFETY: a C string or NULL (C contract).
        let resources = unsafe { ptr::str_arg(resources_json, "resources_json") }?;
        let req = t.client.update_request(&t.id(), resources)?;
        let client = t.client.clone();
        runtime::block_on(async move { client.send_update(req).await })
    }
}

/// Frees a task handle (the task itself goes on; see `ctrd_task_delete`).
/// NULL is a no-op. A pending `ctrd_task_wait_async` still calls back. In a
/// child after fork() it only forgets the handle. Must not race with another
/// call on the same handle.
#[no_mangle]
pub extern "C" fn ctrd_task_free(t: *mut ctrd_task) {
    ffi_value!((), { handle::free_arc(t) })
}

/// Waits for the task's exit without blocking the caller: `cb(user_data,
/// status, exit_status)` runs once, on a thread the library starts for it
/// (see `ctrd_exit_cb`), when the task exits or the wait fails (a panic
/// inside the library comes back as `CTRD_ERR_INTERNAL`). A wait cut off by
/// a daemon restart is made again, as for `ctrd_task_wait`; there is no
/// timeout.
///
/// `out` may be NULL: then the wait cannot be cancelled, and `user_data`
/// must stay valid until the callback ran. Otherwise `*out` receives a wait
/// owned by the caller, which must free it with `ctrd_wait_free`: before the
/// callback ran, that cancels the wait (the callback never runs); after, it
/// only frees. Freeing the task before the callback runs is safe: the wait
/// goes on. `user_data` must be usable from the callback's thread. Returns
/// at once. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL task or cb),
/// `CTRD_ERR_FORKED`.
///
/// fork(): a wait started before a fork calls back in the parent only; the
/// child has none of the library's threads, so there the callback never
/// runs (and `ctrd_wait_free` only forgets the handle).
#[no_mangle]
pub extern "C" fn ctrd_task_wait_async(
    t: *mut ctrd_task,
    cb: ctrd_exit_cb,
    user_data: *mut c_void,
    out: *mut *mut ctrd_wait,
) -> ctrd_status {
    ffi_status! {
        let t = handle::ref_from_ptr(t, "task")?;
        let (client, id) = (t.client.clone(), t.id());
        wait::start(
            async move { client.wait_process(&id, "", None).await },
            cb,
            user_data,
            out,
        )
    }
}
