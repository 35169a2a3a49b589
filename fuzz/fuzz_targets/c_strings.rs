//! The C string conversions of exported functions, with arbitrary bytes as
//! NUL-terminated strings and NULL-terminated arrays (invalid UTF-8, empty,
//! over-long, odd characters): every call returns one of the statuses its
//! documentation allows, writes its out-parameter only on success, never
//! panics and never touches the network. No daemon: calls that would need
//! one go to a socket that does not exist, so they end as
//! `CTRD_ERR_UNAVAILABLE` after all checks passed.
//!
//! Input: a selector byte, then NUL-separated fields.
#![no_main]

use std::ffi::{c_char, CStr, CString};
use std::ptr::{null, null_mut};
use std::sync::OnceLock;

use containerd_c::core::daemon::ident;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use libfuzzer_sys::fuzz_target;

const NO_DAEMON: &str = "/nonexistent/containerd-c-fuzz/containerd.sock";

struct Fixture {
    dir: tempfile::TempDir,
    client: usize,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut client = null_mut();
        let (a, n) = (
            CString::new(NO_DAEMON).unwrap(),
            CString::new("fuzz").unwrap(),
        );
        assert_eq!(
            ctrd_client_connect(a.as_ptr(), n.as_ptr(), &mut client),
            CTRD_OK
        );
        assert_eq!(ctrd_client_set_timeout_ms(client, 2000), CTRD_OK);
        Fixture {
            dir: tempfile::tempdir().unwrap(),
            client: client as usize,
        }
    })
}

fn last_error() -> String {
    // SAFETY: ctrd_last_error never returns NULL; copied at once.
    unsafe { CStr::from_ptr(ctrd_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fn borrowed(p: *const c_char) -> String {
    // SAFETY: a borrowed NUL-terminated string from the library, copied at once.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[track_caller]
fn allowed(f: &str, got: ctrd_status, ok: &[ctrd_status]) {
    assert!(
        ok.contains(&got),
        "{f}: unexpected {got:?}: {}",
        last_error()
    );
    if got != CTRD_OK {
        let m = last_error();
        assert!(m.starts_with(&format!("{f}: ")), "{f}: message {m:?}");
    }
}

const VALID_SPEC: &str = r#"{"ociVersion":"1.1.0","process":{"args":["true"],"cwd":"/"},"root":{"path":"rootfs"},"linux":{}}"#;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let f = fixture();
    let client = f.client as *mut ctrd_client;
    let fields: Vec<CString> = rest
        .split(|b| *b == 0)
        .map(|s| CString::new(s).unwrap())
        .collect();
    let field = |i: usize| fields.get(i).map_or(null(), |s| s.as_ptr());
    let text = |i: usize| fields.get(i).map(|s| s.to_str());
    match sel % 5 {
        0 => {
            // ctrd_fifo_set_create: a fuzzed id in the temp dir, or a fuzzed
            // relative dir (always refused: nothing is made outside the temp dir).
            let relative = fields.len() > 1 && !fields[1].as_bytes().starts_with(b"/");
            let dir = CString::new(f.dir.path().to_str().unwrap()).unwrap();
            let dirp = if relative { field(1) } else { dir.as_ptr() };
            let mut set = null_mut();
            let s = ctrd_fifo_set_create(dirp, field(0), sel & 8 != 0, sel & 16 != 0, &mut set);
            allowed(
                "ctrd_fifo_set_create",
                s,
                &[CTRD_OK, CTRD_ERR_INVALID_ARGUMENT],
            );
            let valid = matches!(text(0), Some(Ok(id)) if ident::validate("id", id).is_ok());
            assert_eq!(s == CTRD_OK, valid && !relative, "{}", last_error());
            if s == CTRD_OK {
                let made = std::path::PathBuf::from(borrowed(ctrd_fifo_set_dir(set)));
                assert!(made.starts_with(f.dir.path()) && made.is_dir());
                ctrd_fifo_set_free(set);
                assert!(!made.exists(), "fifo dir left behind");
            } else {
                assert!(set.is_null());
            }
            assert_eq!(
                std::fs::read_dir(f.dir.path()).unwrap().count(),
                0,
                "left behind"
            );
        }
        1 => {
            // ctrd_client_connect never connects: OK or INVALID_ARGUMENT.
            let mut c = null_mut();
            let s = ctrd_client_connect(field(0), field(1), &mut c);
            allowed(
                "ctrd_client_connect",
                s,
                &[CTRD_OK, CTRD_ERR_INVALID_ARGUMENT],
            );
            if s == CTRD_OK {
                if let Some(Ok(ns)) = text(1) {
                    assert_eq!(borrowed(ctrd_client_namespace(c)), ns);
                }
                ctrd_client_free(c);
            } else {
                assert!(c.is_null());
            }
        }
        2 => {
            // ctrd_spec_patch with bytes that need not be UTF-8.
            let mut out = null_mut();
            let s = ctrd_spec_patch(field(0), field(1), &mut out);
            allowed("ctrd_spec_patch", s, &[CTRD_OK, CTRD_ERR_INVALID_ARGUMENT]);
            if s == CTRD_OK {
                ctrd_string_free(out);
            } else {
                assert!(out.is_null());
            }
        }
        3 => {
            // ctrd_spec_generate without an image makes no call: a fuzzed id
            // and a fuzzed NULL-terminated argv.
            let argv: Vec<*const c_char> = fields
                .iter()
                .skip(1)
                .map(|s| s.as_ptr())
                .chain([null()])
                .collect();
            let mut out = null_mut();
            let s = ctrd_spec_generate(client, field(0), null(), argv.as_ptr(), &mut out);
            allowed(
                "ctrd_spec_generate",
                s,
                &[CTRD_OK, CTRD_ERR_INVALID_ARGUMENT],
            );
            if s == CTRD_OK {
                // SAFETY: a NUL-terminated string the library returned.
                let json = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
                ctrd_string_free(out);
                let v: serde_json::Value = serde_json::from_str(&json).unwrap();
                let want: Vec<&str> = fields.iter().skip(1).map(|s| s.to_str().unwrap()).collect();
                if !want.is_empty() {
                    assert_eq!(v["process"]["args"], serde_json::json!(want));
                }
            } else {
                assert!(out.is_null());
            }
        }
        _ => {
            // ctrd_container_create: fuzzed id, image, runtime, labels (a
            // NULL-terminated array) and, when sel says so, spec; checked
            // before any call, so the only other outcome is UNAVAILABLE.
            let labels: Vec<*const c_char> = fields
                .iter()
                .skip(4)
                .map(|s| s.as_ptr())
                .chain([null()])
                .collect();
            let spec = CString::new(VALID_SPEC).unwrap();
            let opts = ctrd_container_opts {
                struct_size: std::mem::size_of::<ctrd_container_opts>(),
                id: field(0),
                spec_json: if sel & 8 != 0 {
                    field(1)
                } else {
                    spec.as_ptr()
                },
                image: if sel & 16 != 0 { field(2) } else { null() },
                snapshotter: null(),
                snapshot_key: null(),
                runtime: if sel & 32 != 0 { field(3) } else { null() },
                labels: if sel & 64 != 0 {
                    labels.as_ptr()
                } else {
                    null()
                },
                runtime_options_json: null(),
            };
            let mut k = null_mut();
            let s = ctrd_container_create(client, &opts, &mut k);
            allowed(
                "ctrd_container_create",
                s,
                &[CTRD_ERR_INVALID_ARGUMENT, CTRD_ERR_UNAVAILABLE],
            );
            assert!(k.is_null());
        }
    }
});
