//! Status codes, the last-error message, library version and the freeing of
//! strings the library hands out.

use std::ffi::{c_char, c_uint};

use crate::core::error::Code;
#[cfg(feature = "test-hooks")]
use crate::ffi::boundary::ffi_status;
use crate::ffi::boundary::ffi_value;
use crate::ffi::{boundary, ptr};

/// The result of every fallible function. `CTRD_OK` (0) is success; every
/// other value comes with a message from `ctrd_last_error()`. gRPC status
/// codes from the daemon map to the status of the same name.
#[repr(C)]
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ctrd_status {
    /// Success.
    CTRD_OK = 0,
    /// Bad input: NULL where a value is required, invalid UTF-8 or JSON, an
    /// invalid id, a relative path, a handle in the wrong state.
    CTRD_ERR_INVALID_ARGUMENT = 1,
    /// The object does not exist.
    CTRD_ERR_NOT_FOUND = 2,
    /// An object with that id exists already.
    CTRD_ERR_ALREADY_EXISTS = 3,
    /// The object is not in a state that allows this, e.g. deleting a
    /// container whose task runs.
    CTRD_ERR_FAILED_PRECONDITION = 4,
    /// The daemon is not reachable.
    CTRD_ERR_UNAVAILABLE = 5,
    /// The call's timeout passed before it finished.
    CTRD_ERR_DEADLINE_EXCEEDED = 6,
    /// The daemon or this library does not implement this.
    CTRD_ERR_NOT_IMPLEMENTED = 7,
    /// The daemon or the OS refused the caller's permissions.
    CTRD_ERR_PERMISSION_DENIED = 8,
    /// The operation was cancelled.
    CTRD_ERR_CANCELLED = 9,
    /// A local OS error: FIFO, file descriptor, file.
    CTRD_ERR_IO = 10,
    /// Called in a child process after fork(); the library only works in the
    /// process that first used it. In a child, `*_free` of a handle the
    /// parent made releases nothing the parent shares (the handle is
    /// forgotten), and neither does the child's `exit()`: the parent goes on
    /// working on every thread.
    CTRD_ERR_FORKED = 11,
    /// A bug in the library (a caught panic) or an internal daemon error.
    CTRD_ERR_INTERNAL = 12,
    /// Any other failure.
    CTRD_ERR_UNKNOWN = 13,
    /// The caller's credentials were missing or refused (gRPC
    /// Unauthenticated; a registry's 401).
    CTRD_ERR_UNAUTHENTICATED = 14,
}

/// A `ctrd_status` as functions receive it: ABI-identical to the C enum, but
/// an integer on the Rust side so that an out-of-range value from C is not
/// undefined behaviour. The header shows it as `ctrd_status`.
#[allow(non_camel_case_types)]
pub type ctrd_status_code = c_uint;

impl From<Code> for ctrd_status {
    fn from(code: Code) -> Self {
        use ctrd_status::*;
        match code {
            Code::InvalidArgument => CTRD_ERR_INVALID_ARGUMENT,
            Code::NotFound => CTRD_ERR_NOT_FOUND,
            Code::AlreadyExists => CTRD_ERR_ALREADY_EXISTS,
            Code::FailedPrecondition => CTRD_ERR_FAILED_PRECONDITION,
            Code::Unavailable => CTRD_ERR_UNAVAILABLE,
            Code::DeadlineExceeded => CTRD_ERR_DEADLINE_EXCEEDED,
            Code::NotImplemented => CTRD_ERR_NOT_IMPLEMENTED,
            Code::PermissionDenied => CTRD_ERR_PERMISSION_DENIED,
            Code::Cancelled => CTRD_ERR_CANCELLED,
            Code::Io => CTRD_ERR_IO,
            Code::Forked => CTRD_ERR_FORKED,
            Code::Internal => CTRD_ERR_INTERNAL,
            Code::Unknown => CTRD_ERR_UNKNOWN,
            Code::Unauthenticated => CTRD_ERR_UNAUTHENTICATED,
        }
    }
}

/// The name of a status as a static string, e.g. `"CTRD_ERR_NOT_FOUND"`;
/// `"CTRD_STATUS_INVALID"` for a value that is not a `ctrd_status`. Never
/// NULL; do not free. Thread-safe, never blocks.
#[no_mangle]
pub extern "C" fn ctrd_status_name(s: ctrd_status_code) -> *const c_char {
    ffi_value!(c"CTRD_ERR_INTERNAL".as_ptr(), {
        match s {
            0 => c"CTRD_OK",
            1 => c"CTRD_ERR_INVALID_ARGUMENT",
            2 => c"CTRD_ERR_NOT_FOUND",
            3 => c"CTRD_ERR_ALREADY_EXISTS",
            4 => c"CTRD_ERR_FAILED_PRECONDITION",
            5 => c"CTRD_ERR_UNAVAILABLE",
            6 => c"CTRD_ERR_DEADLINE_EXCEEDED",
            7 => c"CTRD_ERR_NOT_IMPLEMENTED",
            8 => c"CTRD_ERR_PERMISSION_DENIED",
            9 => c"CTRD_ERR_CANCELLED",
            10 => c"CTRD_ERR_IO",
            11 => c"CTRD_ERR_FORKED",
            12 => c"CTRD_ERR_INTERNAL",
            13 => c"CTRD_ERR_UNKNOWN",
            14 => c"CTRD_ERR_UNAUTHENTICATED",
            _ => c"CTRD_STATUS_INVALID",
        }
        .as_ptr()
    })
}

/// The message of the last failing call on the calling thread: what failed,
/// on which object, and the daemon's own words where it answered. "" when the
/// last call succeeded. Never NULL. Owned by the library: valid until the next
/// `ctrd_*` call that returns a `ctrd_status` on this thread; copy it to keep it.
#[no_mangle]
pub extern "C" fn ctrd_last_error() -> *const c_char {
    ffi_value!(c"".as_ptr(), { boundary::last_error() })
}

/// The library's version, e.g. "0.1.0". Static; do not free.
#[no_mangle]
pub extern "C" fn ctrd_version() -> *const c_char {
    ffi_value!(c"".as_ptr(), {
        concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
    })
}

/// Frees a `char *` the library returned. NULL is a no-op. Never free a
/// `const char *` (those are borrowed).
#[no_mangle]
pub extern "C" fn ctrd_string_free(s: *mut c_char) {
    ffi_value!((), { ptr::free_string(s) })
}

/// Frees an array of `len` strings the library returned (e.g. by
/// `ctrd_container_list`), and the strings in it. NULL is a no-op.
#[no_mangle]
pub extern "C" fn ctrd_string_array_free(items: *mut *mut c_char, len: usize) {
    ffi_value!((), { ptr::free_string_array(items, len) })
}

/// Test hook (fault injection): the next call on this thread of the exported
/// function named `function` (e.g. "ctrd_client_server_version") panics inside
/// its boundary, so a test can see the panic come back as
/// `CTRD_ERR_INTERNAL`. Only in a library built with the cargo feature
/// `test-hooks` (never in a release build); declared only when the C code
/// defines `CTRD_TEST_HOOKS`. Errors: `CTRD_ERR_INVALID_ARGUMENT` (NULL or
/// invalid UTF-8).
#[cfg(feature = "test-hooks")]
#[no_mangle]
pub extern "C" fn ctrd_debug_panic_next_call(function: *const c_char) -> ctrd_status {
    ffi_status! {
        // SAFETY: `function` is NULL or a NUL-terminated string (C contract).
        let name = unsafe { ptr::str_arg(function, "function") }?;
        boundary::panic_next_call(name);
        Ok(())
    }
}
