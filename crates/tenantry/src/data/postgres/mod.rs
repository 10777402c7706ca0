//! PostgreSQL backend: the shared tier under row-level security.
//!
//! The app connects as a role that owns no tenant table, is not superuser
//! and lacks `BYPASSRLS` ([`audit`] checks all three at start-up); tables are
//! created by an owner role through [`migrate`]. Policies compare `tenant_id`
//! with `current_setting('app.tenant_id')`, which [`PgDatabase`] sets with
//! `set_config(…, true)` inside each transaction.

pub mod audit;
pub mod fleet;
pub mod migrate;
mod params;
mod registry;
mod scoped;

use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Timeouts};
use tokio_postgres::NoTls;

pub use registry::{CONTROL_MIGRATIONS, CONTROL_SCHEMA, PgTenantStore};
pub use scoped::{PgTx, schema_for};

use super::DataError;

/// The PostgreSQL tenant plane: a pool of app-role connections.
#[derive(Clone)]
pub struct PgDatabase {
    pool: Pool,
}

/// How long a request waits for a pooled connection before a clear 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

impl PgDatabase {
    /// Connects lazily to `url` (a `postgres://` URL of the **app** role)
    /// with at most `max_connections` connections.
    pub fn connect(url: &str, max_connections: usize) -> Result<Self, DataError> {
        let config = tokio_postgres::Config::from_str(url)
            .map_err(|e| DataError::Unavailable(format!("bad PostgreSQL URL: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            // Connections are never returned mid-transaction (see `scoped`), so
            // recycling needs no round trip.
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections)
            .timeouts(Timeouts {
                wait: Some(ACQUIRE_TIMEOUT),
                create: Some(ACQUIRE_TIMEOUT),
                recycle: Some(ACQUIRE_TIMEOUT),
            })
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| DataError::Unavailable(e.to_string()))?;
        Ok(Self { pool })
    }

    /// A pooled connection for control-plane work (not tenant-scoped).
    pub async fn client(&self) -> Result<deadpool_postgres::Object, DataError> {
        self.pool.get().await.map_err(pool_error)
    }

    /// Runs the isolation audit as this pool's role; see [`audit`].
    pub async fn audit(&self) -> Result<Vec<audit::Finding>, DataError> {
        let client = self.client().await?;
        audit::run(&client).await
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> DataError {
    DataError::Unavailable(e.to_string())
}

/// Maps a driver error, keeping the server's message (the `Display` of
/// `tokio_postgres::Error` alone says only "db error").
pub(crate) fn db_error(e: tokio_postgres::Error) -> DataError {
    use tokio_postgres::error::SqlState;
    match e.as_db_error() {
        Some(db) => {
            let text = match db.detail() {
                Some(detail) => format!("{} ({detail})", db.message()),
                None => db.message().to_owned(),
            };
            let code = db.code();
            if [
                SqlState::UNIQUE_VIOLATION,
                SqlState::FOREIGN_KEY_VIOLATION,
                SqlState::CHECK_VIOLATION,
                SqlState::NOT_NULL_VIOLATION,
                SqlState::EXCLUSION_VIOLATION,
            ]
            .contains(code)
            {
                DataError::Constraint(text)
            } else {
                DataError::Database(text)
            }
        }
        None if e.is_closed() => DataError::Unavailable(e.to_string()),
        None => DataError::Database(format!(
            "{e}: {}",
            std::error::Error::source(&e)
                .map(|s| s.to_string())
                .unwrap_or_default()
        )),
    }
}

/// Quotes a validated identifier; refuses anything but `[a-z_][a-z0-9_]{0,62}`
/// so no caller-supplied text can reach SQL as an identifier unchecked.
pub fn quote_ident(name: &str) -> Result<String, DataError> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if valid {
        Ok(format!("\"{name}\""))
    } else {
        Err(DataError::Database(format!("refusing identifier {name:?}")))
    }
}
