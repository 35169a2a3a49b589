//! `ctrd_subscription`: containerd's event stream delivered to a C callback
//! on a thread of the library's own.
//!
//! Each subscription has a runtime task that reads the stream (resubscribing
//! after a daemon restart, see `core::events::Subscription`) and pushes into
//! a bounded `core::events::EventQueue` (never waiting: when the queue is
//! full, events are dropped and counted, and a `/containerd-c/dropped`
//! notice takes their place), and one dedicated OS thread (not a runtime
//! worker) that takes events from the queue and calls the callback, one at a
//! time, in the order the daemon sent them. Because that thread is not a
//! worker, the callback may call blocking `ctrd_*` functions.
//!
//! The queue holds `EVENT_QUEUE_CAPACITY` (4096) events.

use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::core::error::Error;
use crate::core::events::{EventQueue, Subscription, EVENT_QUEUE_CAPACITY};
use crate::ffi::boundary::{ffi_status, ffi_value};
use crate::ffi::callback::CallbackThread;
use crate::ffi::client::ctrd_client;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipBox};
use crate::ffi::ptr;
use crate::runtime;

/// The callback of `ctrd_events_subscribe`, called once per event on the
/// subscription's own library thread (never concurrently with itself for one
/// subscription).
///
/// `user_data` is what was given to `ctrd_events_subscribe`. `topic` (e.g.
/// "/tasks/exit"), `ns` (the namespace the event happened in; "" for none)
/// and `event_json` (the event as a JSON object, e.g.
/// `{"containerId":"web","exitStatus":0,"exitedAt":"2024-05-01T10:00:00.500Z","id":"web","pid":4242}`)
/// are NUL-terminated UTF-8 strings valid only during the call: copy what
/// you keep. The callback may call any `ctrd_*` function, blocking ones
/// included, and may free its own subscription. It may also end its thread
/// (`pthread_exit`; a language runtime shutting down may do it): then only
/// that thread ends, and no further event of the subscription is delivered
/// (free it as usual).
pub type ctrd_event_cb = Option<
    unsafe extern "C-unwind" fn(
        user_data: *mut c_void,
        topic: *const c_char,
        ns: *const c_char,
        event_json: *const c_char,
    ),
>;

/// A live event subscription. Opaque; made by `ctrd_events_subscribe`,
/// stopped and freed by `ctrd_subscription_free`. Keeps its client's
/// connection alive (freeing the client first is safe).
pub struct ctrd_subscription {
    queue: Arc<EventQueue>,
    task: tokio::task::AbortHandle,
    thread: Option<CallbackThread>,
    /// The callback thread's state, freed here once that thread ended.
    worker: WorkerPtr,
}

impl Castable for ctrd_subscription {
    type Ownership = OwnershipBox;
}

/// The subscription's pointer to its callback thread's worker.
struct WorkerPtr(*mut Worker);
// SAFETY: the subscription only frees the worker, after joining the thread
// that uses it, or hands it over to that thread (see `release`).
unsafe impl Send for WorkerPtr {}
// SAFETY: `&WorkerPtr` gives no access to the worker.
unsafe impl Sync for WorkerPtr {}

/// The function type of `ctrd_event_cb`.
type EventFn =
    unsafe extern "C-unwind" fn(*mut c_void, *const c_char, *const c_char, *const c_char);

/// What the callback thread owns, behind a pointer (see `ffi::callback`).
struct Worker {
    queue: Arc<EventQueue>,
    cb: EventFn,
    user: *mut c_void,
    /// The strings of the event being delivered, kept until the next one.
    current: Option<[CString; 3]>,
    /// Whether the subscription frees the worker (after joining the
    /// thread), so that a thread ended inside the callback leaves nothing
    /// behind; else the thread frees it when it ends.
    freed_by_subscription: AtomicBool,
}

/// One callback call: plain values only.
#[derive(Clone, Copy)]
struct Call {
    cb: EventFn,
    user: *mut c_void,
    topic: *const c_char,
    ns: *const c_char,
    json: *const c_char,
}

/// The next event to deliver, or `None` once the queue is closed.
#[inline(never)]
fn next_call(worker: *mut Worker) -> Option<Call> {
    // A panic (a bug) ends the deliveries rather than unwinding into C.
    crate::runtime::catch_panic(|| take_next(worker)).unwrap_or(None)
}

fn take_next(worker: *mut Worker) -> Option<Call> {
    // SAFETY: `worker` came from Box::into_raw in ctrd_events_subscribe and
    // is used by this thread alone until `release` takes it back.
    let w = unsafe { &mut *worker };
    w.current = None;
    let event = w.queue.pop()?;
    // Cut at a first NUL (none of our JSON has one; a topic or namespace
    // from the daemon never should).
    let strings = w.current.insert([
        ptr::c_text(event.topic),
        ptr::c_text(event.namespace),
        ptr::c_text(event.json),
    ]);
    Some(Call {
        cb: w.cb,
        user: w.user,
        topic: strings[0].as_ptr(),
        ns: strings[1].as_ptr(),
        json: strings[2].as_ptr(),
    })
}

/// At the end of the callback thread: frees the worker unless the
/// subscription does.
#[inline(never)]
fn release(worker: *mut Worker) {
    // SAFETY: alive until the subscription frees it after this thread ended.
    let w = unsafe { &mut *worker };
    w.current = None;
    if !w.freed_by_subscription.load(Ordering::SeqCst) {
        // SAFETY: made by Box::into_raw in ctrd_events_subscribe; the
        // subscription handed it over (freed from inside the callback).
        drop(unsafe { Box::from_raw(worker) });
    }
}

/// The callback thread: calls the callback for each event until the queue
/// closes. While the callback runs this frame holds only plain values, so a
/// callback that ends its thread ends just that thread.
extern "C-unwind" fn deliver(arg: *mut c_void) -> *mut c_void {
    let worker = arg.cast::<Worker>();
    while let Some(call) = next_call(worker) {
        // SAFETY: the caller's non-NULL callback of the documented
        // signature; the strings are NUL-terminated and live in the worker
        // until the next `next_call`; `user` is the caller's pointer, passed
        // back untouched.
        unsafe { (call.cb)(call.user, call.topic, call.ns, call.json) };
    }
    release(worker);
    std::ptr::null_mut()
}

/// Subscribes to containerd's events and calls `cb(user_data, topic, ns,
/// event_json)` for each one that matches `filters`, on a library thread, until
/// `ctrd_subscription_free`.
///
/// `filters`: NULL, or a NULL-terminated array of containerd filter strings;
/// an event is delivered when it matches any of them (`,` inside one string
/// ANDs). NULL or an empty array = every event. Examples:
/// `topic=="/tasks/exit"`, `namespace==default`, `topic~="^/containers/"`,
/// `namespace==default,topic=="/tasks/exit"`. containerd's event stream is
/// global: **without a `namespace==...` filter you get the events of every
/// namespace**, not just the client's; `ns` tells you which. A filter the
/// daemon cannot parse is `CTRD_ERR_INVALID_ARGUMENT`.
///
/// `event_json` is the event payload in protobuf's JSON mapping, generated
/// from containerd's event definitions: lowerCamelCase field names; every
/// string, number, bool, list and map field present even when empty or zero;
/// integers as numbers (no event field is 64-bit); maps (labels) as objects;
/// timestamps as RFC 3339 UTC strings with 0, 3, 6 or 9 fractional digits.
/// A message field that is unset (a timestamp, `runtime`, `runtime.options`)
/// is absent, as that mapping has it. E.g. for "/containers/create"
/// `{"id":"web","image":"docker.io/library/busybox:latest","runtime":{"name":"io.containerd.runc.v2"}}`.
/// A payload of a type the library does not know, and a nested Any (such as
/// `runtime.options`), is `{"typeUrl":"...","value":"<standard base64>"}`
/// with the type URL as containerd sent it (e.g. "containerd.runc.v1.Options").
///
/// Blocks until the daemon has registered the subscription (bounded by the
/// client's timeout): every event published after this returns `CTRD_OK` is
/// delivered. The stream itself has no timeout. If the stream breaks (e.g. the
/// daemon restarts) the library subscribes again with the same filters,
/// retrying with a backoff from 100 ms to 5 s for as long as the subscription
/// lives; events published meanwhile are lost and no notice is delivered
/// (re-list what you track if that matters). To establish the subscription
/// the library publishes a small event on topic "/containerd-c/sync/..."
/// in the client's namespace; the library's own subscriptions never deliver
/// those, other subscribers (`ctr events`) may show them.
///
/// Threads: `cb` runs on a thread the library starts for this subscription
/// (not a runtime worker), one call at a time, in the daemon's order; it may
/// call any `ctrd_*` function, blocking ones included, and may free this
/// subscription. `user_data` is passed back untouched and must be usable from
/// that thread. `cb` must stay callable and `user_data` valid until
/// `ctrd_subscription_free` returns: a language binding whose callbacks are
/// objects of its runtime (a ctypes or cgo function) frees its
/// subscriptions before that runtime tears them down (e.g. at exit).
///
/// While `cb` is busy, up to 4096 events wait in memory for it; events that
/// arrive while 4096 are waiting are dropped and counted. Once `cb` has taken
/// the waiting events, it is called with topic "/containerd-c/dropped",
/// `ns` "" and `event_json` `{"dropped":N}` (N: events lost since the
/// previous such call), in order: after the events that arrived before the
/// loss and before those that follow it. Filters do not apply to it. A slow
/// callback thus loses events rather than growing memory without bound.
///
/// On success `*out` receives the subscription, owned by the caller (free it
/// with `ctrd_subscription_free`). Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL
/// client, cb or out; filters not UTF-8 or not parseable),
/// `CTRD_ERR_UNAVAILABLE`, `CTRD_ERR_DEADLINE_EXCEEDED`, `CTRD_ERR_IO` (no
/// thread could be started).
#[no_mangle]
pub extern "C" fn ctrd_events_subscribe(
    c: *mut ctrd_client,
    filters: *const *const c_char,
    cb: ctrd_event_cb,
    user_data: *mut c_void,
    out: *mut *mut ctrd_subscription,
) -> ctrd_status {
    ffi_status! {
        let client = handle::ref_from_ptr(c, "client")?;
        // SAFETY: a NULL-terminated array of C strings, or NULL (C contract).
        let filters = unsafe { ptr::opt_str_array_arg(filters, "filters") }?
            .unwrap_or_default()
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>();
        let out = ptr::Out::new(out, "out")?;
        let cb = cb.ok_or_else(|| Error::invalid("cb is NULL"))?;

        let client = client.inner.clone();
        // Establish the stream before returning, so nothing is missed.
        let subscription =
            runtime::block_on_shared(async move { Subscription::new(client, filters).await })?;

        let rt = runtime::get()?;
        let queue = Arc::new(EventQueue::new(EVENT_QUEUE_CAPACITY));
        let worker = Box::into_raw(Box::new(Worker {
            queue: queue.clone(),
            cb,
            user: user_data,
            current: None,
            freed_by_subscription: AtomicBool::new(true),
        }));
        let thread = match CallbackThread::spawn(c"ctrd-events", deliver, worker.cast()) {
            Ok(thread) => thread,
            Err(e) => {
                // SAFETY: the thread did not start; the worker is ours again.
                drop(unsafe { Box::from_raw(worker) });
                return Err(e.context("starting the event delivery thread"));
            }
        };
        let task = {
            let queue = queue.clone();
            rt.spawn(async move {
                let mut subscription = subscription;
                loop {
                    let event = subscription.next().await;
                    // Never waits: a full queue drops and counts.
                    if !queue.push(event) && queue.is_closed() {
                        break;
                    }
                }
            })
        };
        out.write(handle::to_box_ptr(ctrd_subscription {
            queue,
            task: task.abort_handle(),
            thread: Some(thread),
            worker: WorkerPtr(worker),
        }));
        Ok(())
    }
}

/// Stops a subscription and frees it. NULL is a no-op.
///
/// When this returns no callback of this subscription runs any more: called
/// from another thread, it waits for a callback in progress to return, and
/// for nothing else (so do not hold, in that thread, a lock the callback
/// needs). Called from inside the subscription's own callback, it returns at
/// once; that callback finishes and no other one starts. Events not yet
/// delivered, however many wait, are discarded without a callback.
/// Must not race with another call on the same subscription. In a child
/// after fork() it only forgets the handle.
#[no_mangle]
pub extern "C" fn ctrd_subscription_free(s: *mut ctrd_subscription) {
    ffi_value!((), {
        let Some(mut s) = handle::free_box(s) else {
            return;
        };
        if runtime::is_forked_child() {
            // Its threads did not survive the fork: joining would hang.
            std::mem::forget(s);
            return;
        }
        // Discards what waits and wakes the thread if it waits for an event.
        s.queue.close();
        s.task.abort();
        let worker = s.worker.0;
        match s.thread.take() {
            Some(thread) if thread.is_current() => {
                // Inside the callback: it ends once the callback returns,
                // and its thread frees the worker.
                // SAFETY: the worker lives until that thread's `release`.
                unsafe { &*worker }
                    .freed_by_subscription
                    .store(false, Ordering::SeqCst);
                thread.join();
            }
            thread => {
                // Waits for a callback in progress (or a thread that ended
                // inside its callback), then frees what it used.
                if let Some(thread) = thread {
                    thread.join();
                }
                // SAFETY: made by Box::into_raw in ctrd_events_subscribe;
                // its thread ended and left it to us.
                drop(unsafe { Box::from_raw(worker) });
            }
        }
    })
}
