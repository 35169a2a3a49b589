//! Pulling images from registries and importing them from archives:
//! `ctrd_pull_opts` and the functions that take it.

use std::ffi::{c_char, c_void};

use crate::core::error::Result;
use crate::core::pull::PullOptions;
use crate::ffi::handle::{Castable, OwnershipRef};
use crate::ffi::progress::{self, ctrd_progress_cb};
use crate::ffi::ptr;

/// How `ctrd_image_pull` and `ctrd_image_import` work. Strings are borrowed
/// for the call only. A zero-initialised struct (or NULL instead of it) is
/// the default: this machine's platform, overlayfs, unpacked, credentials
/// from the docker config, https with the system's CAs, no progress.
#[repr(C)]
pub struct ctrd_pull_opts {
    /// "os/arch[/variant]" (e.g. "linux/arm64/v8") picked from an index;
    /// NULL = this machine's.
    pub platform: *const c_char,
    /// The snapshotter to unpack into; NULL = "overlayfs".
    pub snapshotter: *const c_char,
    /// Fetch (or import) the content and make the image record, but do not
    /// unpack it.
    pub no_unpack: bool,
    /// With `secret`, the registry credentials; NULL = from the docker
    /// config (`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`:
    /// `auths`, `credHelpers`, `credsStore`), else anonymous.
    pub username: *const c_char,
    /// The password, or an identity token when `username` is "".
    pub secret: *const c_char,
    /// Talk http:// instead of https:// to the registry.
    pub plain_http: bool,
    /// Accept any TLS certificate (no verification at all).
    pub skip_verify: bool,
    /// A PEM file of CA certificates trusted besides the system's.
    pub ca_file: *const c_char,
    /// Optional progress callback; see `ctrd_progress_cb`.
    pub progress: ctrd_progress_cb,
    /// Passed back to `progress` untouched.
    pub user_data: *mut c_void,
}

impl Castable for ctrd_pull_opts {
    type Ownership = OwnershipRef;
}

/// The options and progress callback `opts` holds (NULL = defaults).
///
/// # Safety
/// `opts` is NULL or points to a `ctrd_pull_opts` whose strings are NULL or
/// NUL-terminated, valid for the call.
pub(crate) unsafe fn pull_options(
    opts: *const ctrd_pull_opts,
) -> Result<(PullOptions, Option<progress::Callback>)> {
    if opts.is_null() {
        return Ok((PullOptions::default(), None));
    }
    let o = crate::ffi::handle::ref_from_ptr(opts, "opts")?;
    // SAFETY (each string below): the caller's contract above.
    let text = |p: *const c_char, what: &str| -> Result<Option<String>> {
        Ok(unsafe { ptr::opt_str_arg(p, what) }?.map(str::to_string))
    };
    let snapshotter = match text(o.snapshotter, "opts.snapshotter")? {
        Some(s) if s.is_empty() => {
            return Err(crate::core::Error::invalid(
                "opts.snapshotter is empty (NULL means overlayfs)",
            ))
        }
        s => s,
    };
    let options = PullOptions {
        platform: text(o.platform, "opts.platform")?,
        snapshotter,
        no_unpack: o.no_unpack,
        username: text(o.username, "opts.username")?,
        secret: text(o.secret, "opts.secret")?,
        plain_http: o.plain_http,
        skip_verify: o.skip_verify,
        ca_file: text(o.ca_file, "opts.ca_file")?.map(Into::into),
    };
    Ok((options, progress::Callback::new(o.progress, o.user_data)))
}
