//! [`SqlRouteAcks`]: heartbeats and route acknowledgements in the control
//! plane, one implementation for PostgreSQL and SQLite.

use crate::registry::DataFuture;
use std::time::Duration;

use super::RouteAcks;
use crate::context::TenantId;
use crate::data::DataError;
use crate::data::control::ControlDb;
use crate::params;

/// Route acknowledgements in the control plane's `server_processes` and
/// `route_acks` tables.
#[derive(Clone)]
pub struct SqlRouteAcks {
    db: ControlDb,
}

impl SqlRouteAcks {
    /// Acknowledgements over the control plane `db`.
    pub fn new(db: impl Into<ControlDb>) -> Self {
        Self { db: db.into() }
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn names(rows: Vec<crate::data::Row>) -> Result<Vec<String>, DataError> {
    rows.iter().map(|r| r.get(0)).collect()
}

impl RouteAcks for SqlRouteAcks {
    fn heartbeat<'a>(&'a self, process: &'a str) -> DataFuture<'a, ()> {
        Box::pin(async move {
            self.db
                .execute(
                    "INSERT INTO tenantry.server_processes (name, seen_at) VALUES ($1, now()) \
                     ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at",
                    params![process],
                )
                .await?;
            Ok(())
        })
    }

    fn unacknowledged<'a>(&'a self, process: &'a str) -> DataFuture<'a, Vec<(TenantId, i64)>> {
        // `route_version > 0` lets the partial index of tenants ever
        // changed (`tenants_route_changed`) answer, not a scan of all tenants.
        Box::pin(async move {
            let rows = self
                .db
                .fetch_all(
                    "SELECT t.id, t.route_version FROM tenantry.tenants t \
                       LEFT JOIN tenantry.route_acks a ON a.owner = t.id AND a.process = $1 \
                      WHERE t.route_version > 0 AND t.route_version > coalesce(a.version, 0)",
                    params![process],
                )
                .await?;
            rows.iter()
                .map(|r| Ok((TenantId::from_uuid(r.get(0)?), r.get(1)?)))
                .collect()
        })
    }

    fn ack<'a>(&'a self, process: &'a str, tenant: TenantId, version: i64) -> DataFuture<'a, ()> {
        Box::pin(async move {
            self.db
                .execute(
                    "INSERT INTO tenantry.route_acks (process, owner, version) VALUES ($1, $2, $3) \
                     ON CONFLICT (process, owner) DO UPDATE \
                        SET version = CASE WHEN excluded.version > route_acks.version \
                                           THEN excluded.version ELSE route_acks.version END",
                    params![process, tenant, version],
                )
                .await?;
            Ok(())
        })
    }

    fn forget_silent(&self, silent: Duration) -> DataFuture<'_, u64> {
        Box::pin(async move {
            self.db
                .execute(
                    "DELETE FROM tenantry.server_processes \
                      WHERE seen_at <= now() - CAST($1 AS BIGINT) * interval '1 millisecond'",
                    params![millis(silent)],
                )
                .await
        })
    }

    fn processes(&self) -> DataFuture<'_, Vec<String>> {
        Box::pin(async move {
            names(
                self.db
                    .fetch_all(
                        "SELECT name FROM tenantry.server_processes ORDER BY name",
                        &[],
                    )
                    .await?,
            )
        })
    }

    fn forget(&self, process: &str) -> DataFuture<'_, ()> {
        let process = process.to_owned();
        Box::pin(async move {
            self.db
                .execute(
                    "DELETE FROM tenantry.server_processes WHERE name = $1",
                    params![process],
                )
                .await?;
            Ok(())
        })
    }

    fn lagging(
        &self,
        tenant: TenantId,
        version: i64,
        alive: Duration,
    ) -> DataFuture<'_, Vec<String>> {
        Box::pin(async move {
            names(
                self.db
                    .fetch_all(
                        "SELECT p.name FROM tenantry.server_processes p \
                           LEFT JOIN tenantry.route_acks a ON a.process = p.name AND a.owner = $1 \
                          WHERE p.seen_at > now() - CAST($3 AS BIGINT) * interval '1 millisecond' \
                            AND coalesce(a.version, 0) < $2 \
                          ORDER BY p.name",
                        params![tenant, version, millis(alive)],
                    )
                    .await?,
            )
        })
    }
}
