//! Secrets the server makes for itself and its tenants (the development
//! JWT secret, webhook signing secrets): bytes from the operating system's
//! generator, as lower-case hex.

use std::fmt::Write as _;

/// `bytes` random bytes as `2 × bytes` hex digits.
pub(crate) fn hex_secret(bytes: usize) -> Result<String, getrandom::Error> {
    let mut raw = vec![0_u8; bytes];
    getrandom::fill(&mut raw)?;
    Ok(raw
        .iter()
        .fold(String::with_capacity(bytes * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_hex_of_the_asked_length_and_differ() {
        let (a, b) = (
            super::hex_secret(32).unwrap(),
            super::hex_secret(32).unwrap(),
        );
        assert_eq!(a.len(), 64);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, b);
    }
}
