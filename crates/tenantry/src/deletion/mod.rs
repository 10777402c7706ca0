//! What offboarding leaves behind in the control plane, and the record it
//! keeps: [`DeletionStore`] removes every control-plane row a tenant owns
//! (domains, settings, flags, secrets and its data key, queued and
//! dead-lettered jobs, its queue scheduling row), scrubs the inputs and
//! errors of its finished workflows and its display name, and counts what
//! is left ([`DeletionStore::residue`]). Kept on purpose: the tenant's
//! registry row as a `deleted` tombstone (its id and slug stay reserved,
//! so an old token or link can never reach a newcomer under the same
//! slug), its workflows' kinds and step states, and the
//! [`DeletionRecord`] — who asked, when, what each store held, and when
//! the last backup holding the tenant expires.
//!
//! [`SqlDeletionStore`] is the one implementation, for PostgreSQL and
//! SQLite; the purge is one transaction, and on SQLite it also checkpoints the write-ahead log away, and
//! every connection runs with `secure_delete`, so the removed bytes are
//! not left in free pages either.

mod stored;

use crate::registry::DataFuture;
use std::collections::BTreeMap;
use std::time::SystemTime;

pub use stored::SqlDeletionStore;

use crate::context::TenantId;

/// How much of a tenant each store held (or holds): store name → count.
pub type StoreCounts = BTreeMap<String, u64>;

/// The system tenant's record of one tenant's deletion.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DeletionRecord {
    /// The deleted tenant.
    pub tenant: TenantId,
    /// Its slug (kept reserved).
    pub slug: String,
    /// Who asked (an operator, `cli`).
    pub requested_by: String,
    /// When the deletion was asked for (ms since the epoch).
    pub requested_at_ms: i64,
    /// When the last store was cleared, once it was.
    pub finished_at_ms: Option<i64>,
    /// After this time no backup holds the tenant any more (its deletion
    /// plus the backup retention), once finished.
    pub backups_clear_after_ms: Option<i64>,
    /// What each store held when it was cleared.
    pub removed: StoreCounts,
}

/// Control-plane removal and the deletion record.
pub trait DeletionStore: Send + Sync + 'static {
    /// Opens `tenant`'s deletion record (kept as it is if it exists).
    fn open<'a>(&'a self, record: &'a DeletionRecord) -> DataFuture<'a, ()>;

    /// Notes that `store` held `count` of the tenant's items when it was
    /// cleared — only the first note per store counts, so a step that
    /// runs again after a crash (and finds nothing left) keeps the count.
    fn note<'a>(&'a self, tenant: TenantId, store: &'a str, count: u64) -> DataFuture<'a, ()>;

    /// Closes the record: finished at `at`, backups clear after `clear_after`.
    fn close(
        &self,
        tenant: TenantId,
        at: SystemTime,
        clear_after: SystemTime,
    ) -> DataFuture<'_, ()>;

    /// `tenant`'s deletion record, if it has one.
    fn get(&self, tenant: TenantId) -> DataFuture<'_, Option<DeletionRecord>>;

    /// Removes every control-plane row `tenant` owns (see the module
    /// docs) and returns what each table held. Idempotent.
    fn purge(&self, tenant: TenantId) -> DataFuture<'_, StoreCounts>;

    /// What the control plane still holds of `tenant`, by table (only
    /// the non-empty ones; the tombstone and the record are not counted).
    fn residue(&self, tenant: TenantId) -> DataFuture<'_, StoreCounts>;
}
