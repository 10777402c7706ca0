//! [`SqliteRouteAcks`]: heartbeats and route acknowledgements in `control.db`.

use std::time::Duration;

use rusqlite::params;

use super::RouteAcks;
use crate::context::TenantId;
use crate::data::DataError;
use crate::data::sqlite::{SqliteDatabase, sqlite_error};
use crate::registry::BoxFuture;

/// Route acknowledgements on SQLite.
#[derive(Clone)]
pub struct SqliteRouteAcks {
    db: SqliteDatabase,
}

impl SqliteRouteAcks {
    /// Acknowledgements over the control database.
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }
}

impl RouteAcks for SqliteRouteAcks {
    fn heartbeat<'a>(&'a self, process: &'a str) -> BoxFuture<'a, Result<(), DataError>> {
        let process = process.to_owned();
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    conn.execute(
                        "INSERT INTO server_processes (name, seen_at) VALUES (?1, ?2) \
                         ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at",
                        params![process, crate::clock::now_ms()],
                    )
                    .map_err(sqlite_error)
                })
                .await
                .map(drop)
        })
    }

    fn unacknowledged<'a>(
        &'a self,
        process: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(TenantId, i64)>, DataError>> {
        let process = process.to_owned();
        // `route_version > 0` lets the partial index of tenants ever
        // moved (`tenants_route_changed`) answer, not a scan of all tenants.
        Box::pin(async move {
            let rows: Vec<(String, i64)> = self
                .db
                .run_unscoped(move |conn| {
                    let mut stmt = conn
                        .prepare_cached(
                            "SELECT t.id, t.route_version FROM tenants t \
                               LEFT JOIN route_acks a ON a.owner = t.id AND a.process = ?1 \
                              WHERE t.route_version > 0 AND t.route_version > coalesce(a.version, 0)",
                        )
                        .map_err(sqlite_error)?;
                    let rows = stmt
                        .query_map([process], |r| Ok((r.get(0)?, r.get(1)?)))
                        .map_err(sqlite_error)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(sqlite_error)?;
                    Ok(rows)
                })
                .await?;
            rows.into_iter()
                .map(|(id, version)| {
                    let id = id
                        .parse()
                        .map_err(|_| DataError::Database(format!("tenant id {id:?}").into()))?;
                    Ok((id, version))
                })
                .collect()
        })
    }

    fn ack<'a>(
        &'a self,
        process: &'a str,
        tenant: TenantId,
        version: i64,
    ) -> BoxFuture<'a, Result<(), DataError>> {
        let process = process.to_owned();
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    conn.execute(
                        "INSERT INTO route_acks (process, owner, version) VALUES (?1, ?2, ?3) \
                         ON CONFLICT (process, owner) DO UPDATE \
                            SET version = max(route_acks.version, excluded.version)",
                        params![process, tenant.to_string(), version],
                    )
                    .map_err(sqlite_error)
                })
                .await
                .map(drop)
        })
    }

    fn forget_silent(&self, silent: Duration) -> BoxFuture<'_, Result<u64, DataError>> {
        Box::pin(async move {
            let before = crate::clock::now_ms()
                .saturating_sub(i64::try_from(silent.as_millis()).unwrap_or(i64::MAX));
            self.db
                .run_unscoped(move |conn| {
                    // Acknowledgements go with their process (foreign keys on).
                    conn.execute("DELETE FROM server_processes WHERE seen_at <= ?1", [before])
                        .map_err(sqlite_error)
                })
                .await
                .map(|n| n as u64)
        })
    }

    fn processes(&self) -> BoxFuture<'_, Result<Vec<String>, DataError>> {
        Box::pin(async move {
            self.db
                .run_unscoped(|conn| {
                    let mut stmt = conn
                        .prepare("SELECT name FROM server_processes ORDER BY name")
                        .map_err(sqlite_error)?;
                    let names = stmt
                        .query_map([], |row| row.get::<_, String>(0))
                        .map_err(sqlite_error)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(sqlite_error)?;
                    Ok(names)
                })
                .await
        })
    }

    fn forget(&self, process: &str) -> BoxFuture<'_, Result<(), DataError>> {
        let process = process.to_owned();
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    conn.execute("DELETE FROM server_processes WHERE name = ?1", [process])
                        .map_err(sqlite_error)
                })
                .await
                .map(drop)
        })
    }

    fn lagging(
        &self,
        tenant: TenantId,
        version: i64,
        alive: Duration,
    ) -> BoxFuture<'_, Result<Vec<String>, DataError>> {
        Box::pin(async move {
            let since = crate::clock::now_ms()
                .saturating_sub(i64::try_from(alive.as_millis()).unwrap_or(i64::MAX));
            self.db
                .run_unscoped(move |conn| {
                    let mut stmt = conn
                        .prepare_cached(
                            "SELECT p.name FROM server_processes p \
                               LEFT JOIN route_acks a ON a.process = p.name AND a.owner = ?1 \
                              WHERE p.seen_at > ?3 AND coalesce(a.version, 0) < ?2 \
                              ORDER BY p.name",
                        )
                        .map_err(sqlite_error)?;
                    let names = stmt
                        .query_map(params![tenant.to_string(), version, since], |r| r.get(0))
                        .map_err(sqlite_error)?
                        .collect::<Result<Vec<String>, _>>()
                        .map_err(sqlite_error)?;
                    Ok(names)
                })
                .await
        })
    }
}
