//! [`UnixMillis`]: a control-plane time read the same from either backend.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::data::{DataError, FromColumn, Value};

/// A point in time as Unix milliseconds: read from a `timestamptz` column
/// on PostgreSQL and from an integer column of milliseconds on SQLite (how
/// control files keep time; see [`ControlDb`](super::ControlDb)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UnixMillis(pub i64);

impl UnixMillis {
    /// The point in time (the epoch for a time before it).
    pub fn system_time(self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(self.0).unwrap_or(0))
    }
}

fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

impl FromColumn for UnixMillis {
    #[cfg(feature = "postgres")]
    fn from_pg(row: &tokio_postgres::Row, idx: usize) -> Result<Self, DataError> {
        SystemTime::from_pg(row, idx).map(|t| UnixMillis(millis(t)))
    }

    fn from_value(value: &Value) -> Result<Self, DataError> {
        match value {
            Value::Int(ms) => Ok(UnixMillis(*ms)),
            Value::Timestamp(t) => Ok(UnixMillis(millis(*t))),
            other => Err(DataError::decode(format!(
                "expected milliseconds, found {other:?}"
            ))),
        }
    }
}

impl FromColumn for Option<UnixMillis> {
    #[cfg(feature = "postgres")]
    fn from_pg(row: &tokio_postgres::Row, idx: usize) -> Result<Self, DataError> {
        Option::<SystemTime>::from_pg(row, idx).map(|t| t.map(|t| UnixMillis(millis(t))))
    }

    fn from_value(value: &Value) -> Result<Self, DataError> {
        match value {
            Value::Null => Ok(None),
            v => UnixMillis::from_value(v).map(Some),
        }
    }
}

/// A parameter as a control file stores it: times as milliseconds.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn for_control_file(value: &Value) -> Value {
    match value {
        Value::Timestamp(t) => Value::Int(millis(*t)),
        other => other.clone(),
    }
}
