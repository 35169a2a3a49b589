//! `ctrd_queue`: containerd from an event loop. Operations are submitted
//! with the `*_submit` functions (each next to its blocking twin in its
//! concept's file), run on the library's runtime, and end with one
//! `ctrd_completion` each, taken with `ctrd_queue_next` when the queue's
//! descriptor says one waits. The machinery is `core::queue`; this file
//! turns its results into C completions.

use std::ffi::c_char;
use std::future::Future;

use crate::core::error::{Code, Error, Result};
use crate::core::queue::{OnCancel, Queue};
use crate::ffi::boundary::{self, ffi_status, ffi_value};
use crate::ffi::container::ctrd_container;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipBox};
use crate::ffi::image::ctrd_image;
use crate::ffi::process::ctrd_process;
use crate::ffi::ptr;
use crate::ffi::task::ctrd_task;
use crate::runtime;

/// A completion queue: submit operations (the `*_submit` functions), watch
/// one descriptor (`ctrd_queue_fd`), take completions (`ctrd_queue_next`).
/// Opaque; made by `ctrd_queue_new`, freed by `ctrd_queue_free`. For
/// programs built around one event loop (epoll, libuv, asyncio, Boost.Asio):
/// no thread per call on the caller's side.
///
/// Threads: operations run on the library's runtime threads (the shared
/// runtime's workers, one a core up to 4), which also post
/// their completions; a pull's, push's or import's progress callback runs on a
/// thread of its own, and never after its completion was posted. Any
/// thread may submit, cancel and take completions, several at once: each
/// completion goes to exactly one `ctrd_queue_next`. Handles given to a
/// submission may be used and freed meanwhile (the operation holds its own
/// reference).
///
/// Ownership: a completion's `error`, `container`, `task`, `process`,
/// `image` and `names` belong to the caller once `ctrd_queue_next` handed
/// it out (free each with its `_free`); completions never taken are freed
/// by `ctrd_queue_free`, and so are the results of operations that finish
/// after it.
///
/// fork(): a queue belongs to the process that made it. In a child after
/// fork() every call on it returns `CTRD_ERR_FORKED` (`ctrd_queue_fd`
/// gives -1), and `ctrd_queue_free` only forgets it: the operations go on,
/// and complete, in the parent.
pub struct ctrd_queue {
    inner: Queue<Payload>,
    pid: u32,
}

impl Castable for ctrd_queue {
    type Ownership = OwnershipBox;
}

/// One finished operation, from `ctrd_queue_next`. Only the fields of the
/// operation's kind are set (see each `*_submit`); the others are NULL or 0,
/// and all results are NULL or 0 unless `status` is `CTRD_OK`.
#[repr(C)]
pub struct ctrd_completion {
    /// The caller's tag, from the submission.
    pub tag: u64,
    /// `CTRD_OK`, or why the operation failed: the status its blocking
    /// twin returns, or `CTRD_ERR_CANCELLED`.
    pub status: ctrd_status,
    /// On failure the message (as `ctrd_last_error()` gives it for the
    /// blocking twin, prefixed with the submitting function's name), owned
    /// by the caller (free with `ctrd_string_free`); NULL on success.
    pub error: *mut c_char,
    /// A container (create, load), owned by the caller.
    pub container: *mut ctrd_container,
    /// A task (new task), owned by the caller.
    pub task: *mut ctrd_task,
    /// An exec process, owned by the caller (no operation of this version
    /// makes one).
    pub process: *mut ctrd_process,
    /// An image (pull), owned by the caller.
    pub image: *mut ctrd_image,
    /// The exit status: waits and task deletes.
    pub exit_status: u32,
    /// Image names (import), or `{version, revision}` (server version), an
    /// array of `names_len` strings owned by the caller (free with
    /// `ctrd_string_array_free(names, names_len)`).
    pub names: *mut *mut c_char,
    /// The number of `names`.
    pub names_len: usize,
}

/// What an operation gives on success, before it becomes a completion.
pub(crate) enum Payload {
    /// Nothing but success.
    Done,
    Container(ctrd_container),
    Task(ctrd_task),
    Image(ctrd_image),
    Exit(u32),
    Names(Vec<String>),
}

impl ctrd_queue {
    /// The queue, unless this is a forked child of the process that made it.
    fn usable(&self) -> Result<&Self> {
        if self.pid != std::process::id() {
            runtime::get()?;
            return Err(Error::new(
                Code::Forked,
                "the queue was made in the parent process, before fork()",
            ));
        }
        Ok(self)
    }
}

fn queue_arg<'a>(q: *const ctrd_queue) -> Result<&'a ctrd_queue> {
    handle::ref_from_ptr(q, "queue")?.usable()
}

/// Submits `work` to queue `q` under `tag`: the body of every `*_submit`
/// function once its arguments are checked. `label` (the function's name)
/// starts the completion's error message.
pub(crate) fn submit(
    q: *mut ctrd_queue,
    tag: u64,
    label: &'static str,
    on_cancel: OnCancel,
    work: impl Future<Output = Result<Payload>> + Send + 'static,
) -> Result<()> {
    queue_arg(q)?.inner.submit(tag, label, on_cancel, work)
}

/// The [`OnCancel::Undo`] whose work `undo` makes when it is needed.
pub(crate) fn undo<F>(undo: impl FnOnce() -> F + Send + 'static) -> OnCancel
where
    F: Future<Output = Result<()>> + Send + 'static,
{
    OnCancel::Undo(Box::new(move || Box::pin(undo())))
}

/// Makes a new, empty completion queue and starts the library's runtime.
///
/// On success `*out` receives the queue, owned by the caller (free it with
/// `ctrd_queue_free`); its descriptor (`ctrd_queue_fd`) is made with it.
/// Never blocks. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL `out`),
/// `CTRD_ERR_IO` (no descriptor could be made), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_queue_new(out: *mut *mut ctrd_queue) -> ctrd_status {
    ffi_status! {
        let out = ptr::Out::new(out, "out")?;
        let queue = ctrd_queue {
            inner: Queue::new()?,
            pid: std::process::id(),
        };
        out.write(handle::to_box_ptr(queue));
        Ok(())
    }
}

/// The queue's descriptor: readable (`POLLIN`, `EPOLLIN`) while at least one
/// completion waits to be taken, and not after the last was taken: watch it
/// level-triggered and call `ctrd_queue_next` with timeout 0 until it
/// returns `CTRD_ERR_DEADLINE_EXCEEDED` (with `EPOLLET`, do that every time
/// it fires: it fires when a completion arrives into an empty queue). An
/// eventfd, close-on-exec; owned by the queue: do not read, write or close
/// it. -1 for NULL or in a child after fork(). Never blocks.
#[no_mangle]
pub extern "C" fn ctrd_queue_fd(q: *const ctrd_queue) -> i32 {
    ffi_value!(-1, {
        match handle::opt_ref_from_ptr(q) {
            Some(q) if q.pid == std::process::id() => q.inner.fd(),
            _ => -1,
        }
    })
}

/// Takes one completion, the oldest (completions come in the order the
/// operations finished). `timeout_ms` 0 takes one only if one waits and
/// never blocks; > 0 waits at most that long for one; < 0 waits for ever.
///
/// On success `*out` receives the completion (see `ctrd_completion`: its
/// results and message are the caller's from now on) and the tag is free
/// for a new submission; on any other status `*out` is not written.
/// Errors: `CTRD_ERR_DEADLINE_EXCEEDED` (none came in time: the usual
/// answer of a poll), `CTRD_ERR_INVALID_ARGUMENT` (NULL `q` or `out`),
/// `CTRD_ERR_FORKED`. Thread-safe: threads may wait on one queue at once;
/// each completion goes to one of them. Must not race with
/// `ctrd_queue_free`.
#[no_mangle]
pub extern "C" fn ctrd_queue_next(
    q: *mut ctrd_queue,
    timeout_ms: i64,
    out: *mut ctrd_completion,
) -> ctrd_status {
    ffi_status! {
        let q = queue_arg(q)?;
        let out = ptr::Out::new(out, "out")?;
        let Some((tag, label, result)) = q.inner.next(runtime::timeout_from_ms(timeout_ms)) else {
            return Err(Error::new(
                Code::DeadlineExceeded,
                if timeout_ms == 0 {
                    "no completion waits".to_string()
                } else {
                    format!("no completion came within {timeout_ms} ms")
                },
            ));
        };
        out.write(completion(tag, label, result));
        Ok(())
    }
}

/// The C completion of a result: handles and strings handed to the caller.
fn completion(tag: u64, label: &str, result: Result<Payload>) -> ctrd_completion {
    let mut c = ctrd_completion {
        tag,
        status: ctrd_status::CTRD_OK,
        error: std::ptr::null_mut(),
        container: std::ptr::null_mut(),
        task: std::ptr::null_mut(),
        process: std::ptr::null_mut(),
        image: std::ptr::null_mut(),
        exit_status: 0,
        names: std::ptr::null_mut(),
        names_len: 0,
    };
    let result = result.and_then(|payload| {
        match payload {
            Payload::Done => {}
            Payload::Container(k) => c.container = handle::to_arc_ptr(k),
            Payload::Task(t) => c.task = handle::to_arc_ptr(t),
            Payload::Image(i) => c.image = handle::to_arc_ptr(i),
            Payload::Exit(code) => c.exit_status = code,
            Payload::Names(names) => (c.names, c.names_len) = ptr::c_string_array(names)?,
        }
        Ok(())
    });
    if let Err(e) = result {
        c.status = e.code.into();
        c.error = boundary::error_text(label, &e).into_raw();
    }
    c
}

/// Cancels the operation submitted with `tag`. Its completion still comes
/// (exactly one), and after `CTRD_OK` here it is no success: a wait, a load
/// or a server version is cut at once (`CTRD_ERR_CANCELLED`); a pull or
/// import stops within a second as when its `ctrd_cancel` is triggered
/// (`CTRD_ERR_CANCELLED`; a pull keeps what it fetched for the next pull);
/// a container create, new task or snapshot prepare, whose call the daemon
/// may be carrying out already, is let finish and then undone (the
/// container, task or snapshot deleted again: nothing is left) before its
/// `CTRD_ERR_CANCELLED` comes, which can take a round trip. An operation
/// that failed first keeps its own status. Starts, kills and deletes cannot
/// be taken back once sent: cancelled before the library sent them they
/// complete with `CTRD_ERR_CANCELLED`, after that with what they did.
///
/// Never blocks. Errors: `CTRD_ERR_NOT_FOUND` when no operation of this
/// tag runs: never submitted, taken already, or finished first (its
/// completion waits to be taken: the message says so);
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `q`), `CTRD_ERR_FORKED`. Thread-safe.
#[no_mangle]
pub extern "C" fn ctrd_queue_cancel(q: *mut ctrd_queue, tag: u64) -> ctrd_status {
    ffi_status! {
        queue_arg(q)?.inner.cancel(tag)
    }
}

/// Frees the queue: cancels every operation still running (as
/// `ctrd_queue_cancel` does), frees the completions nobody took, and
/// returns once every operation has ended, freeing what they give: at once
/// for those cut, after a round trip or two for creates being undone and
/// starts, kills and deletes being finished (each bounded by its client's
/// timeout). After it returns no progress callback of its operations runs
/// and nothing of the queue is left. NULL is a no-op. Must not race with
/// another call on the queue, nor be called from a progress callback of one
/// of its operations (it would wait for itself). In a child after fork()
/// it only forgets the queue.
#[no_mangle]
pub extern "C" fn ctrd_queue_free(q: *mut ctrd_queue) {
    ffi_value!((), {
        if let Some(q) = handle::free_box(q) {
            if q.pid == std::process::id() {
                q.inner.close();
            } else {
                std::mem::forget(q);
            }
        }
    })
}

/// Test hook: while `on`, the queue's operations that ended wait before
/// their completion is decided and posted (`ctrd_queue_free` lets them go),
/// so that a test can cancel an operation whose work is done. `*held`
/// (may be NULL) receives how many wait so now. Only in a library built
/// with the cargo feature `test-hooks`; declared only when the C code
/// defines `CTRD_TEST_HOOKS`. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL `q`).
#[cfg(feature = "test-hooks")]
#[no_mangle]
pub extern "C" fn ctrd_debug_queue_hold(
    q: *mut ctrd_queue,
    on: bool,
    held: *mut usize,
) -> ctrd_status {
    ffi_status! {
        let q = queue_arg(q)?;
        q.inner.hold(on);
        if let Some(out) = ptr::Out::optional(held) {
            out.write(q.inner.held());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::{null, null_mut};

    #[test]
    fn bad_input_gets_clear_statuses() {
        let mut c = std::mem::MaybeUninit::<ctrd_completion>::zeroed();
        assert_eq!(
            ctrd_queue_next(null_mut(), 0, c.as_mut_ptr()),
            ctrd_status::CTRD_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            ctrd_queue_cancel(null_mut(), 1),
            ctrd_status::CTRD_ERR_INVALID_ARGUMENT
        );
        assert_eq!(ctrd_queue_fd(null()), -1);
        ctrd_queue_free(null_mut());
        assert_eq!(
            ctrd_queue_new(null_mut()),
            ctrd_status::CTRD_ERR_INVALID_ARGUMENT
        );
        let mut q = null_mut();
        assert_eq!(ctrd_queue_new(&mut q), ctrd_status::CTRD_OK);
        assert!(ctrd_queue_fd(q) >= 0);
        assert_eq!(
            ctrd_queue_next(q, 0, null_mut()),
            ctrd_status::CTRD_ERR_INVALID_ARGUMENT
        );
        assert_eq!(
            ctrd_queue_next(q, 0, c.as_mut_ptr()),
            ctrd_status::CTRD_ERR_DEADLINE_EXCEEDED
        );
        assert_eq!(
            ctrd_queue_next(q, 20, c.as_mut_ptr()),
            ctrd_status::CTRD_ERR_DEADLINE_EXCEEDED
        );
        assert_eq!(ctrd_queue_cancel(q, 42), ctrd_status::CTRD_ERR_NOT_FOUND);
        ctrd_queue_free(q);
    }

    #[test]
    fn a_completion_carries_its_results_or_its_error() {
        let c = completion(7, "ctrd_x_submit", Ok(Payload::Exit(3)));
        assert_eq!(
            (c.tag, c.status, c.exit_status),
            (7, ctrd_status::CTRD_OK, 3)
        );
        assert!(c.error.is_null() && c.names.is_null());
        let c = completion(
            8,
            "ctrd_x_submit",
            Ok(Payload::Names(vec!["a".into(), "b".into()])),
        );
        assert_eq!(c.names_len, 2);
        ptr::free_string_array(c.names, c.names_len);
        let c = completion(
            9,
            "ctrd_x_submit",
            Err(Error::new(Code::NotFound, "no such thing")),
        );
        assert_eq!(c.status, ctrd_status::CTRD_ERR_NOT_FOUND);
        // SAFETY: a C string the library made.
        let text = unsafe { std::ffi::CStr::from_ptr(c.error) };
        assert_eq!(text.to_str().unwrap(), "ctrd_x_submit: no such thing");
        ptr::free_string(c.error);
    }
}
