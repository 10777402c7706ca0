//! Wall-clock time as stored: Unix milliseconds (SQLite columns, memory
//! stores, secrets metadata).

/// Now, in Unix milliseconds (0 before 1970, saturating far after).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
