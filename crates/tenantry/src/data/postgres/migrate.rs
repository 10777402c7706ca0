//! Applying [`Migration`]s to one PostgreSQL target (a schema).
//!
//! Each target has its own version table (`<schema>.tenantry_migrations`)
//! and its own advisory lock, so many targets can migrate in parallel while
//! two runners never migrate the same target at once. Everything pending
//! for a target applies in one transaction, grants included.

use tokio_postgres::Client;

use super::quote_ident;
use crate::data::migration::check_order;
use crate::data::{Migration, MigrationError};

/// Opens a dedicated (unpooled) connection, e.g. as the owner role for
/// migrations; a database that does not exist is
/// [`MigrationError::DatabaseMissing`], so callers can create it and no other
/// failure (a wrong password, a down server) is mistaken for that.
pub async fn connect(url: &str) -> Result<Client, MigrationError> {
    connect_to(url, None).await
}

/// [`connect`] to `database` on `url`'s server (as `url`'s role), or to
/// `url`'s own database when `database` is `None`.
pub async fn connect_to(url: &str, database: Option<&str>) -> Result<Client, MigrationError> {
    connect_on(url, None, database).await
}

/// [`connect_to`] on another `server` (a `postgres://host:port` URL, see
/// [`parse_database_server`](super::parse_database_server)) with `url`'s
/// role and credentials; `None` is `url`'s own server.
pub async fn connect_on(
    url: &str,
    server: Option<&str>,
    database: Option<&str>,
) -> Result<Client, MigrationError> {
    let (base, tls) = super::parse_url(url).map_err(MigrationError::Connection)?;
    let mut config = super::on_server(&base, server).map_err(MigrationError::Connection)?;
    if let Some(database) = database {
        config.dbname(database);
    }
    let (client, connection) = config.connect(tls).await.map_err(|e| {
        if e.code() == Some(&tokio_postgres::error::SqlState::INVALID_CATALOG_NAME) {
            MigrationError::DatabaseMissing(super::db_error(e).to_string())
        } else {
            MigrationError::Connection(super::db_error(e))
        }
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "migration connection closed");
        }
    });
    Ok(client)
}

/// Creates `role` as a login role without superuser or `BYPASSRLS`, if missing.
///
/// The role is cluster-wide, so concurrent creators are expected: losing the
/// race is success.
pub async fn ensure_app_role(admin: &Client, role: &str) -> Result<(), MigrationError> {
    let role = quote_ident(role).map_err(MigrationError::Connection)?;
    let sql = format!(
        "DO $$ BEGIN CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    );
    admin
        .batch_execute(&sql)
        .await
        .map_err(|e| MigrationError::Connection(super::db_error(e)))
}

/// Creates database `name` on `owner`'s server unless it exists, and lets
/// only `app_role` (besides owners and superusers) connect to it. Returns
/// whether it was created. Losing a race with another creator is success.
pub async fn ensure_database(
    owner: &Client,
    name: &str,
    app_role: &str,
) -> Result<bool, MigrationError> {
    let bad_ident = |e: crate::data::DataError| MigrationError::Connection(e);
    let quoted = quote_ident(name).map_err(bad_ident)?;
    let role = quote_ident(app_role).map_err(bad_ident)?;
    let failed = |e: tokio_postgres::Error| MigrationError::Connection(super::db_error(e));
    let exists = owner
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(failed)?
        .is_some();
    let mut created = false;
    if !exists {
        match owner
            .batch_execute(&format!("CREATE DATABASE {quoted}"))
            .await
        {
            Ok(()) => created = true,
            Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::DUPLICATE_DATABASE) => {}
            Err(e) => return Err(failed(e)),
        }
    }
    owner
        .batch_execute(&format!(
            "REVOKE ALL ON DATABASE {quoted} FROM PUBLIC; GRANT CONNECT, TEMPORARY ON DATABASE {quoted} TO {role};"
        ))
        .await
        .map_err(failed)?;
    Ok(created)
}

/// Creates `public.tenantry_current_tenant()` if the database lacks it: the
/// tenant of the current transaction, or NULL outside one (which matches no
/// row, so queries fail closed). Repositories use it in SQL shared with
/// SQLite, where the same name is a connection function.
///
/// Checked before creating, under a database-wide lock, because concurrent
/// `CREATE OR REPLACE` of one function fails with "tuple concurrently updated".
async fn install_current_tenant_function(
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<(), tokio_postgres::Error> {
    let present: bool = tx
        .query_one(
            "SELECT to_regprocedure('public.tenantry_current_tenant()') IS NOT NULL",
            &[],
        )
        .await?
        .get(0);
    if present {
        return Ok(());
    }
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('tenantry:current-tenant-function', 0))",
        &[],
    )
    .await?;
    tx.batch_execute(
        "CREATE OR REPLACE FUNCTION public.tenantry_current_tenant() RETURNS uuid
             LANGUAGE sql STABLE PARALLEL SAFE
             AS $$ SELECT nullif(current_setting('app.tenant_id', true), '')::uuid $$;",
    )
    .await
}

/// Applies the pending part of `set` to `schema`, granting table access to
/// `app_role` in the same transaction. Returns how many migrations ran.
pub async fn apply(
    admin: &mut Client,
    schema: &str,
    set: &[Migration],
    app_role: &str,
) -> Result<usize, MigrationError> {
    check_order(set)?;
    let failed = |version: i64, name: &str, e: tokio_postgres::Error| MigrationError::Failed {
        target: schema.to_owned(),
        version,
        name: name.to_owned(),
        message: super::db_error(e).to_string(),
    };
    let bad_ident = |e: crate::data::DataError| MigrationError::Connection(e);
    let quoted_schema = quote_ident(schema).map_err(bad_ident)?;
    let quoted_role = quote_ident(app_role).map_err(bad_ident)?;

    let tx = admin
        .transaction()
        .await
        .map_err(|e| failed(0, "begin", e))?;
    install_current_tenant_function(&tx)
        .await
        .map_err(|e| failed(0, "tenantry_current_tenant()", e))?;
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&format!("tenantry:migrate:{schema}")],
    )
    .await
    .map_err(|e| failed(0, "lock", e))?;
    tx.batch_execute(&format!(
        "CREATE SCHEMA IF NOT EXISTS {quoted_schema};
         CREATE TABLE IF NOT EXISTS {quoted_schema}.tenantry_migrations (
             version bigint PRIMARY KEY,
             name text NOT NULL,
             checksum text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now());
         SELECT set_config('search_path', '{schema}, public', true);"
    ))
    .await
    .map_err(|e| failed(0, "version table", e))?;

    let applied = tx
        .query(
            &format!("SELECT version, name, checksum FROM {quoted_schema}.tenantry_migrations"),
            &[],
        )
        .await
        .map_err(|e| failed(0, "read versions", e))?;
    let mut ran = 0;
    for migration in set {
        let previous = applied
            .iter()
            .find(|row| row.get::<_, i64>(0) == migration.version);
        if let Some(row) = previous {
            if row.get::<_, String>(2) != migration.checksum() {
                return Err(MigrationError::Edited {
                    target: schema.to_owned(),
                    version: migration.version,
                    name: row.get(1),
                });
            }
            continue;
        }
        tx.batch_execute(migration.sql)
            .await
            .map_err(|e| failed(migration.version, migration.name, e))?;
        tx.execute(
            &format!("INSERT INTO {quoted_schema}.tenantry_migrations (version, name, checksum) VALUES ($1, $2, $3)"),
            &[&migration.version, &migration.name, &migration.checksum()],
        )
        .await
        .map_err(|e| failed(migration.version, migration.name, e))?;
        ran += 1;
    }
    if ran > 0 {
        tx.batch_execute(&format!(
            "GRANT USAGE ON SCHEMA {quoted_schema} TO {quoted_role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {quoted_schema} TO {quoted_role};
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quoted_schema} TO {quoted_role};
             GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {quoted_schema} TO {quoted_role};
             REVOKE ALL ON {quoted_schema}.tenantry_migrations FROM {quoted_role};"
        ))
        .await
        .map_err(|e| failed(0, "grants", e))?;
    }
    tx.commit().await.map_err(|e| failed(0, "commit", e))?;
    Ok(ran)
}
