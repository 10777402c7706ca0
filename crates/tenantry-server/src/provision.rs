//! A tenant's registration and its tier target: [`register`] records it
//! `provisioning` (its requests get 503 with `Retry-After`) after checking
//! the tier can be made here; [`provision_target`] makes the target — for
//! the schema tier a schema migrated to the current version, for the
//! database tier the tenant's own PostgreSQL database (or SQLite file) —
//! and [`drop_target`] undoes it. Onboarding ([`crate::lifecycle`]) runs
//! them as durable steps; [`create_tenant`] does it all at once for the
//! demo seed and tests. Every step is idempotent.

use crate::error::{Doing as _, ServerError, refuse};
use tenantry::context::Tier;
use tenantry::data::postgres as pg;
use tenantry::registry::{NewTenant, TenantRecord, TenantState};

use tenantry::data::Database;

use crate::migrations::{PG_APP_MIGRATIONS, SQLITE_APP_MIGRATIONS};
use crate::services::{Provisioner, Services};

impl From<PlacementError> for ServerError {
    fn from(error: PlacementError) -> Self {
        ServerError::other(error)
    }
}

impl From<RegisterError> for ServerError {
    fn from(error: RegisterError) -> Self {
        ServerError::other(error)
    }
}

/// Why a tenant was not registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The tier or database server cannot be made here.
    #[error(transparent)]
    Placement(#[from] PlacementError),
    /// The registry refused it (a taken slug or domain, an invalid slug)
    /// or could not be reached.
    #[error(transparent)]
    Registry(#[from] tenantry::registry::RegistryError),
    /// The warm pool could not be read or given its target back.
    #[error("warm pool: {0}")]
    WarmPool(#[from] tenantry::data::DataError),
}

/// Registers `tenant` as `provisioning`, after checking its tier can be
/// made here; onboarding ([`crate::lifecycle`]) does the rest.
pub async fn register(
    services: &Services,
    mut tenant: NewTenant,
) -> Result<TenantRecord, RegisterError> {
    check_tier(services, tenant.tier)?;
    if let Some(server) = &tenant.database_server {
        check_database_server(services, tenant.tier, server)?;
    }
    tenant.state = TenantState::Provisioning;
    // A target made ahead of time, if the pool has one: its id becomes the
    // tenant's, so the tier step finds the target ready.
    let warm =
        if tenant.id.is_none() && tenant.tier != Tier::Shared && tenant.database_server.is_none() {
            services.warm.claim(tenant.tier).await?
        } else {
            None
        };
    if let Some(id) = warm {
        tenant.id = Some(id);
    }
    let tier = tenant.tier;
    match services.tenants.create(tenant).await {
        Ok(record) => Ok(record),
        Err(e) => {
            // Refused (a taken slug): the target goes back to the pool.
            if let Some(id) = warm {
                services.warm.add(id, tier).await?;
            }
            Err(e.into())
        }
    }
}

/// The tiers a warm pool can hold here: schemas and databases on
/// PostgreSQL, database files on SQLite.
pub fn warm_tiers(services: &Services) -> &'static [Tier] {
    match services.provisioner {
        Provisioner::Postgres { .. } => &[Tier::Schema, Tier::Database],
        Provisioner::Sqlite => &[Tier::Database],
    }
}

/// Tops the warm pool up to `size` targets per tier; how many were made.
/// Several processes may top up at once and overshoot by a few, which
/// costs only idle targets.
pub async fn fill_warm_pool(services: &Services, size: usize) -> Result<usize, ServerError> {
    let mut made = 0;
    for &tier in warm_tiers(services) {
        let ready = usize::try_from(services.warm.ready(tier).await?).unwrap_or(usize::MAX);
        for _ in ready..size {
            let id = tenantry::context::TenantId::new_v4();
            make_target(services, id, tier, None, &format!("warm {id}")).await?;
            services.warm.add(id, tier).await?;
            made += 1;
        }
    }
    Ok(made)
}

/// Registers `tenant`, creates its tier target and activates it, in one
/// go (the demo seed and tests; `tenants create` runs onboarding instead).
pub async fn create_tenant(
    services: &Services,
    mut tenant: NewTenant,
) -> Result<TenantRecord, ServerError> {
    // Refuse an impossible tier before anything is written.
    check_tier(services, tenant.tier)?;
    if let Some(server) = &tenant.database_server {
        check_database_server(services, tenant.tier, server)?;
    }
    let wanted = tenant.state;
    tenant.state = TenantState::Provisioning;
    let record = services.tenants.create(tenant).await?;
    provision_target(services, &record).await.doing(|| {
        format!(
            "tenant {} is registered but not provisioned; rerun `tenantry tenants provision {}`",
            record.slug, record.slug
        )
    })?;
    if wanted == TenantState::Provisioning {
        return Ok(record);
    }
    Ok(services
        .tenants
        .set_state(record.id, TenantState::Active)
        .await?)
}

fn check_database_server(
    services: &Services,
    tier: Tier,
    server: &str,
) -> Result<(), PlacementError> {
    if tier != Tier::Database || !matches!(services.provisioner, Provisioner::Postgres { .. }) {
        return Err(PlacementError::ServerNotApplicable);
    }
    let config = pg::parse_database_server(server).map_err(PlacementError::BadServer)?;
    let verified = match &services.db {
        tenantry::data::Database::Postgres(db) => db.tls().verifies_server(),
        _ => false,
    };
    if !pg::is_local(&config) && !verified && !services.allow_insecure_transport {
        return Err(PlacementError::Unverified {
            server: server.to_owned(),
        });
    }
    Ok(())
}

fn check_tier(services: &Services, tier: Tier) -> Result<(), PlacementError> {
    match (&services.provisioner, tier) {
        (Provisioner::Sqlite, Tier::Schema) => Err(PlacementError::SchemaNeedsPostgres),
        _ => Ok(()),
    }
}

/// Why a tenant cannot be placed as asked on this deployment.
#[derive(Debug, thiserror::Error)]
pub enum PlacementError {
    /// The schema tier on SQLite.
    #[error("the schema tier needs PostgreSQL (--database-url)")]
    SchemaNeedsPostgres,
    /// A database server for another tier than the database tier, or on SQLite.
    #[error("--database-server applies to the database tier on PostgreSQL only")]
    ServerNotApplicable,
    /// Not a usable server URL.
    #[error("database server: {0}")]
    BadServer(#[source] tenantry::data::DataError),
    /// Another host, reached without verifying it.
    #[error(
        "{server} is another host, and this deployment's PostgreSQL URL does not verify \
         servers (sslmode=verify-full): its database would be reached unverified; \
         or pass --allow-insecure-transport on a network you trust"
    )]
    Unverified {
        /// The server asked for.
        server: String,
    },
}

/// Creates `record`'s tier target, migrated (idempotent).
pub(crate) async fn provision_target(
    services: &Services,
    record: &TenantRecord,
) -> Result<(), ServerError> {
    make_target(
        services,
        record.id,
        record.tier,
        record.database_server.as_deref(),
        &record.slug,
    )
    .await
}

/// Creates the `tier` target of tenant id `id` (on `server`, for the
/// database tier), migrated (idempotent); `label` names it in errors.
async fn make_target(
    services: &Services,
    id: tenantry::context::TenantId,
    tier: Tier,
    server: Option<&str>,
    label: &str,
) -> Result<(), ServerError> {
    match (&services.provisioner, tier) {
        (
            Provisioner::Postgres {
                owner_url,
                app_role,
            },
            Tier::Schema,
        ) => {
            let mut owner = pg::migrate::connect(owner_url).await?;
            let schema = pg::schema_for(id);
            pg::migrate::apply(&mut owner, &schema, PG_APP_MIGRATIONS, app_role)
                .await
                .doing(|| format!("creating and migrating {schema}"))?;
            Ok(())
        }
        (
            Provisioner::Postgres {
                owner_url,
                app_role,
            },
            Tier::Database,
        ) => {
            let Database::Postgres(db) = &services.db else {
                refuse!("a PostgreSQL provisioner over a non-PostgreSQL database")
            };
            let name = db.tenant_database(id);
            // Another server has neither the app role nor the control
            // database: create the role there and work from `postgres`.
            let owner = match server {
                None => pg::migrate::connect(owner_url).await?,
                Some(_) => {
                    let owner = pg::migrate::connect_on(owner_url, server, Some("postgres"))
                        .await
                        .doing(|| format!("connecting to {}", server.unwrap_or("")))?;
                    pg::migrate::ensure_app_role(&owner, app_role).await?;
                    owner
                }
            };
            pg::migrate::ensure_database(&owner, &name, app_role)
                .await
                .doing(|| format!("creating database {name}"))?;
            drop(owner);
            let mut own = pg::migrate::connect_on(owner_url, server, Some(&name)).await?;
            pg::migrate::apply(&mut own, "public", PG_APP_MIGRATIONS, app_role)
                .await
                .doing(|| format!("migrating database {name}"))?;
            Ok(())
        }
        (Provisioner::Sqlite, Tier::Database) => {
            let Database::Sqlite(lite) = &services.db else {
                refuse!("a SQLite provisioner over a non-SQLite database")
            };
            lite.provision_tenant_file(id, SQLITE_APP_MIGRATIONS)
                .await
                .doing(|| format!("creating and migrating the database of tenant {label}"))?;
            Ok(())
        }
        (_, Tier::Shared) => Ok(()),
        (_, tier) => refuse!("cannot provision the {tier} tier here"),
    }
}

/// Refreshes the planner's statistics of `record`'s tier target (as the
/// owner: only an owner may): a tier move fills a target's tables in one
/// go, and until autovacuum notices, PostgreSQL would plan the move's own
/// keyset reads as if they were empty — a sort of every row per chunk
/// instead of an index walk. SQLite needs nothing.
pub(crate) async fn analyze_target(
    services: &Services,
    record: &TenantRecord,
) -> Result<(), ServerError> {
    let Provisioner::Postgres { owner_url, .. } = &services.provisioner else {
        return Ok(());
    };
    let (owner, schema) = match record.tier {
        Tier::Database => {
            let Database::Postgres(db) = &services.db else {
                refuse!("a PostgreSQL provisioner over a non-PostgreSQL database")
            };
            let name = db.tenant_database(record.id);
            let server = record.database_server.as_deref();
            (
                pg::migrate::connect_on(owner_url, server, Some(&name)).await?,
                "public".to_owned(),
            )
        }
        Tier::Schema => (
            pg::migrate::connect(owner_url).await?,
            pg::schema_for(record.id),
        ),
        Tier::Shared => (pg::migrate::connect(owner_url).await?, "public".to_owned()),
    };
    let tables = owner
        .query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables t WHERE schemaname = $1 \
               AND EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = t.schemaname \
                             AND c.table_name = t.tablename AND c.column_name = 'tenant_id')",
            &[&schema],
        )
        .await?;
    for table in tables {
        let table: String = table.get(0);
        owner
            .batch_execute(&format!("ANALYZE {table}"))
            .await
            .doing(|| format!("analyzing {table}"))?;
    }
    Ok(())
}

/// Drops `record`'s tier target — its schema, database or SQLite file —
/// with everything in it (idempotent): the undoing of [`provision_target`].
pub(crate) async fn drop_target(
    services: &Services,
    record: &TenantRecord,
) -> Result<(), ServerError> {
    match (&services.provisioner, record.tier) {
        (Provisioner::Postgres { owner_url, .. }, Tier::Schema) => {
            let owner = pg::migrate::connect(owner_url).await?;
            let schema = pg::quote_ident(&pg::schema_for(record.id))?;
            owner
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .await
                .doing(|| format!("dropping {schema}"))?;
            Ok(())
        }
        (Provisioner::Postgres { owner_url, .. }, Tier::Database) => {
            let Database::Postgres(db) = &services.db else {
                refuse!("a PostgreSQL provisioner over a non-PostgreSQL database")
            };
            let name = pg::quote_ident(&db.tenant_database(record.id))?;
            let server = record.database_server.as_deref();
            let owner = pg::migrate::connect_on(owner_url, server, Some("postgres")).await?;
            owner
                .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await
                .doing(|| format!("dropping database {name}"))?;
            Ok(())
        }
        (Provisioner::Sqlite, Tier::Database) => {
            let Database::Sqlite(lite) = &services.db else {
                refuse!("a SQLite provisioner over a non-SQLite database")
            };
            lite.close_tenant_file(record.id);
            if let Some(path) = lite.tenant_file_path(record.id) {
                for file in [
                    path.clone(),
                    path.with_extension("db-wal"),
                    path.with_extension("db-shm"),
                ] {
                    match std::fs::remove_file(&file) {
                        Ok(()) => {}
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                        Err(e) => {
                            return Err(e).doing(|| format!("removing {}", file.display()));
                        }
                    }
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Whether `record`'s own schema, database or SQLite file exists (the
/// shared tier always does).
pub async fn target_exists(
    services: &Services,
    record: &TenantRecord,
) -> Result<bool, ServerError> {
    match (&services.provisioner, record.tier) {
        (Provisioner::Postgres { owner_url, .. }, Tier::Schema) => {
            let owner = pg::migrate::connect(owner_url).await?;
            let found = owner
                .query_opt(
                    "SELECT 1 FROM pg_namespace WHERE nspname = $1",
                    &[&pg::schema_for(record.id)],
                )
                .await?;
            Ok(found.is_some())
        }
        (Provisioner::Postgres { owner_url, .. }, Tier::Database) => {
            let Database::Postgres(db) = &services.db else {
                refuse!("a PostgreSQL provisioner over a non-PostgreSQL database")
            };
            let server = record.database_server.as_deref();
            let owner = pg::migrate::connect_on(owner_url, server, Some("postgres")).await?;
            let found = owner
                .query_opt(
                    "SELECT 1 FROM pg_database WHERE datname = $1",
                    &[&db.tenant_database(record.id)],
                )
                .await?;
            Ok(found.is_some())
        }
        (Provisioner::Sqlite, Tier::Database) => {
            let Database::Sqlite(lite) = &services.db else {
                refuse!("a SQLite provisioner over a non-SQLite database")
            };
            Ok(lite
                .tenant_file_path(record.id)
                .is_some_and(|path| path.exists()))
        }
        _ => Ok(true),
    }
}
