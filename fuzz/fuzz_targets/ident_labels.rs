//! Identifier validation (`core::daemon::ident::validate`) and label parsing
//! (`core::container::parse_labels`) against simple reference models, with
//! arbitrary input. No daemon.
//!
//! Input: NUL-separated fields (lossy UTF-8); the first is validated as an
//! identifier, all of them are parsed as a label list.
#![no_main]

use std::collections::HashMap;

use containerd_c::core::container::parse_labels;
use containerd_c::core::error::Code;
use containerd_c::core::daemon::ident;
use libfuzzer_sys::fuzz_target;

/// `^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$`, at most 76 bytes.
fn model_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 76
        && s.split(['.', '_', '-'])
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_alphanumeric()))
}

fn model_labels(items: &[String]) -> Option<HashMap<String, String>> {
    let mut m = HashMap::new();
    for item in items {
        let eq = item.find('=')?;
        let (k, v) = (&item[..eq], &item[eq + 1..]);
        if k.is_empty() || m.insert(k.to_string(), v.to_string()).is_some() {
            return None;
        }
    }
    Some(m)
}

fuzz_target!(|data: &[u8]| {
    let items: Vec<String> = data
        .split(|b| *b == 0)
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    let id = &items[0];
    match ident::validate("container id", id) {
        Ok(()) => assert!(model_ident(id), "accepted {id:?}"),
        Err(e) => {
            assert!(!model_ident(id), "refused {id:?}: {}", e.message);
            assert_eq!(e.code, Code::InvalidArgument);
            assert!(
                e.message.starts_with("invalid container id "),
                "{}",
                e.message
            );
        }
    }
    let labels = if data.is_empty() {
        &items[..0]
    } else {
        &items[..]
    };
    match (parse_labels(labels), model_labels(labels)) {
        (Ok(got), Some(want)) => assert_eq!(got, want),
        (Err(e), None) => assert_eq!(e.code, Code::InvalidArgument),
        (got, want) => panic!("parse_labels({labels:?}) = {got:?}, model says {want:?}"),
    }
});
