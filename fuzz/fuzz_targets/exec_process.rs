//! Exec id and process JSON validation (`core::task::validate_exec`, what
//! `ctrd_task_exec` checks before sending anything) with arbitrary input:
//! never panics, every failure is InvalidArgument with a message, and
//! success means the id is a valid identifier and the JSON an OCI process
//! with args and a cwd. No daemon.
//!
//! Input: `exec id` NUL `process JSON` (lossy UTF-8).
#![no_main]

use containerd_c::core::error::Code;
use containerd_c::core::{daemon::ident, task};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(2, |b| *b == 0);
    let id = String::from_utf8_lossy(fields.next().unwrap_or_default());
    let json = String::from_utf8_lossy(fields.next().unwrap_or_default());
    match task::validate_exec(&id, &json) {
        Ok(()) => {
            assert!(ident::validate("exec id", &id).is_ok());
            let p: serde_json::Value = serde_json::from_str(&json).expect("accepted JSON parses");
            let args = p["args"].as_array().expect("accepted process has args");
            assert!(!args.is_empty());
            assert!(p["cwd"].as_str().is_some_and(|c| !c.is_empty()));
        }
        Err(e) => {
            assert_eq!(e.code, Code::InvalidArgument, "{}", e.message);
            assert!(!e.message.is_empty());
        }
    }
});
