//! The one panic boundary every exported function goes through, and the
//! thread-local last-error message.
//!
//! Every exported function's whole body is one of two macros:
//! [`ffi_status!`] for functions returning a `ctrd_status`, [`ffi_value!`]
//! for getters and `_free` functions. Both take the function's name from the
//! function they expand in, catch any panic through
//! [`crate::runtime::catch_panic`] (the crate's only `catch_unwind`) and
//! record failures for `ctrd_last_error`.

use std::cell::RefCell;
use std::ffi::{c_char, CString};

use crate::core::error::Result;
use crate::ffi::error::ctrd_status;
use crate::runtime::{catch_panic, panic_error};

/// The body of an exported function returning `ctrd_status`: the tokens are
/// the body of a closure returning `Result<()>`. Clears the last error,
/// catches a panic (`CTRD_ERR_INTERNAL`) and records a failure's message
/// prefixed by the function's name.
macro_rules! ffi_status {
    ($($body:tt)*) => {{
        fn __export() {}
        $crate::ffi::boundary::status(
            $crate::ffi::boundary::function_name(::std::any::type_name_of_val(&__export)),
            || -> $crate::core::error::Result<()> { $($body)* },
        )
    }};
}
pub(crate) use ffi_status;

/// The body of an exported function returning a value rather than a status
/// (getters, `_free`): `ffi_value!(fallback, { body })`. A panic yields
/// `fallback` and is recorded as the last error.
macro_rules! ffi_value {
    ($fallback:expr, $body:block) => {{
        fn __export() {}
        $crate::ffi::boundary::value(
            $crate::ffi::boundary::function_name(::std::any::type_name_of_val(&__export)),
            $fallback,
            || $body,
        )
    }};
}
pub(crate) use ffi_value;

/// The body of an exported function that may run in a signal handler:
/// `ffi_signal_safe!({ body })`, for the functions named in
/// `SIGNAL_SAFE_EXPORTS` only (the tests check both ways). It adds nothing
/// around the body: no thread-local (a thread's first use of one in a
/// `dlopen`ed library may allocate inside `__tls_get_addr`), no last error,
/// no fault injection and no [`catch_panic`]. That is sound only for a body that
/// cannot panic: a NULL check and atomic operations; no allocation, lock,
/// formatting, indexing or arithmetic that may overflow. (Were it ever to
/// panic anyway, the `extern "C"` function aborts the process rather than
/// unwind into C.)
macro_rules! ffi_signal_safe {
    ($body:block) => {{
        $body
    }};
}
pub(crate) use ffi_signal_safe;

/// The only exports whose body is [`ffi_signal_safe!`]: each is documented
/// async-signal-safe in the header.
#[cfg(test)]
const SIGNAL_SAFE_EXPORTS: &[&str] = &["ctrd_cancel_trigger"];

/// The exported function's name from the type name of the item `__export`
/// the boundary macros declare in its body
/// (`containerd_c::ffi::client::ctrd_client_connect::__export`).
pub(crate) fn function_name(type_name: &'static str) -> &'static str {
    let path = type_name.strip_suffix("::__export").unwrap_or(type_name);
    path.rsplit("::").next().unwrap_or(path)
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

#[cfg(feature = "test-hooks")]
thread_local! {
    /// Fault injection for tests: the exported function of this name panics
    /// inside its boundary the next time this thread calls it.
    static PANIC_NEXT: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn set_last_error(message: CString) {
    // During thread teardown (a call from a TLS destructor) the slot may be
    // gone: the message is then lost rather than a panic raised.
    let _ = LAST_ERROR.try_with(|e| *e.borrow_mut() = message);
}

/// The last error of this thread, valid until the next status-returning call;
/// "" when there is none (or the thread is being torn down).
pub(crate) fn last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|e| e.borrow().as_ptr())
        .unwrap_or(c"".as_ptr())
}

#[cfg(feature = "test-hooks")]
pub(crate) fn panic_next_call(function: &str) {
    let _ = PANIC_NEXT.try_with(|p| *p.borrow_mut() = Some(function.to_string()));
}

#[cfg(feature = "test-hooks")]
fn injected_panic(function: &str) {
    let hit = PANIC_NEXT
        .try_with(|p| {
            let mut p = p.borrow_mut();
            if p.as_deref() == Some(function) {
                *p = None;
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
    if hit {
        panic!("panic injected by ctrd_debug_panic_next_call");
    }
}

#[cfg(not(feature = "test-hooks"))]
fn injected_panic(_function: &str) {}

/// Runs the body of a status-returning exported function (see
/// [`ffi_status!`]).
pub(crate) fn status(function: &'static str, body: impl FnOnce() -> Result<()>) -> ctrd_status {
    set_last_error(CString::default());
    let error = match catch_panic(|| {
        injected_panic(function);
        body()
    }) {
        Ok(Ok(())) => return ctrd_status::CTRD_OK,
        Ok(Err(e)) => e,
        Err(payload) => panic_error(&*payload),
    };
    set_last_error(error_text(function, &error));
    error.code.into()
}

/// The message of `error` as C text, prefixed with the name of the
/// function it is reported for (the last error, a completion's `error`).
pub(crate) fn error_text(function: &str, error: &crate::core::error::Error) -> CString {
    crate::ffi::ptr::c_text(format!("{function}: {}", error.message))
}

/// Runs the body of an exported function that returns a value (see
/// [`ffi_value!`]).
pub(crate) fn value<T>(function: &'static str, fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_panic(|| {
        injected_panic(function);
        body()
    }) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(error_text(function, &panic_error(&*payload)));
            fallback
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn the_function_name_is_the_last_path_segment() {
        fn ctrd_example() -> &'static str {
            fn __export() {}
            super::function_name(std::any::type_name_of_val(&__export))
        }
        assert_eq!(ctrd_example(), "ctrd_example");
        assert_eq!(super::function_name("a::b::ctrd_x::__export"), "ctrd_x");
    }

    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path.display().to_string(), text));
            }
        }
    }

    /// The body of each `extern "C" fn <name>(...)` in `text`, from its `{`.
    fn export_bodies(text: &str) -> Vec<(String, &str)> {
        let mut found = Vec::new();
        let marker = "extern \"C\" fn ";
        let mut rest = text;
        while let Some(i) = rest.find(marker) {
            let after = &rest[i + marker.len()..];
            rest = after;
            let name: String = after
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if name.is_empty() {
                continue; // a function pointer type, not a function
            }
            // Skip the parameter list (parentheses nest in fn-pointer
            // parameters), then the return type up to the body's brace.
            let mut depth = 0;
            let mut end = 0;
            for (j, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let open = end + after[end..].find(['{', ';']).unwrap();
            if after[open..].starts_with('{') {
                found.push((name, &after[open + 1..]));
            }
        }
        found
    }

    #[test]
    fn every_export_runs_inside_the_boundary() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi");
        let mut files = Vec::new();
        sources(&dir, &mut files);
        let mut exports = 0;
        let mut signal_safe = Vec::new();
        for (path, text) in &files {
            for (name, body) in export_bodies(text) {
                exports += 1;
                let body = body.trim_start();
                if super::SIGNAL_SAFE_EXPORTS.contains(&name.as_str()) {
                    assert!(
                        body.starts_with("ffi_signal_safe!({"),
                        "{path}: {name} is async-signal-safe: its body is ffi_signal_safe!"
                    );
                    signal_safe_body_is_plain(&name, body);
                    signal_safe.push(name);
                    continue;
                }
                assert!(
                    body.starts_with("ffi_status! {") || body.starts_with("ffi_value!("),
                    "{path}: the body of {name} does not start with ffi_status! or ffi_value!"
                );
            }
        }
        assert!(exports >= 40, "found only {exports} exported functions");
        signal_safe.sort();
        let mut listed = super::SIGNAL_SAFE_EXPORTS.to_vec();
        listed.sort();
        assert_eq!(
            signal_safe, listed,
            "a listed signal-safe export is missing"
        );
    }

    /// The body of a signal-safe export (to the end of its function) makes
    /// no error and formats nothing: an error for NULL would be formatted
    /// (allocated) in the signal handler.
    fn signal_safe_body_is_plain(name: &str, body: &str) {
        let end = body.find("\n}\n").unwrap_or(body.len());
        let body = body[..end].replace("opt_ref_from_ptr(", "");
        for word in [
            "ref_from_ptr(",
            "arc_from_ptr(",
            "format!",
            "Error",
            "to_string",
            "catch",
            "last_error",
            "?",
        ] {
            assert!(
                !body.contains(word),
                "{name} is async-signal-safe but its body uses {word}"
            );
        }
    }

    #[test]
    fn catch_unwind_is_only_in_runtime_catch_panic() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&dir, &mut files);
        let call = concat!("catch", "_unwind(");
        let mut calls = 0;
        for (path, text) in &files {
            if text.contains(call) {
                assert!(
                    path.ends_with("src/runtime.rs"),
                    "{path} calls {call}: catch panics through runtime::catch_panic"
                );
                calls += text.matches(call).count();
            }
        }
        assert_eq!(calls, 1, "one {call}, in runtime::catch_panic");
    }

    #[test]
    fn the_checker_sees_a_body_outside_the_boundary() {
        let text =
            "pub extern \"C\" fn ctrd_x(cb: Option<extern \"C\" fn(i32)>) -> u32 {\n    0\n}";
        let bodies = export_bodies(text);
        assert_eq!(bodies.len(), 1);
        assert_eq!(bodies[0].0, "ctrd_x");
        assert!(bodies[0].1.trim_start().starts_with('0'));
    }
}
