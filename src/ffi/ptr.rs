//! Checked conversions between C pointers and Rust values. Every raw pointer
//! an exported function receives is read through one of these helpers.

use std::ffi::{c_char, CStr, CString};
use std::ptr::NonNull;

use crate::core::error::{Code, Error, Result};

fn null(what: &str) -> Error {
    Error::invalid(format!("{what} is NULL"))
}

/// A required C string argument as UTF-8.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for `'a` (the C caller's contract for a `const char *`).
pub(crate) unsafe fn str_arg<'a>(p: *const c_char, what: &str) -> Result<&'a str> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL and NUL-terminated per this function's contract.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|e| Error::invalid(format!("{what} is not valid UTF-8 ({e})")))
}

/// An optional C string argument: NULL is `None`.
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(p: *const c_char, what: &str) -> Result<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        // SAFETY: forwarded contract.
        unsafe { str_arg(p, what) }.map(Some)
    }
}

/// Most items a NULL-terminated array argument may hold; more means it was
/// not terminated.
const MAX_ARRAY: usize = 1 << 16;

/// An optional NULL-terminated array of C strings (labels, argv, filters):
/// NULL is `None`.
///
/// # Safety
/// `p` is NULL or points to an array of C strings ended by a NULL pointer,
/// valid and unchanged for `'a`.
pub(crate) unsafe fn opt_str_array_arg<'a>(
    p: *const *const c_char,
    what: &str,
) -> Result<Option<Vec<&'a str>>> {
    if p.is_null() {
        return Ok(None);
    }
    let mut items = Vec::new();
    for i in 0..MAX_ARRAY {
        // SAFETY: the array is NULL-terminated per contract and we stop at
        // the terminator, so `p.add(i)` stays inside it.
        let item = unsafe { *p.add(i) };
        if item.is_null() {
            return Ok(Some(items));
        }
        // SAFETY: each non-NULL element is a C string per contract.
        items.push(unsafe { str_arg(item, &format!("{what}[{i}]")) }?);
    }
    Err(Error::invalid(format!(
        "{what} has more than {MAX_ARRAY} items: is it NULL-terminated?"
    )))
}

/// An out-parameter, checked for NULL up front and written only on success.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Checks `p` for NULL. A non-NULL `p` must be valid for writing one `T`
    /// until [`Out::write`]: the C caller's contract for an out-parameter.
    pub(crate) fn new(p: *mut T, what: &str) -> Result<Out<T>> {
        NonNull::new(p).map(Out).ok_or_else(|| null(what))
    }

    /// Checks `p` for NULL but lets it be absent (contract as [`Out::new`]).
    pub(crate) fn optional(p: *mut T) -> Option<Out<T>> {
        NonNull::new(p).map(Out)
    }

    pub(crate) fn write(self, value: T) {
        // SAFETY: non-NULL, and valid for a write per the C contract for an
        // out-parameter (see `Out::new`); `write` does not drop whatever bytes
        // were there before.
        unsafe { self.0.as_ptr().write(value) }
    }
}

/// Text as a C string, cut at its first NUL byte (C cannot see past it).
pub(crate) fn c_text(s: String) -> CString {
    let mut bytes = s.into_bytes();
    if let Some(i) = bytes.iter().position(|&b| b == 0) {
        bytes.truncate(i);
    }
    CString::new(bytes).unwrap_or_default()
}

/// A Rust string as a C string; text with a NUL byte is an error.
pub(crate) fn c_string_value(s: impl Into<Vec<u8>>) -> Result<CString> {
    CString::new(s).map_err(|e| Error::new(Code::Unknown, format!("text holds a NUL byte: {e}")))
}

/// A Rust string as a caller-owned C string (freed by `ctrd_string_free`).
pub(crate) fn c_string(s: impl Into<Vec<u8>>) -> Result<*mut c_char> {
    c_string_value(s).map(CString::into_raw)
}

/// The out-parameters of a returned string array (`*items` and `*len`),
/// checked for NULL before any work and written together.
pub(crate) struct StringsOut {
    items: Out<*mut *mut c_char>,
    len: Out<usize>,
}

impl StringsOut {
    /// Checks `items` (named `what` in the error) and then `len` for NULL
    /// (contract as [`Out::new`]).
    pub(crate) fn new(
        items: *mut *mut *mut c_char,
        len: *mut usize,
        what: &str,
    ) -> Result<StringsOut> {
        Ok(StringsOut {
            items: Out::new(items, what)?,
            len: Out::new(len, "len")?,
        })
    }

    /// Writes `items` as a caller-owned array (see [`c_string_array`]);
    /// nothing is written on failure.
    pub(crate) fn write(self, items: Vec<String>) -> Result<()> {
        let (array, n) = c_string_array(items)?;
        self.items.write(array);
        self.len.write(n);
        Ok(())
    }
}

/// A list of strings as a caller-owned array (freed by `ctrd_string_array_free`).
pub(crate) fn c_string_array(items: Vec<String>) -> Result<(*mut *mut c_char, usize)> {
    let mut out: Vec<*mut c_char> = Vec::with_capacity(items.len());
    for s in items {
        match c_string(s) {
            Ok(p) => out.push(p),
            Err(e) => {
                let len = out.len();
                // Freeing exactly the strings made just above.
                free_string_array(Box::into_raw(out.into_boxed_slice()).cast(), len);
                return Err(e);
            }
        }
    }
    let len = out.len();
    Ok((Box::into_raw(out.into_boxed_slice()).cast(), len))
}

/// A list of numbers as a caller-owned array (freed by [`free_u32_array`]).
pub(crate) fn u32_array(items: Vec<u32>) -> (*mut u32, usize) {
    let len = items.len();
    (Box::into_raw(items.into_boxed_slice()).cast(), len)
}

/// Frees an array from [`u32_array`]: per the C contract, `items` is NULL or
/// came from [`u32_array`] with this `len`, and is used no more.
pub(crate) fn free_u32_array(items: *mut u32, len: usize) {
    if !items.is_null() {
        // SAFETY: an array from this library, given back once with its
        // length, per the C contract: the boxed slice of `len` numbers we made.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(items, len)) });
    }
}

/// Frees a string from [`c_string`]: per the C contract, `s` is NULL or came
/// from [`c_string`] and is not used again.
pub(crate) fn free_string(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: a string from this library, given back once, per the C
        // contract: it came from CString::into_raw.
        drop(unsafe { CString::from_raw(s) });
    }
}

/// Frees an array from [`c_string_array`]: per the C contract, `items` is
/// NULL or came from [`c_string_array`] with this `len`, and neither it nor
/// its strings are used again.
pub(crate) fn free_string_array(items: *mut *mut c_char, len: usize) {
    if items.is_null() {
        return;
    }
    // SAFETY: an array from this library, given back once with its length,
    // per the C contract: the boxed slice of `len` pointers we made.
    let items = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(items, len)) };
    for &s in items.iter() {
        // Each element came from `c_string`.
        free_string(s);
    }
}
