//! Progress callbacks of pulls, imports and pushes: a callback thread (see
//! `ffi::callback`) reads the operation's counters about ten times a second
//! and calls the C callback when they changed, then once more with phase
//! "done" when the operation succeeded. The calling thread joins it before
//! the C function returns, so no callback runs after that.

use std::ffi::{c_char, c_void, CString};
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::core::error::Result;
use crate::core::image::progress::{Phase, Progress, Snapshot};

use crate::ffi::callback::CallbackThread;
use crate::ffi::ptr;
use crate::runtime;

/// Where a pull, import or push is, as its progress callback sees it.
/// Strings are valid during the call only.
#[repr(C)]
pub struct ctrd_progress {
    /// The image reference (as given to the pull; the archive path for an
    /// import; the remote reference, else the image name, for a push).
    pub r#ref: *const c_char,
    /// "resolving", "fetching", "unpacking" (pulls and imports), "pushing"
    /// (pushes), or "done" (last, once, and only when the operation
    /// succeeded).
    pub phase: *const c_char,
    /// Bytes of the chosen platform's blobs in the content store: fetched
    /// now or found there (a push: bytes of what it pushes that the
    /// registry has: sent now, mounted or found there). Equals
    /// `bytes_total` at "done".
    pub bytes_done: u64,
    /// Bytes of all those blobs; 0 while unknown.
    pub bytes_total: u64,
    /// Layers fetched (phase "fetching"), unpacked ("unpacking") or in the
    /// registry ("pushing"); all of them at "done".
    pub layers_done: u32,
    /// Layers of the chosen platform (a push: of every platform pushed).
    pub layers_total: u32,
    /// Registry requests sent again so far: answers 429, 502, 503 or 504
    /// and connections reset, retried with backoff (or after the
    /// registry's `Retry-After`), and blob downloads resumed where a
    /// connection failed midway. Appended last: a program built before it
    /// reads the fields above only.
    pub retries: u32,
}

/// `ctrd_progress_cb`: called on a library thread (not the caller's), one
/// call at a time, at most about ten times a second while the operation
/// runs (when the counters changed: a phase shorter than that may not be
/// seen) and once more with phase "done" when it succeeded; never after the
/// pull, import or push returned. It may call `ctrd_*` functions. `user_data` is
/// passed back untouched.
pub type ctrd_progress_cb =
    Option<unsafe extern "C-unwind" fn(user_data: *mut c_void, p: *const ctrd_progress)>;

/// The callback's function type.
type ProgressFn = unsafe extern "C-unwind" fn(*mut c_void, *const ctrd_progress);

/// How often the counters are read.
const PERIOD: Duration = Duration::from_millis(100);

/// What the callback thread owns, behind a pointer (see `ffi::callback`);
/// freed by the operation's thread after joining it.
struct Reporter {
    cb: ProgressFn,
    user: *mut c_void,
    reference: CString,
    progress: Arc<Progress>,
    finish: Arc<Finish>,
    last: Option<Snapshot>,
    /// The struct handed to the callback, kept until the next call.
    current: ctrd_progress,
    done: bool,
}

/// How the operation's thread tells the callback thread it ended.
#[derive(Default)]
struct Finish {
    /// `Some(succeeded)` once the operation ended.
    outcome: Mutex<Option<bool>>,
    wake: Condvar,
}

/// One callback call: plain values only.
#[derive(Clone, Copy)]
struct Call {
    cb: ProgressFn,
    user: *mut c_void,
    p: *const ctrd_progress,
}

/// The next call to make, or `None` when the reporting is over.
#[inline(never)]
fn next_call(reporter: *mut Reporter) -> Option<Call> {
    // A panic (a bug) ends the reporting rather than unwinding into C.
    crate::runtime::catch_panic(|| take_next(reporter)).unwrap_or(None)
}

fn take_next(reporter: *mut Reporter) -> Option<Call> {
    // SAFETY: `reporter` came from Box::into_raw in `report`, which frees it
    // only after joining this thread and does not touch it meanwhile.
    let r = unsafe { &mut *reporter };
    loop {
        if r.done {
            return None;
        }
        let finished = {
            let guard = r
                .finish
                .outcome
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let (guard, _) = r
                .finish
                .wake
                .wait_timeout_while(guard, PERIOD, |f| f.is_none())
                .unwrap_or_else(PoisonError::into_inner);
            *guard
        };
        let mut now = r.progress.snapshot();
        match finished {
            Some(true) => {
                r.done = true;
                now.phase = Phase::Done;
                now.bytes_done = now.bytes_total.max(now.bytes_done);
                now.bytes_total = now.bytes_done;
                now.layers_done = now.layers_total;
            }
            Some(false) => return None,
            None if r.last == Some(now) => continue,
            None => {}
        }
        r.last = Some(now);
        r.current = ctrd_progress {
            r#ref: r.reference.as_ptr(),
            phase: phase_name(now.phase).as_ptr(),
            bytes_done: now.bytes_done,
            bytes_total: now.bytes_total,
            layers_done: now.layers_done,
            layers_total: now.layers_total,
            retries: now.retries,
        };
        return Some(Call {
            cb: r.cb,
            user: r.user,
            p: &r.current,
        });
    }
}

fn phase_name(phase: Phase) -> &'static std::ffi::CStr {
    match phase {
        Phase::Resolving => c"resolving",
        Phase::Fetching => c"fetching",
        Phase::Unpacking => c"unpacking",
        Phase::Pushing => c"pushing",
        Phase::Done => c"done",
    }
}

/// The callback thread. While the callback runs this frame holds only plain
/// values, so a callback that ends its thread ends just that thread.
extern "C-unwind" fn deliver(arg: *mut c_void) -> *mut c_void {
    let reporter = arg.cast::<Reporter>();
    while let Some(call) = next_call(reporter) {
        // SAFETY: the caller's non-NULL callback of the documented
        // signature; `p` points into the reporter, alive until the next
        // `next_call`; `user` is the caller's pointer, passed back untouched.
        unsafe { (call.cb)(call.user, call.p) };
    }
    std::ptr::null_mut()
}

/// A progress callback and its user data, as the C caller gave them.
#[derive(Clone, Copy)]
pub(crate) struct Callback {
    cb: ProgressFn,
    user: *mut c_void,
}

impl Callback {
    /// `None` when `cb` is NULL.
    pub(crate) fn new(cb: ctrd_progress_cb, user: *mut c_void) -> Option<Callback> {
        cb.map(|cb| Callback { cb, user })
    }
}

// SAFETY: the library never dereferences `user`, and the C contract of
// `ctrd_progress_cb` is that the callback runs with it on a library thread;
// moving the pair to the runtime (a queued pull) hands it to that thread
// just the same.
unsafe impl Send for Callback {}

/// Runs `work` on the runtime, blocking the calling thread until it ends,
/// while `callback` (if any) hears of `progress`. `reference` names the
/// operation in the callback.
pub(crate) fn report<T, F>(
    callback: Option<Callback>,
    reference: &str,
    progress: Arc<Progress>,
    work: F,
) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    let Some(callback) = callback else {
        return runtime::block_on_shared(work);
    };
    let reporting = Reporting::start(callback, reference, progress)?;
    let result = runtime::block_on_shared(work);
    reporting.end(result.is_ok());
    result
}

/// As [`report`], for work that runs on the runtime already (a queued pull
/// or import): the callback thread is joined (on the runtime's blocking
/// pool) before this ends, so no callback runs after the operation's
/// completion is posted. `work` is boxed (a pull's future is large, and an
/// async function would hold it twice: as its argument and as awaited).
pub(crate) fn report_async<T, F>(
    callback: Option<Callback>,
    reference: String,
    progress: Arc<Progress>,
    work: F,
) -> impl Future<Output = Result<T>> + Send
where
    F: Future<Output = Result<T>> + Send,
    T: Send,
{
    let work = Box::pin(work);
    async move {
        let Some(callback) = callback else {
            return work.await;
        };
        let reporting = Reporting::start(callback, &reference, progress)?;
        let result = work.await;
        let ok = result.is_ok();
        // The join waits for a callback in progress: not on a worker.
        let _ = tokio::task::spawn_blocking(move || reporting.end(ok)).await;
        result
    }
}

/// A running callback thread and the reporter it owns.
struct Reporting {
    thread: CallbackThread,
    reporter: *mut Reporter,
    finish: Arc<Finish>,
}

// SAFETY: the reporter is used by the callback thread until `end` joins it,
// then freed by `end`, on whichever thread holds the `Reporting`.
unsafe impl Send for Reporting {}

impl Reporting {
    fn start(callback: Callback, reference: &str, progress: Arc<Progress>) -> Result<Reporting> {
        let finish = Arc::new(Finish::default());
        let reporter = Box::into_raw(Box::new(Reporter {
            cb: callback.cb,
            user: callback.user,
            reference: ptr::c_text(reference.to_string()),
            progress,
            finish: finish.clone(),
            last: None,
            current: ctrd_progress {
                r#ref: std::ptr::null(),
                phase: std::ptr::null(),
                bytes_done: 0,
                bytes_total: 0,
                layers_done: 0,
                layers_total: 0,
                retries: 0,
            },
            done: false,
        }));
        match CallbackThread::spawn(c"ctrd-progress", deliver, reporter.cast()) {
            Ok(thread) => Ok(Reporting {
                thread,
                reporter,
                finish,
            }),
            Err(e) => {
                // SAFETY: made above by Box::into_raw; no thread has it.
                drop(unsafe { Box::from_raw(reporter) });
                Err(e)
            }
        }
    }

    /// Tells the thread the operation ended (with "done" when `ok`), joins
    /// it and frees the reporter.
    fn end(self, ok: bool) {
        *self
            .finish
            .outcome
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(ok);
        self.finish.wake.notify_all();
        self.thread.join();
        // SAFETY: made by Box::into_raw in `start`; the thread that used it
        // ended.
        drop(unsafe { Box::from_raw(self.reporter) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

    /// ref, phase, bytes done and total, layers done and total.
    type Seen1 = (String, String, u64, u64, u32, u32);

    #[derive(Default)]
    struct Seen {
        calls: Mutex<Vec<Seen1>>,
    }

    unsafe extern "C-unwind" fn record(user: *mut c_void, p: *const ctrd_progress) {
        // SAFETY: the test passes a `Seen` and the reporter a valid struct.
        let (seen, p) = unsafe { (&*(user as *const Seen), &*p) };
        // SAFETY: NUL-terminated strings valid during the call.
        let text = |s| unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
        seen.calls.lock().unwrap().push((
            text(p.r#ref),
            text(p.phase),
            p.bytes_done,
            p.bytes_total,
            p.layers_done,
            p.layers_total,
        ));
    }

    #[test]
    fn progress_is_sampled_and_done_comes_last_once() {
        let seen = Seen::default();
        let progress = Arc::new(Progress::new());
        let p = progress.clone();
        let cb = Callback::new(Some(record), &seen as *const Seen as *mut c_void);
        let out = report(cb, "example/ref", progress, async move {
            p.set_phase(Phase::Fetching);
            p.set_totals(1000, 2);
            for _ in 0..10 {
                p.add_bytes(50);
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
            p.layer_fetched();
            Ok(7)
        });
        assert_eq!(out.unwrap(), 7);
        let calls = seen.calls.lock().unwrap().clone();
        let last = calls.last().unwrap();
        assert_eq!(
            last,
            &("example/ref".into(), "done".into(), 1000, 1000, 2, 2)
        );
        assert_eq!(calls.iter().filter(|c| c.1 == "done").count(), 1);
        // About 400 ms of work: a handful of samples, not one per update.
        assert!(calls.len() >= 3 && calls.len() <= 8, "{calls:?}");
        let fetching: Vec<_> = calls.iter().filter(|c| c.1 == "fetching").collect();
        assert!(fetching.windows(2).all(|w| w[0].2 <= w[1].2), "{calls:?}");
    }

    #[test]
    fn a_failure_has_no_done() {
        let seen = Seen::default();
        let cb = Callback::new(Some(record), &seen as *const Seen as *mut c_void);
        let out: Result<()> = report(cb, "r", Arc::new(Progress::new()), async {
            tokio::time::sleep(Duration::from_millis(250)).await;
            Err(crate::core::Error::invalid("no"))
        });
        assert!(out.is_err());
        let calls = seen.calls.lock().unwrap();
        assert!(calls.iter().all(|c| c.1 != "done"), "{calls:?}");
        assert!(!calls.is_empty(), "the resolving phase was reported");
    }
}
