//! `ctrd_subscription`: containerd's event stream delivered to a C callback
//! on a thread of the library's own.
//!
//! Each subscription has a runtime task that reads the stream (resubscribing
//! after a daemon restart, see `core::events::Subscription`) and feeds an
//! unbounded channel, and one dedicated OS thread (not a runtime worker) that
//! takes events from the channel and calls the callback, one at a time, in
//! the order the daemon sent them. Because that thread is not a worker, the
//! callback may call blocking `ctrd_*` functions.

use std::ffi::{c_char, c_void, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use crate::core::error::{Code, Error};
use crate::core::events::{Event, Subscription};
use crate::ffi::boundary::{ffi_status, ffi_value};
use crate::ffi::client::ctrd_client;
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipBox};
use crate::ffi::{boundary, ptr};
use crate::runtime;

/// The callback of `ctrd_events_subscribe`, called once per event on the
/// subscription's own library thread (never concurrently with itself for one
/// subscription).
///
/// `user_data` is what was given to `ctrd_events_subscribe`. `topic` (e.g.
/// "/tasks/exit"), `ns` (the namespace the event happened in; "" for none)
/// and `event_json` (the event as a JSON object, e.g.
/// `{"containerId":"web","exitStatus":0,"exitedAt":"2024-05-01T10:00:00.5Z","id":"web","pid":4242}`)
/// are NUL-terminated UTF-8 strings valid only during the call: copy what
/// you keep. The callback may call any `ctrd_*` function, blocking ones
/// included, and may free its own subscription.
pub type ctrd_event_cb = Option<
    unsafe extern "C" fn(
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
    stopped: Arc<AtomicBool>,
    sender: mpsc::Sender<Delivery>,
    task: tokio::task::AbortHandle,
    thread: Option<JoinHandle<()>>,
}

impl Castable for ctrd_subscription {
    type Ownership = OwnershipBox;
}

enum Delivery {
    Event {
        topic: CString,
        ns: CString,
        json: CString,
    },
    Stop,
}

/// The caller's `user_data`, moved to the callback thread.
struct UserData(*mut c_void);

// SAFETY: the library never dereferences the pointer; it only hands it back
// to the caller's callback. By passing it to `ctrd_events_subscribe` the
// caller promises it may be used from the subscription's thread (documented
// there).
unsafe impl Send for UserData {}

/// A C string of `s`, cut at its first NUL (none of our JSON has one; a
/// topic or namespace from the daemon never should).
fn delivery(e: Event) -> Delivery {
    Delivery::Event {
        topic: ptr::c_text(e.topic),
        ns: ptr::c_text(e.namespace),
        json: ptr::c_text(e.json),
    }
}

/// The callback thread: calls `cb` for each event until stopped.
fn deliver(
    rx: mpsc::Receiver<Delivery>,
    stopped: Arc<AtomicBool>,
    cb: unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char, *const c_char),
    user: UserData,
) {
    runtime::library_thread();
    // Nothing below should panic; if it did, the thread ends quietly rather
    // than unwinding anywhere near C.
    let _ = boundary::catch(move || {
        let user = user;
        while let Ok(Delivery::Event { topic, ns, json }) = rx.recv() {
            if stopped.load(Ordering::Acquire) {
                break;
            }
            // SAFETY: `cb` is the caller's non-NULL callback of the
            // documented signature; the strings are NUL-terminated and live
            // until after it returns; `user.0` is the caller's pointer,
            // passed back untouched.
            unsafe { cb(user.0, topic.as_ptr(), ns.as_ptr(), json.as_ptr()) };
        }
    });
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
/// `event_json` is the event payload as protobuf-JSON: lowerCamelCase field
/// names, every field present, numbers as numbers, timestamps as RFC 3339 UTC
/// strings (null when unset), e.g. for "/containers/create"
/// `{"id":"web","image":"docker.io/library/busybox:latest","runtime":{"name":"io.containerd.runc.v2","options":null}}`.
/// A payload of a type the library does not know (and a nested Any) is
/// `{"typeUrl":"...","value":"<standard base64>"}`.
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
/// that thread. Events wait in memory while `cb` is busy.
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
        let user = UserData(user_data);

        let client = client.inner.clone();
        // Establish the stream before returning, so nothing is missed.
        let subscription =
            runtime::block_on(async move { Subscription::new(client, filters).await })?;

        let (sender, rx) = mpsc::channel();
        let stopped = Arc::new(AtomicBool::new(false));
        let thread = {
            let stopped = stopped.clone();
            std::thread::Builder::new()
                .name("ctrd-events".into())
                .spawn(move || deliver(rx, stopped, cb, user))
                .map_err(|e| {
                    Error::new(Code::Io, format!("starting the event delivery thread: {e}"))
                })?
        };
        let task = {
            let (sender, stopped) = (sender.clone(), stopped.clone());
            runtime::get()?.spawn(async move {
                let mut subscription = subscription;
                loop {
                    let event = subscription.next().await;
                    if stopped.load(Ordering::Acquire) || sender.send(delivery(event)).is_err() {
                        break;
                    }
                }
            })
        };
        out.write(handle::to_box_ptr(ctrd_subscription {
            stopped,
            sender,
            task: task.abort_handle(),
            thread: Some(thread),
        }));
        Ok(())
    }
}

/// Stops a subscription and frees it. NULL is a no-op.
///
/// When this returns no callback of this subscription runs any more: called
/// from another thread, it waits for a callback in progress to return (so do
/// not hold, in that thread, a lock the callback needs). Called from inside
/// the subscription's own callback, it returns at once; that callback
/// finishes and no other one starts. Events not yet delivered are dropped.
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
        s.stopped.store(true, Ordering::Release);
        s.task.abort();
        // Wakes the thread if it waits for an event.
        let _ = s.sender.send(Delivery::Stop);
        if let Some(thread) = s.thread.take() {
            if thread.thread().id() == std::thread::current().id() {
                // Inside the callback: it ends once the callback returns.
                drop(thread);
            } else {
                let _ = thread.join();
            }
        }
    })
}
