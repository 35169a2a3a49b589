//! `ctrd_wait`: an asynchronous wait for a task's or process's exit, whose
//! callback runs on a callback thread (see `ffi::callback`) and
//! which the caller can cancel.
//!
//! States: `Pending` (waiting on the daemon) → `Calling` (the callback runs)
//! → `Done`; or `Pending` → `Cancelled` by `ctrd_wait_free`. The callback
//! thread moves to `Calling` only under the lock and only from `Pending`, so
//! once a free has set `Cancelled` no callback starts, and a free joins a
//! callback that started already. When no callback thread can be started,
//! the callback runs on the runtime's blocking pool with the same handshake:
//! a free then waits on `Shared::returned` until the callback returned.
//!
//! The callback runs once in the process that started the wait. In a child
//! after fork() it never runs: the child has none of the runtime's threads
//! (nothing there waits or delivers), and should a delivery in the child
//! find no runtime (`runtime::get` fails only in a forked child) and no
//! callback thread, it frees the job without calling back.

use std::ffi::c_void;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;

use crate::core::error::{Error, Result};
#[cfg(feature = "test-hooks")]
use crate::ffi::boundary::ffi_status;
use crate::ffi::boundary::ffi_value;
use crate::ffi::callback::CallbackThread;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipBox};
use crate::ffi::ptr;
use crate::runtime;

/// The function type of `ctrd_exit_cb`.
pub(crate) type ExitFn = unsafe extern "C-unwind" fn(*mut c_void, ctrd_status, u32);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Pending,
    Calling,
    Done,
    Cancelled,
}

struct State {
    phase: Phase,
    /// The callback thread once started, kept to be joined by the free
    /// (only when the caller holds a `ctrd_wait`).
    thread: Option<CallbackThread>,
    /// The thread's job, freed by the free once the thread ended (only when
    /// the caller holds a `ctrd_wait`).
    job: Option<JobPtr>,
    /// The blocking-pool thread running the callback, when no callback
    /// thread could be started (set before the callback may start).
    pool_thread: Option<ThreadId>,
}

/// A job pointer kept by the wait or moved to the blocking pool.
struct JobPtr(*mut Job);
// SAFETY: a job is used by one thread at a time: the callback thread while
// it runs, then whoever frees it (after joining that thread).
unsafe impl Send for JobPtr {}

struct Shared {
    state: Mutex<State>,
    /// Notified when the phase leaves `Calling` (the callback returned).
    returned: Condvar,
    /// Whether the caller holds a `ctrd_wait` (which joins the thread).
    owned: bool,
    /// Test hook: starting the callback thread fails.
    #[cfg(feature = "test-hooks")]
    fail_thread: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The caller's `user_data`, handed to the callback thread.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);
// SAFETY: the library never dereferences the pointer; the caller of the
// wait promises it may be used from the callback thread (documented).
unsafe impl Send for UserData {}

/// Everything the callback thread needs, owned by it.
struct Job {
    shared: Arc<Shared>,
    cb: ExitFn,
    user: UserData,
    status: ctrd_status,
    exit_status: u32,
    /// Whether the `ctrd_wait` frees the job (after joining the thread), so
    /// that a thread ended inside the callback leaves nothing behind; else
    /// the thread frees it when the callback returned.
    freed_by_wait: AtomicBool,
}

/// What the callback thread calls: plain values only (see `callback`).
#[derive(Clone, Copy)]
struct Call {
    cb: Option<ExitFn>,
    user: *mut c_void,
    status: ctrd_status,
    exit_status: u32,
}

/// Moves the wait to `Calling` unless it was cancelled; the call to make.
#[inline(never)]
fn begin(job: *mut Job) -> Call {
    // SAFETY: `job` came from Box::into_raw in `deliver` and stays alive
    // until `end` takes it back; only this thread uses it.
    let job = unsafe { &*job };
    let mut st = job.shared.lock();
    let go = st.phase == Phase::Pending;
    if go {
        st.phase = Phase::Calling;
    }
    Call {
        cb: go.then_some(job.cb),
        user: job.user.0,
        status: job.status,
        exit_status: job.exit_status,
    }
}

/// Marks the callback done and frees the job unless the wait does.
#[inline(never)]
fn end(job: *mut Job) {
    let freed_by_wait = {
        // SAFETY: as in `begin`; the wait frees the job only after this
        // thread ended.
        let job = unsafe { &*job };
        let mut st = job.shared.lock();
        if st.phase == Phase::Calling {
            st.phase = Phase::Done;
            job.shared.returned.notify_all();
        }
        job.freed_by_wait.load(Ordering::SeqCst)
    };
    if !freed_by_wait {
        // SAFETY: made by Box::into_raw in `deliver`; nobody else frees it.
        drop(unsafe { Box::from_raw(job) });
    }
}

/// The callback thread. While the callback runs, this frame holds only
/// plain values, so a callback that ends its thread ends just that thread
/// (the job's memory is then lost, nothing else).
extern "C-unwind" fn exit_thread(arg: *mut c_void) -> *mut c_void {
    let job = arg.cast::<Job>();
    // A panic (a bug) skips the call rather than unwinding into C.
    let call = crate::runtime::catch_panic(|| begin(job)).unwrap_or(Call {
        cb: None,
        user: std::ptr::null_mut(),
        status: ctrd_status::CTRD_ERR_INTERNAL,
        exit_status: 0,
    });
    if let Some(cb) = call.cb {
        // SAFETY: the caller's callback of the documented signature, with
        // its own user_data, on a thread of ours that is not a runtime
        // worker; it may unwind (forced) and that ends this thread.
        unsafe { cb(call.user, call.status, call.exit_status) };
    }
    let _ = crate::runtime::catch_panic(|| end(job));
    std::ptr::null_mut()
}

/// Starts the callback thread for a finished wait, unless it was cancelled.
fn deliver(shared: Arc<Shared>, cb: ExitFn, user: UserData, result: Result<u32>) {
    let mut st = shared.lock();
    if st.phase != Phase::Pending {
        return;
    }
    let (status, exit_status) = match result {
        Ok(code) => (ctrd_status::CTRD_OK, code),
        Err(e) => (e.code.into(), 0),
    };
    let job = Box::into_raw(Box::new(Job {
        shared: shared.clone(),
        cb,
        user,
        status,
        exit_status,
        freed_by_wait: AtomicBool::new(shared.owned),
    }));
    match start_thread(&shared, job) {
        Ok(thread) => {
            if shared.owned {
                st.thread = Some(thread);
                st.job = Some(JobPtr(job));
            }
            // Else dropped: detached, it ends on its own and frees the job.
        }
        Err(_) => {
            // No thread could be started: the callback must still run once
            // (in the process that started the wait), so it runs on the runtime's blocking pool (not a worker), which
            // frees the job. The same handshake holds: it starts only from
            // `Pending`, and a free waits until it returned (see `cancel`).
            // SAFETY: the job was not handed to any thread yet.
            unsafe { &*job }
                .freed_by_wait
                .store(false, Ordering::SeqCst);
            drop(st);
            match runtime::get() {
                Ok(rt) => {
                    let job = JobPtr(job);
                    rt.spawn_blocking(move || {
                        let job = job;
                        shared.lock().pool_thread = Some(std::thread::current().id());
                        exit_thread(job.0.cast());
                    });
                }
                // Only in a forked child (see the module's documentation):
                // the callback does not run there.
                // SAFETY: made by Box::into_raw above, handed to nobody.
                Err(_) => drop(unsafe { Box::from_raw(job) }),
            }
        }
    }
}

/// Starts the callback thread of `job`.
fn start_thread(shared: &Shared, job: *mut Job) -> Result<CallbackThread> {
    #[cfg(feature = "test-hooks")]
    if shared.fail_thread {
        return Err(Error::new(
            crate::core::error::Code::Io,
            "starting a callback thread: failure injected by ctrd_debug_fail_next_wait_thread",
        ));
    }
    let _ = shared;
    CallbackThread::spawn(c"ctrd-wait", exit_thread, job.cast())
}

#[cfg(feature = "test-hooks")]
thread_local! {
    /// Set by `ctrd_debug_fail_next_wait_thread`, taken by the next wait
    /// made on this thread.
    static FAIL_NEXT_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Test hook (fault injection): the callback thread of the next
/// `ctrd_task_wait_async` or `ctrd_process_wait_async` called on this thread
/// fails to start, as when `pthread_create` fails, so that its callback runs
/// on the library's fallback. Only in a library built with the cargo
/// feature `test-hooks` (never in a release build); declared only when the
/// C code defines `CTRD_TEST_HOOKS`. Never fails.
#[cfg(feature = "test-hooks")]
#[no_mangle]
pub extern "C" fn ctrd_debug_fail_next_wait_thread() -> ctrd_status {
    ffi_status! {
        FAIL_NEXT_THREAD.with(|f| f.set(true));
        Ok(())
    }
}

/// A pending asynchronous wait. Opaque; made by `ctrd_task_wait_async` or
/// `ctrd_process_wait_async` when asked for, freed (and cancelled if still
/// pending) by `ctrd_wait_free`. Thread-safe.
pub struct ctrd_wait {
    shared: Arc<Shared>,
    tasks: [tokio::task::AbortHandle; 2],
    pid: u32,
}

/// Waits for `waiting` on the runtime, then calls `cb(user_data, status,
/// exit_status)` once on a callback thread, unless cancelled first. Returns
/// the handle that cancels it when `owned`.
pub(crate) fn spawn<F>(
    waiting: F,
    cb: ExitFn,
    user_data: *mut c_void,
    owned: bool,
) -> Result<Option<ctrd_wait>>
where
    F: Future<Output = Result<u32>> + Send + 'static,
{
    let rt = runtime::get()?;
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            phase: Phase::Pending,
            thread: None,
            job: None,
            pool_thread: None,
        }),
        returned: Condvar::new(),
        owned,
        #[cfg(feature = "test-hooks")]
        fail_thread: FAIL_NEXT_THREAD.with(|f| f.replace(false)),
    });
    let user = UserData(user_data);
    let inner = rt.spawn(waiting);
    let inner_abort = inner.abort_handle();
    let outer = {
        let shared = shared.clone();
        rt.spawn(async move {
            // A panic in the wait is a JoinError here, not a lost callback.
            let result = inner.await.unwrap_or_else(|e| Err(runtime::join_error(e)));
            deliver(shared, cb, user, result);
        })
    };
    Ok(owned.then(|| ctrd_wait {
        shared,
        tasks: [inner_abort, outer.abort_handle()],
        pid: std::process::id(),
    }))
}

impl Castable for ctrd_wait {
    type Ownership = OwnershipBox;
}

/// The body of the exported wait functions: checks `cb`, starts
/// [`spawn`], and hands the wait to `out` when the caller gave one.
pub(crate) fn start<F>(
    waiting: F,
    cb: Option<ExitFn>,
    user_data: *mut c_void,
    out: *mut *mut ctrd_wait,
) -> Result<()>
where
    F: Future<Output = Result<u32>> + Send + 'static,
{
    let out = ptr::Out::optional(out);
    let cb = cb.ok_or_else(|| Error::invalid("cb is NULL"))?;
    let wait = spawn(waiting, cb, user_data, out.is_some())?;
    if let (Some(wait), Some(out)) = (wait, out) {
        out.write(handle::to_box_ptr(wait));
    }
    Ok(())
}

impl ctrd_wait {
    /// Cancels the wait unless its callback started, and returns once no
    /// callback runs (at once when called from inside the callback).
    fn cancel(self) {
        if self.pid != std::process::id() {
            // A forked child: the runtime and the thread are the parent's.
            std::mem::forget(self);
            return;
        }
        let (thread, job) = {
            let mut st = self.shared.lock();
            if st.phase == Phase::Pending {
                st.phase = Phase::Cancelled;
            }
            // A callback on the blocking pool (no thread could be started):
            // wait until it returned, unless this is that callback.
            if st
                .pool_thread
                .is_some_and(|t| t != std::thread::current().id())
            {
                while st.phase == Phase::Calling {
                    st = self
                        .shared
                        .returned
                        .wait(st)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
            (st.thread.take(), st.job.take())
        };
        for task in &self.tasks {
            task.abort();
        }
        let Some(job) = job else { return };
        match thread {
            Some(thread) if thread.is_current() => {
                // Inside the callback: its thread frees the job at the end.
                // SAFETY: the job lives until that thread's `end`.
                unsafe { &*job.0 }
                    .freed_by_wait
                    .store(false, Ordering::SeqCst);
                thread.join();
            }
            thread => {
                if let Some(thread) = thread {
                    thread.join();
                }
                // SAFETY: the thread ended (joined), and it left the job to
                // us (`freed_by_wait`); made by Box::into_raw in `deliver`.
                drop(unsafe { Box::from_raw(job.0) });
            }
        }
    }
}

/// Frees a wait from `ctrd_task_wait_async` or `ctrd_process_wait_async`.
/// NULL is a no-op.
///
/// Before the callback ran, this cancels the wait: the callback never runs,
/// and the library lets go of `user_data` and the client. While the
/// callback runs on another thread, this waits for it to return (so do not
/// hold a lock the callback needs). Called from inside the callback itself,
/// it returns at once. After this returns, no callback of this wait runs.
/// In a child after fork() it only forgets the handle. Must not race with
/// another call on the same wait.
#[no_mangle]
pub extern "C" fn ctrd_wait_free(w: *mut ctrd_wait) {
    ffi_value!((), {
        if let Some(w) = handle::free_box(w) {
            w.cancel();
        }
    })
}
