//! Pulling images from registries and importing them from archives:
//! `ctrd_pull_opts` and the functions that take it.

use std::ffi::{c_char, c_void};
use std::time::Duration;

use crate::core::error::Result;
use crate::core::image::pull::PullOptions;
use crate::core::registry::RemoteOptions;
use crate::ffi::boundary::ffi_status;
use crate::ffi::cancel::ctrd_cancel;
use crate::ffi::handle::{read_sized, Castable, OwnershipRef, SizedStruct};
use crate::ffi::progress::{self, ctrd_progress_cb};
use crate::ffi::ptr;

/// How `ctrd_image_pull` and `ctrd_image_import` work. Strings are borrowed
/// for the call only. Start from `ctrd_pull_opts_default()` (every field
/// zero but `struct_size`), which is also what NULL instead of the struct
/// means: this machine's platform, overlayfs, unpacked, credentials from the
/// docker config, https with the system's CAs, no progress. See
/// `struct_size` for how the struct grows.
#[repr(C)]
pub struct ctrd_pull_opts {
    /// `sizeof(ctrd_pull_opts)` as the program was compiled: required (0 is
    /// `CTRD_ERR_INVALID_ARGUMENT`). New fields are only ever added at the
    /// end; from 1.0 on, the library reads no field past `struct_size`, so
    /// a program built against an older header keeps working, and one built
    /// against a newer header works with an older library as long as it
    /// leaves the newer fields zero.
    pub struct_size: usize,
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
    /// A cancel signal (see `ctrd_cancel_new`), borrowed for the call; NULL
    /// = none. Once it is triggered the call returns `CTRD_ERR_CANCELLED`
    /// within a second; what a pull fetched stays for the next pull.
    /// (Added after the first release: a program built without it passes a
    /// smaller `struct_size` and gets no cancel and no timeout.)
    pub cancel: *const ctrd_cancel,
    /// How long the whole call may take, in milliseconds; 0 = no limit.
    /// Past it the call returns `CTRD_ERR_DEADLINE_EXCEEDED` (a pull keeps
    /// what it fetched for the next pull).
    pub timeout_ms: u64,
    /// containerd's host directory root (the layout of `ctr --hosts-dir`
    /// and containerd's `config_path`): `<dir>/<host>/hosts.toml` for
    /// registry `<host>` (`<dir>/<name>_<port>_` or `<dir>/<name>:<port>`
    /// for `name:port`, else `<dir>/_default`), or docker's certificate
    /// files in that directory (`*.crt` CAs, `*.cert` client certificates
    /// with their `*.key`). Borrowed for the call. NULL =
    /// "/etc/containerd/certs.d" when it exists, else none; "" = none; a
    /// path that is not a directory is `CTRD_ERR_INVALID_ARGUMENT`.
    ///
    /// The `[host."URL"]` tables of `hosts.toml` are mirrors, tried in the
    /// order they appear, then the registry itself (or `server` instead of
    /// it); each host may say `capabilities` ("pull", "resolve", "push":
    /// tags are resolved only on hosts with "resolve"), `ca` (file or list,
    /// trusted besides the system's and `ca_file`), `client` (a file with
    /// certificate and key, a list, or `[cert, key]` pairs: a server that
    /// asks for one gets the first it takes, as Go picks), `skip_verify` (overrides
    /// this struct's), `override_path`, `header` (sent with every request
    /// to the host) and `dial_timeout`; relative paths are relative to the
    /// host's directory. A host that cannot be reached or answers an error
    /// passes to the next; when all fail, the message lists each with its
    /// failure. A mirror's requests carry `?ns=<registry>`; `username` and
    /// `secret` go to any host that asks for credentials (as `ctr --user`),
    /// else each host gets the docker config's for its own name. A
    /// malformed `hosts.toml` (the message names the file, the line and the
    /// key) or an unreadable CA, client certificate or key is
    /// `CTRD_ERR_INVALID_ARGUMENT`. (Added after `timeout_ms`: a program
    /// built without it gets NULL.)
    pub hosts_dir: *const c_char,
}

impl Castable for ctrd_pull_opts {
    type Ownership = OwnershipRef;
}

// SAFETY: `#[repr(C)]`, starts with `struct_size: usize`, and every field is
// a raw pointer, a `bool` or an `Option` of a function pointer: all valid as
// zeros.
unsafe impl SizedStruct for ctrd_pull_opts {
    const C_NAME: &'static str = "ctrd_pull_opts";
    /// The layouts before `cancel` and `timeout_ms`, and before
    /// `hosts_dir`.
    const OLDER_SIZES: &'static [usize] = &[
        std::mem::offset_of!(ctrd_pull_opts, cancel),
        std::mem::offset_of!(ctrd_pull_opts, hosts_dir),
    ];
}

impl Default for ctrd_pull_opts {
    /// What `ctrd_pull_opts_default()` gives C: `struct_size` set, every
    /// other field zero.
    fn default() -> Self {
        let null = std::ptr::null();
        ctrd_pull_opts {
            struct_size: std::mem::size_of::<ctrd_pull_opts>(),
            platform: null,
            snapshotter: null,
            no_unpack: false,
            username: null,
            secret: null,
            plain_http: false,
            skip_verify: false,
            ca_file: null,
            progress: None,
            user_data: std::ptr::null_mut(),
            cancel: std::ptr::null(),
            timeout_ms: 0,
            hosts_dir: null,
        }
    }
}

/// The options and progress callback `opts` holds (NULL = defaults).
///
/// # Safety
/// `opts` is NULL or points to a `ctrd_pull_opts` whose strings are NULL or
/// NUL-terminated, valid for the call.
pub(crate) unsafe fn pull_options(
    opts: *const ctrd_pull_opts,
) -> Result<(PullOptions, Option<progress::Callback>)> {
    let Some(o) = read_sized(opts, "opts")? else {
        return Ok((PullOptions::default(), None));
    };
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

/// The registry settings of a `ctrd_pull_opts` or `ctrd_push_opts` (the
/// same fields, read alike).
///
/// # Safety
/// Each string is NULL or NUL-terminated, valid for the call.
pub(crate) unsafe fn remote_options(
    username: *const c_char,
    secret: *const c_char,
    plain_http: bool,
    skip_verify: bool,
    ca_file: *const c_char,
    hosts_dir: *const c_char,
) -> Result<RemoteOptions> {
    // SAFETY (each string below): the caller's contract above.
    let text = |p: *const c_char, what: &str| -> Result<Option<String>> {
        Ok(unsafe { ptr::opt_str_arg(p, what) }?.map(str::to_string))
    };
    Ok(RemoteOptions {
        username: text(username, "opts.username")?,
        secret: text(secret, "opts.secret")?,
        plain_http,
        skip_verify,
        ca_file: text(ca_file, "opts.ca_file")?.map(Into::into),
        hosts_dir: text(hosts_dir, "opts.hosts_dir")?.map(Into::into),
    })
}

/// The cancel signal an options struct borrows (NULL = none).
pub(crate) fn cancel_of(cancel: *const ctrd_cancel) -> Option<crate::core::cancel::Cancel> {
    crate::ffi::handle::ref_from_ptr(cancel, "opts.cancel")
        .ok()
        .map(|c| c.inner.clone())
}

/// An options struct's `timeout_ms` (0 = none).
pub(crate) fn timeout_of(timeout_ms: u64) -> Option<Duration> {
    (timeout_ms > 0).then(|| Duration::from_millis(timeout_ms))
}

/// Pulls image `ref` from its registry into the client's namespace, as
/// containerd's Go `client.Pull` (and `ctr images pull`) does, by the
/// library itself: so it works alike on containerd 1.6, 1.7 and 2.x.
///
/// `ref` is normalised as docker does: "busybox" is
/// "docker.io/library/busybox:latest", "host:5000/repo" gets ":latest",
/// "repo@sha256:..." names a digest (a tag beside a digest is dropped). The
/// image record gets that name. The registry's host directory under
/// `opts->hosts_dir` (see there) may name mirrors, tried first, and TLS
/// settings per host. The registry is reached over https with the
/// system's CAs (plus `opts->ca_file`; none with `opts->skip_verify`), or
/// http with `opts->plain_http`; credentials are `opts->username` and
/// `opts->secret`, else the docker config's, else none (a bearer token is
/// asked from the realm a 401 names, or basic auth used, as the registry
/// says). For an index, the manifest of `opts->platform` (this machine's by
/// default) is pulled: its config and layers, three at a time, streamed into
/// the content store; blobs the store has already are not fetched again, and
/// a write another pull left unfinished is resumed where the registry
/// serves byte ranges. Everything is held by a lease of the pull's own while
/// it runs; then the layers are unpacked into `opts->snapshotter` unless
/// `opts->no_unpack`; then the image record is created (or updated to the
/// new target when it exists). On failure no image record is made or changed
/// and the lease is deleted. A pull cut short on the way (the registry or
/// the daemon unreachable or too slow: `CTRD_ERR_UNAVAILABLE`,
/// `CTRD_ERR_DEADLINE_EXCEEDED`; or cancelled: `CTRD_ERR_CANCELLED`) first
/// puts what it fetched under a lease
/// named "containerd-c.pull-resume.<hash of the image's digest>", which the
/// next successful pull of the same image (from any registry or name)
/// deletes after using it, fetching only what is missing; unused, it
/// expires in a day. After any other failure what was fetched is left to
/// the garbage collector.
///
/// `opts` may be NULL (defaults; see `ctrd_pull_opts`); its strings are
/// read during the call only. On success `*out` receives a new image owned
/// by the caller (free it with `ctrd_image_free`); on failure `*out` is not
/// written.
///
/// Blocks until the pull ends: as long as the transfer takes, with at most
/// 30 s to connect and 60 s to wait for an answer; an answer's body that
/// brings fewer than 1 KiB in any 60 s is cut as stalled
/// (`CTRD_ERR_UNAVAILABLE`, naming the host); each daemon call is bounded
/// by the client's timeout. Registry answers 429, 502, 503 and 504 and
/// connections reset before an answer are tried again, at most 5 times a
/// request, after the registry's `Retry-After` (seconds or a date; at most
/// 60 s without a timeout) or a backoff from 0.2 s doubling up to 5 s; a
/// blob whose connection fails midway resumes from where it stopped; a
/// wait that would end past `opts->timeout_ms` is not begun: the pull
/// fails at once with `CTRD_ERR_DEADLINE_EXCEEDED` and the registry's
/// words. The progress's `retries` counts them. Bearer tokens are asked
/// once per scope for the whole pull, and once more when the registry
/// refuses one midway. `opts->timeout_ms` bounds the whole call
/// (`CTRD_ERR_DEADLINE_EXCEEDED`) and `opts->cancel` cuts it short when
/// triggered (`CTRD_ERR_CANCELLED`, within a second): either way what was
/// fetched stays for the next pull, as after any interruption. `opts->progress`, when
/// set, is called on a library thread (never the caller's) as
/// `ctrd_progress_cb` describes: about ten times a second while the pull
/// runs, then once with phase "done" if it succeeded, and never after this
/// function returned. Thread-safe: pulls may run at once on one client.
///
/// Errors (the message names the reference): `CTRD_ERR_INVALID_ARGUMENT`
/// (NULL `c`, `ref` or `out`, invalid UTF-8, a malformed reference or
/// platform, an empty snapshotter, a username without a secret, an
/// unreadable `ca_file`, a `hosts_dir` that is not a directory, a malformed
/// `hosts.toml`, an unreadable CA, client certificate or key it names), `CTRD_ERR_UNAUTHENTICATED` (the registry wants
/// credentials or refused them: 401), `CTRD_ERR_PERMISSION_DENIED` (403),
/// `CTRD_ERR_NOT_FOUND` (unknown repository, tag or digest, or an index
/// without the platform asked for: the message lists the platforms it has),
/// `CTRD_ERR_UNAVAILABLE` (the registry cannot be reached or broke off, or
/// its TLS certificate is not trusted: the message says so and names the
/// host), `CTRD_ERR_FAILED_PRECONDITION` (the registry sent bytes that do
/// not match the blob's digest: the message names the blob and both
/// digests), `CTRD_ERR_DEADLINE_EXCEEDED` (`opts->timeout_ms` passed),
/// `CTRD_ERR_CANCELLED` (`opts->cancel` triggered), `CTRD_ERR_NOT_IMPLEMENTED` (a
/// manifest kind this library does not pull, e.g. docker schema 1), and the
/// daemon's errors.
#[no_mangle]
pub extern "C" fn ctrd_image_pull(
    c: *mut crate::ffi::client::ctrd_client,
    r#ref: *const c_char,
    opts: *const ctrd_pull_opts,
    out: *mut *mut crate::ffi::image::ctrd_image,
) -> crate::ffi::error::ctrd_status {
    ffi_status! {
        let client = crate::ffi::handle::ref_from_ptr(c, "client")?;
        // SAFETY: a C string or NULL (C contract).
        let reference = unsafe { ptr::str_arg(r#ref, "ref") }?.to_string();
        // SAFETY: NULL or a valid ctrd_pull_opts (C contract).
        let (options, callback) = unsafe { pull_options(opts) }?;
        let out = ptr::Out::new(out, "out")?;
        let client = client.inner.clone();
        let c2 = client.clone();
        let progress = std::sync::Arc::new(crate::core::image::progress::Progress::new());
        let p2 = progress.clone();
        let r2 = reference.clone();
        let record = progress::report(callback, &reference, progress, async move {
            c2.pull(&r2, &options, p2).await
        })?;
        out.write(crate::ffi::image::new_image_handle(client, record)?);
        Ok(())
    }
}

/// As `ctrd_image_pull`, through queue `q` (see `ctrd_queue`): checks the
/// reference, platform and options now and returns; the completion with
/// `tag` brings `.image` (the caller's) or the failure. `opts` and its
/// strings are read during this call only; `opts->progress` is called as
/// for the blocking pull (on a library thread, never after the completion
/// was posted), and `opts->cancel` and `opts->timeout_ms` work as there.
/// `ctrd_queue_cancel` stops it as triggering its `ctrd_cancel` does: what
/// was fetched stays for the next pull. Errors (then no completion comes):
/// `CTRD_ERR_INVALID_ARGUMENT` (NULL `c`, `ref` or `q`, invalid UTF-8, a
/// malformed reference or platform, bad options), `CTRD_ERR_ALREADY_EXISTS`
/// (`tag` in use on `q`), `CTRD_ERR_FORKED`.
#[no_mangle]
pub extern "C" fn ctrd_image_pull_submit(
    c: *mut crate::ffi::client::ctrd_client,
    r#ref: *const c_char,
    opts: *const ctrd_pull_opts,
    q: *mut crate::ffi::queue::ctrd_queue,
    tag: u64,
) -> crate::ffi::error::ctrd_status {
    ffi_status! {
        let client = crate::ffi::handle::ref_from_ptr(c, "client")?.inner.clone();
        // SAFETY: a C string or NULL (C contract).
        let reference = unsafe { ptr::str_arg(r#ref, "ref") }?.to_string();
        // SAFETY: NULL or a valid ctrd_pull_opts (C contract).
        let (mut options, callback) = unsafe { pull_options(opts) }?;
        crate::core::registry::ImageRef::parse(&reference)?;
        check_platform(&options, &format!("pull {reference:?}"))?;
        let signal = queued_signal(&mut options);
        let progress = std::sync::Arc::new(crate::core::image::progress::Progress::new());
        let on_cancel = crate::core::queue::OnCancel::Signal(signal);
        crate::ffi::queue::submit(q, tag, "ctrd_image_pull_submit", on_cancel, async move {
            let work = client.pull(&reference, &options, progress.clone());
            let record = progress::report_async(callback, reference.clone(), progress, work).await?;
            let image = crate::ffi::image::ctrd_image::new(client, record)?;
            Ok(crate::ffi::queue::Payload::Image(image))
        })
    }
}

/// Refuses a malformed `options.platform` before a queued pull or import
/// runs; `what` names the operation.
pub(crate) fn check_platform(options: &PullOptions, what: &str) -> Result<()> {
    match &options.platform {
        Some(p) => crate::core::image::platform::PlatformSpec::parse(p)
            .map(drop)
            .map_err(|e| e.context(what)),
        None => Ok(()),
    }
}

/// Gives a queued pull or import the signal `ctrd_queue_cancel` triggers:
/// one of its own that the caller's `opts->cancel` also triggers.
pub(crate) fn queued_signal(options: &mut PullOptions) -> crate::core::cancel::Cancel {
    let signal = crate::core::cancel::Cancel::child(options.cancel.as_ref());
    options.cancel = Some(signal.clone());
    signal
}
