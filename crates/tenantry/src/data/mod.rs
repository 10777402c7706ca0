//! Tenant-scoped data access on PostgreSQL and SQLite.
//!
//! A handler never names its tenant to the database. It asks the
//! [`Database`] for a [`TenantDb`], which reads the tenant from the current
//! [context](crate::context) (and fails with `NoTenantContext` outside one),
//! and every statement it runs is scoped to that tenant by the backend:
//!
//! | backend, tier | where rows live and how they are scoped |
//! |---|---|
//! | PostgreSQL, `shared` | shared tables; row-level security (`ENABLE` + `FORCE`) on `current_setting('app.tenant_id')`, set per transaction with `set_config(…, true)` by a non-owner role without `BYPASSRLS`; checked at start-up by [`postgres::audit`] |
//! | PostgreSQL, `schema` | the tenant's schema ([`postgres::schema_for`]), made the `search_path` in the same per-transaction `set_config`; the same RLS still applies |
//! | SQLite, `shared` (embedded default) | one file; repositories filter on `tenantry_current_tenant()`, a connection function bound to the context, and triggers refuse writes of another tenant's rows |
//! | SQLite, `database` | one file per tenant, same function and triggers |
//!
//! The tier comes from the context (the registry record), so handlers and
//! repositories never know which tier they run on; a tier a backend does not
//! serve is [`DataError::TierUnavailable`].
//!
//! On PostgreSQL the tenant is set **per transaction**: a session-level `SET`
//! would survive on a pooled connection into the next tenant's request. To
//! keep that cheap, the single-statement helpers pipeline `BEGIN`,
//! `set_config`, the statement and `COMMIT` in one network flight.
//!
//! SQL is written once for both backends, with `$1, $2, …` placeholders and
//! `tenantry_current_tenant()` where the tenant id is needed:
//!
//! ```no_run
//! # async fn demo(db: tenantry::data::Database) -> Result<(), tenantry::data::DataError> {
//! use tenantry::params;
//! let rows = db
//!     .tenant()?
//!     .fetch_all(
//!         "SELECT id, customer FROM orders WHERE tenant_id = tenantry_current_tenant() LIMIT $1",
//!         params![20],
//!     )
//!     .await?;
//! # Ok(()) }
//! ```

pub mod control;
mod failure;
pub(crate) mod fence;
mod migration;
mod ran;
#[cfg(feature = "edge")]
mod response;
mod row;
mod scoped;
mod value;

#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub mod postgres;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub mod sqlite;
#[cfg(feature = "sqlx")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub mod sqlx;

pub use failure::{BoxError, ConstraintKind, DbFailure, ErrorKind};
pub use migration::{Migration, MigrationError};
pub(crate) use ran::{Ran, Want};
pub use row::{FromRow, Row};
pub(crate) use scoped::PAUSE_DUAL_WRITES;
pub use scoped::{TenantDb, Tx};
pub use value::{FromColumn, Value};

use crate::context::NoTenantContext;

/// A tenant-plane database: where tenants' own rows live.
///
/// Cheap to clone; clones share the pools.
#[derive(Clone)]
#[non_exhaustive]
pub enum Database {
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgDatabase),
    /// SQLite files.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::SqliteDatabase),
}

impl Database {
    /// A handle scoped to the tenant of the current context.
    ///
    /// Fails with [`DataError::NoTenantContext`] outside a context, and with
    /// [`DataError::SystemTenant`] in the system context: cross-tenant reads
    /// go through a separate, audited API, never through `TenantDb`.
    pub fn tenant(&self) -> Result<TenantDb<'_>, DataError> {
        let ctx = crate::context::require()?;
        if ctx.is_system() {
            return Err(DataError::SystemTenant);
        }
        Ok(TenantDb::new(self, ctx))
    }

    /// This database guarded by `fence`: every statement and transaction
    /// of a tenant's own (not its lifecycle work) asks the fence first, and
    /// is refused with [`DataError::Fenced`] for a held tenant or a stale
    /// process. The fence refuses nothing until it is armed (see
    /// [`crate::fence`]). Clones made before this keep their own fence.
    pub fn with_fence(self, fence: crate::data::fence::TenantFence) -> Self {
        match self {
            #[cfg(feature = "postgres")]
            Database::Postgres(mut pg) => {
                pg.fence = fence;
                Database::Postgres(pg)
            }
            #[cfg(feature = "sqlite")]
            Database::Sqlite(mut lite) => {
                lite.fence = fence;
                Database::Sqlite(lite)
            }
        }
    }

    /// The fence this database's tenant work asks (see [`Self::with_fence`]).
    pub fn fence(&self) -> &crate::data::fence::TenantFence {
        match self {
            #[cfg(feature = "postgres")]
            Database::Postgres(pg) => &pg.fence,
            #[cfg(feature = "sqlite")]
            Database::Sqlite(lite) => &lite.fence,
        }
    }

    /// Until when work starting now may wait for its connections.
    pub(crate) fn acquire_deadline(&self) -> tokio::time::Instant {
        match self {
            #[cfg(feature = "postgres")]
            Database::Postgres(pg) => pg.acquire_deadline(),
            #[cfg(feature = "sqlite")]
            Database::Sqlite(_) => tokio::time::Instant::now() + std::time::Duration::from_secs(5),
        }
    }

    /// The backend's name (`postgres` or `sqlite`), for logs and health output.
    pub fn backend_name(&self) -> &'static str {
        match self {
            #[cfg(feature = "postgres")]
            Database::Postgres(_) => "postgres",
            #[cfg(feature = "sqlite")]
            Database::Sqlite(_) => "sqlite",
        }
    }
}

/// Data-layer failures.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// Used outside a tenant context.
    #[error(transparent)]
    NoTenantContext(#[from] NoTenantContext),
    /// Used in the system context; cross-tenant work has its own API.
    #[error("the system tenant has no tenant rows; use the cross-tenant API")]
    SystemTenant,
    /// Cross-tenant access outside the system context.
    #[error("cross-tenant access needs the system tenant (run_as_system)")]
    SystemOnly,
    /// The tenant's tier is not served by this backend (the schema tier on
    /// SQLite, or a tier not implemented yet).
    #[error("the {0} tier is not available on this backend")]
    TierUnavailable(crate::context::Tier),
    /// The row asked for is not there (or is another tenant's: the two
    /// are not told apart).
    #[error("no such row")]
    NotFound,
    /// A constraint refused the write; [`DataError::constraint`] names
    /// it and [`DataError::constraint_kind`] says which kind it is.
    #[error("constraint violated: {0}")]
    Constraint(#[source] DbFailure),
    /// A value the database cannot store as given (a NUL character in
    /// text, a number beyond its column's range, text over its length):
    /// the caller's input, not the database, is at fault.
    #[error("value not storable: {0}")]
    InvalidValue(#[source] DbFailure),
    /// The database refused the statement to this role: row-level security
    /// (a row written for another tenant) or a missing privilege.
    #[error("refused by the database: {0}")]
    Forbidden(#[source] DbFailure),
    /// The process fence refused the tenant's work: the tenant is held
    /// (a 404, like an unknown tenant), or this process is out of touch
    /// with the control plane (a 503).
    #[error(transparent)]
    Fenced(#[from] crate::data::fence::Fenced),
    /// A statement or lock wait was cancelled by its timeout.
    #[error("database timeout: {0}")]
    Timeout(#[source] DbFailure),
    /// A column could not be read as the requested type (the driver's or
    /// the parser's error is the failure's source, when there was one).
    #[error("decode: {0}")]
    Decode(#[source] DbFailure),
    /// A setting (a URL, a server address, a certificate file) is not
    /// usable as given (the parser's or the file's error is the failure's
    /// source, when there was one).
    #[error("bad configuration: {0}")]
    Config(#[source] DbFailure),
    /// No connection could be had in time, or the server went away.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] DbFailure),
    /// Any other database error.
    #[error("database: {0}")]
    Database(#[source] DbFailure),
}

impl DataError {
    /// A column that could not be read as the requested type, for `reason`
    /// (no underlying error: a value out of range, a wrong variant).
    pub fn decode(reason: impl Into<String>) -> Self {
        DataError::Decode(DbFailure::new(reason))
    }

    /// A setting that is not usable, for `reason` (no underlying error).
    pub fn config(reason: impl Into<String>) -> Self {
        DataError::Config(DbFailure::new(reason))
    }

    /// Whether the error is a constraint violation (usually a 409 for clients).
    pub fn is_constraint(&self) -> bool {
        matches!(self, DataError::Constraint(_))
    }

    /// What a caller does about it.
    ///
    /// ```
    /// use tenantry::data::{DataError, DbFailure, ErrorKind};
    /// let taken = DataError::Constraint(DbFailure::new("duplicate key").with_sqlstate("23505").with_constraint("users_email_key"));
    /// assert_eq!(taken.kind(), ErrorKind::Conflict);
    /// assert_eq!(taken.constraint(), Some("users_email_key"));
    /// assert_eq!(taken.constraint_kind(), Some(tenantry::data::ConstraintKind::Unique));
    /// ```
    pub fn kind(&self) -> ErrorKind {
        match self {
            DataError::NoTenantContext(_) | DataError::SystemTenant | DataError::SystemOnly => {
                ErrorKind::NoContext
            }
            DataError::NotFound | DataError::Fenced(crate::data::fence::Fenced::Held) => {
                ErrorKind::NotFound
            }
            DataError::Fenced(_) => ErrorKind::Unavailable,
            DataError::Constraint(_) => ErrorKind::Conflict,
            DataError::InvalidValue(_) => ErrorKind::InvalidInput,
            DataError::Forbidden(_) => ErrorKind::Forbidden,
            DataError::Timeout(_) => ErrorKind::Timeout,
            DataError::Unavailable(_) => ErrorKind::Unavailable,
            DataError::TierUnavailable(_)
            | DataError::Decode(_)
            | DataError::Config(_)
            | DataError::Database(_) => ErrorKind::Internal,
        }
    }

    /// What the database said, for errors that came from it.
    pub fn failure(&self) -> Option<&DbFailure> {
        match self {
            DataError::Constraint(f)
            | DataError::InvalidValue(f)
            | DataError::Forbidden(f)
            | DataError::Timeout(f)
            | DataError::Unavailable(f)
            | DataError::Decode(f)
            | DataError::Config(f)
            | DataError::Database(f) => Some(f),
            _ => None,
        }
    }

    /// The SQLSTATE, when the server sent one.
    pub fn sqlstate(&self) -> Option<&str> {
        self.failure().and_then(DbFailure::sqlstate)
    }

    /// The violated constraint's name, for constraint violations.
    pub fn constraint(&self) -> Option<&str> {
        match self {
            DataError::Constraint(f) => f.constraint(),
            _ => None,
        }
    }

    /// The violated constraint's kind, for constraint violations.
    pub fn constraint_kind(&self) -> Option<ConstraintKind> {
        match self {
            DataError::Constraint(f) => Some(ConstraintKind::of_sqlstate(f.sqlstate())),
            _ => None,
        }
    }
}
