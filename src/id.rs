//! Container ID validation: the ID becomes a directory name under the state root,
//! so anything that could traverse or confuse paths is refused up front.

use crate::error::{Result, WardError};

/// runc's limit is the file name limit; we keep IDs well inside it.
pub const MAX_ID_LEN: usize = 1024;

pub fn validate_id(id: &str) -> Result<()> {
    let bad = |reason| {
        Err(WardError::InvalidId {
            id: id.chars().take(80).collect(),
            reason,
        })
    };
    if id.is_empty() {
        return bad("must not be empty");
    }
    if id.len() > MAX_ID_LEN {
        return bad("longer than 1024 bytes");
    }
    if id == "." || id == ".." || id.contains("..") {
        return bad("must not contain '..'");
    }
    if id.contains('/') {
        return bad("must not contain '/'");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-'))
    {
        return bad("may contain only [A-Za-z0-9_.+-]");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        for id in ["a", "abc-123", "A_b.c+d", "x.y"] {
            assert!(validate_id(id).is_ok(), "{id}");
        }
    }

    #[test]
    fn rejects_hostile_ids() {
        let long = "a".repeat(MAX_ID_LEN + 1);
        for id in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "a..b",
            "a b",
            "a\0b",
            "é",
            long.as_str(),
        ] {
            assert!(validate_id(id).is_err(), "{id:?}");
        }
    }
}
