//! The foundation against a real private containerd: version, unreachable
//! daemons, bad arguments, the panic boundary, namespaces, daemon restarts.

mod common;

use std::os::unix::net::UnixListener;
use std::ptr::null_mut;
use std::time::{Duration, Instant};

use common::*;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;

#[test]
fn version_comes_from_the_real_daemon() {
    let d = Daemon::shared();
    let client = connect(&d.address(), "default");
    let (version, revision) = server_version(client).unwrap();
    // ctr is the reference: its "Server:" section names the same version.
    let ctr = run(d.ctr("default").arg("version"));
    let server = ctr
        .split("Server:")
        .nth(1)
        .expect("ctr version prints a Server section");
    assert!(!version.is_empty());
    assert!(server.contains(&format!("Version:  {version}")), "{server}");
    assert!(
        server.contains(&format!("Revision: {revision}")),
        "{server}"
    );
    // Optional out-params may be NULL.
    check(
        ctrd_client_server_version(client, null_mut(), null_mut()),
        CTRD_OK,
    );
    ctrd_client_free(client);
}

#[test]
fn address_and_namespace_fall_back_to_the_environment() {
    let d = Daemon::shared();
    // Only this test touches these variables in this binary.
    std::env::set_var("CONTAINERD_ADDRESS", format!("unix://{}", d.address()));
    std::env::set_var("CONTAINERD_NAMESPACE", "from-env");
    let mut client = null_mut();
    check(
        ctrd_client_connect(std::ptr::null(), std::ptr::null(), &mut client),
        CTRD_OK,
    );
    std::env::remove_var("CONTAINERD_ADDRESS");
    std::env::remove_var("CONTAINERD_NAMESPACE");
    assert!(server_version(client).is_ok());
    // SAFETY: a borrowed NUL-terminated string, copied at once.
    let ns = unsafe { std::ffi::CStr::from_ptr(ctrd_client_namespace(client)) };
    assert_eq!(ns.to_str().unwrap(), "from-env");
    ctrd_client_free(client);
}

#[test]
fn a_missing_socket_is_unavailable_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nobody.sock");
    let client = connect(path.to_str().unwrap(), "default");
    check(ctrd_client_set_timeout_ms(client, 10_000), CTRD_OK);
    let start = Instant::now();
    let (status, msg) = server_version(client).unwrap_err();
    let took = start.elapsed();
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    assert!(msg.starts_with("ctrd_client_server_version: "), "{msg}");
    assert!(msg.contains(path.to_str().unwrap()), "{msg}");
    assert!(msg.contains("No such file or directory"), "{msg}");
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}, the whole timeout"
    );
    ctrd_client_free(client);
}

#[test]
fn a_socket_nobody_listens_on_is_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dead.sock");
    drop(UnixListener::bind(&path).unwrap()); // the file stays, nobody listens
    let client = connect(path.to_str().unwrap(), "default");
    let (status, msg) = server_version(client).unwrap_err();
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    assert!(msg.contains("Connection refused"), "{msg}");
    ctrd_client_free(client);
}

#[test]
fn a_daemon_that_never_answers_runs_into_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hang.sock");
    // Accepts connections (the kernel's backlog) but never speaks HTTP/2.
    let _listener = UnixListener::bind(&path).unwrap();
    let client = connect(path.to_str().unwrap(), "default");
    check(ctrd_client_set_timeout_ms(client, 300), CTRD_OK);
    let start = Instant::now();
    let (status, msg) = server_version(client).unwrap_err();
    let took = start.elapsed();
    assert_eq!(status, CTRD_ERR_DEADLINE_EXCEEDED, "{msg}");
    assert!(msg.contains("did not answer within 300 ms"), "{msg}");
    assert!(
        took >= Duration::from_millis(300),
        "returned before the timeout: {took:?}"
    );
    assert!(took < Duration::from_secs(10), "hung: {took:?}");
    ctrd_client_free(client);
}

#[test]
fn bad_arguments_are_invalid_with_a_message() {
    let d = Daemon::shared();
    let good = c(&d.address());
    let bad_utf8 = [0x2f_u8, 0xff, 0xfe, 0];
    let too_long = c(&format!("/{}", "s".repeat(120)));
    let mut out = null_mut();
    // (status, what the message must name)
    let cases: Vec<(ctrd_status, &str)> = vec![
        (
            ctrd_client_connect(good.as_ptr(), std::ptr::null(), null_mut()),
            "out is NULL",
        ),
        (
            ctrd_client_connect(bad_utf8.as_ptr().cast(), std::ptr::null(), &mut out),
            "address is not valid UTF-8",
        ),
        (
            ctrd_client_connect(good.as_ptr(), bad_utf8.as_ptr().cast(), &mut out),
            "ns is not valid UTF-8",
        ),
        (
            ctrd_client_connect(c("relative.sock").as_ptr(), std::ptr::null(), &mut out),
            "must be absolute",
        ),
        (
            ctrd_client_connect(c("").as_ptr(), std::ptr::null(), &mut out),
            "must be absolute",
        ),
        (
            ctrd_client_connect(c("tcp://127.0.0.1:1").as_ptr(), std::ptr::null(), &mut out),
            "not supported",
        ),
        (
            ctrd_client_connect(too_long.as_ptr(), std::ptr::null(), &mut out),
            "at most 107 bytes",
        ),
        (
            ctrd_client_connect(good.as_ptr(), c("bad ns").as_ptr(), &mut out),
            "invalid namespace \"bad ns\"",
        ),
        (
            ctrd_client_connect(good.as_ptr(), c("").as_ptr(), &mut out),
            "invalid namespace",
        ),
        (ctrd_client_set_timeout_ms(null_mut(), 5), "client is NULL"),
        (
            ctrd_client_server_version(null_mut(), null_mut(), null_mut()),
            "client is NULL",
        ),
        (
            ctrd_debug_panic_next_call(std::ptr::null()),
            "function is NULL",
        ),
    ];
    for (i, (status, want)) in cases.into_iter().enumerate() {
        // Each call's message was overwritten by the next: check the status,
        // then replay to read the message of each case separately below.
        assert_eq!(status, CTRD_ERR_INVALID_ARGUMENT, "case {i} ({want})");
    }
    assert!(out.is_null(), "out written on failure");
    // Messages, one call at a time.
    let msg = |s: ctrd_status| {
        assert_eq!(s, CTRD_ERR_INVALID_ARGUMENT);
        last_error()
    };
    assert_eq!(
        msg(ctrd_client_connect(
            good.as_ptr(),
            std::ptr::null(),
            null_mut()
        )),
        "ctrd_client_connect: out is NULL"
    );
    assert!(msg(ctrd_client_connect(
        bad_utf8.as_ptr().cast(),
        std::ptr::null(),
        &mut out
    ))
    .contains("address is not valid UTF-8"));
    assert!(msg(ctrd_client_connect(
        c("relative.sock").as_ptr(),
        std::ptr::null(),
        &mut out
    ))
    .contains("\"relative.sock\": the socket path must be absolute"));
    assert!(msg(ctrd_client_connect(
        good.as_ptr(),
        c("a/b").as_ptr(),
        &mut out
    ))
    .contains("invalid namespace \"a/b\""));
    assert_eq!(
        msg(ctrd_client_server_version(
            null_mut(),
            null_mut(),
            null_mut()
        )),
        "ctrd_client_server_version: client is NULL"
    );
    assert!(msg(ctrd_client_connect(
        too_long.as_ptr(),
        std::ptr::null(),
        &mut out
    ))
    .contains("at most 107 bytes"));
    // A success clears the message.
    let client = connect(&d.address(), "default");
    assert_eq!(last_error(), "");
    ctrd_client_free(client);
    // Freeing NULL is fine.
    ctrd_client_free(null_mut());
    ctrd_string_free(null_mut());
    ctrd_string_array_free(null_mut(), 3);
}

#[test]
fn a_panic_inside_an_exported_function_is_internal() {
    let d = Daemon::shared();
    let client = connect(&d.address(), "default");
    check(
        ctrd_debug_panic_next_call(c("ctrd_client_server_version").as_ptr()),
        CTRD_OK,
    );
    let (status, msg) = server_version(client).unwrap_err();
    assert_eq!(status, CTRD_ERR_INTERNAL);
    assert!(
        msg.starts_with("ctrd_client_server_version: internal error"),
        "{msg}"
    );
    assert!(msg.contains("panic injected"), "{msg}");
    // Only the next call panics; the client is still fine.
    assert!(server_version(client).is_ok());
    // Functions that return values fall back and still report the panic.
    check(
        ctrd_debug_panic_next_call(c("ctrd_version").as_ptr()),
        CTRD_OK,
    );
    // SAFETY: ctrd_version returns a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(ctrd_version()) };
    assert_eq!(v.to_str().unwrap(), "");
    assert!(
        last_error().contains("ctrd_version: internal error"),
        "{}",
        last_error()
    );
    // SAFETY: as above.
    let v = unsafe { std::ffi::CStr::from_ptr(ctrd_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    ctrd_client_free(client);
}

#[test]
fn status_names() {
    assert_eq!(status_name(CTRD_OK), "CTRD_OK");
    assert_eq!(status_name(CTRD_ERR_NOT_FOUND), "CTRD_ERR_NOT_FOUND");
    assert_eq!(status_name(CTRD_ERR_UNKNOWN), "CTRD_ERR_UNKNOWN");
    // SAFETY: ctrd_status_name returns a static NUL-terminated string.
    let invalid = unsafe { std::ffi::CStr::from_ptr(ctrd_status_name(999)) };
    assert_eq!(invalid.to_str().unwrap(), "CTRD_STATUS_INVALID");
}

#[test]
fn the_namespace_reaches_the_daemon() {
    use containerd_c::api::services::images::v1::ListImagesRequest;
    use containerd_c::api::services::leases::v1::{CreateRequest, DeleteRequest};
    use containerd_c::core::Client;
    use containerd_c::runtime::block_on;

    let d = Daemon::shared();
    d.import_image("ns-a");
    let address = d.address();
    // Images imported into ns-a are seen from ns-a only.
    let names = |ns: &'static str| {
        let address = address.clone();
        block_on(async move {
            let c = Client::connect(Some(&address), Some(ns))?;
            let list = c
                .call(
                    "list images",
                    c.images().list(c.request(ListImagesRequest::default())),
                )
                .await?;
            Ok(list.images.into_iter().map(|i| i.name).collect::<Vec<_>>())
        })
        .unwrap()
    };
    assert_eq!(names("ns-a"), vec![IMAGE.to_string()]);
    assert_eq!(names("ns-b"), Vec::<String>::new());

    // A lease made through the library in ns-b is what ctr sees in ns-b only.
    let address2 = address.clone();
    block_on(async move {
        let c = Client::connect(Some(&address2), Some("ns-b"))?;
        let req = CreateRequest {
            id: "ns-probe".into(),
            ..Default::default()
        };
        c.call("create lease", c.leases().create(c.request(req)))
            .await?;
        Ok(())
    })
    .unwrap();
    assert!(run(d.ctr("ns-b").args(["leases", "ls", "-q"]))
        .lines()
        .any(|l| l == "ns-probe"));
    assert!(!run(d.ctr("ns-a").args(["leases", "ls", "-q"]))
        .lines()
        .any(|l| l == "ns-probe"));
    block_on(async move {
        let c = Client::connect(Some(&address), Some("ns-b"))?;
        let req = DeleteRequest {
            id: "ns-probe".into(),
            sync: true,
        };
        c.call("delete lease", c.leases().delete(c.request(req)))
            .await?;
        Ok(())
    })
    .unwrap();
    assert_eq!(run(d.ctr("ns-b").args(["leases", "ls", "-q"])).trim(), "");
}

#[test]
fn the_same_client_works_again_after_the_daemon_restarts() {
    let d = Daemon::start();
    let client = connect(&d.address(), "default");
    check(ctrd_client_set_timeout_ms(client, 5_000), CTRD_OK);
    let before = server_version(client).unwrap();

    // Restarted at once: the next call must not see the old connection.
    d.restart();
    assert_eq!(server_version(client).unwrap(), before);

    // Down for a while: calls fail fast; back up: the same client works.
    d.stop_daemon_only();
    let (status, msg) = server_version(client).unwrap_err();
    assert_eq!(status, CTRD_ERR_UNAVAILABLE, "{msg}");
    d.restart();
    assert_eq!(server_version(client).unwrap(), before);
    ctrd_client_free(client);
}
