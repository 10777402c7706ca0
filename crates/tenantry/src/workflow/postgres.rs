//! [`PgWorkflowStore`]: workflows in the `tenantry` control schema.

use std::time::SystemTime;

use tokio_postgres::Row;

use super::{
    NewWorkflow, StepRecord, StepState, WorkflowError, WorkflowId, WorkflowRecord, WorkflowState,
    WorkflowStore,
};
use crate::context::TenantId;
use crate::data::DataError;
use crate::data::postgres::{PgDatabase, db_error};
use crate::registry::BoxFuture;

/// Workflows in PostgreSQL's control schema.
#[derive(Clone)]
pub struct PgWorkflowStore {
    db: PgDatabase,
}

impl PgWorkflowStore {
    /// A store over `db`'s pool (the app role has the control-plane grants).
    pub fn new(db: PgDatabase) -> Self {
        Self { db }
    }

    async fn read(
        &self,
        filter: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<WorkflowRecord>, WorkflowError> {
        let client = self.db.client().await?;
        let sql = format!(
            "SELECT w.id, w.owner, w.kind, w.state, w.input, w.error, w.requested_by, \
                    w.created_at, w.updated_at, w.finished_at, \
                    coalesce(json_agg(json_build_object( \
                        'position', s.position, 'name', s.name, 'state', s.state, \
                        'attempts', s.attempts, 'last_error', s.last_error, \
                        'started_at', (extract(epoch FROM s.started_at) * 1000)::bigint, \
                        'finished_at', (extract(epoch FROM s.finished_at) * 1000)::bigint, \
                        'deadline_at', (extract(epoch FROM s.deadline_at) * 1000)::bigint) \
                      ORDER BY s.position) FILTER (WHERE s.position IS NOT NULL), '[]') \
               FROM tenantry.workflows w \
               LEFT JOIN tenantry.workflow_steps s ON s.workflow_id = w.id \
              {filter}"
        );
        let rows = client.query(&sql, params).await.map_err(db_error)?;
        rows.iter().map(record).collect()
    }
}

fn bad(what: String) -> WorkflowError {
    WorkflowError::Data(DataError::Database(
        format!("stored workflow: {what}").into(),
    ))
}

fn record(row: &Row) -> Result<WorkflowRecord, WorkflowError> {
    let state: String = row.get(3);
    let steps: serde_json::Value = row.get(10);
    let ms = |v: &serde_json::Value| v.as_i64().map(super::record::from_ms);
    let steps = steps
        .as_array()
        .ok_or_else(|| bad("steps".into()))?
        .iter()
        .map(|s| {
            let state = s["state"].as_str().unwrap_or_default();
            Ok(StepRecord {
                position: s["position"]
                    .as_u64()
                    .and_then(|p| u32::try_from(p).ok())
                    .unwrap_or(0),
                name: s["name"].as_str().unwrap_or_default().to_owned(),
                state: StepState::parse(state).ok_or_else(|| bad(format!("step state {state}")))?,
                attempts: s["attempts"]
                    .as_u64()
                    .and_then(|a| u32::try_from(a).ok())
                    .unwrap_or(0),
                last_error: s["last_error"].as_str().map(str::to_owned),
                started_at: ms(&s["started_at"]),
                finished_at: ms(&s["finished_at"]),
                deadline_at: ms(&s["deadline_at"]),
            })
        })
        .collect::<Result<Vec<_>, WorkflowError>>()?;
    Ok(WorkflowRecord {
        id: WorkflowId(row.get(0)),
        tenant: TenantId::from_uuid(row.get(1)),
        kind: row.get(2),
        state: WorkflowState::parse(&state).ok_or_else(|| bad(format!("state {state}")))?,
        input: row.get(4),
        error: row.get(5),
        requested_by: row.get(6),
        created_at: row.get(7),
        updated_at: row.get(8),
        finished_at: row.get(9),
        steps,
    })
}

impl WorkflowStore for PgWorkflowStore {
    fn start<'a>(
        &'a self,
        new: NewWorkflow<'a>,
    ) -> BoxFuture<'a, Result<WorkflowId, WorkflowError>> {
        Box::pin(async move {
            let client = self.db.client().await?;
            let names: Vec<String> = new.steps.iter().map(|s| (*s).to_owned()).collect();
            // One statement: the workflow and its steps land together.
            let inserted = client
                .query_one(
                    "WITH w AS ( \
                       INSERT INTO tenantry.workflows (owner, kind, input, requested_by) \
                       VALUES ($1, $2, $3, $4) RETURNING id) \
                     , s AS ( \
                       INSERT INTO tenantry.workflow_steps (workflow_id, position, name) \
                       SELECT w.id, (n.ord - 1)::int, n.name FROM w, unnest($5::text[]) WITH ORDINALITY AS n(name, ord)) \
                     SELECT id FROM w",
                    &[new.tenant.as_uuid(), &new.kind, new.input, &new.requested_by, &names],
                )
                .await;
            match inserted {
                Ok(row) => Ok(WorkflowId(row.get(0))),
                Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
                    let running = client
                        .query_opt(
                            "SELECT id, kind FROM tenantry.workflows \
                              WHERE owner = $1 AND state IN ('running', 'compensating')",
                            &[new.tenant.as_uuid()],
                        )
                        .await
                        .map_err(db_error)?;
                    match running {
                        Some(row) => Err(WorkflowError::Busy {
                            tenant: new.tenant,
                            running: WorkflowId(row.get(0)),
                            kind: row.get(1),
                        }),
                        // It finished in between: the caller may start again.
                        None => Err(WorkflowError::Data(db_error(e))),
                    }
                }
                Err(e) => Err(WorkflowError::Data(db_error(e))),
            }
        })
    }

    fn get(&self, id: WorkflowId) -> BoxFuture<'_, Result<Option<WorkflowRecord>, WorkflowError>> {
        Box::pin(async move {
            Ok(self
                .read("WHERE w.id = $1 GROUP BY w.id", &[&id.0])
                .await?
                .into_iter()
                .next())
        })
    }

    fn list(
        &self,
        tenant: Option<TenantId>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<WorkflowRecord>, WorkflowError>> {
        Box::pin(async move {
            let limit = i64::from(limit);
            match tenant {
                Some(tenant) => {
                    self.read(
                        "WHERE w.owner = $1 GROUP BY w.id ORDER BY w.id DESC LIMIT $2",
                        &[tenant.as_uuid(), &limit],
                    )
                    .await
                }
                None => {
                    self.read("GROUP BY w.id ORDER BY w.id DESC LIMIT $1", &[&limit])
                        .await
                }
            }
        })
    }

    fn live(&self) -> BoxFuture<'_, Result<Vec<WorkflowRecord>, WorkflowError>> {
        Box::pin(async move {
            self.read(
                "WHERE w.state IN ('running', 'compensating') GROUP BY w.id ORDER BY w.id",
                &[],
            )
            .await
        })
    }

    fn begin_step(
        &self,
        id: WorkflowId,
        position: u32,
        state: StepState,
        deadline: SystemTime,
    ) -> BoxFuture<'_, Result<u32, WorkflowError>> {
        Box::pin(async move {
            let client = self.db.client().await?;
            let position = i32::try_from(position).unwrap_or(i32::MAX);
            let row = client
                .query_opt(
                    "WITH s AS ( \
                       UPDATE tenantry.workflow_steps \
                          SET state = $3, attempts = attempts + 1, started_at = now(), deadline_at = $4 \
                        WHERE workflow_id = $1 AND position = $2 RETURNING attempts) \
                     , w AS (UPDATE tenantry.workflows SET updated_at = now() WHERE id = $1) \
                     SELECT attempts FROM s",
                    &[&id.0, &position, &state.as_str(), &deadline],
                )
                .await
                .map_err(db_error)?;
            row.map(|r| u32::try_from(r.get::<_, i32>(0)).unwrap_or(u32::MAX))
                .ok_or(WorkflowError::NotFound(id))
        })
    }

    fn end_step<'a>(
        &'a self,
        id: WorkflowId,
        position: u32,
        state: StepState,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), WorkflowError>> {
        Box::pin(async move {
            let client = self.db.client().await?;
            let position = i32::try_from(position).unwrap_or(i32::MAX);
            let terminal = !state.is_active();
            client
                .execute(
                    "WITH s AS ( \
                       UPDATE tenantry.workflow_steps \
                          SET state = $3, last_error = $4, \
                              finished_at = CASE WHEN $5 THEN now() ELSE finished_at END \
                        WHERE workflow_id = $1 AND position = $2) \
                     UPDATE tenantry.workflows SET updated_at = now() WHERE id = $1",
                    &[&id.0, &position, &state.as_str(), &error, &terminal],
                )
                .await
                .map_err(db_error)?;
            Ok(())
        })
    }

    fn set_input<'a>(
        &'a self,
        id: WorkflowId,
        input: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), WorkflowError>> {
        Box::pin(async move {
            let client = self.db.client().await?;
            let changed = client
                .execute(
                    "UPDATE tenantry.workflows SET input = $2, updated_at = now() WHERE id = $1",
                    &[&id.0, input],
                )
                .await
                .map_err(db_error)?;
            if changed == 0 {
                return Err(WorkflowError::NotFound(id));
            }
            Ok(())
        })
    }

    fn set_state<'a>(
        &'a self,
        id: WorkflowId,
        state: WorkflowState,
        error: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), WorkflowError>> {
        Box::pin(async move {
            let client = self.db.client().await?;
            let terminal = !state.is_live();
            let changed = client
                .execute(
                    "UPDATE tenantry.workflows \
                        SET state = $2, error = coalesce($3, error), updated_at = now(), \
                            finished_at = CASE WHEN $4 THEN now() ELSE finished_at END \
                      WHERE id = $1",
                    &[&id.0, &state.as_str(), &error, &terminal],
                )
                .await
                .map_err(db_error)?;
            if changed == 0 {
                return Err(WorkflowError::NotFound(id));
            }
            Ok(())
        })
    }
}
