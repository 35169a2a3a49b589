//! The process-wide tokio runtime, started on first use, and the bridge that
//! lets a blocking C call wait for async work.
//!
//! Blocking calls run on the calling thread, which drives its own I/O: each
//! C thread that makes calls gets a current-thread runtime of its own and,
//! through `core::Client`, its own connection to each daemon it talks to
//! ([`block_on`]), so a reply reaches the caller without crossing OS threads
//! (a spawn-and-park bridge costs about 40 µs per call, a third of a round
//! trip). When as many threads as the machine has cores are in calls
//! already, a call goes to the shared runtime instead (spawned there, the
//! caller parked): many callers at once make more calls per second over
//! one connection whose workers send and read many requests at a time. At
//! most [`MAX_LOCAL_RUNTIMES`] threads have a runtime of their own; the
//! library's own threads and threads past that limit use the shared one. Work that must outlive the call or wants the
//! shared runtime's workers (event streams, pulls, imports) goes through
//! [`block_on_shared`]. `benches/calls.rs` compares the ways.
//!
//! A panic inside the work comes back as a `Code::Internal` error with its
//! message.
//!
//! Panics: the runtime's threads count as the library's own, so the panic
//! hook installed here (see [`install_panic_hook`]) keeps a panic on them off
//! the host program's stderr.
//!
//! Fork: a child process inherits the runtime's memory but none of its
//! threads, so any work handed to it would wait for ever. The runtime records
//! the pid that started it; in any other process every call fails with
//! `Code::Forked` instead. Nor does a child tear down what it inherited:
//! the runtimes and connections it holds (a thread's own, in its
//! thread-local storage, dropped when the child calls `exit()`) share their
//! sockets and epoll instances with the parent, and dropping them would
//! unregister the parent's sockets from its epoll (its calls would then
//! wait for replies they are never woken for) and take locks a parent
//! thread may have held at the fork: [`ParentOnly`] leaks them instead.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
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

/// Most worker threads of the shared runtime.
const MAX_WORKERS: usize = 4;

/// The runtime, started on first use. Fails in a forked child.
pub fn get() -> Result<&'static Runtime> {
    let shared = SHARED.get_or_try_init(|| {
        install_panic_hook();
        // A worker a core, at most MAX_WORKERS: the library's own work is
        // light (framing, checks, copies; the daemon and registries do the
        // rest), and a process on a large machine should not get dozens of
        // threads for it (a completion queue's process stays within 8).
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cores.min(MAX_WORKERS))
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

/// A value torn down only in the process that made it: in a forked child,
/// dropping it leaks it instead (see the module's documentation). For the
/// runtimes and connections, whose destructors reach into what the child
/// shares with the parent.
#[derive(Debug)]
pub struct ParentOnly<T>(Option<T>);

impl<T> ParentOnly<T> {
    pub fn new(value: T) -> ParentOnly<T> {
        ParentOnly(Some(value))
    }
}

impl<T> std::ops::Deref for ParentOnly<T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.0.as_ref().expect("only empty while dropped")
    }
}

impl<T> Drop for ParentOnly<T> {
    fn drop(&mut self) {
        if is_forked_child() {
            std::mem::forget(self.0.take());
        }
    }
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

/// Runs `fut` to completion on the calling thread, which drives its own
/// I/O on a runtime of its own (see the module's documentation), or, when
/// the thread may not have one or many threads are in calls, as
/// [`block_on_shared`] does. Tasks `fut` spawns on the thread's runtime run
/// only while it runs: work that spawns tasks which must outlive it goes
/// through [`block_on_shared`]. A panic in `fut` on the thread's runtime
/// goes on to the caller (the FFI boundary catches it); on the shared
/// runtime it is an internal error.
///
/// Must not be called from a runtime worker or from inside another
/// `block_on`: tokio panics when a worker blocks on the runtime (the
/// boundary then reports `CTRD_ERR_INTERNAL`). The library runs C callbacks
/// on threads of its own, never on workers, so a callback may call blocking
/// functions.
pub fn block_on<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    unerase(block_on_erased(erase(fut)))
}

/// A future of some [`Result`], boxed with its output: the runtime's
/// machinery (a current-thread `block_on`, a task's harness) is then
/// compiled once for all calls rather than once per call site (several KB
/// each, hundreds of KB in the library); a call pays two small allocations.
type Erased = std::pin::Pin<Box<dyn Future<Output = Box<dyn Any + Send>> + Send>>;

fn erase<T, F>(fut: F) -> Erased
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    Box::pin(async move { Box::new(fut.await) as Box<dyn Any + Send> })
}

/// The [`Result`] an [`erase`]d future gave, or the error that kept it from
/// giving one.
fn unerase<T: 'static>(out: Result<Box<dyn Any + Send>>) -> Result<T> {
    match out?.downcast::<Result<T>>() {
        Ok(result) => *result,
        Err(_) => Err(Error::internal("a call's result had another type")),
    }
}

fn block_on_erased(fut: Erased) -> Result<Box<dyn Any + Send>> {
    get()?;
    let busy = Busy::enter();
    // Many threads in calls at once make more calls per second over the
    // shared connection (the workers send and read many at a time) than
    // over a connection each.
    let cores = *LOCAL_WHEN_BUSY_BELOW
        .get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let alone = busy.others < cores;
    let local = LOCAL.try_with(|local| {
        if !alone || OWN_THREAD.get() || local.borrow().is_none() && !LocalRuntime::may_start() {
            return None;
        }
        let mut slot = local.borrow_mut();
        if slot.is_none() {
            *slot = LocalRuntime::start();
        }
        // Another `block_on` further up this thread's stack holds it (a
        // bug): tokio would refuse a nested run anyway.
        slot.take()
    });
    let Some(rt) = local.ok().flatten() else {
        return block_on_shared_erased(fut);
    };
    ON_LOCAL.set(Some(rt.number));
    let running = Running(Some(rt));
    let result = running.0.as_ref().map(|rt| rt.runtime.block_on(fut));
    drop(running);
    result.ok_or_else(|| Error::internal("the thread's runtime went missing"))
}

/// While a thread runs [`block_on`] on its own runtime; on the way out gives
/// the runtime back to the thread, unless a panic goes through: a runtime
/// that panicked is not used again (the next call starts a new one, with
/// new connections), and the panic goes on to the boundary.
struct Running(Option<LocalRuntime>);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = ON_LOCAL.try_with(|on| on.set(None));
        if !std::thread::panicking() {
            if let Some(rt) = self.0.take() {
                let _ = LOCAL.try_with(|local| *local.borrow_mut() = Some(rt));
            }
        }
    }
}

/// Runs `fut` on the shared runtime and parks the calling thread until it
/// ends: for work whose spawned tasks or streams outlive it (an event
/// subscription's stream) or that wants the runtime's workers (pulls,
/// imports, exports). A panic in it is an internal error.
pub fn block_on_shared<T, F>(fut: F) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    unerase(block_on_shared_erased(erase(fut)))
}

fn block_on_shared_erased(fut: Erased) -> Result<Box<dyn Any + Send>> {
    let rt = get()?;
    let task = rt.spawn(fut);
    rt.block_on(task).map_err(join_error)
}

/// Threads inside [`block_on`] now.
static IN_CALLS: AtomicUsize = AtomicUsize::new(0);

/// [`block_on`] uses the thread's own runtime when fewer other threads than
/// this (the machine's cores) are in calls.
static LOCAL_WHEN_BUSY_BELOW: OnceCell<usize> = OnceCell::new();

/// A thread counted in [`IN_CALLS`] while alive.
struct Busy {
    /// The other threads in calls when this one came in.
    others: usize,
}

impl Busy {
    fn enter() -> Busy {
        Busy {
            others: IN_CALLS.fetch_add(1, Ordering::Relaxed),
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        IN_CALLS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// When the calling thread is inside [`block_on`] on a runtime of its own,
/// that runtime's number (unique in the process): `core::Client` then uses
/// the thread's own connections, made on that runtime.
pub fn local_runtime() -> Option<u64> {
    ON_LOCAL.try_with(Cell::get).ok().flatten()
}

/// Most threads with a runtime of their own at once (each holds a few file
/// descriptors: its epoll and wake-up descriptors and, per daemon, its
/// connection and a duplicate to look at it); further threads' calls go to
/// the shared runtime.
pub const MAX_LOCAL_RUNTIMES: usize = 64;

/// How many threads have a runtime of their own now.
static LOCAL_RUNTIMES: AtomicUsize = AtomicUsize::new(0);

/// A thread's own current-thread runtime (see [`block_on`]).
struct LocalRuntime {
    runtime: ParentOnly<Runtime>,
    number: u64,
}

/// The number of the next [`LocalRuntime`].
static NEXT_LOCAL: AtomicU64 = AtomicU64::new(1);

impl LocalRuntime {
    fn may_start() -> bool {
        LOCAL_RUNTIMES.load(Ordering::Relaxed) < MAX_LOCAL_RUNTIMES
    }

    /// A new runtime for the calling thread, or `None` when there are
    /// [`MAX_LOCAL_RUNTIMES`] already or it cannot be made.
    fn start() -> Option<LocalRuntime> {
        let taken = LOCAL_RUNTIMES.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < MAX_LOCAL_RUNTIMES).then_some(n + 1)
        });
        taken.ok()?;
        match tokio::runtime::Builder::new_current_thread()
            .thread_name("containerd-c-blocking")
            .on_thread_start(library_thread)
            .enable_all()
            .build()
        {
            Ok(runtime) => Some(LocalRuntime {
                runtime: ParentOnly::new(runtime),
                number: NEXT_LOCAL.fetch_add(1, Ordering::Relaxed),
            }),
            Err(_) => {
                LOCAL_RUNTIMES.fetch_sub(1, Ordering::Relaxed);
                None
            }
        }
    }
}

impl Drop for LocalRuntime {
    fn drop(&mut self) {
        LOCAL_RUNTIMES.fetch_sub(1, Ordering::Relaxed);
    }
}

thread_local! {
    /// The calling thread's own runtime, once it made a blocking call.
    static LOCAL: RefCell<Option<LocalRuntime>> = const { RefCell::new(None) };
    /// While the calling thread is inside `block_on` on `LOCAL`, its number.
    static ON_LOCAL: Cell<Option<u64>> = const { Cell::new(None) };
    /// Whether the calling thread is one of the library's own (they use the
    /// shared runtime).
    static OWN_THREAD: Cell<bool> = const { Cell::new(false) };
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

/// Runs `body`, catching a panic: the crate's only `catch_unwind`. Every
/// exported function (through `ffi::boundary`'s `status` and `value`) and
/// every library thread that runs code which might panic goes through here.
/// While it runs, the thread counts as inside the library, so a panic prints
/// nothing (see [`install_panic_hook`]).
pub fn catch_panic<T>(body: impl FnOnce() -> T) -> std::thread::Result<T> {
    note_process();
    let _inside = InLibrary::enter();
    catch_unwind(AssertUnwindSafe(body))
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
    /// exported function (see [`catch_panic`]) and on the library's
    /// own threads for their whole life.
    static IN_LIBRARY: Cell<usize> = const { Cell::new(0) };
}

/// Marks the calling thread as one of the library's own (runtime workers and
/// blocking threads, copy and event threads) for the rest of its life: a
/// panic on it is the library's.
pub fn library_thread() {
    install_panic_hook();
    let _ = IN_LIBRARY.try_with(|d| d.set(d.get() + 1));
    let _ = OWN_THREAD.try_with(|own| own.set(true));
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
        let r: Result<()> = block_on_shared(async { panic!("boom in task") });
        let e = r.unwrap_err();
        assert_eq!(e.code, Code::Internal);
        assert!(e.message.contains("boom in task"), "{}", e.message);
        // The runtime survives it.
        assert_eq!(block_on_shared(async { Ok(7) }).unwrap(), 7);
    }

    #[test]
    fn block_on_runs_on_a_runtime_of_the_threads_own_which_a_panic_replaces() {
        // Its own unless as many other threads are in calls (other tests).
        let number = || {
            (0..1000)
                .find_map(|_| block_on(async { Ok(local_runtime()) }).unwrap())
                .map(Some)
                .unwrap_or(None)
        };
        let first = number().expect("a runtime of this thread's own");
        assert_eq!(number(), Some(first), "the same runtime again");
        assert_eq!(local_runtime(), None, "only while inside block_on");
        let caught = catch_panic(|| {
            block_on(async {
                panic!("boom on the thread's runtime");
                #[allow(unreachable_code)]
                Ok(())
            })
        });
        assert!(caught.is_err(), "the panic goes on to the caller");
        assert_eq!(local_runtime(), None);
        let second = number().expect("a new runtime");
        assert_ne!(second, first, "not the runtime the panic went through");
        // Another thread has its own.
        let other = std::thread::spawn(number).join().unwrap().unwrap();
        assert_ne!(other, second);
    }

    #[test]
    fn negative_timeouts_mean_for_ever() {
        assert_eq!(timeout_from_ms(-1), None);
        assert_eq!(timeout_from_ms(0), Some(Duration::ZERO));
        assert_eq!(timeout_from_ms(1500), Some(Duration::from_millis(1500)));
    }
}
