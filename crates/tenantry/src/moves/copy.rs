//! [`TierCopy`]: one tenant's rows from one tier to another of the same
//! database — the copy, catch-up and verify steps of an online tier move.
//!
//! Every statement runs in the tenant's own scope (row-level security and
//! the `tenant_id` filter on the shared tier, its schema or database
//! otherwise), so the copy reads and writes this tenant's rows and no
//! other's, whatever the tables hold.
//!
//! - [`copy`](TierCopy::copy) walks each table in primary-key order, a
//!   chunk at a time, and inserts what the target lacks. The target's own
//!   highest key is the high-water mark: it is committed with the rows it
//!   covers, so a copy that was killed resumes after the last chunk that
//!   landed, and never copies a row twice.
//! - [`catch_up`](TierCopy::catch_up) compares the two sides chunk by
//!   chunk and rewrites in the target every row that differs (changed
//!   while the copy ran, or refused by the mirror while it was filling),
//!   and deletes the target's rows the source no longer has. A differing
//!   chunk is re-read with the source rows locked (PostgreSQL `FOR SHARE`;
//!   on SQLite the source's write lock) until the target has them, so a
//!   concurrent write — which takes the source first too — lands after the
//!   repair, on both sides.
//! - [`verify`](TierCopy::verify) compares the same way and repairs
//!   nothing: per table, row counts and content checksums of both sides,
//!   and the keys of the rows that still differ once re-read under the
//!   lock (a write in flight is not a difference).

use std::collections::BTreeMap;

use super::shape::{self, Bounds, TableShape, TableSql};
use crate::context::{Route, TenantContext};
use crate::data::{DataError, Database, TenantDb};
use crate::params;

/// Rows per chunk.
const CHUNK: usize = 1000;

/// At most this many differing keys are listed per table in a report.
const LISTED: usize = 20;

/// One tenant's data between two tiers.
pub struct TierCopy {
    db: Database,
    source: TenantContext,
    target: TenantContext,
    chunk: usize,
}

/// What [`TierCopy::verify`] (or [`TierCopy::catch_up`]) found in one table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TableCheck {
    /// The table.
    pub table: String,
    /// The source's rows.
    pub source_rows: u64,
    /// The target's rows.
    pub target_rows: u64,
    /// A checksum of the source's rows (FNV-1a over their JSON, in key order).
    pub source_checksum: String,
    /// The same over the target's rows.
    pub target_checksum: String,
    /// How many keys differ (missing on one side, or with other content).
    pub differing: u64,
    /// The first of them, as JSON objects of their key columns.
    pub differing_keys: Vec<String>,
    /// Rows rewritten in (or deleted from) the target: `catch_up` only.
    pub repaired: u64,
}

impl TableCheck {
    /// Whether both sides hold the same rows.
    pub fn matches(&self) -> bool {
        self.differing == 0
            && self.source_rows == self.target_rows
            && self.source_checksum == self.target_checksum
    }
}

impl std::fmt::Display for TableCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} rows (checksum {}) against {} in the target (checksum {})",
            self.table,
            self.source_rows,
            self.source_checksum,
            self.target_rows,
            self.target_checksum
        )?;
        if self.differing > 0 {
            write!(
                f,
                "; {} keys differ: {}{}",
                self.differing,
                self.differing_keys.join(" "),
                if self.differing as usize > self.differing_keys.len() {
                    " …"
                } else {
                    ""
                }
            )?;
        }
        Ok(())
    }
}

/// One chunk's rows, by key (the key columns as a JSON object), with
/// their JSON text.
type Chunk = BTreeMap<String, String>;

/// FNV-1a, 64 bits: a checksum that needs no dependency and is the same
/// on every platform.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }

    fn add(&mut self, text: &str) {
        for byte in text.bytes().chain(std::iter::once(b'\n')) {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

impl TierCopy {
    /// Copies `tenant`'s rows (the context names the tenant; its route is
    /// not used) from the tiers of route `from` to those of `to` (each read
    /// on its [`reads`](Route::reads) tier, with its database server).
    pub fn new(db: Database, tenant: &TenantContext, from: Route, to: Route) -> Self {
        Self {
            db,
            source: tenant.with_route(from),
            target: tenant.with_route(to),
            chunk: CHUNK,
        }
    }

    /// Rows per chunk (default 1000): the size of each copy transaction
    /// and of each locked re-read.
    pub fn chunk(mut self, rows: usize) -> Self {
        self.chunk = rows.max(1);
        self
    }

    // Outside the tenant's connection quota: the copy is the operator's
    // work, and holding a source lock while waiting for a slot a tenant
    // request holds (which waits for the lock) would deadlock.
    fn source(&self) -> TenantDb<'_> {
        TenantDb::new(&self.db, self.source.clone()).uncharged()
    }

    fn target(&self) -> TenantDb<'_> {
        TenantDb::new(&self.db, self.target.clone()).uncharged()
    }

    /// The tenant tables of the source, parents first; the target must
    /// have the same ones (it was migrated to the same version).
    pub async fn tables(&self) -> Result<Vec<TableShape>, DataError> {
        let source = read_catalog(&self.source(), &self.db).await?;
        let target = read_catalog(&self.target(), &self.db).await?;
        for table in &source {
            if !target
                .iter()
                .any(|t| t.name == table.name && t.columns == table.columns)
            {
                return Err(DataError::config(format!(
                    "the target has no table {} with the source's columns: migrate it to the source's version first",
                    table.name
                )));
            }
            if table.key.is_empty() {
                return Err(DataError::config(format!(
                    "table {} has no primary key; the tier copy walks tables by key",
                    table.name
                )));
            }
        }
        shape::parents_first(source)
    }

    /// Copies what the target lacks of `table`, resuming after the target's
    /// highest key; how many rows were inserted.
    pub async fn copy(&self, table: &TableShape) -> Result<u64, DataError> {
        let sql = TableSql::new(table, &self.db);
        let (source, target) = (self.source(), self.target());
        let mut after = target
            .fetch_optional(sql.last_row(), params![])
            .await?
            .map(|row| row.get::<String>(0))
            .transpose()?
            .map(|json| key_of(table, &json))
            .transpose()?;
        let mut inserted = 0;
        loop {
            let rows = match &after {
                None => {
                    source
                        .fetch_all(sql.rows(lower(false), Some(self.chunk), false), params![])
                        .await?
                }
                Some(key) => {
                    source
                        .fetch_all(
                            sql.rows(lower(true), Some(self.chunk), false),
                            params![key.clone()],
                        )
                        .await?
                }
            };
            let Some(last) = rows.last() else {
                return Ok(inserted);
            };
            after = Some(key_of(table, &last.get::<String>(0)?)?);
            let rows: Vec<String> = rows
                .iter()
                .map(|r| r.get::<String>(0))
                .collect::<Result<_, _>>()?;
            let full = rows.len() == self.chunk;
            inserted += self.write(&sql, false, &rows).await?;
            if !full {
                return Ok(inserted);
            }
        }
    }

    /// Deletes the tenant's rows from the source's `tables` (given parents
    /// first; deleted children first), a chunk per transaction so tenants
    /// sharing the tables are not held up: what retires a shared-tier
    /// source once the tenant has moved out. How many rows.
    pub async fn clear_source(&self, tables: &[TableShape]) -> Result<u64, DataError> {
        let mut deleted = 0;
        for table in tables.iter().rev() {
            let sql = TableSql::new(table, &self.db).delete_batch(self.chunk);
            loop {
                let n = self.source().execute(sql, params![]).await?;
                deleted += n;
                if n < self.chunk as u64 {
                    break;
                }
            }
        }
        Ok(deleted)
    }

    /// Makes the target's `tables` (parents first, as [`tables`](Self::tables)
    /// gives them) equal to the source's (see the module docs): rows
    /// rewritten table by table, then the target's rows the source no
    /// longer has deleted, children first. Per table, the check before
    /// repair, with what was repaired.
    pub async fn catch_up(&self, tables: &[TableShape]) -> Result<Vec<TableCheck>, DataError> {
        let mut checks = Vec::with_capacity(tables.len());
        let mut extras = Vec::with_capacity(tables.len());
        for table in tables {
            let (check, extra) = self.compare(table, true).await?;
            checks.push(check);
            extras.push(extra);
        }
        for ((table, extra), check) in tables.iter().zip(extras).zip(checks.iter_mut()).rev() {
            let delete = TableSql::new(table, &self.db).delete();
            for keys in extra.chunks(self.chunk) {
                let json = format!("[{}]", keys.join(","));
                check.repaired += self.target().execute(delete, params![json]).await?;
            }
        }
        Ok(checks)
    }

    /// Compares `table` on both sides without changing either.
    pub async fn verify(&self, table: &TableShape) -> Result<TableCheck, DataError> {
        Ok(self.compare(table, false).await?.0)
    }

    /// One table compared (and with `repair`, rewritten); the check, and
    /// the keys of the target's rows the source does not have.
    async fn compare(
        &self,
        table: &TableShape,
        repair: bool,
    ) -> Result<(TableCheck, Vec<String>), DataError> {
        let sql = TableSql::new(table, &self.db);
        let mut check = TableCheck {
            table: table.name.clone(),
            ..TableCheck::default()
        };
        let (mut source_sum, mut target_sum) = (Fnv::new(), Fnv::new());
        let mut extra_keys = Vec::new();
        let mut after: Option<String> = None;
        loop {
            // Unlocked first: most chunks match, and cost no lock.
            let (source_rows, upper) = self
                .read(
                    &self.source(),
                    &sql,
                    after.as_deref(),
                    None,
                    Some(self.chunk),
                )
                .await?;
            let end = source_rows.len() < self.chunk;
            let target_upper = if end { None } else { upper.as_deref() };
            let (target_rows, _) = self
                .read(&self.target(), &sql, after.as_deref(), target_upper, None)
                .await?;
            let (source_rows, target_rows) = if source_rows == target_rows {
                (source_rows, target_rows)
            } else {
                self.settle(
                    &sql,
                    after.as_deref(),
                    target_upper,
                    repair,
                    &mut check,
                    &mut extra_keys,
                )
                .await?
            };
            for json in source_rows.values() {
                source_sum.add(json);
            }
            for json in target_rows.values() {
                target_sum.add(json);
            }
            check.source_rows += source_rows.len() as u64;
            check.target_rows += target_rows.len() as u64;
            if end {
                break;
            }
            after = upper;
        }
        check.source_checksum = source_sum.hex();
        check.target_checksum = target_sum.hex();
        Ok((check, extra_keys))
    }

    /// Re-reads one differing range with the source rows locked and, with
    /// `repair`, writes the source's rows into the target before the lock
    /// goes; returns both sides as they are then, and counts what still
    /// differs.
    async fn settle(
        &self,
        sql: &TableSql<'_>,
        after: Option<&str>,
        upper: Option<&str>,
        repair: bool,
        check: &mut TableCheck,
        extra_keys: &mut Vec<String>,
    ) -> Result<(Chunk, Chunk), DataError> {
        let (source, target) = (self.source(), self.target());
        // Both connections are taken before the pause begins, so the
        // writers it holds up (each sitting on a connection) cannot starve
        // it of one.
        source
            .transaction(async |stx| {
                target
                    .transaction(async |ttx| {
                        if let Some(pause) = pause_writers(&self.db) {
                            let tenant = self.source.tenant_id().to_string();
                            stx.fetch_all(pause, params![tenant]).await?;
                        }
                        let source_rows = read_in(stx, sql, after, upper, true).await?;
                        let target_rows = read_in(ttx, sql, after, upper, false).await?;
                        let mut changed = Vec::new();
                        for (key, json) in &source_rows {
                            if target_rows.get(key) != Some(json) {
                                changed.push(json.clone());
                                check.note(key);
                            }
                        }
                        for key in target_rows.keys() {
                            if !source_rows.contains_key(key) {
                                check.note(key);
                                if repair {
                                    extra_keys.push(key.clone());
                                }
                            }
                        }
                        if !repair {
                            return Ok((source_rows, target_rows));
                        }
                        if !changed.is_empty() {
                            let json = format!("[{}]", changed.join(","));
                            check.repaired += ttx.execute(sql.insert(true), params![json]).await?;
                        }
                        // The extra rows go at the end of the catch-up,
                        // children first; meanwhile they are the source's
                        // deletions the target has yet to see.
                        let mut settled = source_rows.clone();
                        for key in target_rows.keys().filter(|k| !source_rows.contains_key(*k)) {
                            settled.insert(key.clone(), target_rows[key].clone());
                        }
                        Ok::<_, DataError>((source_rows, settled))
                    })
                    .await
            })
            .await
    }

    /// Writes `rows` (JSON texts) into the target (`replace`: overwriting
    /// rows of the same key); how many were written. A row whose parent is
    /// not in the target yet (an invoice of an order made after the orders
    /// were copied) is left out, for the catch-up, which copies parents
    /// first.
    async fn write(
        &self,
        sql: &TableSql<'_>,
        replace: bool,
        rows: &[String],
    ) -> Result<u64, DataError> {
        let statement = sql.insert(replace);
        let json = format!("[{}]", rows.join(","));
        match self.target().execute(statement, params![json]).await {
            Err(e) if is_missing_parent(&e) => {}
            other => return other,
        }
        let mut written = 0;
        for row in rows {
            match self
                .target()
                .execute(statement, params![format!("[{row}]")])
                .await
            {
                Ok(n) => written += n,
                Err(e) if is_missing_parent(&e) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    /// Rows of one side in `(after, upper]`, up to `limit`, by key.
    async fn read(
        &self,
        side: &TenantDb<'_>,
        sql: &TableSql<'_>,
        after: Option<&str>,
        upper: Option<&str>,
        limit: Option<usize>,
    ) -> Result<(Chunk, Option<String>), DataError> {
        let bounds = Bounds {
            lower: after.is_some(),
            upper: upper.is_some(),
        };
        let statement = sql.rows(bounds, limit, false);
        let params: Vec<crate::data::Value> = after
            .into_iter()
            .chain(upper)
            .map(|k| crate::data::Value::from(k.to_owned()))
            .collect();
        by_key(sql, side.fetch_all(statement, &params).await?)
    }
}

impl TableCheck {
    fn note(&mut self, key: &str) {
        self.differing += 1;
        if self.differing_keys.len() < LISTED {
            self.differing_keys.push(key.to_owned());
        }
    }
}

/// The statement that waits until no dual-write transaction of the tenant
/// (`$1`) is in flight and holds new ones at their start until the
/// transaction that runs it ends: on PostgreSQL an advisory lock each
/// dual-write transaction takes shared on its primary (see
/// [`crate::data::TenantDb::transaction`]). SQLite needs none: a source
/// transaction holds the file's write lock, which every writer holds from
/// its start to the end of its last commit.
fn pause_writers(db: &Database) -> Option<&'static str> {
    (shape::backend(db) == shape::Backend::Postgres).then_some(crate::data::PAUSE_DUAL_WRITES)
}

/// Rows of one side in `(after, upper]`, read inside `tx` (`locked`: the
/// rows held until it ends).
async fn read_in(
    tx: &mut crate::data::Tx,
    sql: &TableSql<'_>,
    after: Option<&str>,
    upper: Option<&str>,
    locked: bool,
) -> Result<Chunk, DataError> {
    let bounds = Bounds {
        lower: after.is_some(),
        upper: upper.is_some(),
    };
    let params: Vec<crate::data::Value> = after
        .into_iter()
        .chain(upper)
        .map(|k| crate::data::Value::from(k.to_owned()))
        .collect();
    Ok(by_key(
        sql,
        tx.fetch_all(sql.rows(bounds, None, locked), &params)
            .await?,
    )?
    .0)
}

/// Rows by key, and the key of the last one in the database's key order
/// (which a JSON text's order is not: `{"id":10}` sorts before `{"id":9}`).
fn by_key(
    sql: &TableSql<'_>,
    rows: Vec<crate::data::Row>,
) -> Result<(Chunk, Option<String>), DataError> {
    let mut chunk = Chunk::new();
    let mut last = None;
    for row in rows {
        let json = row.get::<String>(0)?;
        let key = key_of(sql.shape(), &json)?;
        last = Some(key.clone());
        chunk.insert(key, json);
    }
    Ok((chunk, last))
}

fn lower(present: bool) -> Bounds {
    Bounds {
        lower: present,
        upper: false,
    }
}

/// The key columns of row `json`, as a JSON object (a keyset bound and
/// what a report lists).
fn key_of(table: &TableShape, json: &str) -> Result<String, DataError> {
    let row: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| {
            DataError::Decode(
                crate::data::DbFailure::new(format!("a row of {}: {e}", table.name)).with_source(e),
            )
        })?;
    let key: serde_json::Map<String, serde_json::Value> = table
        .key
        .iter()
        .map(|k| {
            (
                k.clone(),
                row.get(k).cloned().unwrap_or(serde_json::Value::Null),
            )
        })
        .collect();
    Ok(serde_json::Value::Object(key).to_string())
}

/// A foreign-key refusal: the row's parent is not (yet) there.
fn is_missing_parent(error: &DataError) -> bool {
    error.constraint_kind() == Some(crate::data::ConstraintKind::ForeignKey)
        || error.to_string().contains("FOREIGN KEY constraint failed")
}

/// The tenant tables the tier `db` reaches holds.
async fn read_catalog(
    db: &TenantDb<'_>,
    database: &Database,
) -> Result<Vec<TableShape>, DataError> {
    let list = |text: String| -> Result<Vec<String>, DataError> {
        serde_json::from_str(&text).map_err(|e| {
            DataError::Decode(crate::data::DbFailure::new(format!("catalog: {e}")).with_source(e))
        })
    };
    db.fetch_all(shape::catalog_sql(database), params![])
        .await?
        .iter()
        .map(|row| {
            Ok(TableShape {
                name: row.get(0)?,
                columns: list(row.get(1)?)?,
                key: list(row.get(2)?)?,
                parents: list(row.get(3)?)?,
            })
        })
        .collect()
}
