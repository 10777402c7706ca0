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

/// The statement methods of a handle with a private
/// `async fn run(&self, sql, params, Want) -> Result<Ran, DataError>`:
/// `fetch_all`, `fetch_optional`, `fetch_one` and `execute`, written once
/// for [`TenantDb`](super::TenantDb) and [`ControlDb`](super::control::ControlDb).
/// `$scope` says, in each method's docs, where the statement runs.
macro_rules! statement_methods {
    ($scope:literal) => {
        #[doc = concat!("Runs one query ", $scope, " and returns every row.")]
        pub async fn fetch_all(
            &self,
            sql: &'static str,
            params: &[Value],
        ) -> Result<Vec<Row>, DataError> {
            Ok(self.run(sql, params, Want::Rows).await?.rows())
        }

        #[doc = concat!("Runs one query ", $scope, " and returns its first row, if any.")]
        pub async fn fetch_optional(
            &self,
            sql: &'static str,
            params: &[Value],
        ) -> Result<Option<Row>, DataError> {
            Ok(self.fetch_all(sql, params).await?.into_iter().next())
        }

        #[doc = concat!("Runs one query ", $scope, " and returns its first row; none is")]
        /// [`DataError::NotFound`] (a 404 as a response), so a lookup by id
        /// reads the same whether the row is another tenant's or no one's.
        pub async fn fetch_one(
            &self,
            sql: &'static str,
            params: &[Value],
        ) -> Result<Row, DataError> {
            self.fetch_optional(sql, params)
                .await?
                .ok_or(DataError::NotFound)
        }

        #[doc = concat!("Runs one statement ", $scope, " and returns the number of rows it changed.")]
        pub async fn execute(&self, sql: &'static str, params: &[Value]) -> Result<u64, DataError> {
            Ok(self.run(sql, params, Want::Count).await?.count())
        }
    };
}
pub(crate) use statement_methods;
