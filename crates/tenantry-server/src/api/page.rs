//! Page sizes and cursors shared by the list endpoints: every list is
//! paged, so no request can make the server read a tenant's whole table.

use super::ApiError;

/// The largest page any list endpoint returns.
pub(crate) const MAX_LIMIT: i64 = 100;

/// The requested page size, `default` when absent; 1 to [`MAX_LIMIT`].
pub(crate) fn limit(requested: Option<i64>, default: i64) -> Result<i64, ApiError> {
    let limit = requested.unwrap_or(default);
    if (1..=MAX_LIMIT).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::field(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        ))
    }
}

/// The cursor of the page after `items`: the last item's key, when the page
/// is full (a short page is the last one).
pub(crate) fn next<T, K>(items: &[T], limit: i64, key: impl Fn(&T) -> K) -> Option<K> {
    (items.len() as i64 == limit)
        .then(|| items.last().map(key))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None, 50).unwrap(), 50);
        assert_eq!(limit(Some(100), 50).unwrap(), 100);
        assert!(limit(Some(0), 50).is_err());
        assert!(limit(Some(101), 50).is_err());
        assert!(limit(Some(-5), 50).is_err());
    }

    #[test]
    fn only_a_full_page_has_a_next_one() {
        assert_eq!(next(&[5, 4, 3], 3, |n| *n), Some(3));
        assert_eq!(next(&[5, 4], 3, |n| *n), None);
        assert_eq!(next::<i32, i32>(&[], 3, |n| *n), None);
    }
}
