//! Text fields as the API document states them, checked exactly as stated:
//! lengths in characters (JSON Schema's `maxLength` counts code points), and
//! for display texts the pattern
//! `^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$`
//! (`openapi.rs` tests the document's patterns against these checks).

use super::ApiError;

/// A display text (a customer, a user's name) of 1 to `max` characters,
/// not only white space, without control characters.
pub(crate) fn display_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let count = value.chars().count();
    if count == 0 || count > max || value.trim().is_empty() {
        return Err(ApiError::field(
            field,
            format!("must be 1 to {max} characters, not only spaces"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::field(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}
