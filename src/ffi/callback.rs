//! The threads that call C callbacks.
//!
//! A C callback may end the thread it runs on: `pthread_exit`,
//! `pthread_cancel`, or a language runtime doing so (CPython ends a thread
//! that calls back into it while the interpreter shuts down). That unwinds
//! the thread's stack with a "forced unwind", which must not meet a Rust
//! panic catcher (std's threads and tokio's blocking pool both have one:
//! glibc then aborts with "FATAL: exception not rethrown") nor a Rust frame
//! with something to drop.
//!
//! So callbacks run on raw POSIX threads whose start routine
//! (`extern "C-unwind"`) holds only plain values (raw pointers, numbers)
//! while the callback runs: everything owned lives behind a pointer, taken
//! and released by helper functions that are not on the stack during the
//! call. A forced unwind then ends just that thread, and `pthread_join` on it
//! returns as for any thread.

use std::ffi::{c_void, CStr};

use crate::core::error::{Code, Error, Result};

/// A start routine of a callback thread.
pub(crate) type StartFn = extern "C-unwind" fn(*mut c_void) -> *mut c_void;

/// A raw POSIX thread that calls C callbacks. Joined with [`join`], or
/// detached when dropped.
///
/// [`join`]: CallbackThread::join
#[derive(Debug)]
pub(crate) struct CallbackThread {
    id: libc::pthread_t,
    /// The process that started it: a forked child has no such thread.
    pid: u32,
}

// SAFETY: a pthread_t is an identifier; any thread may join, detach or
// compare it.
unsafe impl Send for CallbackThread {}
// SAFETY: as above; `&CallbackThread` only compares ids.
unsafe impl Sync for CallbackThread {}

impl CallbackThread {
    /// Starts `start(arg)` on a new thread named `name` (at most 15 bytes
    /// are shown). `start` must catch every Rust panic of its own code and
    /// hold nothing with a destructor while it calls C; it owns `arg`.
    pub(crate) fn spawn(name: &CStr, start: StartFn, arg: *mut c_void) -> Result<CallbackThread> {
        // SAFETY: "C-unwind" and "C" share the calling convention; they
        // differ only in whether an unwind may leave the function, which
        // pthread_create's caller (glibc's start_thread) stops either way.
        let start: extern "C" fn(*mut c_void) -> *mut c_void = unsafe {
            std::mem::transmute::<StartFn, extern "C" fn(*mut c_void) -> *mut c_void>(start)
        };
        let mut id: libc::pthread_t = 0;
        // SAFETY: `id` is a valid out-pointer, the default attributes are
        // NULL, `start` has the signature pthread expects and `arg` is
        // handed to it untouched.
        let rc = unsafe { libc::pthread_create(&mut id, std::ptr::null(), start, arg) };
        if rc != 0 {
            return Err(Error::new(
                Code::Io,
                format!(
                    "starting a callback thread: {}",
                    std::io::Error::from_raw_os_error(rc)
                ),
            ));
        }
        // SAFETY: `id` is the thread just made; `name` is NUL-terminated.
        // Names longer than the kernel's 16 bytes fail harmlessly (ERANGE).
        unsafe { libc::pthread_setname_np(id, name.as_ptr()) };
        Ok(CallbackThread {
            id,
            pid: std::process::id(),
        })
    }

    /// Whether the calling thread is this thread.
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: pthread_self has no preconditions; pthread_equal compares
        // two identifiers.
        unsafe { libc::pthread_equal(self.id, libc::pthread_self()) != 0 }
    }

    /// Waits until the thread has ended: its callback returned, or the
    /// callback ended the thread. From the thread itself, or in a forked
    /// child (where the thread does not exist), it returns at once.
    pub(crate) fn join(self) {
        let this = std::mem::ManuallyDrop::new(self);
        if this.pid != std::process::id() {
            return;
        }
        if this.is_current() {
            // SAFETY: the thread's own id, joined by nobody else.
            unsafe { libc::pthread_detach(this.id) };
            return;
        }
        // SAFETY: a joinable thread of this process, joined once (self is
        // consumed; Drop does not run).
        unsafe { libc::pthread_join(this.id, std::ptr::null_mut()) };
    }
}

impl Drop for CallbackThread {
    /// Detaches the thread: it ends on its own.
    fn drop(&mut self) {
        if self.pid == std::process::id() {
            // SAFETY: a joinable thread of this process that nobody joins.
            unsafe { libc::pthread_detach(self.id) };
        }
    }
}
