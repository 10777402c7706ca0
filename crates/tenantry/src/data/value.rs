//! Statement parameters and column decoding shared by both SQL backends.
//!
//! Repositories write one SQL text with `$1, $2, …` placeholders (valid in
//! PostgreSQL, and named parameters in SQLite) and pass [`Value`]s, so the
//! same repository code runs on either backend.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use super::DataError;

/// A statement parameter (or, for SQLite, a column value).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// Boolean.
    Bool(bool),
    /// Integer (binds to `int2`/`int4`/`int8` on PostgreSQL, range-checked).
    Int(i64),
    /// Double.
    Float(f64),
    /// Text.
    Text(String),
    /// UUID (`uuid` on PostgreSQL, hyphenated text on SQLite).
    Uuid(Uuid),
    /// Point in time (`timestamptz` on PostgreSQL, Unix microseconds on SQLite).
    Timestamp(SystemTime),
    /// Raw bytes.
    Blob(Vec<u8>),
}

macro_rules! value_from {
    ($($ty:ty => |$v:ident| $e:expr),+ $(,)?) => {
        $(impl From<$ty> for Value { fn from($v: $ty) -> Self { $e } })+
    };
}

value_from! {
    bool => |v| Value::Bool(v),
    i32 => |v| Value::Int(v.into()),
    i64 => |v| Value::Int(v),
    f64 => |v| Value::Float(v),
    String => |v| Value::Text(v),
    &str => |v| Value::Text(v.to_owned()),
    Uuid => |v| Value::Uuid(v),
    SystemTime => |v| Value::Timestamp(v),
    Vec<u8> => |v| Value::Blob(v),
    crate::context::TenantId => |v| Value::Uuid(*v.as_uuid()),
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Builds a `&[Value]` parameter list: `params![id, "text", 3]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => { &[$($crate::data::Value::from($v)),*][..] };
}

/// Unix microseconds of `t` (negative before 1970); SQLite stores timestamps so.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn micros_since_epoch(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_micros()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn time_from_micros(us: i64) -> SystemTime {
    let magnitude = Duration::from_micros(us.unsigned_abs());
    if us >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// A Rust type a column can be read as, on either backend.
pub trait FromColumn: Sized {
    /// Reads column `idx` of a PostgreSQL row.
    #[cfg(feature = "postgres")]
    fn from_pg(row: &tokio_postgres::Row, idx: usize) -> Result<Self, DataError>;
    /// Converts a SQLite column value.
    fn from_value(value: &Value) -> Result<Self, DataError>;
}

/// Column `idx` of a PostgreSQL row as `T`; the driver's error kept as the source.
#[cfg(feature = "postgres")]
fn pg_column<'r, T: tokio_postgres::types::FromSql<'r>>(
    row: &'r tokio_postgres::Row,
    idx: usize,
) -> Result<T, DataError> {
    row.try_get(idx).map_err(pg_decode)
}

#[cfg(feature = "postgres")]
fn pg_decode(e: tokio_postgres::Error) -> DataError {
    DataError::Decode(crate::data::DbFailure::new(e.to_string()).with_source(e))
}

fn mismatch(expected: &'static str, got: &Value) -> DataError {
    DataError::decode(format!("expected {expected}, found {got:?}"))
}

macro_rules! from_column {
    ($ty:ty, $name:literal, |$v:ident| $conv:expr) => {
        impl FromColumn for $ty {
            #[cfg(feature = "postgres")]
            fn from_pg(row: &tokio_postgres::Row, idx: usize) -> Result<Self, DataError> {
                pg_column(row, idx)
            }
            fn from_value($v: &Value) -> Result<Self, DataError> {
                #[allow(unreachable_patterns)]
                $conv.ok_or_else(|| mismatch($name, $v))
            }
        }
        impl FromColumn for Option<$ty> {
            #[cfg(feature = "postgres")]
            fn from_pg(row: &tokio_postgres::Row, idx: usize) -> Result<Self, DataError> {
                pg_column(row, idx)
            }
            fn from_value(value: &Value) -> Result<Self, DataError> {
                match value {
                    Value::Null => Ok(None),
                    v => <$ty>::from_value(v).map(Some),
                }
            }
        }
    };
}

from_column!(String, "text", |v| match v {
    Value::Text(s) => Some(s.clone()),
    _ => None,
});
impl FromColumn for i64 {
    /// Any integer column (`int2`, `int4`, `int8`) widens to `i64`.
    #[cfg(feature = "postgres")]
    fn from_pg(row: &tokio_postgres::Row, idx: usize) -> Result<Self, DataError> {
        Option::<i64>::from_pg(row, idx)?.ok_or_else(|| mismatch("integer", &Value::Null))
    }
    fn from_value(value: &Value) -> Result<Self, DataError> {
        match value {
            Value::Int(i) => Ok(*i),
            other => Err(mismatch("integer", other)),
        }
    }
}

impl FromColumn for Option<i64> {
    #[cfg(feature = "postgres")]
    fn from_pg(row: &tokio_postgres::Row, idx: usize) -> Result<Self, DataError> {
        use tokio_postgres::types::Type;
        let ty = row.columns().get(idx).map(|c| c.type_().clone());
        match ty {
            Some(Type::INT4) => Ok(row
                .try_get::<_, Option<i32>>(idx)
                .map_err(pg_decode)?
                .map(i64::from)),
            Some(Type::INT2) => Ok(row
                .try_get::<_, Option<i16>>(idx)
                .map_err(pg_decode)?
                .map(i64::from)),
            _ => row.try_get(idx).map_err(pg_decode),
        }
    }
    fn from_value(value: &Value) -> Result<Self, DataError> {
        match value {
            Value::Null => Ok(None),
            v => i64::from_value(v).map(Some),
        }
    }
}
from_column!(f64, "double", |v| match v {
    Value::Float(f) => Some(*f),
    Value::Int(i) => Some(*i as f64),
    _ => None,
});
from_column!(bool, "boolean", |v| match v {
    Value::Bool(b) => Some(*b),
    Value::Int(i) => Some(*i != 0),
    _ => None,
});
from_column!(Uuid, "uuid", |v| match v {
    Value::Uuid(u) => Some(*u),
    Value::Text(s) => Uuid::parse_str(s).ok(),
    _ => None,
});
from_column!(Vec<u8>, "bytes", |v| match v {
    Value::Blob(b) => Some(b.clone()),
    _ => None,
});
from_column!(SystemTime, "timestamp", |v| match v {
    Value::Timestamp(t) => Some(*t),
    Value::Int(us) => Some(time_from_micros(*us)),
    _ => None,
});

impl FromColumn for i32 {
    #[cfg(feature = "postgres")]
    fn from_pg(row: &tokio_postgres::Row, idx: usize) -> Result<Self, DataError> {
        pg_column(row, idx)
    }
    fn from_value(value: &Value) -> Result<Self, DataError> {
        match value {
            Value::Int(i) => i32::try_from(*i).map_err(|_| mismatch("int4", value)),
            _ => Err(mismatch("int4", value)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip_both_sides_of_the_epoch() {
        for us in [0, 1, -1, 1_700_000_000_123_456, -86_400_000_000] {
            assert_eq!(micros_since_epoch(time_from_micros(us)), us);
        }
    }

    #[test]
    fn sqlite_values_decode_to_rust_types() {
        let id = Uuid::new_v4();
        assert_eq!(Uuid::from_value(&Value::Text(id.to_string())).unwrap(), id);
        assert_eq!(Option::<String>::from_value(&Value::Null).unwrap(), None);
        assert!(i64::from_value(&Value::Text("1".into())).is_err());
        assert!(i32::from_value(&Value::Int(i64::MAX)).is_err());
    }
}
