//! Pushing images to registries: `ctrd_push_opts` and `ctrd_image_push`.

use std::ffi::{c_char, c_void};

use crate::core::error::Result;
use crate::core::image::push::PushOptions;
use crate::ffi::boundary::ffi_status;
use crate::ffi::cancel::ctrd_cancel;
use crate::ffi::handle::{read_sized, Castable, OwnershipRef, SizedStruct};
use crate::ffi::progress::{self, ctrd_progress_cb};
use crate::ffi::ptr;
use crate::ffi::pull::{cancel_of, remote_options, timeout_of};

/// How `ctrd_image_push` works. Strings are borrowed for the call only.
/// Start from `ctrd_push_opts_default()` (every field zero but
/// `struct_size`), which is also what NULL instead of the struct means:
/// every platform whose content is present, credentials from the docker
/// config, https with the system's CAs, no progress. `struct_size` works
/// as `ctrd_pull_opts`'s: new fields only ever come at the end.
#[repr(C)]
pub struct ctrd_push_opts {
    /// `sizeof(ctrd_push_opts)` as the program was compiled: required (0 is
    /// `CTRD_ERR_INVALID_ARGUMENT`). See `ctrd_pull_opts.struct_size`.
    pub struct_size: usize,
    /// "os/arch[/variant]" (e.g. "linux/arm64/v8"): push only that
    /// platform's manifest, as the tag's target (as `ctr images push
    /// --platform`); all of its content must be in the content store.
    /// NULL = every platform whose content (manifest, config, layers) is
    /// all in the content store: an index that lacks some is pushed with
    /// those entries left out (a new index, of a new digest).
    pub platform: *const c_char,
    /// With `secret`, the registry credentials; NULL = from the docker
    /// config (as `ctrd_pull_opts`), else anonymous.
    pub username: *const c_char,
    /// The password, or an identity token when `username` is "".
    pub secret: *const c_char,
    /// Talk http:// instead of https:// to the registry.
    pub plain_http: bool,
    /// Accept any TLS certificate (no verification at all).
    pub skip_verify: bool,
    /// A PEM file of CA certificates trusted besides the system's.
    pub ca_file: *const c_char,
    /// containerd's host directory root, as `ctrd_pull_opts.hosts_dir`
    /// (NULL = "/etc/containerd/certs.d" when it exists, "" = none). The
    /// push goes to the first host of the registry's `hosts.toml` that has
    /// the "push" capability (the registry itself, or its `server`, when
    /// none says otherwise), as containerd pushes.
    pub hosts_dir: *const c_char,
    /// Optional progress callback; see `ctrd_progress_cb` (phases
    /// "pushing", then "done").
    pub progress: ctrd_progress_cb,
    /// Passed back to `progress` untouched.
    pub user_data: *mut c_void,
    /// A cancel signal (see `ctrd_cancel_new`), borrowed for the call; NULL
    /// = none. Once it is triggered the call returns `CTRD_ERR_CANCELLED`
    /// within a second.
    pub cancel: *const ctrd_cancel,
    /// How long the whole call may take, in milliseconds; 0 = no limit.
    /// Past it the call returns `CTRD_ERR_DEADLINE_EXCEEDED`.
    pub timeout_ms: u64,
}

impl Castable for ctrd_push_opts {
    type Ownership = OwnershipRef;
}

// SAFETY: `#[repr(C)]`, starts with `struct_size: usize`, and every field is
// a raw pointer, a `bool`, an integer or an `Option` of a function pointer:
// all valid as zeros.
unsafe impl SizedStruct for ctrd_push_opts {
    const C_NAME: &'static str = "ctrd_push_opts";
}

impl Default for ctrd_push_opts {
    /// What `ctrd_push_opts_default()` gives C: `struct_size` set, every
    /// other field zero.
    fn default() -> Self {
        let null = std::ptr::null();
        ctrd_push_opts {
            struct_size: std::mem::size_of::<ctrd_push_opts>(),
            platform: null,
            username: null,
            secret: null,
            plain_http: false,
            skip_verify: false,
            ca_file: null,
            hosts_dir: null,
            progress: None,
            user_data: std::ptr::null_mut(),
            cancel: std::ptr::null(),
            timeout_ms: 0,
        }
    }
}

/// The options and progress callback `opts` holds (NULL = defaults).
///
/// # Safety
/// `opts` is NULL or points to a `ctrd_push_opts` whose strings are NULL or
/// NUL-terminated, valid for the call.
unsafe fn push_options(
    opts: *const ctrd_push_opts,
) -> Result<(PushOptions, Option<progress::Callback>)> {
    let Some(o) = read_sized(opts, "opts")? else {
        return Ok((PushOptions::default(), None));
    };
    // SAFETY (each string below): the caller's contract above.
    let text = |p: *const c_char, what: &str| -> Result<Option<String>> {
        Ok(unsafe { ptr::opt_str_arg(p, what) }?.map(str::to_string))
    };
    let options = PushOptions {
        platform: text(o.platform, "opts.platform")?,
        // SAFETY: the caller's contract above.
        remote: unsafe {
            remote_options(
                o.username,
                o.secret,
                o.plain_http,
                o.skip_verify,
                o.ca_file,
                o.hosts_dir,
            )
        }?,
        cancel: cancel_of(o.cancel),
        timeout: timeout_of(o.timeout_ms),
    };
    Ok((options, progress::Callback::new(o.progress, o.user_data)))
}

/// Pushes image record `name` of the client's namespace to `remote_ref`
/// (e.g. "registry.example.com/team/app:1.2"; NULL = `name` itself), as
/// `ctr images push` does, by the library itself: so it works alike on
/// containerd 1.6, 1.7 and 2.x.
///
/// `remote_ref` is normalised as docker does ("busybox" is
/// "docker.io/library/busybox:latest"); its tag (or digest, which must be
/// the digest of what is pushed) names the image in the repository. What
/// is pushed is read from the content store: with `opts->platform`, that
/// platform's manifest, its config and layers (all must be there), the
/// manifest being the tag's target; else the image's target with every
/// platform whose content is all there (an index that lists platforms the
/// store lacks, as after a pull of one platform, is pushed rewritten with
/// the others only). Blobs go first, three at a time: one the registry has
/// is not sent again (HEAD first), one pulled from another repository of
/// the same registry (the `containerd.io/distribution.source.<host>`
/// label containerd's pulls put on content) is mounted from there when
/// the registry does it, the others are streamed from the content store in
/// one PUT each (never held whole in memory); then manifests and indexes,
/// each after what it names, the target last under the tag. Credentials,
/// TLS and host directories work as for `ctrd_image_pull`
/// (`opts->hosts_dir`: the first host with the "push" capability gets the
/// push); the token asked from a realm has the scope
/// `repository:<name>:pull,push`.
///
/// `opts` may be NULL (defaults; see `ctrd_push_opts`); strings are read
/// during the call only. Nothing changes in containerd.
///
/// Blocks until the push ends: as long as the transfer takes, with at most
/// 30 s to connect and 60 s to wait for an answer (after a blob's bytes
/// were sent); a blob the registry takes at fewer than 1 KiB in any 60 s is
/// cut as stalled (`CTRD_ERR_UNAVAILABLE`, naming the host); each daemon
/// call is bounded by the client's timeout. `opts->timeout_ms` bounds the
/// whole call (`CTRD_ERR_DEADLINE_EXCEEDED`) and `opts->cancel` cuts it
/// short when triggered (`CTRD_ERR_CANCELLED`, within a second); blobs
/// already sent stay in the registry (a push again sends only the rest).
/// `opts->progress`, when set, is called on a library thread as
/// `ctrd_progress_cb` describes: phase "pushing" with the bytes of blobs
/// and manifests the registry has (sent, mounted or found there) and the
/// layers, about ten times a second, then once "done" if the push
/// succeeded. Thread-safe: pushes may run at once on one client.
///
/// Errors (the message names the image and the reference):
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `c` or `name`, invalid UTF-8, an
/// empty name, a malformed reference or platform, a `remote_ref` whose
/// digest is not what is pushed, a username without a secret, an
/// unreadable `ca_file`, a `hosts_dir` that is not a directory, a
/// malformed `hosts.toml`), `CTRD_ERR_NOT_FOUND` (no image `name`; no
/// platform whose content is all in the store, or `opts->platform`'s
/// content missing or not in the index: the message names what is
/// missing; no host of the `hosts.toml` may push),
/// `CTRD_ERR_UNAUTHENTICATED` (the registry wants credentials or refused
/// them: 401, with the registry's words), `CTRD_ERR_PERMISSION_DENIED`
/// (push denied: a 403, or a token without the push scope, a 401 with
/// `insufficient_scope`; the registry's words), `CTRD_ERR_UNAVAILABLE` (the
/// registry cannot be reached or broke off, or its TLS certificate is not
/// trusted), `CTRD_ERR_FAILED_PRECONDITION` (the registry stored another
/// digest than the one sent), `CTRD_ERR_DEADLINE_EXCEEDED`,
/// `CTRD_ERR_CANCELLED`, `CTRD_ERR_UNKNOWN` (any other refusal by the
/// registry, e.g. an invalid manifest, in its words), and the daemon's
/// errors.
#[no_mangle]
pub extern "C" fn ctrd_image_push(
    c: *mut crate::ffi::client::ctrd_client,
    name: *const c_char,
    remote_ref: *const c_char,
    opts: *const ctrd_push_opts,
) -> crate::ffi::error::ctrd_status {
    ffi_status! {
        let client = crate::ffi::handle::ref_from_ptr(c, "client")?;
        // SAFETY: C strings or NULL (C contract).
        let name = unsafe { ptr::str_arg(name, "name") }?.to_string();
        // SAFETY: as above.
        let remote_ref = unsafe { ptr::opt_str_arg(remote_ref, "remote_ref") }?
            .map(str::to_string);
        // SAFETY: NULL or a valid ctrd_push_opts (C contract).
        let (options, callback) = unsafe { push_options(opts) }?;
        let client = client.inner.clone();
        let progress = std::sync::Arc::new(crate::core::image::progress::Progress::new());
        let p2 = progress.clone();
        let shown = remote_ref.clone().unwrap_or_else(|| name.clone());
        progress::report(callback, &shown, progress, async move {
            client.push(&name, remote_ref.as_deref(), &options, p2).await
        })?;
        Ok(())
    }
}

/// As `ctrd_image_push`, through queue `q` (see `ctrd_queue`): checks the
/// name, reference, platform and options now and returns; the completion
/// with `tag` has no result but its status. `opts` and its strings are read
/// during this call only; `opts->progress` is called as for the blocking
/// push (on a library thread, never after the completion was posted), and
/// `opts->cancel` and `opts->timeout_ms` work as there. `ctrd_queue_cancel`
/// stops it as triggering its `ctrd_cancel` does (blobs already sent stay
/// in the registry). Errors (then no completion comes):
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `c`, `name` or `q`, invalid UTF-8, an
/// empty name, a malformed reference or platform, bad options),
/// `CTRD_ERR_ALREADY_EXISTS` (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_image_push_submit(
    c: *mut crate::ffi::client::ctrd_client,
    name: *const c_char,
    remote_ref: *const c_char,
    opts: *const ctrd_push_opts,
    q: *mut crate::ffi::queue::ctrd_queue,
    tag: u64,
) -> crate::ffi::error::ctrd_status {
    ffi_status! {
        let client = crate::ffi::handle::ref_from_ptr(c, "client")?.inner.clone();
        // SAFETY: C strings or NULL (C contract).
        let name = unsafe { ptr::str_arg(name, "name") }?.to_string();
        // SAFETY: as above.
        let remote_ref = unsafe { ptr::opt_str_arg(remote_ref, "remote_ref") }?
            .map(str::to_string);
        // SAFETY: NULL or a valid ctrd_push_opts (C contract).
        let (mut options, callback) = unsafe { push_options(opts) }?;
        crate::core::image::records::validate_name("name", &name)?;
        let shown = remote_ref.clone().unwrap_or_else(|| name.clone());
        crate::core::registry::ImageRef::parse(&shown)?;
        if let Some(p) = &options.platform {
            crate::core::image::platform::PlatformSpec::parse(p)
                .map_err(|e| e.context(format!("push {shown:?}")))?;
        }
        let signal = crate::core::cancel::Cancel::child(options.cancel.as_ref());
        options.cancel = Some(signal.clone());
        let progress = std::sync::Arc::new(crate::core::image::progress::Progress::new());
        let on_cancel = crate::core::queue::OnCancel::Signal(signal);
        crate::ffi::queue::submit(q, tag, "ctrd_image_push_submit", on_cancel, async move {
            let work = client.push(&name, remote_ref.as_deref(), &options, progress.clone());
            progress::report_async(callback, shown, progress, work).await?;
            Ok(crate::ffi::queue::Payload::Done)
        })
    }
}
