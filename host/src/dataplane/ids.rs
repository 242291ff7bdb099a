//! Record ids and cursors, checked before they reach an adapter.
//!
//! An id arrives percent-decoded from the URL (`%2F` is already `/`), and an
//! adapter builds its system's URLs with it: an id that is a path
//! (`../../admin/users/1`), or carries control characters, would walk the
//! request to another resource of the system, with the connection's
//! credentials and around the permissions and locks checked for this one.
//! The SDK also encodes every segment it builds; this is the host's half.

use super::DataError;

/// The longest record id, in characters.
pub const MAX_ID_CHARS: usize = 256;
pub use crate::runtime::MAX_CURSOR_BYTES;

fn invalid(message: String) -> DataError {
    DataError::InvalidReference(message)
}

/// A record id: 1 to 256 characters, not made only of dots, and without
/// `/`, `\\`, `?`, `#`, `%` or control characters. Adapters build URLs with
/// it: `?` and `#` would end the path there, and a `%` would let an adapter
/// that does not encode segments send an encoded `..` or `/` (a client's
/// `%252e%252e` arrives here as `%2e%2e`), which the system decodes into
/// one.
///
/// # Errors
///
/// [`DataError::InvalidReference`] (`invalid_record_id`), saying why.
pub fn check_record_id(id: &str) -> Result<(), DataError> {
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS {
        return Err(invalid(format!(
            "a record id has 1 to {MAX_ID_CHARS} characters"
        )));
    }
    if id.chars().all(|c| c == '.') {
        return Err(invalid("a record id is not made only of dots".into()));
    }
    if let Some(c) = id
        .chars()
        .find(|c| matches!(c, '/' | '\\' | '?' | '#' | '%') || c.is_control())
    {
        return Err(invalid(if c.is_control() {
            format!(
                "a record id may not contain control characters (U+{:04X})",
                u32::from(c)
            )
        } else {
            format!("a record id may not contain `{c}`")
        }));
    }
    Ok(())
}

/// A page cursor, as a client sends it back: at most 2,048 characters, no
/// control characters.
///
/// # Errors
///
/// [`DataError::InvalidReference`] (`invalid_record_id`) when it is longer
/// than [`MAX_CURSOR_BYTES`] characters or holds a control character.
pub fn check_cursor(cursor: &str) -> Result<(), DataError> {
    // Adapters make cursors of at most this many bytes, so no cursor of
    // theirs has more characters.
    if cursor.chars().count() > MAX_CURSOR_BYTES || cursor.chars().any(char::is_control) {
        return Err(invalid(format!(
            "a cursor is the `next_cursor` of a page: at most {MAX_CURSOR_BYTES} characters, no control characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::Code;

    #[test]
    fn ids_that_are_paths_or_carry_controls_are_refused() {
        for bad in [
            "",
            ".",
            "..",
            "../../admin/users/1",
            "..\\x",
            "...",
            "7?expand=all",
            "7#x",
            "%2e%2e",
            "%2E.",
            "7%2Fdelete",
            "100%",
            "7/delete",
            "a\r\nHost: evil",
            "tab\there",
            "nul\0",
            &"x".repeat(MAX_ID_CHARS + 1),
        ] {
            assert!(check_record_id(bad).is_err(), "{bad:?}");
        }
        for good in ["1", "PO-2026-0001", "a.b", "..a", "ünïcode", "VEND 7"] {
            assert!(check_record_id(good).is_ok(), "{good:?}");
        }
        assert_eq!(
            check_record_id("x/y").unwrap_err().code(),
            Code::InvalidRecordId
        );
        assert_eq!(
            check_record_id("..").unwrap_err().to_string(),
            "a record id is not made only of dots"
        );
    }

    #[test]
    fn cursors_are_bounded_and_printable() {
        assert!(check_cursor("200").is_ok());
        assert!(check_cursor("0&limit=10\n").is_err());
        assert!(check_cursor(&"9".repeat(MAX_CURSOR_BYTES + 1)).is_err());
    }
}
