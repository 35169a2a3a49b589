//! Queued pulls, pushes and imports (`ctrd_image_pull_submit`,
//! `ctrd_image_push_submit`, `ctrd_image_import_submit`) against a private
//! daemon and registry: progress that ends before the completion, a pull
//! cancelled through the queue midway (what it fetched stays), the caller's
//! own cancel signal, bad input.

mod common;

use std::ffi::{c_void, CStr};
use std::ptr::{null, null_mut};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use common::queue::*;
use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;

/// Progress of a queued pull: the phases seen, and whether a call came after
/// the completion was taken.
#[derive(Default)]
struct Progress {
    phases: Mutex<Vec<String>>,
    taken: AtomicBool,
    late: AtomicUsize,
    /// Cancels tag 2 of this queue at the first layer fetched.
    cancel: Mutex<Option<QueuePtr>>,
}

#[derive(Clone, Copy)]
struct QueuePtr(*mut ctrd_queue);
// SAFETY: a queue is thread-safe (C contract).
unsafe impl Send for QueuePtr {}

unsafe extern "C-unwind" fn progress_cb(user: *mut c_void, p: *const ctrd_progress) {
    // SAFETY: the test passes a Progress alive for the pull; `p` is valid
    // during the call.
    let (w, p) = unsafe { (&*(user as *const Progress), &*p) };
    // SAFETY: NUL-terminated, valid during the call.
    let phase = unsafe { CStr::from_ptr(p.phase) }
        .to_string_lossy()
        .into_owned();
    if w.taken.load(Ordering::SeqCst) {
        w.late.fetch_add(1, Ordering::SeqCst);
    }
    if phase == "fetching" && p.layers_done >= 1 {
        if let Some(q) = w.cancel.lock().unwrap().take() {
            check(ctrd_queue_cancel(q.0, 2), CTRD_OK);
        }
    }
    w.phases.lock().unwrap().push(phase);
}

/// A TCP proxy to `upstream` that sends answers on slowly (about 4 MB/s),
/// so that a pull lasts long enough to be cancelled midway.
fn slow_proxy(upstream: String) -> String {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let host = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&upstream) else {
                continue;
            };
            let copy = |mut from: TcpStream, mut to: TcpStream, slow: bool| {
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 16 << 10];
                    while let Ok(n @ 1..) = from.read(&mut buf) {
                        if to.write_all(&buf[..n]).is_err() {
                            break;
                        }
                        if slow {
                            std::thread::sleep(Duration::from_millis(4));
                        }
                    }
                    let _ = to.shutdown(Shutdown::Both);
                    let _ = from.shutdown(Shutdown::Both);
                });
            };
            copy(
                client.try_clone().unwrap(),
                server.try_clone().unwrap(),
                false,
            );
            copy(server, client, true);
        }
    });
    host
}

#[test]
fn queued_pulls_and_imports() {
    let reg = Registry::start(false);
    // A daemon of its own: none of the blobs may be there already.
    let daemon = Daemon::start();
    let client = connect(&daemon.address(), "default");
    let q = new_queue();
    let (user, secret) = (c(reg.user()), c(reg.password()));
    let opts_with = |w: &Progress| ctrd_pull_opts {
        username: user.as_ptr(),
        secret: secret.as_ptr(),
        plain_http: true,
        no_unpack: true,
        progress: Some(progress_cb),
        user_data: w as *const Progress as *mut c_void,
        ..ctrd_pull_opts::default()
    };

    // Cancelled through the queue midway: what was fetched stays for the
    // next pull, under the image's resume lease.
    let proxy = slow_proxy(reg.host().to_string());
    let slow_ref = c(&format!("{proxy}/ctrd/layers:latest"));
    let w = Progress::default();
    *w.cancel.lock().unwrap() = Some(QueuePtr(q));
    check(
        ctrd_image_pull_submit(client, slow_ref.as_ptr(), &opts_with(&w), q, 2),
        CTRD_OK,
    );
    let cut = done(q, 2);
    w.taken.store(true, Ordering::SeqCst);
    assert_eq!(cut.status, CTRD_ERR_CANCELLED, "{}", cut.error);
    assert!(
        cut.error.starts_with("ctrd_image_pull_submit: "),
        "{}",
        cut.error
    );
    assert!(
        w.cancel.lock().unwrap().is_none(),
        "cancelled before a layer came"
    );
    let leases = run(daemon.ctr("default").args(["leases", "ls", "-q"]));
    assert!(
        leases
            .lines()
            .any(|l| l.starts_with("containerd-c.pull-resume.")),
        "{leases}"
    );

    // The caller's own signal works as for the blocking pull.
    let mut signal = null_mut();
    check(ctrd_cancel_new(&mut signal), CTRD_OK);
    ctrd_cancel_trigger(signal);
    let w2 = Progress::default();
    let o = ctrd_pull_opts {
        cancel: signal,
        ..opts_with(&w2)
    };
    check(
        ctrd_image_pull_submit(client, slow_ref.as_ptr(), &o, q, 3),
        CTRD_OK,
    );
    assert_eq!(done(q, 3).status, CTRD_ERR_CANCELLED);
    ctrd_cancel_free(signal);

    // A whole pull: progress ends with "done" before the completion.
    let reference = c(&reg.reference("layers:latest"));
    let w3 = Progress::default();
    check(
        ctrd_image_pull_submit(client, reference.as_ptr(), &opts_with(&w3), q, 4),
        CTRD_OK,
    );
    let pulled = ok(q, 4);
    w3.taken.store(true, Ordering::SeqCst);
    assert!(!pulled.image.is_null());
    // SAFETY: borrowed from a live handle.
    let name = unsafe { CStr::from_ptr(ctrd_image_name(pulled.image)) };
    assert_eq!(name.to_str().unwrap(), reg.reference("layers:latest"));
    // SAFETY: borrowed from a live handle.
    let pulled_digest = unsafe { CStr::from_ptr(ctrd_image_digest(pulled.image)) }.to_owned();
    ctrd_image_free(pulled.image);
    assert_eq!(w3.phases.lock().unwrap().last().unwrap(), "done");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        w3.late.load(Ordering::SeqCst),
        0,
        "progress after the completion"
    );
    assert_eq!(
        w.late.load(Ordering::SeqCst),
        0,
        "progress after the completion"
    );

    // A push of it under another name, and its bad input; a pull of what
    // was pushed.
    let name = c(&reg.reference("layers:latest"));
    let pushed = c(&reg.reference("queued/pushed:1"));
    let push_opts = ctrd_push_opts {
        username: user.as_ptr(),
        secret: secret.as_ptr(),
        plain_http: true,
        ..ctrd_push_opts::default()
    };
    check(
        ctrd_image_push_submit(client, c("").as_ptr(), null(), &push_opts, q, 6),
        CTRD_ERR_INVALID_ARGUMENT,
    );
    check(
        ctrd_image_push_submit(
            client,
            name.as_ptr(),
            c("Bad Ref").as_ptr(),
            &push_opts,
            q,
            6,
        ),
        CTRD_ERR_INVALID_ARGUMENT,
    );
    check(
        ctrd_image_push_submit(client, name.as_ptr(), pushed.as_ptr(), &push_opts, q, 6),
        CTRD_OK,
    );
    ok(q, 6);
    let w4 = Progress::default();
    check(
        ctrd_image_pull_submit(client, pushed.as_ptr(), &opts_with(&w4), q, 7),
        CTRD_OK,
    );
    let again = ok(q, 7);
    // SAFETY: borrowed from a live handle.
    let digest = unsafe { CStr::from_ptr(ctrd_image_digest(again.image)) }.to_owned();
    assert_eq!(digest, pulled_digest, "pushed as it was pulled");
    ctrd_image_free(again.image);

    // An import.
    let tar = c(image_tar().to_str().unwrap());
    check(
        ctrd_image_import_submit(client, tar.as_ptr(), null(), q, 5),
        CTRD_OK,
    );
    let imported = ok(q, 5);
    assert_eq!(imported.names, [IMAGE]);
    ctrd_queue_free(q);
    ctrd_client_free(client);
}
