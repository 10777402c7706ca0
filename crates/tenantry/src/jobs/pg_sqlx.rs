//! Transactional enqueue through an sqlx transaction.

use sqlx_core::row::Row as _;
use sqlx_postgres::PgConnection;

use super::postgres::{PgQueue, enqueue_sql};
use super::{JobEnvelope, JobError, millis};

impl PgQueue {
    /// [`Self::enqueue_in`] for a transaction from
    /// [`SqlxTenantPool::begin`](crate::data::sqlx::SqlxTenantPool::begin):
    /// pass `&mut *tx`. The job exists if and only if the transaction
    /// commits.
    ///
    /// ```no_run
    /// # async fn demo(tenants: tenantry::data::sqlx::SqlxTenantPool, queue: tenantry::jobs::PgQueue) -> Result<(), Box<dyn std::error::Error>> {
    /// use tenantry::data::sqlx::data_error;
    /// use tenantry::jobs::JobEnvelope;
    /// let mut tx = tenants.begin().await?;
    /// let id: i64 = sqlx_core::query_scalar::query_scalar("INSERT INTO invoices (total) VALUES (42) RETURNING id")
    ///     .fetch_one(&mut *tx)
    ///     .await
    ///     .map_err(data_error)?;
    /// queue.enqueue_in_sqlx(&mut tx, &JobEnvelope::new("send_invoice", &id)?).await?;
    /// tx.commit().await.map_err(data_error)?; // the invoice and its job, or neither
    /// # Ok(()) }
    /// ```
    pub async fn enqueue_in_sqlx(
        &self,
        tx: &mut PgConnection,
        job: &JobEnvelope,
    ) -> Result<i64, JobError> {
        let ctx = crate::context::require()?;
        Self::check_same_database(&ctx, job, ctx.route().reads())?;
        let weight = i32::from(self.weights().weight(&job.plan));
        let row = sqlx_core::query::query(enqueue_sql())
            .bind(vec![*job.tenant().as_uuid()])
            .bind(vec![job.lane.as_str()])
            .bind(vec![job.kind()])
            .bind(vec![job.payload().clone()])
            .bind(vec![job.priority])
            .bind(vec![millis(job.delay)])
            .bind(vec![job.idempotency_key.clone()])
            .bind(vec![job.max_attempts])
            .bind(vec![job.request_id.clone()])
            .bind(vec![weight])
            .bind(vec![job.trace_parent.clone()])
            .fetch_one(tx)
            .await
            .map_err(|e| JobError::Data(crate::data::sqlx::data_error(e)))?;
        let get = |e: sqlx_core::error::Error| JobError::Data(crate::data::sqlx::data_error(e));
        let id: Option<i64> = row.try_get("id").map_err(get)?;
        let earlier: Option<i64> = row.try_get("earlier").map_err(get)?;
        match (id, earlier) {
            (Some(id), _) | (None, Some(id)) => Ok(id),
            (None, None) if !row.try_get::<bool, _>("ok").map_err(get)? => {
                Err(JobError::BacklogFull {
                    tenant: job.tenant(),
                    lane: job.lane,
                    max: i64::from(row.try_get::<i32, _>("max_backlog").map_err(get)?),
                })
            }
            (None, None) => Err(JobError::KeyRace),
        }
    }
}
