//! The server's services: open handles to the tenant plane, the registry,
//! storage, secrets, settings and the queue — opened from plain
//! [`Config`] data, with the control plane migrated (it holds the registry
//! they all need) and nothing else decided. What runs at start-up (the
//! fleet migration, the isolation audit) is [`crate::app`]'s policy.

use std::sync::Arc;

use crate::error::{Doing as _, ServerError};
use tenantry::cache::RedisRegistryEvents;
use tenantry::config::TenantConfig;

use crate::invoice_summary::InvoiceSummaries;
use crate::tenant_settings::TenantSettings;
use tenantry::context::Tier;
use tenantry::data::Database;
use tenantry::data::control::ControlDb;
use tenantry::data::postgres::{self as pg, PgDatabase};
use tenantry::data::sqlite::{self as lite, SqliteDatabase};
use tenantry::jobs::{JobQueue, PgQueue, SqliteQueue};
use tenantry::registry::SqlTenantStore;
use tenantry::registry::{TenantState, Tenants};
use tenantry::secrets::{LocalKeyring, MasterKey, OpenBaoTransit, SecretStorage, Secrets};
use tenantry::storage::{LayoutPolicy, StorageQuota, TenantStorage, UrlSigner};

/// Database-tier SQLite files kept open at once (least recently used close first).
const OPEN_TENANT_FILES: usize = 64;

use crate::config::{Config, DatabaseConfig};

/// The opened services.
#[derive(Clone)]
pub struct Services {
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
    /// What the API answers, for `/metrics`.
    pub http_metrics: Arc<tenantry::metrics::HttpMetrics>,
    /// What the tenant limits refuse, for `/metrics`.
    pub limit_metrics: Arc<tenantry::metrics::LimitMetrics>,
    /// Rate-limit state shared by every process (with `--redis-url`).
    pub rates: Option<tenantry::limits::RedisRates>,
    /// Sign-ups per client address, shared by every process (with `--redis-url`).
    pub signup_rates: Option<tenantry::limits::RedisRates>,
    /// Lifecycle workflows and their steps (in the control plane).
    pub workflow_store: Arc<dyn tenantry::workflow::WorkflowStore>,
    /// Per-tenant invoice summaries behind the tenant cache.
    pub(crate) summaries: Arc<crate::invoice_summary::InvoiceSummaries>,
    /// Live server processes and the record versions they serve (tier
    /// moves, suspensions, deletions, plan changes).
    pub route_acks: Arc<dyn tenantry::moves::RouteAcks>,
    /// This process's side of that: its fence around held tenants (which
    /// [`db`](Self::db) asks) kept in step with the control plane. Armed,
    /// and acknowledging, only once [`crate::app::workers`] runs it: CLI
    /// processes do not serve and fence nothing.
    pub acknowledger: Arc<tenantry::fence::Acknowledger>,
    /// Tier targets made ahead of sign-ups (see [`crate::provision`]).
    pub warm: Arc<dyn tenantry::warm::WarmPool>,
    /// Deletion records and the control-plane purge (offboarding).
    pub(crate) deletions: Arc<dyn tenantry::deletion::DeletionStore>,
    /// Where e-mails are written as files, if they are (offboarding
    /// removes the tenant's).
    pub(crate) outbox: Option<std::path::PathBuf>,
    /// How long backups are kept (for the deletion record).
    pub(crate) backup_retention: std::time::Duration,
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

/// Opens the configured services with the control plane migrated and the
/// tenant plane as it is.
pub async fn connect(config: &Config) -> Result<Services, ServerError> {
    let stores = match &config.database {
        DatabaseConfig::Sqlite => open_sqlite(config).await,
        DatabaseConfig::Postgres {
            owner_url,
            app_url,
            app_role,
            statements,
        } => connect_postgres(config, owner_url, app_url, app_role, *statements).await,
    }?;
    let mut services = assemble(config, stores).await?;
    if let Some(url) = &config.redis_url {
        let events = Arc::new(
            RedisRegistryEvents::connect(url)
                .await
                .doing(|| "connecting to Redis")?,
        );
        let acknowledger = services.acknowledger.clone();
        events
            .listen_then(services.tenants.clone(), move || acknowledger.poke())
            .await
            .doing(|| "subscribing to registry changes")?;
        events
            .listen_config(services.config.clone())
            .await
            .doing(|| "subscribing to configuration changes")?;
        services.tenants = services.tenants.clone().with_events(events.clone());
        services.config = services.config.clone().with_events(events);
        services.rates = Some(
            tenantry::limits::RedisRates::connect(url, "tenantry:rate:")
                .await
                .map_err(ServerError::other)
                .doing(|| "connecting to Redis for rate limits")?,
        );
        services.signup_rates = Some(
            tenantry::limits::RedisRates::connect(url, "tenantry:signup:")
                .await
                .map_err(ServerError::other)
                .doing(|| "connecting to Redis for sign-up limits")?,
        );
        services.summaries = Arc::new(
            InvoiceSummaries::redis(url)
                .await
                .map_err(ServerError::other)
                .doing(|| "connecting to Redis for the invoice summaries")?,
        );
    }
    Ok(services)
}

/// What differs between the backends: the databases and the stores over
/// them. [`assemble`] builds the rest the same way for both.
struct Stores {
    db: Database,
    // The control plane: every store below the registry and the queue is
    // built over it once, whatever the backend (see `assemble`).
    control: ControlDb,
    tenants: Tenants,
    queue: Arc<dyn JobQueue>,
    provisioner: Provisioner,
}

/// The services over `stores`, without Redis (added by [`connect`]).
async fn assemble(config: &Config, stores: Stores) -> Result<Services, ServerError> {
    let control = stores.control;
    let route_acks: Arc<dyn tenantry::moves::RouteAcks> =
        Arc::new(tenantry::moves::SqlRouteAcks::new(control.clone()));
    let fence = tenantry::fence::TenantFence::default();
    let acknowledger = Arc::new(tenantry::fence::Acknowledger::new(
        crate::process::serving_name(),
        route_acks.clone(),
        stores.tenants.clone(),
        fence.clone(),
        tenantry::fence::FenceTiming::default(),
    ));
    Ok(Services {
        acknowledger,
        queue: stores.queue,
        job_metrics: Arc::new(tenantry::metrics::JobMetrics::new(config.metrics_top_k)),
        http_metrics: Arc::new(tenantry::metrics::HttpMetrics::new(config.metrics_top_k)),
        limit_metrics: Arc::new(tenantry::metrics::LimitMetrics::new(config.metrics_top_k)),
        config: TenantConfig::new(
            Arc::new(tenantry::config::SqlConfigStore::new(control.clone())),
            crate::flags::flags(),
        ),
        db: stores.db.with_fence(fence),
        tenants: stores.tenants,
        storage: storage(config),
        secrets: secrets(
            config,
            Arc::new(tenantry::secrets::SqlSecretStorage::new(control.clone())),
        )
        .await?,
        rates: None,
        signup_rates: None,
        summaries: Arc::new(InvoiceSummaries::local()),
        workflow_store: Arc::new(tenantry::workflow::SqlWorkflowStore::new(control.clone())),
        deletions: Arc::new(tenantry::deletion::SqlDeletionStore::new(control.clone())),
        warm: Arc::new(tenantry::warm::SqlWarmPool::new(control)),
        route_acks,
        outbox: match &config.jobs.mail {
            crate::config::MailTransport::Files(dir) => Some(dir.clone()),
            crate::config::MailTransport::Smtp(_) => None,
        },
        backup_retention: config.backup_retention,
        provisioner: stores.provisioner,
        allow_insecure_transport: config.allow_insecure_transport,
    })
}

async fn open_sqlite(config: &Config) -> Result<Stores, ServerError> {
    let dir = &config.data_dir;
    let control =
        SqliteDatabase::open(&dir.join("control.db"), 4).doing(|| "opening control.db")?;
    lite::apply_migrations(&control, "control", lite::CONTROL_MIGRATIONS).await?;
    let shared = SqliteDatabase::open(&dir.join("shared.db"), config.pool_size)
        .doing(|| "opening shared.db")?
        .with_tenant_files(&dir.join("tenants"), OPEN_TENANT_FILES);
    lite::apply_migrations(&shared, "shared", crate::migrations::SQLITE_APP_MIGRATIONS).await?;
    let tenants = Tenants::new(Arc::new(SqlTenantStore::new(control.clone())));
    // Each database-tier tenant's file. SQLite files are local and few, so
    // one after another is fine here.
    for tenant in tenants.list().await? {
        let live = !tenant.state.is_leaving() && tenant.state != TenantState::Provisioning;
        if tenant.tier == Tier::Database && live {
            shared
                .provision_tenant_file(tenant.id, crate::migrations::SQLITE_APP_MIGRATIONS)
                .await
                .doing(|| format!("migrating the database of tenant {}", tenant.slug))?;
        }
    }
    Ok(Stores {
        queue: Arc::new(
            SqliteQueue::new(control.clone())
                .with_plan_weights(crate::plans::catalog().queue_weights()),
        ),
        control: control.into(),
        db: Database::Sqlite(shared),
        tenants,
        provisioner: Provisioner::Sqlite,
    })
}

async fn connect_postgres(
    config: &Config,
    owner_url: &str,
    app_url: &str,
    app_role: &str,
    statements: pg::Statements,
) -> Result<Stores, ServerError> {
    let pool_size = config.pool_size;
    create_database_if_missing(owner_url).await?;
    let mut owner = pg::migrate::connect(owner_url)
        .await
        .doing(|| "connecting as the owner role")?;
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
    let tenants = Tenants::new(Arc::new(SqlTenantStore::new(db.clone())));
    // `LISTEN` is session state, which a transaction-mode pooler does not
    // keep: wake-ups then come over the owner's direct connection.
    let listen_url = match statements {
        pg::Statements::Prepared => app_url,
        pg::Statements::Unnamed => owner_url,
    };
    let queue = PgQueue::new(db.clone())
        .with_plan_weights(crate::plans::catalog().queue_weights())
        .with_wakeups(listen_url)?;
    Ok(Stores {
        queue: Arc::new(queue),
        control: db.clone().into(),
        db: Database::Postgres(db),
        tenants,
        provisioner: Provisioner::Postgres {
            owner_url: owner_url.to_owned(),
            app_role: app_role.to_owned(),
        },
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

/// Secrets as configured: the master key from the keyring file (created on
/// first use) or from OpenBao transit (the key created if missing).
async fn secrets(config: &Config, storage: Arc<dyn SecretStorage>) -> Result<Secrets, ServerError> {
    let master: Arc<dyn MasterKey> = match &config.master_key {
        crate::config::MasterKeyConfig::File(path) => Arc::new(
            LocalKeyring::load_or_create(path)
                .doing(|| format!("loading the master keyring {}", path.display()))?,
        ),
        crate::config::MasterKeyConfig::OpenBao { addr, token, key } => {
            let transit = OpenBaoTransit::new(addr.clone(), token.clone(), key.clone())?;
            transit
                .ensure_key()
                .await
                .doing(|| format!("reaching the OpenBao transit key {key} at {addr}"))?;
            Arc::new(transit)
        }
    };
    Ok(Secrets::new(storage, master))
}

/// Creates the URL's database through the `postgres` maintenance database
/// when it does not exist yet (a fresh machine needs no manual step).
async fn create_database_if_missing(owner_url: &str) -> Result<(), ServerError> {
    let Some(name) = crate::pg_url::database(owner_url)? else {
        return Ok(());
    };
    match pg::migrate::connect(owner_url).await {
        Ok(_) => return Ok(()),
        Err(tenantry::data::MigrationError::DatabaseMissing(_)) => {}
        Err(other) => return Err(other).doing(|| "connecting as the owner role"),
    }
    let maintenance = pg::migrate::connect(&crate::pg_url::with_database(owner_url, "postgres")?)
        .await
        .doing(|| "connecting to the postgres maintenance database")?;
    let quoted = pg::quote_ident(&name).doing(|| format!("database name {name:?}"))?;
    if let Err(e) = maintenance
        .batch_execute(&format!("CREATE DATABASE {quoted}"))
        .await
    {
        // Another process may have created it meanwhile.
        if pg::migrate::connect(owner_url).await.is_err() {
            return Err(e).doing(|| format!("creating database {name}"));
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
