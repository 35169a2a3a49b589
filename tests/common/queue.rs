//! Helpers of the completion-queue tests (tests/queue.rs,
//! tests/queue_images.rs): completions read into Rust values, the queue's
//! descriptor polled, the hold test hook.

use std::ptr::null_mut;
use std::time::Duration;

use super::*;
use containerd_c::ffi::ctrd_status::*;

/// A completion as the test reads it; its handles stay to be freed.
#[derive(Debug)]
pub struct Done {
    pub tag: u64,
    pub status: ctrd_status,
    pub error: String,
    pub container: *mut ctrd_container,
    pub task: *mut ctrd_task,
    pub image: *mut ctrd_image,
    pub exit_status: u32,
    pub names: Vec<String>,
}

/// Takes a completion (waiting at most `ms`, < 0 for ever).
pub fn next_within(q: *mut ctrd_queue, ms: i64) -> Option<Done> {
    let mut c = std::mem::MaybeUninit::<ctrd_completion>::zeroed();
    match ctrd_queue_next(q, ms, c.as_mut_ptr()) {
        CTRD_OK => {}
        CTRD_ERR_DEADLINE_EXCEEDED => return None,
        s => panic!("ctrd_queue_next: {} {}", status_name(s), last_error()),
    }
    // SAFETY: written on success.
    let c = unsafe { c.assume_init() };
    assert!(c.process.is_null(), "no operation makes a process");
    let error = if c.error.is_null() {
        String::new()
    } else {
        take_string(c.error)
    };
    assert_eq!(c.status == CTRD_OK, error.is_empty(), "{error}");
    let names = if c.names.is_null() {
        assert_eq!(c.names_len, 0);
        Vec::new()
    } else {
        strings_outcome(CTRD_OK, c.names, c.names_len).unwrap()
    };
    Some(Done {
        tag: c.tag,
        status: c.status,
        error,
        container: c.container,
        task: c.task,
        image: c.image,
        exit_status: c.exit_status,
        names,
    })
}

pub fn next(q: *mut ctrd_queue) -> Done {
    next_within(q, -1).unwrap()
}

/// The completion of `tag`, which must be the next one.
#[track_caller]
pub fn done(q: *mut ctrd_queue, tag: u64) -> Done {
    let d = next(q);
    assert_eq!(d.tag, tag, "{d:?}");
    d
}

/// The completions of `a` and `b`, in whichever order they come (an exit
/// may come before the answer to the start or kill that caused it), as
/// (a's, b's).
#[track_caller]
pub fn both(q: *mut ctrd_queue, a: u64, b: u64) -> (Done, Done) {
    let (first, second) = (next(q), next(q));
    match (first.tag, second.tag) {
        (x, y) if x == a && y == b => (first, second),
        (x, y) if x == b && y == a => (second, first),
        _ => panic!("want tags {a} and {b}: {first:?} {second:?}"),
    }
}

#[track_caller]
pub fn ok(q: *mut ctrd_queue, tag: u64) -> Done {
    let d = done(q, tag);
    assert_eq!(d.status, CTRD_OK, "{}", d.error);
    d
}

pub fn new_queue() -> *mut ctrd_queue {
    let mut q = null_mut();
    check(ctrd_queue_new(&mut q), CTRD_OK);
    q
}

pub fn readable(q: *mut ctrd_queue) -> bool {
    let mut fds = [libc::pollfd {
        fd: ctrd_queue_fd(q),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) == 1 }
}

/// Waits (polling the descriptor, as an event loop does) for a completion.
pub fn wait_readable(q: *mut ctrd_queue) {
    let mut fds = [libc::pollfd {
        fd: ctrd_queue_fd(q),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: one valid pollfd.
    assert_eq!(unsafe { libc::poll(fds.as_mut_ptr(), 1, 60_000) }, 1);
}

/// Holds the queue's ended operations (test hook) and says how many wait.
pub fn hold(q: *mut ctrd_queue, on: bool) -> usize {
    let mut held = 0;
    check(ctrd_debug_queue_hold(q, on, &mut held), CTRD_OK);
    held
}

pub fn until_held(q: *mut ctrd_queue, n: usize) {
    for _ in 0..3000 {
        if hold(q, true) == n {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{n} operations never reached the hold");
}
