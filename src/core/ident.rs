//! Validation of the identifiers containerd accepts (namespaces, container
//! ids, ...), done before any call so that bad input fails fast and clearly.

use crate::core::error::{Error, Result};

/// Longest identifier containerd accepts.
pub const MAX_LEN: usize = 76;

/// containerd's identifier rule: alphanumeric components joined by single
/// `.`, `_` or `-`, at most 76 characters (`^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$`).
pub fn validate(kind: &str, s: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::invalid(format!("invalid {kind} {s:?}: {why}")));
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

#[cfg(test)]
mod tests {
    use super::validate;

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
