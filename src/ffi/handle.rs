//! Handles: how each C handle type is owned, and the only casts between a
//! handle's C pointer and its Rust value.
//!
//! Every handle type implements [`Castable`], naming its ownership:
//!
//! - [`OwnershipArc`]: the C pointer is `Arc::into_raw`. A call works on its
//!   own clone of the `Arc` ([`arc_from_ptr`]) or on a borrow
//!   ([`ref_from_ptr`]); `_free` drops the C caller's reference
//!   ([`free_arc`]). Handles that share inner state (a container and its
//!   client) each hold an `Arc` of it, so freeing one while another is in a
//!   call is sound.
//! - [`OwnershipBox`]: the C pointer is `Box::into_raw`; `_free` takes the box
//!   back ([`free_box`]).
//! - [`OwnershipRef`]: a struct the C caller owns and lends for one call
//!   (`ctrd_io`); only borrowed. The options structs that may grow
//!   (`ctrd_container_opts`, `ctrd_pull_opts`, `ctrd_push_opts`) are [`SizedStruct`]s, copied
//!   by [`read_sized`] as far as their `struct_size` says.
//!
//! The helpers are safe functions: their one `unsafe` block relies on the C
//! contract that a non-NULL handle pointer is a live handle this library
//! returned (and, for `_free`, that it is not used again). Exported functions
//! therefore need no `unsafe` of their own to use a handle.

use std::sync::Arc;

use crate::core::error::{Error, Result};

/// A handle made by `Arc::into_raw`, shared with the C caller.
pub(crate) enum OwnershipArc {}
/// A handle made by `Box::into_raw`, owned by the C caller.
pub(crate) enum OwnershipBox {}
/// A struct owned by the C caller, lent to a call.
pub(crate) enum OwnershipRef {}

/// A type whose values cross the C boundary behind a pointer.
pub(crate) trait Castable {
    /// How the C pointer owns the value: one of the `Ownership*` types.
    type Ownership;
}

fn null(what: &str) -> Error {
    Error::invalid(format!("{what} is NULL"))
}

/// Gives `value` to C as a reference-counted handle.
pub(crate) fn to_arc_ptr<T: Castable<Ownership = OwnershipArc>>(value: T) -> *mut T {
    Arc::into_raw(Arc::new(value)).cast_mut()
}

/// Gives `value` to C as a boxed handle.
pub(crate) fn to_box_ptr<T: Castable<Ownership = OwnershipBox>>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// A borrow of the handle or lent struct `p`, for the duration of the call;
/// `what` names it in the error for NULL.
pub(crate) fn ref_from_ptr<'a, T: Castable>(p: *const T, what: &str) -> Result<&'a T> {
    opt_ref_from_ptr(p).ok_or_else(|| null(what))
}

/// A borrow of the handle or lent struct `p`, or `None` for NULL: for the
/// exports where NULL is a no-op, with no error made (and so nothing
/// allocated: `ctrd_cancel_trigger` runs in signal handlers).
pub(crate) fn opt_ref_from_ptr<'a, T: Castable>(p: *const T) -> Option<&'a T> {
    // SAFETY: a live handle from this library, per the C contract (or, for an
    // `OwnershipRef` struct, a readable one the caller lends for this call).
    unsafe { p.as_ref() }
}

/// The call's own reference to the shared handle `p`.
pub(crate) fn arc_from_ptr<T: Castable<Ownership = OwnershipArc>>(
    p: *const T,
    what: &str,
) -> Result<Arc<T>> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: a live handle from this library, per the C contract: `p` came
    // from `Arc::into_raw` in `to_arc_ptr` and its C reference is not dropped
    // yet, so the count is at least 1; we add the reference we take.
    unsafe {
        Arc::increment_strong_count(p);
        Ok(Arc::from_raw(p))
    }
}

/// Drops the C caller's reference to the shared handle `p`; NULL is a no-op.
/// In a forked child it does nothing: every such handle there is the
/// parent's (making one needs the runtime), and its inner state (a client's
/// connections, tasks on the parent's runtime) is shared with the parent.
pub(crate) fn free_arc<T: Castable<Ownership = OwnershipArc>>(p: *const T) {
    if !p.is_null() && !crate::runtime::is_forked_child() {
        // SAFETY: a live handle from this library, per the C contract, whose
        // C reference (from `to_arc_ptr`) is given back here, once.
        drop(unsafe { Arc::from_raw(p) });
    }
}

/// Takes back the boxed handle `p`; NULL is `None`.
pub(crate) fn free_box<T: Castable<Ownership = OwnershipBox>>(p: *mut T) -> Option<Box<T>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: a live handle from this library, per the C contract: it came
    // from `Box::into_raw` in `to_box_ptr` and is not used again.
    Some(unsafe { Box::from_raw(p) })
}

/// Every handle may be used from any thread.
const _: () = {
    #[allow(dead_code)]
    fn assert<T: Send + Sync>() {}
    #[allow(dead_code)]
    fn handles() {
        assert::<crate::ffi::ctrd_client>();
        assert::<crate::ffi::ctrd_container>();
        assert::<crate::ffi::ctrd_task>();
        assert::<crate::ffi::ctrd_process>();
        assert::<crate::ffi::ctrd_fifo_set>();
        assert::<crate::ffi::ctrd_io_session>();
        assert::<crate::ffi::ctrd_subscription>();
        assert::<crate::ffi::ctrd_wait>();
        assert::<crate::ffi::ctrd_image>();
        assert::<crate::ffi::ctrd_cancel>();
        assert::<crate::ffi::ctrd_queue>();
    }
};

/// A string borrowed from handle `p` by `get`, or "" when `p` is NULL: the
/// body of the getters that return a `const char *` owned by a handle.
pub(crate) fn borrowed_str<T: Castable>(
    p: *const T,
    get: impl FnOnce(&T) -> *const std::ffi::c_char,
) -> *const std::ffi::c_char {
    match ref_from_ptr(p, "handle") {
        Ok(h) => get(h),
        Err(_) => c"".as_ptr(),
    }
}

/// An options struct the C caller lends for one call, whose first field is
/// `size_t struct_size` (the `sizeof` the caller was compiled with), so
/// that it can grow at its end without breaking programs built before:
///
/// - `struct_size` smaller than this library's struct is a program built
///   against an older header when it is the `sizeof` of one of the
///   struct's released layouts ([`SizedStruct::OLDER_SIZES`]): the fields
///   it has are read, the others keep their zero defaults; any other
///   smaller size is refused;
/// - larger than this library's struct (a program built against a newer
///   header) is accepted when the bytes this library does not know are
///   all zero (the newer fields left at their defaults), and refused
///   otherwise, naming the struct.
///
/// # Safety
/// Implementors are `#[repr(C)]`, start with a `usize` field, and every bit
/// pattern of all zeros is a valid value of each field (raw pointers,
/// `bool`, `Option` of a function pointer, integers).
pub(crate) unsafe trait SizedStruct:
    Castable<Ownership = OwnershipRef> + Sized
{
    /// The C name, for messages.
    const C_NAME: &'static str;
    /// The sizes of the struct's older released layouts (`sizeof` in the
    /// headers a program may have been built with), each the offset of a
    /// field added later: accepted as `struct_size`. None for a struct
    /// that never grew.
    const OLDER_SIZES: &'static [usize] = &[];
}

/// Largest `struct_size` believed: beyond it the value is garbage, and its
/// tail is not read.
const MAX_STRUCT_SIZE: usize = 4096;

/// A copy of the options struct `p` lends (see [`SizedStruct`]); NULL is
/// `None`. `what` names the argument in errors.
pub(crate) fn read_sized<T: SizedStruct>(p: *const T, what: &str) -> Result<Option<T>> {
    if p.is_null() {
        return Ok(None);
    }
    let ours = std::mem::size_of::<T>();
    let name = T::C_NAME;
    // SAFETY: `p` is a readable `T` the caller lends for this call (C
    // contract), and `T` starts with its `usize` size field.
    let size = unsafe { p.cast::<usize>().read() };
    if size == 0 {
        return Err(Error::invalid(format!(
            "{what}->struct_size is 0: set it to sizeof({name}) (as {name}_default() does)"
        )));
    }
    // Below this library's size only an older layout's own size is a
    // struct.
    if (size < ours && !T::OLDER_SIZES.contains(&size)) || size > MAX_STRUCT_SIZE {
        return Err(Error::invalid(format!(
            "{what}->struct_size is {size}, not the size of a {name} (this library's is \
             {ours} bytes): set it to sizeof({name})"
        )));
    }
    if size < ours {
        // A program built against an older header: its fields, and zeros
        // (the defaults) for the newer ones.
        let mut copy = std::mem::MaybeUninit::<T>::zeroed();
        // SAFETY: the caller says `size` bytes are readable at `p` (C
        // contract for `struct_size`); `size < ours` fits in `copy`, which
        // is all zeros past it: a valid `T` (the trait's contract), whose
        // first `size` bytes are the caller's fields (`size` is one of
        // `OLDER_SIZES`: an older layout's whole fields).
        return Ok(Some(unsafe {
            std::ptr::copy_nonoverlapping(p.cast::<u8>(), copy.as_mut_ptr().cast::<u8>(), size);
            copy.assume_init()
        }));
    }
    // SAFETY: the caller says `size` bytes are readable at `p` (C contract
    // for `struct_size`), and `size >= ours` was checked.
    let tail = unsafe { std::slice::from_raw_parts(p.cast::<u8>().add(ours), size - ours) };
    if tail.iter().any(|&b| b != 0) {
        return Err(Error::invalid(format!(
            "{what} is a {name} of {size} bytes with fields this library ({ours} bytes) does \
             not know set: the program was built against a newer containerd-c than the \
             library it runs with"
        )));
    }
    // SAFETY: `ours` bytes are readable at `p` (checked above) and form a
    // valid `T` (the C struct of this layout); read unaligned-safe as a copy
    // so that nothing of the caller's struct is kept.
    Ok(Some(unsafe { p.read_unaligned() }))
}
