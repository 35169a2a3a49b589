//! `ctrd_cancel_trigger` is async-signal-safe: it allocates nothing (NULL
//! included: no error message is formatted for it) and leaves
//! `ctrd_last_error` alone, also in a signal handler on a thread that never
//! called the library. A global allocator of this test counts the
//! allocations made while a call runs; without a test harness, no other
//! thread allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::CStr;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use containerd_c::ffi::*;

struct Counting;

static ARMED: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; counting is an atomic add.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ARMED.load(Ordering::SeqCst) {
            ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        }
        // SAFETY: the caller's contract for `alloc`, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc`, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The allocations `f` makes.
fn allocations_of(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::SeqCst);
    ARMED.store(true, Ordering::SeqCst);
    f();
    ARMED.store(false, Ordering::SeqCst);
    ALLOCATIONS.load(Ordering::SeqCst) - before
}

static SIGNAL: AtomicPtr<ctrd_cancel> = AtomicPtr::new(null_mut());
static HANDLED: AtomicBool = AtomicBool::new(false);
static IN_HANDLER: AtomicUsize = AtomicUsize::new(usize::MAX);

extern "C" fn on_signal(_: libc::c_int) {
    // Only atomics here, and the two calls under test.
    let n = allocations_of(|| {
        ctrd_cancel_trigger(null_mut());
        ctrd_cancel_trigger(SIGNAL.load(Ordering::SeqCst));
    });
    IN_HANDLER.store(n, Ordering::SeqCst);
    HANDLED.store(true, Ordering::SeqCst);
}

fn last_error() -> String {
    // SAFETY: ctrd_last_error returns a valid NUL-terminated string.
    unsafe { CStr::from_ptr(ctrd_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn main() {
    let mut c = null_mut();
    assert_eq!(ctrd_cancel_new(&mut c), ctrd_status::CTRD_OK);
    SIGNAL.store(c, Ordering::SeqCst);

    // On a thread that called the library: NULL allocates nothing and keeps
    // the last error.
    assert_eq!(
        ctrd_cancel_new(null_mut()),
        ctrd_status::CTRD_ERR_INVALID_ARGUMENT
    );
    let before = last_error();
    assert!(before.contains("out is NULL"), "{before}");
    let n = allocations_of(|| ctrd_cancel_trigger(null_mut()));
    assert_eq!(n, 0, "ctrd_cancel_trigger(NULL) allocated {n} times");
    assert_eq!(last_error(), before);
    assert!(!ctrd_cancel_is_triggered(c));

    // In a signal handler on a thread that never called the library.
    // SAFETY: installs a handler that only does atomic operations and
    // async-signal-safe calls.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, null_mut()), 0);
    }
    let fresh = std::thread::spawn(|| {
        let start = Instant::now();
        while !HANDLED.load(Ordering::SeqCst) {
            assert!(start.elapsed() < Duration::from_secs(10), "no signal came");
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    use std::os::unix::thread::JoinHandleExt;
    // SAFETY: the thread is alive until HANDLED is set.
    assert_eq!(
        unsafe { libc::pthread_kill(fresh.as_pthread_t(), libc::SIGUSR1) },
        0
    );
    fresh.join().unwrap();
    let n = IN_HANDLER.load(Ordering::SeqCst);
    assert_eq!(
        n, 0,
        "ctrd_cancel_trigger in a signal handler allocated {n} times"
    );
    assert!(ctrd_cancel_is_triggered(c));
    assert_eq!(last_error(), before);
    ctrd_cancel_free(c);
    println!("signal_safe: ok");
}
