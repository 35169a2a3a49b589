//! Validation of the identifiers containerd accepts (namespaces, container
//! ids, ...), done before any call so that bad input fails fast and clearly.

use std::collections::HashMap;

use crate::core::error::{Error, Result};

/// Longest identifier containerd accepts.
pub const MAX_LEN: usize = 76;
/// How much of a value a message quotes before cutting it (a digest, 71
/// bytes, and the longest id, 76, stay whole).
pub const SHOWN_LEN: usize = 96;
/// A run of non-blank characters longer than this in a daemon's message is
/// echoed input; it keeps its first [`WORD_KEPT`] bytes.
const WORD_LEN: usize = 160;
const WORD_KEPT: usize = 64;

/// `s` quoted for a message, cut after [`SHOWN_LEN`] bytes (at a character
/// boundary) with an ellipsis and the full length, so that an echoed id,
/// name, filter, path or JSON keeps the message readable.
pub fn shown(s: &str) -> String {
    if s.len() <= SHOWN_LEN {
        return format!("{s:?}");
    }
    let mut cut = SHOWN_LEN;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{:?}... ({} bytes)", &s[..cut], s.len())
}

/// `s` with every run of non-blank characters longer than 160 bytes cut to
/// its first 64 and the full length: for the daemon's messages, which can
/// echo a whole input (a 10 KB filter) back.
pub fn cut_long_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(1024));
    let mut rest = s;
    while !rest.is_empty() {
        let word_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(word_len);
        if word.len() > WORD_LEN {
            let mut cut = WORD_KEPT;
            while !word.is_char_boundary(cut) {
                cut -= 1;
            }
            out.push_str(&format!("{}... ({} bytes)", &word[..cut], word.len()));
        } else {
            out.push_str(word);
        }
        let blank_len = tail
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(tail.len());
        out.push_str(&tail[..blank_len]);
        rest = &tail[blank_len..];
    }
    out
}

/// containerd's identifier rule: alphanumeric components joined by single
/// `.`, `_` or `-`, at most 76 characters (`^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$`).
pub fn validate(kind: &str, s: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::invalid(format!(
            "invalid {kind} {}: {why}",
            shown(s)
        )))
    };
    if s.is_empty() {
        return bad("must not be empty");
    }
    if s.len() > MAX_LEN {
        return bad(&format!("longer than {MAX_LEN} characters"));
    }
    let mut prev_sep = true;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            prev_sep = false;
        } else if matches!(c, '.' | '_' | '-') {
            if prev_sep {
                return bad("must start with a letter or digit, and '.', '_', '-' must stand between letters or digits");
            }
            prev_sep = true;
        } else {
            return bad(&format!(
                "character {c:?} is not allowed (only A-Z a-z 0-9 . _ -)"
            ));
        }
    }
    if prev_sep {
        return bad("must end with a letter or digit");
    }
    Ok(())
}

/// Parses `key=value` labels; the key must not be empty or repeated.
pub fn parse_labels(items: &[String]) -> Result<HashMap<String, String>> {
    let mut labels = HashMap::new();
    for item in items {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| Error::invalid(format!("label {} is not key=value", shown(item))))?;
        if k.is_empty() {
            return Err(Error::invalid(format!(
                "label {} has an empty key",
                shown(item)
            )));
        }
        if labels.insert(k.to_string(), v.to_string()).is_some() {
            return Err(Error::invalid(format!(
                "label key {} is given twice",
                shown(k)
            )));
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::{cut_long_words, shown, validate, SHOWN_LEN};

    #[test]
    fn long_words_in_messages_are_cut() {
        let msg = format!("parse error: [{}]: bad  value\n", "a".repeat(10_000));
        let cut = cut_long_words(&msg);
        assert!(cut.len() < 150, "{cut}");
        assert!(cut.starts_with("parse error: [aaaa"), "{cut}");
        assert!(cut.ends_with("... (10003 bytes) bad  value\n"), "{cut}");
        let short = "container \"x\" in namespace \"y\": not found";
        assert_eq!(cut_long_words(short), short);
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        assert_eq!(shown("abc"), "\"abc\"");
        let long = "é".repeat(5000);
        let s = shown(&long);
        assert!(s.len() < SHOWN_LEN + 40, "{s}");
        assert!(s.ends_with("... (10000 bytes)"), "{s}");
        let e = validate("container id", &"x".repeat(10_000)).unwrap_err();
        assert!(e.message.len() < 200, "{}", e.message);
    }

    #[test]
    fn accepts_what_containerd_accepts() {
        for ok in ["default", "k8s.io", "a", "A-1_b.c", &"x".repeat(76)] {
            validate("namespace", ok).unwrap();
        }
    }

    #[test]
    fn rejects_with_a_reason() {
        for bad in ["", "-a", "a-", "a..b", "a b", "ä", "a/b", &"x".repeat(77)] {
            let e = validate("namespace", bad).unwrap_err();
            assert!(e.message.starts_with("invalid namespace"), "{}", e.message);
        }
    }
}
