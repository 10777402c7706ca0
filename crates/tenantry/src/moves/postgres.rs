//! [`PgRouteAcks`]: heartbeats and route acknowledgements in the `tenantry` schema.

use std::time::Duration;

use super::RouteAcks;
use crate::context::TenantId;
use crate::data::DataError;
use crate::data::postgres::{PgDatabase, db_error};
use crate::registry::BoxFuture;

/// Route acknowledgements on PostgreSQL.
#[derive(Clone)]
pub struct PgRouteAcks {
    db: PgDatabase,
}

impl PgRouteAcks {
    /// Acknowledgements over `db`'s control plane.
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }
}

impl RouteAcks for PgRouteAcks {
    fn heartbeat<'a>(&'a self, process: &'a str) -> BoxFuture<'a, Result<(), DataError>> {
        Box::pin(async move {
            self.db
                .client()
                .await?
                .execute(
                    "INSERT INTO tenantry.server_processes (name) VALUES ($1) \
                     ON CONFLICT (name) DO UPDATE SET seen_at = now()",
                    &[&process],
                )
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn unacknowledged<'a>(
        &'a self,
        process: &'a str,
    ) -> BoxFuture<'a, Result<Vec<(TenantId, i64)>, DataError>> {
        // `route_version > 0` lets the partial index of tenants ever
        // moved (`tenants_route_changed`) answer, not a scan of all tenants.
        Box::pin(async move {
            let rows = self
                .db
                .client()
                .await?
                .query(
                    "SELECT t.id, t.route_version FROM tenantry.tenants t \
                       LEFT JOIN tenantry.route_acks a ON a.owner = t.id AND a.process = $1 \
                      WHERE t.route_version > 0 AND t.route_version > coalesce(a.version, 0)",
                    &[&process],
                )
                .await
                .map_err(db_error)?;
            Ok(rows
                .iter()
                .map(|r| (TenantId::from_uuid(r.get(0)), r.get(1)))
                .collect())
        })
    }

    fn ack<'a>(
        &'a self,
        process: &'a str,
        tenant: TenantId,
        version: i64,
    ) -> BoxFuture<'a, Result<(), DataError>> {
        Box::pin(async move {
            self.db
                .client()
                .await?
                .execute(
                    "INSERT INTO tenantry.route_acks (process, owner, version) VALUES ($1, $2, $3) \
                     ON CONFLICT (process, owner) DO UPDATE \
                        SET version = greatest(route_acks.version, excluded.version)",
                    &[&process, tenant.as_uuid(), &version],
                )
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn forget_silent(&self, silent: Duration) -> BoxFuture<'_, Result<u64, DataError>> {
        Box::pin(async move {
            let silent_ms = i64::try_from(silent.as_millis()).unwrap_or(i64::MAX);
            self.db
                .client()
                .await?
                .execute(
                    "DELETE FROM tenantry.server_processes \
                      WHERE seen_at <= now() - $1::bigint * interval '1 millisecond'",
                    &[&silent_ms],
                )
                .await
                .map_err(db_error)
        })
    }

    fn processes(&self) -> BoxFuture<'_, Result<Vec<String>, DataError>> {
        Box::pin(async move {
            let rows = self
                .db
                .client()
                .await?
                .query(
                    "SELECT name FROM tenantry.server_processes ORDER BY name",
                    &[],
                )
                .await
                .map_err(db_error)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }

    fn forget(&self, process: &str) -> BoxFuture<'_, Result<(), DataError>> {
        let process = process.to_owned();
        Box::pin(async move {
            self.db
                .client()
                .await?
                .execute(
                    "DELETE FROM tenantry.server_processes WHERE name = $1",
                    &[&process],
                )
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn lagging(
        &self,
        tenant: TenantId,
        version: i64,
        alive: Duration,
    ) -> BoxFuture<'_, Result<Vec<String>, DataError>> {
        Box::pin(async move {
            let alive_ms = i64::try_from(alive.as_millis()).unwrap_or(i64::MAX);
            let rows = self
                .db
                .client()
                .await?
                .query(
                    "SELECT p.name FROM tenantry.server_processes p \
                       LEFT JOIN tenantry.route_acks a ON a.process = p.name AND a.owner = $1 \
                      WHERE p.seen_at > now() - $3::bigint * interval '1 millisecond' \
                        AND coalesce(a.version, 0) < $2 \
                      ORDER BY p.name",
                    &[tenant.as_uuid(), &version, &alive_ms],
                )
                .await
                .map_err(db_error)?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }
}
