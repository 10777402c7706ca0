//! [`Want`] and [`Ran`]: one path for every statement, whether the caller
//! wants its rows (`fetch_*`) or the count of rows it changed
//! (`execute`). The backends run a statement the same way either way —
//! scope, fence, pool, error mapping — and differ only in what they read
//! back, so that difference is a value rather than a second copy of the
//! path.

use super::Row;

/// What a statement is run for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// Its rows.
    Rows,
    /// How many rows it changed.
    Count,
}

/// What a statement gave back.
#[derive(Debug)]
pub(crate) enum Ran {
    /// The rows of a statement run for [`Want::Rows`].
    Rows(Vec<Row>),
    /// The count of a statement run for [`Want::Count`].
    Count(u64),
}

impl Ran {
    /// The rows (none when the count was asked for).
    pub(crate) fn rows(self) -> Vec<Row> {
        match self {
            Ran::Rows(rows) => rows,
            Ran::Count(_) => Vec::new(),
        }
    }

    /// The count of rows changed (of rows returned, when those were asked
    /// for).
    pub(crate) fn count(self) -> u64 {
        match self {
            Ran::Count(count) => count,
            Ran::Rows(rows) => rows.len() as u64,
        }
    }
}
