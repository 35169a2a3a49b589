//! Asynchronous waits: `ctrd_task_wait_async` / `ctrd_process_wait_async`
//! with a `ctrd_wait` that cancels them, against the private daemon.

mod common;

use std::ffi::c_void;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;

/// What the test's callback sees and does.
#[derive(Default)]
struct Probe {
    calls: AtomicUsize,
    result: Mutex<Option<(ctrd_status, u32)>>,
    /// The callback blocks this long before returning.
    hold: Mutex<Duration>,
    /// Set just before the callback returns.
    returned: AtomicBool,
    /// A wait the callback frees from inside itself.
    free_inside: AtomicPtr<ctrd_wait>,
    done: Mutex<Option<mpsc::Sender<()>>>,
    /// The name of the thread the callback ran on.
    thread: Mutex<String>,
}

unsafe extern "C-unwind" fn probe_cb(user: *mut c_void, status: ctrd_status, exit_status: u32) {
    // SAFETY: `user` is the Arc<Probe> the test keeps alive (see `user`).
    let probe = unsafe { &*user.cast::<Probe>() };
    probe.calls.fetch_add(1, Ordering::SeqCst);
    *probe.thread.lock().unwrap() = std::fs::read_to_string("/proc/thread-self/comm")
        .unwrap_or_default()
        .trim()
        .to_string();
    *probe.result.lock().unwrap() = Some((status, exit_status));
    if let Some(tx) = probe.done.lock().unwrap().as_ref() {
        let _ = tx.send(());
    }
    let w = probe.free_inside.swap(null_mut(), Ordering::SeqCst);
    if !w.is_null() {
        // Freeing its own wait from inside the callback returns at once.
        ctrd_wait_free(w);
    }
    std::thread::sleep(*probe.hold.lock().unwrap());
    probe.returned.store(true, Ordering::SeqCst);
}

fn user(probe: &Arc<Probe>) -> *mut c_void {
    Arc::as_ptr(probe).cast_mut().cast()
}

fn probe() -> (Arc<Probe>, mpsc::Receiver<()>) {
    let (tx, rx) = mpsc::channel();
    let p = Arc::new(Probe::default());
    *p.done.lock().unwrap() = Some(tx);
    (p, rx)
}

fn running_task(ns: &Ns, id: &str, argv: &[&str]) -> (*mut ctrd_container, *mut ctrd_task) {
    let k = container(ns, id, argv);
    let mut t = null_mut();
    check(ctrd_container_new_task(k, null_mut(), &mut t), CTRD_OK);
    check(ctrd_task_start(t), CTRD_OK);
    (k, t)
}

fn finish(k: *mut ctrd_container, t: *mut ctrd_task) {
    check(
        ctrd_task_delete(t, CTRD_TASK_DELETE_FORCE, null_mut()),
        CTRD_OK,
    );
    ctrd_task_free(t);
    remove_container(k);
}

#[test]
fn a_freed_wait_never_calls_back() {
    let ns = Ns::new("wcancel");
    let (k, t) = running_task(&ns, "w1", &["sleep", "60"]);

    let (cancelled, _rx) = probe();
    let mut w = null_mut();
    check(
        ctrd_task_wait_async(t, Some(probe_cb), user(&cancelled), &mut w),
        CTRD_OK,
    );
    assert!(!w.is_null());
    // A second wait on the same task that is kept: it does call back.
    let (kept, kept_rx) = probe();
    let mut w2 = null_mut();
    check(
        ctrd_task_wait_async(t, Some(probe_cb), user(&kept), &mut w2),
        CTRD_OK,
    );
    ctrd_wait_free(w);

    check(ctrd_task_kill(t, 9, 0), CTRD_OK);
    kept_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the kept wait calls back");
    assert_eq!(*kept.result.lock().unwrap(), Some((CTRD_OK, 137)));
    // The kept wait is freed after its callback: that only frees it.
    ctrd_wait_free(w2);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        cancelled.calls.load(Ordering::SeqCst),
        0,
        "a freed wait called back"
    );
    assert_eq!(kept.calls.load(Ordering::SeqCst), 1);
    // The library let go of the cancelled wait's user data.
    assert_eq!(Arc::strong_count(&cancelled), 1);
    ctrd_wait_free(null_mut());
    finish(k, t);
    ns.assert_clean();
}

#[test]
fn freeing_a_wait_waits_for_a_running_callback_or_not_from_inside_it() {
    let ns = Ns::new("wrunning");
    let (k, t) = running_task(&ns, "w2", &["sh", "-c", "exit 5"]);

    // The callback holds on for a while: a free from here waits for it.
    let (slow, slow_rx) = probe();
    *slow.hold.lock().unwrap() = Duration::from_millis(500);
    let mut w = null_mut();
    check(
        ctrd_task_wait_async(t, Some(probe_cb), user(&slow), &mut w),
        CTRD_OK,
    );
    slow_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("callback");
    let t0 = Instant::now();
    ctrd_wait_free(w);
    assert!(
        slow.returned.load(Ordering::SeqCst),
        "ctrd_wait_free returned while the callback still ran"
    );
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(*slow.result.lock().unwrap(), Some((CTRD_OK, 5)));

    // A callback that frees its own wait: that free returns at once.
    let (inside, inside_rx) = probe();
    let mut w = null_mut();
    // The wait may fire before the pointer is stored: hold the callback
    // back until it is, through the probe's lock.
    let guard = inside.result.lock().unwrap();
    check(
        ctrd_task_wait_async(t, Some(probe_cb), user(&inside), &mut w),
        CTRD_OK,
    );
    inside.free_inside.store(w, Ordering::SeqCst);
    drop(guard);
    inside_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("callback");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !inside.returned.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the callback hung in ctrd_wait_free"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(inside.free_inside.load(Ordering::SeqCst).is_null());
    finish(k, t);
    ns.assert_clean();
}

#[test]
fn process_wait_async_reports_the_exec_exit() {
    let ns = Ns::new("wproc");
    let (k, t) = running_task(&ns, "w3", &["sleep", "60"]);
    let process = r#"{"args":["/bin/sh","-c","sleep 0.2; exit 7"],"cwd":"/","env":["PATH=/bin:/sbin:/usr/bin"],"user":{"uid":0,"gid":0}}"#;
    let mut p = null_mut();
    check(
        ctrd_task_exec(t, c("e1").as_ptr(), c(process).as_ptr(), null_mut(), &mut p),
        CTRD_OK,
    );
    let (pr, rx) = probe();
    let mut w = null_mut();
    check(ctrd_process_start(p), CTRD_OK);
    check(
        ctrd_process_wait_async(p, Some(probe_cb), user(&pr), &mut w),
        CTRD_OK,
    );
    rx.recv_timeout(Duration::from_secs(20)).expect("callback");
    assert_eq!(*pr.result.lock().unwrap(), Some((CTRD_OK, 7)));
    ctrd_wait_free(w);
    // Without an out-pointer the wait still calls back.
    let (pr2, rx2) = probe();
    check(
        ctrd_process_wait_async(p, Some(probe_cb), user(&pr2), null_mut()),
        CTRD_OK,
    );
    rx2.recv_timeout(Duration::from_secs(20)).expect("callback");
    assert_eq!(*pr2.result.lock().unwrap(), Some((CTRD_OK, 7)));
    check(ctrd_process_delete(p, null_mut()), CTRD_OK);
    ctrd_process_free(p);

    assert_eq!(
        ctrd_process_wait_async(null_mut(), Some(probe_cb), null_mut(), null_mut()),
        CTRD_ERR_INVALID_ARGUMENT
    );
    assert!(last_error().contains("process is NULL"), "{}", last_error());
    finish(k, t);
    ns.assert_clean();
}

/// When no callback thread can be started (injected here), the callback
/// still runs once, elsewhere, and ctrd_wait_free keeps its promise: it
/// waits for a running callback (none runs after it returned), returns at
/// once from inside the callback, and cancels a wait not fired yet.
#[test]
fn without_a_callback_thread_the_free_still_waits_for_the_callback() {
    let ns = Ns::new("wnothread");
    let (k, t) = running_task(&ns, "w4", &["sh", "-c", "sleep 1; exit 6"]);

    // A wait freed before the exit: never called back.
    let (cancelled, _rx) = probe();
    let mut w = null_mut();
    check(ctrd_debug_fail_next_wait_thread(), CTRD_OK);
    check(
        ctrd_task_wait_async(t, Some(probe_cb), user(&cancelled), &mut w),
        CTRD_OK,
    );
    ctrd_wait_free(w);

    // A slow callback: the free from here waits until it returned.
    let (slow, slow_rx) = probe();
    *slow.hold.lock().unwrap() = Duration::from_millis(500);
    let mut w = null_mut();
    check(ctrd_debug_fail_next_wait_thread(), CTRD_OK);
    check(
        ctrd_task_wait_async(t, Some(probe_cb), user(&slow), &mut w),
        CTRD_OK,
    );
    // One freeing its own wait from inside the callback.
    let (inside, inside_rx) = probe();
    let mut w2 = null_mut();
    let guard = inside.result.lock().unwrap();
    check(ctrd_debug_fail_next_wait_thread(), CTRD_OK);
    check(
        ctrd_task_wait_async(t, Some(probe_cb), user(&inside), &mut w2),
        CTRD_OK,
    );
    inside.free_inside.store(w2, Ordering::SeqCst);
    drop(guard);

    slow_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("the callback runs without a thread of its own");
    assert_ne!(
        *slow.thread.lock().unwrap(),
        "ctrd-wait",
        "the hook took no effect"
    );
    let t0 = Instant::now();
    ctrd_wait_free(w);
    assert!(
        slow.returned.load(Ordering::SeqCst),
        "ctrd_wait_free returned while the callback still ran"
    );
    assert!(t0.elapsed() >= Duration::from_millis(300));
    assert_eq!(*slow.result.lock().unwrap(), Some((CTRD_OK, 6)));
    assert_eq!(slow.calls.load(Ordering::SeqCst), 1);

    inside_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("callback");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !inside.returned.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the callback hung in ctrd_wait_free"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_ne!(*inside.thread.lock().unwrap(), "ctrd-wait");

    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        cancelled.calls.load(Ordering::SeqCst),
        0,
        "a freed wait called back"
    );
    assert_eq!(Arc::strong_count(&cancelled), 1);
    finish(k, t);
    ns.assert_clean();
}
