//! `ctrd_process`: containerd's Go `Process` for an exec process inside a
//! running task — exec, start, wait, kill, delete, resize, stdin.

use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use crate::core::error::{Code, Error, Result};
use crate::core::queue::OnCancel;
use crate::core::{self};
use crate::ffi::boundary::{ffi_status, ffi_value};
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipArc};
use crate::ffi::io::{ctrd_io, ctrd_io_session, io_arg};
use crate::ffi::ptr;
use crate::ffi::queue::{self, ctrd_queue, Payload};
use crate::ffi::task::{close_stdin_on_eof, ctrd_exit_cb, ctrd_task, signal_arg};
use crate::ffi::wait::{self, ctrd_wait};
use crate::runtime;

/// An exec process inside a running task. Opaque; made by `ctrd_task_exec`,
/// freed by `ctrd_process_free`. Thread-safe.
pub struct ctrd_process {
    client: Arc<core::Client>,
    container_id: String,
    exec_id: String,
    pid: AtomicU32,
    /// Whether it was made with a terminal (from its `ctrd_io`).
    terminal: bool,
}

impl Castable for ctrd_process {
    type Ownership = OwnershipArc;
}

/// As `ctrd_task_close_stdin_on_eof`, for an exec process.
#[no_mangle]
pub extern "C" fn ctrd_process_close_stdin_on_eof(
    p: *mut ctrd_process,
    s: *mut ctrd_io_session,
) -> ctrd_status {
    ffi_status! {
        let p = handle::arc_from_ptr(p, "process")?;
        close_stdin_on_eof(
            s,
            p.client.clone(),
            p.container_id.clone(),
            p.exec_id.clone(),
        )
    }
}

/// Starts exec process `exec_id` in the running task: `process_json` is an
/// OCI runtime-spec "process" object (args, cwd, user, env, terminal...),
/// checked before it is sent and then sent as given; `io` its stdio as for
/// `ctrd_container_new_task` (NULL = none). The process is created, not
/// started: start it with `ctrd_process_start`.
///
/// On success `*out` receives a new process owned by the caller (free it with
/// `ctrd_process_free`). Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (bad exec id, JSON or paths),
/// `CTRD_ERR_ALREADY_EXISTS` (exec id taken), `CTRD_ERR_NOT_FOUND`,
/// `CTRD_ERR_FAILED_PRECONDITION` (task not running), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_task_exec(
    t: *mut ctrd_task,
    exec_id: *const c_char,
    process_json: *const c_char,
    io: *const ctrd_io,
    out: *mut *mut ctrd_process,
) -> ctrd_status {
    ffi_status! {
        let task = handle::arc_from_ptr(t, "task")?;
        // SAFETY: C strings and a readable ctrd_io whose strings are C
        // strings or NULL, each or NULL (C contract).
        let (exec_id, json, io) = unsafe {
            (
                ptr::str_arg(exec_id, "exec_id")?.to_string(),
                ptr::str_arg(process_json, "process_json")?.to_string(),
                io_arg(io, "io")?.unwrap_or_default(),
            )
        };
        let out = ptr::Out::new(out, "out")?;
        let (client, container_id) = (task.client.clone(), task.id());
        let terminal = io.terminal;
        // Bad input fails here, before the runtime or the network.
        let req = client.exec_request(&container_id, &exec_id, &json, &io)?;
        let c2 = client.clone();
        runtime::block_on(async move { c2.send_exec(req).await })?;
        out.write(handle::to_arc_ptr(ctrd_process {
            client,
            container_id,
            exec_id,
            pid: AtomicU32::new(0),
            terminal,
        }));
        Ok(())
    }
}

fn process_call<T: Send + 'static, F>(
    p: *const ctrd_process,
    f: impl FnOnce(Arc<core::Client>, String, String) -> F,
) -> Result<T>
where
    F: std::future::Future<Output = Result<T>> + Send + 'static,
{
    let p = handle::arc_from_ptr(p, "process")?;
    runtime::block_on(f(
        p.client.clone(),
        p.container_id.clone(),
        p.exec_id.clone(),
    ))
}

/// Starts the exec process. Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`, `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`, the daemon's errors in its words.
#[no_mangle]
pub extern "C" fn ctrd_process_start(p: *mut ctrd_process) -> ctrd_status {
    ffi_status! {
        let p = handle::arc_from_ptr(p, "process")?;
        runtime::block_on(start(p))
    }
}

/// Starts the process and records its pid.
async fn start(p: Arc<ctrd_process>) -> Result<()> {
    let pid = p.client.start_process(&p.container_id, &p.exec_id).await?;
    p.pid.store(pid, Ordering::Relaxed);
    Ok(())
}

/// As `ctrd_process_start`, through queue `q` (see `ctrd_queue`); the
/// completion with `tag` has no result but its status. Not cut by a cancel
/// once sent. Errors (then no completion comes):
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `p` or `q`), `CTRD_ERR_ALREADY_EXISTS`
/// (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_process_start_submit(
    p: *mut ctrd_process,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let p = handle::arc_from_ptr(p, "process")?;
        queue::submit(q, tag, "ctrd_process_start_submit", OnCancel::Finish, async move {
            start(p).await.map(|()| Payload::Done)
        })
    }
}

/// Waits until the exec process exits, as `ctrd_task_wait` for a task.
#[no_mangle]
pub extern "C" fn ctrd_process_wait(
    p: *mut ctrd_process,
    timeout_ms: i64,
    exit_status: *mut u32,
) -> ctrd_status {
    ffi_status! {
        let out = ptr::Out::optional(exit_status);
        let limit = runtime::timeout_from_ms(timeout_ms);
        let code = process_call(p, move |c, cid, eid| async move {
            c.wait_process(&cid, &eid, limit).await
        })?;
        if let Some(o) = out {
            o.write(code);
        }
        Ok(())
    }
}

/// As `ctrd_process_wait` with no timeout, through queue `q` (see
/// `ctrd_queue`): the completion with `tag` brings `.exit_status`; a cancel
/// cuts it at once. Errors (then no completion comes):
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `p` or `q`), `CTRD_ERR_ALREADY_EXISTS`
/// (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_process_wait_submit(
    p: *mut ctrd_process,
    q: *mut ctrd_queue,
    tag: u64,
) -> ctrd_status {
    ffi_status! {
        let p = handle::ref_from_ptr(p, "process")?;
        let (c, cid, eid) = (p.client.clone(), p.container_id.clone(), p.exec_id.clone());
        queue::submit(q, tag, "ctrd_process_wait_submit", OnCancel::Drop, async move {
            c.wait_process(&cid, &eid, None).await.map(Payload::Exit)
        })
    }
}

/// Sends `signal` (1-64) to the exec process. Blocks for one round trip.
/// Errors as `ctrd_task_kill`.
#[no_mangle]
pub extern "C" fn ctrd_process_kill(p: *mut ctrd_process, signal: c_int) -> ctrd_status {
    ffi_status! {
        let signal = signal_arg(signal)?;
        process_call(p, move |c, cid, eid| async move {
            c.kill_process(&cid, &eid, signal, false).await
        })
    }
}

/// Deletes the exited exec process; `*exit_status` (may be NULL) receives its
/// exit status. Blocks for one round trip. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT`, `CTRD_ERR_NOT_FOUND`,
/// `CTRD_ERR_FAILED_PRECONDITION` (still running), `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`.
#[no_mangle]
pub extern "C" fn ctrd_process_delete(p: *mut ctrd_process, exit_status: *mut u32) -> ctrd_status {
    ffi_status! {
        let out = ptr::Out::optional(exit_status);
        let code = process_call(p, |c, cid, eid| async move {
            c.delete_process(&cid, &eid).await
        })?;
        if let Some(o) = out {
            o.write(code);
        }
        Ok(())
    }
}

/// Resizes the exec process's terminal. Blocks for one round trip. Errors as
/// `ctrd_task_resize`: `CTRD_ERR_FAILED_PRECONDITION`, making no call, for a
/// process whose `ctrd_io` had no `terminal`.
#[no_mangle]
pub extern "C" fn ctrd_process_resize(
    p: *mut ctrd_process,
    width: u32,
    height: u32,
) -> ctrd_status {
    ffi_status! {
        if width == 0 || height == 0 {
            return Err(Error::invalid(format!("size {width}x{height} is empty")));
        }
        let p = handle::arc_from_ptr(p, "process")?;
        if !p.terminal {
            return Err(Error::new(
                Code::FailedPrecondition,
                format!(
                    "exec process {:?} of task {:?} has no terminal to resize",
                    p.exec_id, p.container_id
                ),
            ));
        }
        let (c, cid, eid) = (p.client.clone(), p.container_id.clone(), p.exec_id.clone());
        runtime::block_on(async move { c.resize_pty(&cid, &eid, width, height).await })
    }
}

/// Closes the exec process's stdin. Blocks for one round trip. Errors as
/// `ctrd_task_close_stdin`.
#[no_mangle]
pub extern "C" fn ctrd_process_close_stdin(p: *mut ctrd_process) -> ctrd_status {
    ffi_status! {
        process_call(
            p,
            |c, cid, eid| async move { c.close_stdin(&cid, &eid).await },
        )
    }
}

/// The exec process's pid once started (0 before, or for NULL). Never blocks.
#[no_mangle]
pub extern "C" fn ctrd_process_pid(p: *const ctrd_process) -> u32 {
    ffi_value!(0, {
        handle::ref_from_ptr(p, "process").map_or(0, |p| p.pid.load(Ordering::Relaxed))
    })
}

/// Frees a process handle (the process goes on; see `ctrd_process_delete`).
/// NULL is a no-op. In a child after fork() it only forgets the handle. Must
/// not race with another call on the same handle.
#[no_mangle]
pub extern "C" fn ctrd_process_free(p: *mut ctrd_process) {
    ffi_value!((), { handle::free_arc(p) })
}

/// As `ctrd_task_wait_async`, for an exec process (started with
/// `ctrd_process_start`): `cb` runs once when it exits; `out` (may be NULL)
/// receives a `ctrd_wait` that cancels it. As there, a wait started before
/// a fork() calls back in the parent only, never in the child.
#[no_mangle]
pub extern "C" fn ctrd_process_wait_async(
    p: *mut ctrd_process,
    cb: ctrd_exit_cb,
    user_data: *mut c_void,
    out: *mut *mut ctrd_wait,
) -> ctrd_status {
    ffi_status! {
        let p = handle::ref_from_ptr(p, "process")?;
        let (client, cid, eid) = (p.client.clone(), p.container_id.clone(), p.exec_id.clone());
        wait::start(
            async move { client.wait_process(&cid, &eid, None).await },
            cb,
            user_data,
            out,
        )
    }
}
