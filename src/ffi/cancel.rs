//! `ctrd_cancel`: a one-shot cancel signal for long calls (pulls, imports;
//! see `ctrd_pull_opts.cancel`).

use crate::core::cancel::Cancel;
use crate::ffi::boundary::{ffi_signal_safe, ffi_status, ffi_value};
use crate::ffi::error::ctrd_status;
use crate::ffi::handle::{self, Castable, OwnershipBox};
use crate::ffi::ptr;

/// A one-shot cancel signal. Opaque; made by `ctrd_cancel_new`, freed by
/// `ctrd_cancel_free`. Thread-safe: one signal may be given to many calls
/// at once (each returns `CTRD_ERR_CANCELLED` within a second of the
/// trigger) and triggered from any thread, or from a signal handler.
pub struct ctrd_cancel {
    pub(crate) inner: Cancel,
}

impl Castable for ctrd_cancel {
    type Ownership = OwnershipBox;
}

/// Makes a new, untriggered cancel signal.
///
/// On success `*out` receives it, owned by the caller (free it with
/// `ctrd_cancel_free` once every call it was given to has returned); on
/// failure `*out` is not written. Never blocks; thread-safe. Errors:
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `out`).
#[no_mangle]
pub extern "C" fn ctrd_cancel_new(out: *mut *mut ctrd_cancel) -> ctrd_status {
    ffi_status! {
        let out = ptr::Out::new(out, "out")?;
        out.write(handle::to_box_ptr(ctrd_cancel { inner: Cancel::new() }));
        Ok(())
    }
}

/// Triggers the signal: every call given it (running now or made later)
/// returns `CTRD_ERR_CANCELLED` within a second; a pull keeps what it
/// fetched for the next pull of the same image. Triggering again does
/// nothing. NULL is a no-op.
///
/// Async-signal-safe: for NULL it returns at once; otherwise it does one
/// atomic store into the signal and nothing else (no lock, no allocation,
/// no system call, no thread-local; `ctrd_last_error` is left as it was),
/// so a SIGINT handler may call it on any thread, also one that never
/// called the library and in a library loaded by `dlopen`, as `ctr`
/// cancels a pull on Ctrl-C. Never blocks; thread-safe.
#[no_mangle]
pub extern "C" fn ctrd_cancel_trigger(c: *mut ctrd_cancel) {
    ffi_signal_safe!({
        // NULL is checked first, so no error is made (formatted); the rest
        // is one atomic store, which cannot panic (see ffi_signal_safe!).
        if let Some(c) = handle::opt_ref_from_ptr(c) {
            c.inner.trigger();
        }
    })
}

/// Whether the signal was triggered; false for NULL (no error is recorded).
/// Never blocks; thread-safe. Not for a signal handler (it goes through the
/// library's usual entry, which uses thread-locals): keep a flag of your
/// own there.
#[no_mangle]
pub extern "C" fn ctrd_cancel_is_triggered(c: *const ctrd_cancel) -> bool {
    ffi_value!(false, {
        handle::opt_ref_from_ptr(c).is_some_and(|c| c.inner.is_triggered())
    })
}

/// Frees the signal. Call it only after every call it was given to has
/// returned. NULL is a no-op. Never blocks.
#[no_mangle]
pub extern "C" fn ctrd_cancel_free(c: *mut ctrd_cancel) {
    ffi_value!((), {
        drop(handle::free_box(c));
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ptr::{null, null_mut};

    #[test]
    fn a_signal_is_made_triggered_and_freed() {
        assert_eq!(
            ctrd_cancel_new(null_mut()),
            ctrd_status::CTRD_ERR_INVALID_ARGUMENT
        );
        let mut c = null_mut();
        assert_eq!(ctrd_cancel_new(&mut c), ctrd_status::CTRD_OK);
        assert!(!c.is_null());
        assert!(!ctrd_cancel_is_triggered(c));
        ctrd_cancel_trigger(c);
        ctrd_cancel_trigger(c);
        assert!(ctrd_cancel_is_triggered(c));
        ctrd_cancel_free(c);
        // NULL: no-ops.
        ctrd_cancel_trigger(null_mut());
        assert!(!ctrd_cancel_is_triggered(null()));
        ctrd_cancel_free(null_mut());
    }
}
