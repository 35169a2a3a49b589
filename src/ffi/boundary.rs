//! The one panic boundary every exported function goes through, and the
//! thread-local last-error message.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::core::error::{Code, Error, Result};
use crate::ffi::error::ctrd_status;
use crate::runtime::panic_message;

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
    /// Fault injection for tests: the exported function of this name panics
    /// inside its boundary the next time this thread calls it.
    static PANIC_NEXT: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn set_last_error(message: String) {
    // A message never contains NUL from us; one from elsewhere is cut there.
    let message = crate::ffi::ptr::c_text(message);
    LAST_ERROR.with(|e| *e.borrow_mut() = message);
}

/// The last error of this thread, valid until the next status-returning call.
pub(crate) fn last_error() -> *const c_char {
    LAST_ERROR.with(|e| e.borrow().as_ptr())
}

pub(crate) fn panic_next_call(function: &str) {
    PANIC_NEXT.with(|p| *p.borrow_mut() = Some(function.to_string()));
}

fn injected_panic(function: &str) {
    let hit = PANIC_NEXT.with(|p| {
        let mut p = p.borrow_mut();
        if p.as_deref() == Some(function) {
            *p = None;
            true
        } else {
            false
        }
    });
    if hit {
        panic!("panic injected by ctrd_debug_panic_next_call");
    }
}

/// Runs the body of a status-returning exported function: clears the last
/// error, catches any panic (as `CTRD_ERR_INTERNAL`), and records the message
/// of a failure prefixed by the function's name.
pub(crate) fn status(function: &'static str, body: impl FnOnce() -> Result<()>) -> ctrd_status {
    LAST_ERROR.with(|e| *e.borrow_mut() = CString::default());
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        injected_panic(function);
        body()
    }));
    let error = match outcome {
        Ok(Ok(())) => return ctrd_status::CTRD_OK,
        Ok(Err(e)) => e,
        Err(payload) => Error::new(
            Code::Internal,
            format!(
                "internal error (a bug in containerd-c): panic: {}",
                panic_message(&*payload)
            ),
        ),
    };
    set_last_error(format!("{function}: {}", error.message));
    error.code.into()
}

/// Runs the body of an exported function that returns a value rather than a
/// status (getters, `_free`): a panic yields `fallback` and is recorded as the
/// last error.
pub(crate) fn value<T>(function: &'static str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(|| {
        injected_panic(function);
        body()
    })) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(format!(
                "{function}: internal error (a bug in containerd-c): panic: {}",
                panic_message(&*payload)
            ));
            fallback
        }
    }
}
