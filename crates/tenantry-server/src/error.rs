//! [`ServerError`]: why one of the server's own operations failed —
//! provisioning a target, a lifecycle step, an export, a fleet run,
//! assembling the services at start-up.
//!
//! The library error that stopped the work stays the source (a caller can
//! match on a registry conflict or a database outage, and logs show the
//! whole chain); [`Doing`] adds what the server was doing when it failed,
//! the way an operator reads it ("creating database t_acme: …"). Refusals
//! of the server's own — a rule with no underlying error — are
//! [`ServerError::Refused`]. Command-line reporting (`anyhow`) stays in
//! `cli/` and `main`.
//!
//! ```
//! use tenantry_server::error::{Doing, ServerError};
//!
//! let read = std::fs::read("/no/such/file").doing(|| "reading the keyring".to_owned());
//! let err = read.unwrap_err();
//! assert!(err.to_string().starts_with("reading the keyring: "));
//! assert!(matches!(err.cause(), ServerError::Io(_)));
//! ```

use std::fmt::Display;

/// Any error that is not one of the kinds named below, kept as it is.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a server operation failed (see the [module docs](self)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The server refused: one of its own rules, no underlying error.
    #[error("{0}")]
    Refused(String),
    /// What the server was doing when `source` stopped it.
    #[error("{doing}: {source}")]
    While {
        /// What was being done ("creating database t_acme").
        doing: String,
        /// What stopped it.
        #[source]
        source: Box<ServerError>,
    },
    /// A tenant-plane or control-plane database.
    #[error(transparent)]
    Data(#[from] tenantry::data::DataError),
    /// PostgreSQL, spoken to directly (the owner role's DDL).
    #[error(transparent)]
    Postgres(#[from] tokio_postgres::Error),
    /// A migration.
    #[error(transparent)]
    Migration(#[from] tenantry::data::MigrationError),
    /// The tenant registry.
    #[error(transparent)]
    Registry(#[from] tenantry::registry::RegistryError),
    /// Object storage.
    #[error(transparent)]
    Storage(#[from] tenantry::storage::StorageError),
    /// The secrets store or its master key.
    #[error(transparent)]
    Secrets(#[from] tenantry::secrets::SecretsError),
    /// Settings and feature flags.
    #[error(transparent)]
    Config(#[from] tenantry::config::ConfigError),
    /// The cache (Redis).
    #[error(transparent)]
    Cache(#[from] tenantry::cache::CacheError),
    /// The job queue.
    #[error(transparent)]
    Job(#[from] tenantry::jobs::JobError),
    /// The workflow engine.
    #[error(transparent)]
    Workflow(#[from] tenantry::workflow::WorkflowError),
    /// A context built for the system tenant's reserved id.
    #[error(transparent)]
    SystemTenant(#[from] tenantry::context::SystemTenantReserved),
    /// A file or socket.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// JSON (a workflow's input, an export's rows).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A setting, read or checked (see [`crate::settings::SettingsError`]).
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// A PostgreSQL URL that does not read.
    #[error(transparent)]
    PgUrl(#[from] crate::pg_url::PgUrlError),
    /// A change the server's processes did not all acknowledge in time.
    #[error(transparent)]
    NotAcknowledged(#[from] tenantry::fence::NotAcknowledged),
    /// Anything else, kept as its source: the server's own domain errors
    /// (`provision::RegisterError`, `lifecycle::OnboardError`, …)
    /// convert into this, where a caller can downcast them — their
    /// modules depend on this one, not the other way round.
    #[error(transparent)]
    Other(BoxError),
}

impl ServerError {
    /// A refusal of the server's own, with no underlying error.
    pub fn refused(message: impl Into<String>) -> Self {
        Self::Refused(message.into())
    }

    /// Any other error, kept as the source.
    pub fn other(error: impl Into<BoxError>) -> Self {
        Self::Other(error.into())
    }

    /// The error under every [`ServerError::While`]: what actually failed.
    pub fn cause(&self) -> &ServerError {
        match self {
            Self::While { source, .. } => source.cause(),
            other => other,
        }
    }
}

/// A duration or time that does not fit in milliseconds as a `u64`.
impl From<std::num::TryFromIntError> for ServerError {
    fn from(error: std::num::TryFromIntError) -> Self {
        Self::other(error)
    }
}

/// Adds what the server was doing to an error, keeping the error as the
/// source: the typed counterpart of `anyhow::Context`.
pub trait Doing<T> {
    /// On an error: "`doing()`: the error".
    fn doing<D: Display>(self, doing: impl FnOnce() -> D) -> Result<T, ServerError>;
}

/// A value that is not there: "`doing()`" is the whole refusal.
impl<T> Doing<T> for Option<T> {
    fn doing<D: Display>(self, doing: impl FnOnce() -> D) -> Result<T, ServerError> {
        self.ok_or_else(|| ServerError::Refused(doing().to_string()))
    }
}

impl<T, E: Into<ServerError>> Doing<T> for Result<T, E> {
    fn doing<D: Display>(self, doing: impl FnOnce() -> D) -> Result<T, ServerError> {
        self.map_err(|e| ServerError::While {
            doing: doing().to_string(),
            source: Box::new(e.into()),
        })
    }
}

/// Fails with a [`ServerError::Refused`] built from a format string.
macro_rules! refuse {
    ($($arg:tt)*) => {
        return Err($crate::error::ServerError::Refused(format!($($arg)*)).into())
    };
}
pub(crate) use refuse;
