//! Spec JSON validation and RFC 7386 patching with arbitrary bytes, through
//! the C API (`ctrd_spec_patch`) and the pure functions behind it: the two
//! agree, a patched spec is always a valid spec, every failure is
//! `CTRD_ERR_INVALID_ARGUMENT` with a message, and a spec that parses
//! survives a serialize/parse round trip unchanged. No daemon.
//!
//! Input: `spec bytes` NUL `patch bytes` (cut at the next NUL).
#![no_main]

use std::ffi::{CStr, CString};
use std::ptr::null_mut;

use containerd_c::core::error::Code;
use containerd_c::core::container::spec;
use containerd_c::ffi::ctrd_status::*;
use containerd_c::ffi::*;
use libfuzzer_sys::fuzz_target;

fn last_error() -> String {
    // SAFETY: ctrd_last_error never returns NULL; copied at once.
    unsafe { CStr::from_ptr(ctrd_last_error()) }
        .to_string_lossy()
        .into_owned()
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.split(|b| *b == 0);
    let a = fields.next().unwrap_or_default();
    let b = fields.next().unwrap_or_default();
    let (ca, cb) = (CString::new(a).unwrap(), CString::new(b).unwrap());
    let mut out = null_mut();
    let status = ctrd_spec_patch(ca.as_ptr(), cb.as_ptr(), &mut out);
    let pure = match (std::str::from_utf8(a), std::str::from_utf8(b)) {
        (Ok(a), Ok(b)) => Some(spec::merge_patch(a, b)),
        _ => None,
    };
    match status {
        CTRD_OK => {
            // SAFETY: a NUL-terminated string the library returned.
            let s = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_owned();
            ctrd_string_free(out);
            if let Err(e) = spec::parse(&s) {
                panic!(
                    "ctrd_spec_patch returned a spec that does not parse: {}",
                    e.message
                );
            }
            let pure = pure.expect("CTRD_OK for input that is not UTF-8");
            assert_eq!(
                pure.expect("pure merge_patch failed where the C call did not"),
                s
            );
        }
        CTRD_ERR_INVALID_ARGUMENT => {
            assert!(out.is_null(), "out written on failure");
            let m = last_error();
            assert!(m.starts_with("ctrd_spec_patch: ") && m.len() > 17, "{m:?}");
            if let Some(p) = pure {
                let e = p.expect_err("pure merge_patch succeeded where the C call failed");
                assert_eq!(e.code, Code::InvalidArgument, "{}", e.message);
            }
        }
        other => panic!("ctrd_spec_patch: unexpected {other:?}: {}", last_error()),
    }
    // A spec that parses serializes to JSON that parses to the same spec.
    if let Ok(a) = std::str::from_utf8(a) {
        if let Ok(s) = spec::parse(a) {
            let j = spec::to_json(&s).expect("to_json of a parsed spec");
            let s2 = match spec::parse(&j) {
                Ok(s2) => s2,
                Err(e) => panic!("to_json output does not parse: {}\n{j}", e.message),
            };
            assert_eq!(
                spec::to_json(&s2).unwrap(),
                j,
                "round trip changed the spec"
            );
        }
    }
});
