//! [`SqliteWorkflowStore`]: workflows in `control.db`.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, params};

use super::record::{from_ms, to_ms};
use super::{
    NewWorkflow, StepRecord, StepState, WorkflowError, WorkflowId, WorkflowRecord, WorkflowState,
    WorkflowStore,
};
use crate::context::TenantId;
use crate::data::DataError;
use crate::data::sqlite::{SqliteDatabase, sqlite_error};
use crate::registry::BoxFuture;

/// Workflows in the SQLite control database (migrated with the control set).
#[derive(Clone)]
pub struct SqliteWorkflowStore {
    db: SqliteDatabase,
}

impl SqliteWorkflowStore {
    /// A store over the control database.
    pub fn new(db: SqliteDatabase) -> Self {
        Self { db }
    }
}

const WORKFLOW: &str = "SELECT id, owner, kind, state, input, error, requested_by, created_at, updated_at, finished_at FROM workflows";

fn read_all(
    conn: &rusqlite::Connection,
    filter: &str,
    param: &dyn rusqlite::ToSql,
) -> Result<Vec<WorkflowRecord>, DataError> {
    let mut stmt = conn
        .prepare(&format!("{WORKFLOW} {filter}"))
        .map_err(sqlite_error)?;
    let mut workflows = stmt
        .query_map([param], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, Option<String>>(5)?,
                row.get::<_, Option<String>>(6)?,
                row.get::<_, i64>(7)?,
                row.get::<_, i64>(8)?,
                row.get::<_, Option<i64>>(9)?,
            ))
        })
        .map_err(sqlite_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sqlite_error)?
        .into_iter()
        .map(
            |(id, owner, kind, state, input, error, by, created, updated, finished)| {
                Ok(WorkflowRecord {
                    id: WorkflowId(id),
                    tenant: owner
                        .parse()
                        .map_err(|e| bad(format!("owner {owner}: {e}")))?,
                    kind,
                    state: WorkflowState::parse(&state)
                        .ok_or_else(|| bad(format!("state {state}")))?,
                    input: serde_json::from_str(&input).map_err(|e| bad(format!("input: {e}")))?,
                    error,
                    requested_by: by,
                    created_at: from_ms(created),
                    updated_at: from_ms(updated),
                    finished_at: finished.map(from_ms),
                    steps: Vec::new(),
                })
            },
        )
        .collect::<Result<Vec<_>, DataError>>()?;
    let mut steps = conn
        .prepare_cached(
            "SELECT position, name, state, attempts, last_error, started_at, finished_at, deadline_at \
             FROM workflow_steps WHERE workflow_id = ?1 ORDER BY position",
        )
        .map_err(sqlite_error)?;
    for workflow in &mut workflows {
        workflow.steps = steps
            .query_map([workflow.id.0], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, Option<i64>>(5)?,
                    row.get::<_, Option<i64>>(6)?,
                    row.get::<_, Option<i64>>(7)?,
                ))
            })
            .map_err(sqlite_error)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(sqlite_error)?
            .into_iter()
            .map(
                |(position, name, state, attempts, last_error, started, finished, deadline)| {
                    Ok(StepRecord {
                        position: u32::try_from(position).unwrap_or(0),
                        name,
                        state: StepState::parse(&state)
                            .ok_or_else(|| bad(format!("step state {state}")))?,
                        attempts: u32::try_from(attempts).unwrap_or(0),
                        last_error,
                        started_at: started.map(from_ms),
                        finished_at: finished.map(from_ms),
                        deadline_at: deadline.map(from_ms),
                    })
                },
            )
            .collect::<Result<Vec<_>, DataError>>()?;
    }
    Ok(workflows)
}

fn bad(what: String) -> DataError {
    DataError::Database(format!("stored workflow: {what}").into())
}

fn terminal_ms(state: WorkflowState) -> Option<i64> {
    (!state.is_live()).then(crate::clock::now_ms)
}

impl WorkflowStore for SqliteWorkflowStore {
    fn start<'a>(
        &'a self,
        new: NewWorkflow<'a>,
    ) -> BoxFuture<'a, Result<WorkflowId, WorkflowError>> {
        let tenant = new.tenant;
        let kind = new.kind.to_owned();
        let input = new.input.to_string();
        let by = new.requested_by.map(str::to_owned);
        let steps: Vec<String> = new.steps.iter().map(|s| (*s).to_owned()).collect();
        Box::pin(async move {
            let outcome = self
                .db
                .run_unscoped(move |conn| {
                    // IMMEDIATE: it reads before it writes, and a deferred
                    // transaction's upgrade fails at once (SQLITE_BUSY) when
                    // another connection wrote in between.
                    let tx = conn
                        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                        .map_err(sqlite_error)?;
                    let owner = tenant.to_string();
                    let running = tx
                        .query_row(
                            "SELECT id, kind FROM workflows WHERE owner = ?1 AND state IN ('running', 'compensating')",
                            [&owner],
                            |row| Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?)),
                        )
                        .optional()
                        .map_err(sqlite_error)?;
                    if let Some(running) = running {
                        return Ok(Err(running));
                    }
                    let now = crate::clock::now_ms();
                    tx.execute(
                        "INSERT INTO workflows (owner, kind, input, requested_by, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                        params![owner, kind, input, by, now],
                    )
                    .map_err(sqlite_error)?;
                    let id = tx.last_insert_rowid();
                    for (position, name) in steps.iter().enumerate() {
                        tx.execute(
                            "INSERT INTO workflow_steps (workflow_id, position, name) VALUES (?1, ?2, ?3)",
                            params![id, position as i64, name],
                        )
                        .map_err(sqlite_error)?;
                    }
                    tx.commit().map_err(sqlite_error)?;
                    Ok(Ok(id))
                })
                .await?;
            match outcome {
                Ok(id) => Ok(WorkflowId(id)),
                Err((running, kind)) => Err(WorkflowError::Busy {
                    tenant,
                    running: WorkflowId(running),
                    kind,
                }),
            }
        })
    }

    fn get(&self, id: WorkflowId) -> BoxFuture<'_, Result<Option<WorkflowRecord>, WorkflowError>> {
        Box::pin(async move {
            let found = self
                .db
                .run_unscoped(move |conn| read_all(conn, "WHERE id = ?1", &id.0))
                .await?;
            Ok(found.into_iter().next())
        })
    }

    fn list(
        &self,
        tenant: Option<TenantId>,
        limit: u32,
    ) -> BoxFuture<'_, Result<Vec<WorkflowRecord>, WorkflowError>> {
        Box::pin(async move {
            let limit = i64::from(limit);
            Ok(self
                .db
                .run_unscoped(move |conn| match tenant {
                    Some(tenant) => read_all(
                        conn,
                        &format!("WHERE owner = ?1 ORDER BY id DESC LIMIT {limit}"),
                        &tenant.to_string(),
                    ),
                    None => read_all(
                        conn,
                        &format!("WHERE ?1 = 1 ORDER BY id DESC LIMIT {limit}"),
                        &1_i64,
                    ),
                })
                .await?)
        })
    }

    fn live(&self) -> BoxFuture<'_, Result<Vec<WorkflowRecord>, WorkflowError>> {
        Box::pin(async move {
            Ok(self
                .db
                .run_unscoped(|conn| {
                    read_all(
                        conn,
                        "WHERE state IN ('running', 'compensating') AND ?1 = 1 ORDER BY id",
                        &1_i64,
                    )
                })
                .await?)
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
            let attempts = self
                .db
                .run_unscoped(move |conn| {
                    let now = crate::clock::now_ms();
                    let attempts: Option<i64> = conn
                        .query_row(
                            "UPDATE workflow_steps SET state = ?3, attempts = attempts + 1, started_at = ?4, deadline_at = ?5 \
                             WHERE workflow_id = ?1 AND position = ?2 RETURNING attempts",
                            params![id.0, i64::from(position), state.as_str(), now, to_ms(deadline)],
                            |row| row.get(0),
                        )
                        .optional()
                        .map_err(sqlite_error)?;
                    conn.execute(
                        "UPDATE workflows SET updated_at = ?2 WHERE id = ?1",
                        params![id.0, now],
                    )
                    .map_err(sqlite_error)?;
                    Ok(attempts)
                })
                .await?;
            attempts
                .map(|a| u32::try_from(a).unwrap_or(u32::MAX))
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
        let error = error.map(str::to_owned);
        Box::pin(async move {
            self.db
                .run_unscoped(move |conn| {
                    let now = crate::clock::now_ms();
                    let finished = (!state.is_active()).then_some(now);
                    conn.execute(
                        "UPDATE workflow_steps SET state = ?3, last_error = ?4, finished_at = coalesce(?5, finished_at) \
                         WHERE workflow_id = ?1 AND position = ?2",
                        params![id.0, i64::from(position), state.as_str(), error, finished],
                    )
                    .map_err(sqlite_error)?;
                    conn.execute(
                        "UPDATE workflows SET updated_at = ?2 WHERE id = ?1",
                        params![id.0, now],
                    )
                    .map_err(sqlite_error)?;
                    Ok(())
                })
                .await?;
            Ok(())
        })
    }

    fn set_input<'a>(
        &'a self,
        id: WorkflowId,
        input: &'a serde_json::Value,
    ) -> BoxFuture<'a, Result<(), WorkflowError>> {
        let input = input.to_string();
        Box::pin(async move {
            let changed = self
                .db
                .run_unscoped(move |conn| {
                    conn.execute(
                        "UPDATE workflows SET input = ?2, updated_at = ?3 WHERE id = ?1",
                        params![id.0, input, crate::clock::now_ms()],
                    )
                    .map_err(sqlite_error)
                })
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
    ) -> BoxFuture<'a, Result<(), WorkflowError>> {
        let error = error.map(str::to_owned);
        Box::pin(async move {
            let changed = self
                .db
                .run_unscoped(move |conn| {
                    conn.execute(
                        "UPDATE workflows SET state = ?2, error = coalesce(?3, error), updated_at = ?4, \
                         finished_at = coalesce(?5, finished_at) WHERE id = ?1",
                        params![id.0, state.as_str(), error, crate::clock::now_ms(), terminal_ms(state)],
                    )
                    .map_err(sqlite_error)
                })
                .await?;
            if changed == 0 {
                return Err(WorkflowError::NotFound(id));
            }
            Ok(())
        })
    }
}
