//! [`Row`]: a result row from either backend, read by column index.

use super::{DataError, FromColumn, Value};

/// One result row.
///
/// PostgreSQL rows are kept as they came off the wire (decoded lazily per
/// column); SQLite rows are copied out of the statement, which cannot outlive
/// its connection.
#[derive(Debug)]
pub struct Row(pub(crate) RowRepr);

#[derive(Debug)]
pub(crate) enum RowRepr {
    #[cfg(feature = "postgres")]
    Pg(tokio_postgres::Row),
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Values(Vec<Value>),
}

impl Row {
    /// Reads column `idx` as `T`.
    pub fn get<T: FromColumn>(&self, idx: usize) -> Result<T, DataError> {
        match &self.0 {
            #[cfg(feature = "postgres")]
            RowRepr::Pg(row) => T::from_pg(row, idx),
            RowRepr::Values(values) => {
                let value = values
                    .get(idx)
                    .ok_or_else(|| DataError::decode(format!("no column {idx}")))?;
                T::from_value(value)
            }
        }
    }
}

/// Rust types built from a [`Row`] (implemented by repositories).
pub trait FromRow: Sized {
    /// Builds `Self` from `row`.
    fn from_row(row: &Row) -> Result<Self, DataError>;
}
