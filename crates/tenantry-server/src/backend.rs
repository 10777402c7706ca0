//! Opening the configured backend: migrate, connect as the app role, audit.

use std::sync::Arc;

use anyhow::{Context, bail};
use tenantry::cache::RedisRegistryEvents;
use tenantry::config::{Flag, FlagSet, TenantConfig};

use crate::tenant_settings::TenantSettings;
use tenantry::context::Tier;
use tenantry::data::postgres::fleet::FleetOptions;
use tenantry::data::postgres::{self as pg, PgDatabase, PgTenantStore};
use tenantry::data::sqlite::{self as lite, SqliteDatabase, SqliteTenantStore};
use tenantry::data::{Database, Migration};
use tenantry::jobs::{JobQueue, PgQueue, SqliteQueue};
use tenantry::registry::{TenantState, Tenants};
use tenantry::secrets::{LocalKeyring, MasterKey, OpenBaoTransit, SecretStorage, Secrets};
use tenantry::storage::{LayoutPolicy, StorageQuota, TenantStorage, UrlSigner};

/// Database-tier SQLite files kept open at once (least recently used close first).
const OPEN_TENANT_FILES: usize = 64;

use crate::config::{Config, DatabaseConfig};

/// The reference app's tenant-plane migrations for PostgreSQL (schema `public`).
pub const PG_APP_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "app",
        sql: include_str!("../migrations/postgres/0001_app.sql"),
    },
    Migration {
        version: 2,
        name: "webhook_deliveries",
        sql: include_str!("../migrations/postgres/0002_webhook_deliveries.sql"),
    },
];

/// The reference app's tenant-plane migrations for SQLite (`shared.db`).
pub const SQLITE_APP_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "app",
        sql: include_str!("../migrations/sqlite/0001_app.sql"),
    },
    Migration {
        version: 2,
        name: "webhook_deliveries",
        sql: include_str!("../migrations/sqlite/0002_webhook_deliveries.sql"),
    },
];

/// The opened backend.
#[derive(Clone)]
pub struct Backend {
    /// Tenant plane.
    pub db: Database,
    /// Registry (control plane) behind its cache.
    pub tenants: Tenants,
    /// Tenants' objects (invoice attachments).
    pub storage: TenantStorage,
    /// Tenants' secrets.
    pub secrets: Secrets,
    /// Tenants' settings and feature flags.
    pub config: TenantConfig<TenantSettings>,
    /// The job queue (in the control database).
    pub queue: Arc<dyn JobQueue>,
    /// What the workers report, for `/metrics`.
    pub job_metrics: Arc<tenantry::metrics::JobMetrics>,
    /// Rate-limit state shared by every process (with `--redis-url`).
    pub rates: Option<tenantry::limits::RedisRates>,
    /// How tier targets are created; see [`crate::provision`].
    pub(crate) provisioner: Provisioner,
    /// Whether tenant databases on other hosts may be reached without
    /// verified TLS (`--allow-insecure-transport`).
    pub(crate) allow_insecure_transport: bool,
}

/// What it takes to create a tenant's tier target.
#[derive(Clone)]
pub(crate) enum Provisioner {
    /// SQLite: the shared file serves the shared tier; nothing to create.
    Sqlite,
    /// PostgreSQL: schemas are created and migrated as the owner role.
    Postgres { owner_url: String, app_role: String },
}

/// Opens the configured backend ready to serve: control plane and every
/// tenant-plane target migrated (as a fleet), then the isolation audit.
pub async fn open(config: &Config) -> anyhow::Result<Backend> {
    let backend = connect(config).await?;
    if let Provisioner::Postgres { .. } = &backend.provisioner {
        let targets = crate::fleet::targets(&backend, None, &[]).await?;
        let options = FleetOptions {
            concurrency: 4,
            max_failures: 0,
        };
        let report = crate::fleet::run(&backend, targets, options, &|_| {}).await?;
        if let Some((target, error)) = report.failed.first() {
            bail!("refusing to start: migrating {target} failed: {error}");
        }
    }
    if let Database::Postgres(db) = &backend.db {
        let mut list: Vec<String> = db
            .audit()
            .await
            .context("running the isolation audit as the app role")?
            .iter()
            .map(|f| format!("  - {f}"))
            .collect();
        // Every database-tier tenant's own database too.
        for tenant in backend.tenants.list().await? {
            if tenant.tier != Tier::Database
                || matches!(tenant.state, TenantState::Deleting | TenantState::Deleted)
            {
                continue;
            }
            let database = db.tenant_database(tenant.id);
            let findings = db
                .audit_tenant_database(tenant.id, tenant.database_server.as_deref())
                .await
                .with_context(|| format!("auditing {}'s database {database}", tenant.slug))?;
            list.extend(
                findings
                    .iter()
                    .map(|f| format!("  - in {}'s database {database}: {f}", tenant.slug)),
            );
        }
        if !list.is_empty() {
            bail!(
                "refusing to start: the isolation audit found\n{}",
                list.join("\n")
            );
        }
    }
    Ok(backend)
}

/// Opens the configured backend with its control plane migrated but the
/// tenant plane as it is (for `tenantry migrate`).
pub async fn connect(config: &Config) -> anyhow::Result<Backend> {
    let mut backend = match &config.database {
        DatabaseConfig::Sqlite => open_sqlite(config).await,
        DatabaseConfig::Postgres {
            owner_url,
            app_url,
            app_role,
            statements,
        } => connect_postgres(config, owner_url, app_url, app_role, *statements).await,
    }?;
    if let Some(url) = &config.redis_url {
        let events = Arc::new(
            RedisRegistryEvents::connect(url)
                .await
                .context("connecting to Redis")?,
        );
        events
            .listen(backend.tenants.clone())
            .await
            .context("subscribing to registry changes")?;
        events
            .listen_config(backend.config.clone())
            .await
            .context("subscribing to configuration changes")?;
        backend.tenants = backend.tenants.clone().with_events(events.clone());
        backend.config = backend.config.clone().with_events(events);
        backend.rates = Some(
            tenantry::limits::RedisRates::connect(url, "tenantry:rate:")
                .await
                .context("connecting to Redis for rate limits")?,
        );
    }
    Ok(backend)
}

async fn open_sqlite(config: &Config) -> anyhow::Result<Backend> {
    let dir = &config.data_dir;
    let control = SqliteDatabase::open(&dir.join("control.db"), 4).context("opening control.db")?;
    lite::apply_migrations(&control, "control", lite::CONTROL_MIGRATIONS).await?;
    let shared = SqliteDatabase::open(&dir.join("shared.db"), config.pool_size)
        .context("opening shared.db")?
        .with_tenant_files(&dir.join("tenants"), OPEN_TENANT_FILES);
    lite::apply_migrations(&shared, "shared", SQLITE_APP_MIGRATIONS).await?;
    let tenants = Tenants::new(Arc::new(SqliteTenantStore::new(control.clone())));
    // Each database-tier tenant's file. SQLite files are local and few, so
    // one after another is fine here.
    for tenant in tenants.list().await? {
        let live = !matches!(
            tenant.state,
            TenantState::Deleting | TenantState::Deleted | TenantState::Provisioning
        );
        if tenant.tier == Tier::Database && live {
            shared
                .provision_tenant_file(tenant.id, SQLITE_APP_MIGRATIONS)
                .await
                .with_context(|| format!("migrating the database of tenant {}", tenant.slug))?;
        }
    }
    let secret_storage = Arc::new(lite::SqliteSecretStorage::new(control.clone()));
    let config_store = Arc::new(lite::SqliteConfigStore::new(control.clone()));
    Ok(Backend {
        queue: Arc::new(
            SqliteQueue::new(control).with_plan_weights(crate::plans::catalog().queue_weights()),
        ),
        job_metrics: Arc::new(tenantry::metrics::JobMetrics::new(config.metrics_top_k)),
        config: TenantConfig::new(config_store, flags()),
        db: Database::Sqlite(shared),
        tenants,
        storage: storage(config),
        secrets: secrets(config, secret_storage).await?,
        rates: None,
        provisioner: Provisioner::Sqlite,
        allow_insecure_transport: config.allow_insecure_transport,
    })
}

async fn connect_postgres(
    config: &Config,
    owner_url: &str,
    app_url: &str,
    app_role: &str,
    statements: pg::Statements,
) -> anyhow::Result<Backend> {
    let pool_size = config.pool_size;
    create_database_if_missing(owner_url).await?;
    let mut owner = pg::migrate::connect(owner_url)
        .await
        .context("connecting as the owner role")?;
    pg::migrate::ensure_app_role(&owner, app_role).await?;
    pg::migrate::apply(
        &mut owner,
        pg::CONTROL_SCHEMA,
        pg::CONTROL_MIGRATIONS,
        app_role,
    )
    .await?;
    drop(owner);
    let mut options = pg::PgPoolOptions::new(pool_size);
    options.statements = statements;
    let db =
        PgDatabase::connect_with(app_url, options)?.with_plan_connections(&crate::plans::catalog());
    let tenants = Tenants::new(Arc::new(PgTenantStore::new(db.clone())));
    let secret_storage = Arc::new(pg::PgSecretStorage::new(db.clone()));
    let config_store = Arc::new(pg::PgConfigStore::new(db.clone()));
    // `LISTEN` is session state, which a transaction-mode pooler does not
    // keep: wake-ups then come over the owner's direct connection.
    let listen_url = match statements {
        pg::Statements::Prepared => app_url,
        pg::Statements::Unnamed => owner_url,
    };
    let queue = PgQueue::new(db.clone())
        .with_plan_weights(crate::plans::catalog().queue_weights())
        .with_wakeups(listen_url)?;
    Ok(Backend {
        queue: Arc::new(queue),
        job_metrics: Arc::new(tenantry::metrics::JobMetrics::new(config.metrics_top_k)),
        config: TenantConfig::new(config_store, flags()),
        db: Database::Postgres(db),
        tenants,
        storage: storage(config),
        secrets: secrets(config, secret_storage).await?,
        rates: None,
        provisioner: Provisioner::Postgres {
            owner_url: owner_url.to_owned(),
            app_role: app_role.to_owned(),
        },
        allow_insecure_transport: config.allow_insecure_transport,
    })
}

/// Object storage as configured: enterprise tenants get a bucket of their
/// own, the rest share one under their prefix. Local URLs are signed with a
/// key derived from the JWT secret (a distinct key: a token signature is
/// never a URL signature).
fn storage(config: &Config) -> TenantStorage {
    let mut key = b"tenantry-signed-urls\0".to_vec();
    key.extend_from_slice(&config.jwt_secret);
    TenantStorage::new(
        config.storage.backend.clone(),
        LayoutPolicy::from_plans(config.storage.bucket.clone(), &crate::plans::catalog()),
        UrlSigner::new(&key),
    )
    .with_quota({
        let everyone = config.storage.quota_bytes;
        let plans = crate::plans::catalog();
        StorageQuota::new(move |ctx| everyone.or_else(|| plans.storage_quota(ctx.plan())))
    })
}

/// The reference app's feature flags.
pub fn flags() -> FlagSet {
    use crate::plans::{ENTERPRISE, PRO};
    FlagSet::new()
        .with(
            Flag::new("bulk_export", "CSV export of every invoice")
                .on_for(PRO)
                .on_for(ENTERPRISE),
        )
        .with(Flag::new("new_invoice_ui", "The redesigned invoice page").rollout(25))
        .with(Flag::new("invoice_reminders", "Overdue-invoice reminder e-mails").on_for(ENTERPRISE))
}

/// Secrets as configured: the master key from the keyring file (created on
/// first use) or from OpenBao transit (the key created if missing).
async fn secrets(config: &Config, storage: Arc<dyn SecretStorage>) -> anyhow::Result<Secrets> {
    let master: Arc<dyn MasterKey> = match &config.master_key {
        crate::config::MasterKeyConfig::File(path) => Arc::new(
            LocalKeyring::load_or_create(path)
                .with_context(|| format!("loading the master keyring {}", path.display()))?,
        ),
        crate::config::MasterKeyConfig::OpenBao { addr, token, key } => {
            let transit = OpenBaoTransit::new(addr.clone(), token.clone(), key.clone())?;
            transit
                .ensure_key()
                .await
                .with_context(|| format!("reaching the OpenBao transit key {key} at {addr}"))?;
            Arc::new(transit)
        }
    };
    Ok(Secrets::new(storage, master))
}

/// Creates the URL's database through the `postgres` maintenance database
/// when it does not exist yet (a fresh machine needs no manual step).
async fn create_database_if_missing(owner_url: &str) -> anyhow::Result<()> {
    let Some(name) = crate::pg_url::database(owner_url)? else {
        return Ok(());
    };
    match pg::migrate::connect(owner_url).await {
        Ok(_) => return Ok(()),
        Err(tenantry::data::MigrationError::DatabaseMissing(_)) => {}
        Err(other) => return Err(other).context("connecting as the owner role"),
    }
    let maintenance = pg::migrate::connect(&crate::pg_url::with_database(owner_url, "postgres")?)
        .await
        .context("connecting to the postgres maintenance database")?;
    let quoted = pg::quote_ident(&name).with_context(|| format!("database name {name:?}"))?;
    if let Err(e) = maintenance
        .batch_execute(&format!("CREATE DATABASE {quoted}"))
        .await
    {
        // Another process may have created it meanwhile.
        if pg::migrate::connect(owner_url).await.is_err() {
            return Err(e).context(format!("creating database {name}"));
        }
    }
    Ok(())
}

/// Checks that the tenant plane answers (readiness).
pub async fn ping(db: &Database) -> Result<(), tenantry::data::DataError> {
    match db {
        Database::Postgres(pg) => pg
            .client()
            .await?
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(|e| tenantry::data::DataError::Unavailable(e.to_string().into())),
        Database::Sqlite(lite) => lite.ping().await,
        _ => Ok(()),
    }
}
