//! The process-wide tokio runtime, started on first use, and the bridge that
//! lets a blocking C call wait for async work.
//!
//! A blocking call spawns its future onto the runtime and parks the calling
//! thread until the task finishes: the whole call runs on the workers next to
//! the connection's tasks, and a panic inside it comes back as a
//! `Code::Internal` error with its message. `benches/calls.rs` compares this
//! with running the future on the caller's thread.
//!
//! Panics: the runtime's threads count as the library's own, so the panic
//! hook installed here (see [`install_panic_hook`]) keeps a panic on them off
//! the host program's stderr.
//!
//! Fork: a child process inherits the runtime's memory but none of its
//! threads, so any work handed to it would wait for ever. The runtime records
//! the pid that started it; in any other process every call fails with
//! `Code::Forked` instead.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;
use std::time::Duration;

use once_cell::sync::OnceCell;
use tokio::runtime::Runtime;

use crate::core::error::{Code, Error, Result};

struct Shared {
    runtime: Runtime,
    pid: u32,
}

static SHARED: OnceCell<Shared> = OnceCell::new();

fn forked() -> Error {
    Error::new(
        Code::Forked,
        "called in a child process after fork(): the library's runtime threads did not survive \
         the fork; use the library in the parent, or exec() in the child",
    )
}

/// The runtime, started on first use. Fails in a forked child.
pub fn get() -> Result<&'static Runtime> {
    let shared = SHARED.get_or_try_init(|| {
        install_panic_hook();
        tokio::runtime::Builder::new_multi_thread()
            .thread_name("containerd-c")
            .on_thread_start(library_thread)
            .enable_all()
            .build()
            .map(|runtime| Shared {
                runtime,
                pid: std::process::id(),
            })
            .map_err(|e| Error::new(Code::Internal, format!("starting the tokio runtime: {e}")))
    })?;
    if shared.pid != std::process::id() {
        return Err(forked());
    }
    Ok(&shared.runtime)
}

/// Whether this process is a fork of the one that started the runtime.
pub fn is_forked_child() -> bool {
    let first = FIRST_PID.load(Ordering::Relaxed);
    (first != 0 && first != std::process::id())
        || SHARED.get().is_some_and(|s| s.pid != std::process::id())
}

/// The process that first entered the library (0: none yet).
static FIRST_PID: AtomicU32 = AtomicU32::new(0);

/// Records the calling process as the library's on first use (every export
/// calls this through the boundary), so that [`is_forked_child`] knows a
/// child even when the runtime never started.
pub fn note_process() {
    if FIRST_PID.load(Ordering::Relaxed) == 0 {
        let _ =
            FIRST_PID.compare_exchange(0, std::process::id(), Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// Runs `fut` on the runtime and waits for it on the calling thread.
///
/// Must not be called from a runtime worker: tokio panics when a worker
/// blocks on the runtime (the boundary then reports `CTRD_ERR_INTERNAL`). The
/// library runs C callbacks on threads of its own, never on workers, so a
/// callback may call blocking functions.
pub fn block_on<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let rt = get()?;
    let task = rt.spawn(fut);
    match rt.block_on(task) {
        Ok(result) => result,
        Err(e) => Err(join_error(e)),
    }
}

/// Polls `fut` once on the calling thread, without the runtime: its output
/// when it finished at once (it awaited nothing that had to wait), else
/// `None` (and it is dropped). For work that makes no call, so that it works
/// without starting the runtime, and in a forked child.
pub fn ready_now<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}

/// Like [`block_on`] but runs the future on the calling thread
/// (`Runtime::block_on`); kept for the benchmark that compares the two.
pub fn block_on_here<T, F: Future<Output = Result<T>>>(fut: F) -> Result<T> {
    get()?.block_on(fut)
}

/// Turns a task that panicked or was cancelled into an error.
pub fn join_error(e: tokio::task::JoinError) -> Error {
    if e.is_panic() {
        panic_error(&*e.into_panic())
    } else {
        Error::new(Code::Cancelled, "the operation was cancelled")
    }
}

/// The error for a panic caught inside the library: `Code::Internal` with a
/// prefix that tells it from the daemon's own internal errors.
pub fn panic_error(payload: &(dyn std::any::Any + Send)) -> Error {
    Error::internal(format!(
        "internal error (a bug in containerd-c): panic: {}",
        panic_message(payload)
    ))
}

thread_local! {
    /// How deep the calling thread is inside the library: > 0 inside an
    /// exported function (see `ffi::boundary::catch`) and on the library's
    /// own threads for their whole life.
    static IN_LIBRARY: Cell<usize> = const { Cell::new(0) };
}

/// Marks the calling thread as one of the library's own (runtime workers and
/// blocking threads, copy and event threads) for the rest of its life: a
/// panic on it is the library's.
pub fn library_thread() {
    install_panic_hook();
    let _ = IN_LIBRARY.try_with(|d| d.set(d.get() + 1));
}

/// While alive, the calling thread runs library code (an exported function's
/// body): a panic on it is the library's.
pub struct InLibrary(());

impl InLibrary {
    /// Enters the library on this thread until the guard is dropped.
    pub fn enter() -> InLibrary {
        install_panic_hook();
        let _ = IN_LIBRARY.try_with(|d| d.set(d.get() + 1));
        InLibrary(())
    }
}

impl Drop for InLibrary {
    fn drop(&mut self) {
        let _ = IN_LIBRARY.try_with(|d| d.set(d.get().saturating_sub(1)));
    }
}

/// Installs, once, a panic hook that keeps the library's panics off the host
/// program's stderr: a panic on a thread inside the library prints nothing
/// (the boundary turns it into `CTRD_ERR_INTERNAL` with its message) unless
/// `CTRD_DEBUG_PANICS=1` is set; any other panic goes to the hook that was
/// installed before, so the host's own panics are reported as they were.
pub fn install_panic_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // take_hook/set_hook panic on a panicking thread; the library is
        // never entered from one in a way that matters, so skip it then.
        if std::thread::panicking() {
            return;
        }
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let in_library = IN_LIBRARY.try_with(|d| d.get() > 0).unwrap_or(false);
            let debug = std::env::var_os("CTRD_DEBUG_PANICS").is_some_and(|v| v == "1");
            if !in_library || debug {
                previous(info);
            }
        }));
    });
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Converts a timeout in milliseconds where a negative value means "for
/// ever" into an optional duration.
pub fn timeout_from_ms(ms: i64) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_a_task_is_an_internal_error() {
        let r: Result<()> = block_on(async { panic!("boom in task") });
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::Internal);
        assert!(e.message.contains("boom in task"), "{}", e.message);
        // The runtime survives it.
        assert_eq!(block_on(async { Ok(7) }).unwrap(), 7);
    }

    #[test]
    fn negative_timeouts_mean_for_ever() {
        assert_eq!(timeout_from_ms(-1), None);
        assert_eq!(timeout_from_ms(0), Some(Duration::ZERO));
        assert_eq!(timeout_from_ms(1500), Some(Duration::from_millis(1500)));
    }
}
