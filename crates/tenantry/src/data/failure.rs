//! [`DbFailure`]: what the database said, kept whole; [`ErrorKind`]: what a
//! caller does about it.

use std::fmt;

/// A boxed error from the driver.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failure reported by (or on the way to) the database: the message, the
/// SQLSTATE, the constraint and table it names, and the driver's error as
/// the [source](std::error::Error::source).
///
/// ```
/// use tenantry::data::DbFailure;
/// let failure = DbFailure::new("duplicate key value violates unique constraint \"users_email_key\"")
///     .with_sqlstate("23505")
///     .with_constraint("users_email_key");
/// assert_eq!(failure.constraint(), Some("users_email_key"));
/// assert_eq!(failure.sqlstate(), Some("23505"));
/// ```
#[derive(Debug)]
pub struct DbFailure {
    message: String,
    sqlstate: Option<String>,
    constraint: Option<String>,
    table: Option<String>,
    source: Option<BoxError>,
}

impl DbFailure {
    /// A failure described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            sqlstate: None,
            constraint: None,
            table: None,
            source: None,
        }
    }

    /// With the SQLSTATE (`23505`).
    pub fn with_sqlstate(mut self, code: impl Into<String>) -> Self {
        self.sqlstate = Some(code.into());
        self
    }

    /// With the constraint the failure names.
    pub fn with_constraint(mut self, constraint: impl Into<String>) -> Self {
        self.constraint = Some(constraint.into());
        self
    }

    /// With the table the failure names.
    pub fn with_table(mut self, table: impl Into<String>) -> Self {
        self.table = Some(table.into());
        self
    }

    /// With the driver's error as the source.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The message (the server's, with its detail when it gave one).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The SQLSTATE, when the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        self.sqlstate.as_deref()
    }

    /// The constraint named, for constraint violations.
    pub fn constraint(&self) -> Option<&str> {
        self.constraint.as_deref()
    }

    /// The table named, when the server said.
    pub fn table(&self) -> Option<&str> {
        self.table.as_deref()
    }
}

impl fmt::Display for DbFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<String> for DbFailure {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl From<&str> for DbFailure {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

/// The [`DataError`](super::DataError) for `failure`, a server's answer,
/// by its SQLSTATE — one classification for every driver.
#[cfg(feature = "postgres")]
pub(crate) fn classify(failure: DbFailure) -> super::DataError {
    use super::DataError;
    let code = failure.sqlstate().unwrap_or_default();
    match code {
        // unique, foreign key, check, not null, exclusion
        "23505" | "23503" | "23514" | "23502" | "23P01" => DataError::Constraint(failure),
        // a character the encoding cannot hold (twice), a number out of
        // range, text over its column's length: the caller's input
        "22021" | "22P05" | "22003" | "22001" => DataError::InvalidValue(failure),
        // insufficient privilege: row-level security, a missing grant
        "42501" => DataError::Forbidden(failure),
        // cancelled by a statement timeout; a lock wait that ran out
        "57014" | "55P03" => DataError::Timeout(failure),
        // connection exceptions, operator intervention (shutdown, restart,
        // cannot connect now): the database is away, not wrong
        c if c.starts_with("08") || c.starts_with("57") => DataError::Unavailable(failure),
        _ => DataError::Database(failure),
    }
}

/// Which kind of constraint refused a write, from its SQLSTATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConstraintKind {
    /// A unique or primary key (`23505`): usually a 409.
    Unique,
    /// A foreign key (`23503`): the row refers to one that is not there
    /// (or is referred to by others).
    ForeignKey,
    /// A `CHECK` (`23514`).
    Check,
    /// A `NOT NULL` (`23502`).
    NotNull,
    /// An exclusion constraint (`23P01`).
    Exclusion,
    /// Another backend's constraint (SQLite reports no SQLSTATE).
    Other,
}

impl ConstraintKind {
    pub(crate) fn of_sqlstate(code: Option<&str>) -> Self {
        match code {
            Some("23505") => Self::Unique,
            Some("23503") => Self::ForeignKey,
            Some("23514") => Self::Check,
            Some("23502") => Self::NotNull,
            Some("23P01") => Self::Exclusion,
            _ => Self::Other,
        }
    }
}

/// What a caller does about a [`DataError`](super::DataError), by class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No tenant context, or the system tenant where a tenant is needed: a
    /// bug in the caller.
    NoContext,
    /// What was asked for is not there.
    NotFound,
    /// A constraint refused the write: the request conflicts with the data.
    Conflict,
    /// A value the database cannot take as given: the caller's input.
    InvalidInput,
    /// The database refused the caller (row-level security, privileges).
    Forbidden,
    /// The database or a connection is not there now: retry later.
    Unavailable,
    /// A statement or lock wait ran out of time.
    Timeout,
    /// Anything else: a bug or a misconfiguration.
    Internal,
}
