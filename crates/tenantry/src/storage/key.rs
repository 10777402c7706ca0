//! [`ObjectKey`]: a tenant-relative object name that cannot escape its tenant.

use std::fmt;

use super::StorageError;

/// Longest key accepted, in bytes (S3's limit, less room for the tenant prefix).
const MAX_KEY_BYTES: usize = 900;

/// A validated object key, relative to the current tenant's space.
///
/// Segments are separated by `/`; a key may not be empty, start or end with
/// `/`, have empty, `.` or `..` segments, or contain control characters or
/// backslashes — so no key can climb out of, or alias across, the tenant
/// prefix it is joined to — nor any of `< > : " | ? *`, which file systems
/// refuse or read as drive letters and streams (the local backend is one),
/// so a key that works on one backend works on all.
///
/// ```
/// use tenantry::storage::ObjectKey;
///
/// assert!(ObjectKey::parse("invoices/42/scan.pdf").is_ok());
/// for bad in ["", "/etc/passwd", "a//b", "../b", "a/./b", "a/", "a\\b", "a\u{7}b", "c:", "ab|"] {
///     assert!(ObjectKey::parse(bad).is_err(), "{bad:?}");
/// }
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// Validates `key`.
    pub fn parse(key: &str) -> Result<Self, StorageError> {
        let bad = |why: &'static str| StorageError::InvalidKey {
            key: key.chars().take(80).collect(),
            why,
        };
        if key.is_empty() {
            return Err(bad("is empty"));
        }
        if key.len() > MAX_KEY_BYTES {
            return Err(bad("is too long"));
        }
        if key.chars().any(|c| c.is_control()) {
            return Err(bad("contains a control character"));
        }
        if key.contains('\\') {
            return Err(bad("contains a backslash"));
        }
        if key.contains(['<', '>', ':', '"', '|', '?', '*']) {
            return Err(bad("contains one of < > : \" | ? *"));
        }
        if key.starts_with('/') {
            return Err(bad("is absolute"));
        }
        for segment in key.split('/') {
            match segment {
                "" => return Err(bad("has an empty segment")),
                "." | ".." => return Err(bad("has a '.' or '..' segment")),
                _ => {}
            }
        }
        Ok(Self(key.to_owned()))
    }

    /// A key made of `segments`, each validated as one segment (no `/`).
    ///
    /// ```
    /// use tenantry::storage::ObjectKey;
    ///
    /// let key = ObjectKey::join(["invoices", "42", "scan.pdf"]).unwrap();
    /// assert_eq!(key.as_str(), "invoices/42/scan.pdf");
    /// assert!(ObjectKey::join(["invoices", "a/b"]).is_err());
    /// ```
    pub fn join<'a>(segments: impl IntoIterator<Item = &'a str>) -> Result<Self, StorageError> {
        let mut key = String::new();
        for segment in segments {
            if segment.contains('/') {
                return Err(StorageError::InvalidKey {
                    key: segment.chars().take(80).collect(),
                    why: "a name may not contain '/'",
                });
            }
            if !key.is_empty() {
                key.push('/');
            }
            key.push_str(segment);
        }
        Self::parse(&key)
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment (a file name).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjectKey({:?})", self.0)
    }
}
