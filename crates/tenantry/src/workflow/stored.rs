//! [`SqlWorkflowStore`]: workflows in the control plane, one
//! implementation for PostgreSQL and SQLite.

use crate::workflow::WorkflowFuture;
use std::collections::HashMap;
use std::time::SystemTime;

use super::{
    NewWorkflow, StepRecord, StepState, WorkflowError, WorkflowId, WorkflowRecord, WorkflowState,
    WorkflowStore,
};
use crate::context::TenantId;
use crate::data::control::{ControlDb, UnixMillis};
use crate::data::{ConstraintKind, DataError, Row, Value};
use crate::params;

/// Workflows in the control plane's `workflows` and `workflow_steps` tables.
#[derive(Clone)]
pub struct SqlWorkflowStore {
    db: ControlDb,
}

impl SqlWorkflowStore {
    /// A store over the control plane `db`.
    pub fn new(db: impl Into<ControlDb>) -> Self {
        Self { db: db.into() }
    }
}

// A workflow's columns, then the matching steps' columns, both under one
// filter on the workflows (`w`): the records, then their steps.
macro_rules! records {
    ($filter:literal) => {
        (
            concat!(
                "SELECT w.id, w.owner, w.kind, w.state, CAST(w.input AS TEXT), w.error, w.requested_by, \
                        w.created_at, w.updated_at, w.finished_at \
                   FROM tenantry.workflows w ",
                $filter
            ),
            concat!(
                "SELECT s.workflow_id, s.position, s.name, s.state, s.attempts, s.last_error, \
                        s.started_at, s.finished_at, s.deadline_at \
                   FROM tenantry.workflow_steps s \
                  WHERE s.workflow_id IN (SELECT w.id FROM tenantry.workflows w ",
                $filter,
                ") ORDER BY s.workflow_id, s.position"
            ),
        )
    };
}

const ONE: (&str, &str) = records!("WHERE w.id = $1");
const OF_TENANT: (&str, &str) = records!("WHERE w.owner = $1 ORDER BY w.id DESC LIMIT $2");
const NEWEST: (&str, &str) = records!("ORDER BY w.id DESC LIMIT $1");
const LIVE: (&str, &str) = records!("WHERE w.state IN ('running', 'compensating') ORDER BY w.id");

fn bad(what: String) -> WorkflowError {
    WorkflowError::Data(DataError::decode(format!("stored workflow: {what}")))
}

fn time(row: &Row, idx: usize) -> Result<Option<SystemTime>, DataError> {
    Ok(row
        .get::<Option<UnixMillis>>(idx)?
        .map(UnixMillis::system_time))
}

fn record(row: &Row) -> Result<WorkflowRecord, WorkflowError> {
    let state: String = row.get(3)?;
    let input: String = row.get(4)?;
    Ok(WorkflowRecord {
        id: WorkflowId(row.get(0)?),
        tenant: TenantId::from_uuid(row.get(1)?),
        kind: row.get(2)?,
        state: WorkflowState::parse(&state).ok_or_else(|| bad(format!("state {state}")))?,
        input: serde_json::from_str(&input).map_err(|e| bad(format!("input: {e}")))?,
        error: row.get(5)?,
        requested_by: row.get(6)?,
        created_at: row.get::<UnixMillis>(7)?.system_time(),
        updated_at: row.get::<UnixMillis>(8)?.system_time(),
        finished_at: time(row, 9)?,
        steps: Vec::new(),
    })
}

fn step(row: &Row) -> Result<(i64, StepRecord), WorkflowError> {
    let state: String = row.get(3)?;
    let count = |i: usize| -> Result<u32, WorkflowError> {
        u32::try_from(row.get::<i64>(i)?).map_err(|_| bad(format!("column {i} out of range")))
    };
    Ok((
        row.get(0)?,
        StepRecord {
            position: count(1)?,
            name: row.get(2)?,
            state: StepState::parse(&state).ok_or_else(|| bad(format!("step state {state}")))?,
            attempts: count(4)?,
            last_error: row.get(5)?,
            started_at: time(row, 6)?,
            finished_at: time(row, 7)?,
            deadline_at: time(row, 8)?,
        },
    ))
}

impl SqlWorkflowStore {
    /// The workflows `sql.0` selects, with the steps `sql.1` selects.
    async fn read(
        &self,
        sql: (&'static str, &'static str),
        params: &[Value],
    ) -> Result<Vec<WorkflowRecord>, WorkflowError> {
        let mut records = self
            .db
            .fetch_all(sql.0, params)
            .await?
            .iter()
            .map(record)
            .collect::<Result<Vec<_>, _>>()?;
        let at: HashMap<i64, usize> = records
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.0, i))
            .collect();
        for row in self.db.fetch_all(sql.1, params).await? {
            let (workflow, step) = step(&row)?;
            // A workflow started between the two reads is not in the list.
            if let Some(&i) = at.get(&workflow) {
                records[i].steps.push(step);
            }
        }
        Ok(records)
    }

    async fn running(
        &self,
        tenant: TenantId,
    ) -> Result<Option<(WorkflowId, String)>, WorkflowError> {
        let row = self
            .db
            .fetch_optional(
                "SELECT id, kind FROM tenantry.workflows \
                  WHERE owner = $1 AND state IN ('running', 'compensating')",
                params![tenant],
            )
            .await?;
        Ok(row
            .map(|r| Ok::<_, DataError>((WorkflowId(r.get(0)?), r.get(1)?)))
            .transpose()?)
    }
}

impl WorkflowStore for SqlWorkflowStore {
    fn start<'a>(&'a self, new: NewWorkflow<'a>) -> WorkflowFuture<'a, WorkflowId> {
        Box::pin(async move {
            let input = serde_json::to_string(new.input).map_err(|e| bad(format!("input: {e}")))?;
            // The workflow and its steps land together; the unique index of
            // live workflows refuses a second one for the tenant.
            let mut tx = self.db.begin().await?;
            let inserted = tx
                .fetch_optional(
                    "INSERT INTO tenantry.workflows (owner, kind, input, requested_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, now(), now()) RETURNING id",
                    params![new.tenant, new.kind, input, new.requested_by],
                )
                .await;
            let id: i64 = match inserted {
                Ok(Some(row)) => row.get(0)?,
                Ok(None) => return Err(bad("no id returned".into())),
                Err(e) if e.constraint_kind() == Some(ConstraintKind::Unique) => {
                    tx.rollback().await;
                    return match self.running(new.tenant).await? {
                        Some((running, kind)) => Err(WorkflowError::Busy {
                            tenant: new.tenant,
                            running,
                            kind,
                        }),
                        // It finished in between: the caller may start again.
                        None => Err(WorkflowError::Data(e)),
                    };
                }
                Err(e) => return Err(e.into()),
            };
            for (position, name) in new.steps.iter().enumerate() {
                tx.execute(
                    "INSERT INTO tenantry.workflow_steps (workflow_id, position, name) VALUES ($1, $2, $3)",
                    params![id, i64::try_from(position).unwrap_or(i64::MAX), *name],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(WorkflowId(id))
        })
    }

    fn get(&self, id: WorkflowId) -> WorkflowFuture<'_, Option<WorkflowRecord>> {
        Box::pin(async move { Ok(self.read(ONE, params![id.0]).await?.into_iter().next()) })
    }

    fn list(
        &self,
        tenant: Option<TenantId>,
        limit: u32,
    ) -> WorkflowFuture<'_, Vec<WorkflowRecord>> {
        Box::pin(async move {
            let limit = i64::from(limit);
            match tenant {
                Some(tenant) => self.read(OF_TENANT, params![tenant, limit]).await,
                None => self.read(NEWEST, params![limit]).await,
            }
        })
    }

    fn live(&self) -> WorkflowFuture<'_, Vec<WorkflowRecord>> {
        Box::pin(async move { self.read(LIVE, &[]).await })
    }

    fn begin_step(
        &self,
        id: WorkflowId,
        position: u32,
        state: StepState,
        deadline: SystemTime,
    ) -> WorkflowFuture<'_, u32> {
        Box::pin(async move {
            let mut tx = self.db.begin().await?;
            let row = tx
                .fetch_optional(
                    "UPDATE tenantry.workflow_steps \
                        SET state = $3, attempts = attempts + 1, started_at = now(), deadline_at = $4 \
                      WHERE workflow_id = $1 AND position = $2 RETURNING attempts",
                    params![id.0, i64::from(position), state.as_str(), deadline],
                )
                .await?
                .ok_or(WorkflowError::NotFound(id))?;
            tx.execute(
                "UPDATE tenantry.workflows SET updated_at = now() WHERE id = $1",
                params![id.0],
            )
            .await?;
            tx.commit().await?;
            Ok(u32::try_from(row.get::<i64>(0)?).unwrap_or(u32::MAX))
        })
    }

    fn end_step<'a>(
        &'a self,
        id: WorkflowId,
        position: u32,
        state: StepState,
        error: Option<&'a str>,
    ) -> WorkflowFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.db.begin().await?;
            tx.execute(
                "UPDATE tenantry.workflow_steps \
                    SET state = $3, last_error = $4, \
                        finished_at = CASE WHEN $5 THEN now() ELSE finished_at END \
                  WHERE workflow_id = $1 AND position = $2",
                params![
                    id.0,
                    i64::from(position),
                    state.as_str(),
                    error,
                    !state.is_active()
                ],
            )
            .await?;
            tx.execute(
                "UPDATE tenantry.workflows SET updated_at = now() WHERE id = $1",
                params![id.0],
            )
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    fn set_input<'a>(
        &'a self,
        id: WorkflowId,
        input: &'a serde_json::Value,
    ) -> WorkflowFuture<'a, ()> {
        Box::pin(async move {
            let input = serde_json::to_string(input).map_err(|e| bad(format!("input: {e}")))?;
            let changed = self
                .db
                .execute(
                    "UPDATE tenantry.workflows SET input = $2, updated_at = now() WHERE id = $1",
                    params![id.0, input],
                )
                .await?;
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
    ) -> WorkflowFuture<'a, ()> {
        Box::pin(async move {
            let changed = self
                .db
                .execute(
                    "UPDATE tenantry.workflows \
                        SET state = $2, error = coalesce($3, error), updated_at = now(), \
                            finished_at = CASE WHEN $4 THEN now() ELSE finished_at END \
                      WHERE id = $1",
                    params![id.0, state.as_str(), error, !state.is_live()],
                )
                .await?;
            if changed == 0 {
                return Err(WorkflowError::NotFound(id));
            }
            Ok(())
        })
    }
}
