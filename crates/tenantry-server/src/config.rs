//! Configuration: command-line flags, then `TENANTRY_*` environment
//! variables, then a TOML file (`--config`), then embedded defaults.
//!
//! With nothing configured the server runs on SQLite files under `./data`
//! and a JWT secret generated into `./data/jwt-secret`, so `tenantry serve`
//! and `tenantry token` agree without any set-up.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// Options shared by every command that touches the data.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Settings {
    /// TOML file with any of the settings below (flags and environment win).
    #[arg(long, env = "TENANTRY_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Directory for SQLite files and the generated dev secret [default: ./data].
    #[arg(long, env = "TENANTRY_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL of the owner role (migrations); selects PostgreSQL over SQLite.
    #[arg(long, env = "TENANTRY_DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// PostgreSQL URL the app serves with [default: --database-url as --app-role].
    #[arg(long, env = "TENANTRY_APP_DATABASE_URL", global = true)]
    pub app_database_url: Option<String>,
    /// Non-owner role without BYPASSRLS the app connects as [default: tenantry_app].
    #[arg(long, env = "TENANTRY_APP_ROLE", global = true)]
    pub app_role: Option<String>,
    /// HS256 secret for bearer tokens [default: generated into DATA_DIR/jwt-secret].
    #[arg(
        long,
        env = "TENANTRY_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    pub jwt_secret: Option<String>,
    /// JWKS for RS256/ES256 tokens: a file path or an http(s) URL (HS256 stays accepted).
    #[arg(long, env = "TENANTRY_JWKS", global = true)]
    pub jwks: Option<String>,
    /// Base domain whose subdomains are tenant slugs [default: localhost].
    #[arg(long, env = "TENANTRY_BASE_DOMAIN", global = true)]
    pub base_domain: Option<String>,
    /// Redis URL: tenant-record changes reach every server process at once.
    #[arg(long, env = "TENANTRY_REDIS_URL", global = true)]
    pub redis_url: Option<String>,
    /// Maximum database connections [default: 16].
    #[arg(long, env = "TENANTRY_POOL_SIZE", global = true)]
    pub pool_size: Option<usize>,
    /// Directory for objects on the local backend [default: DATA_DIR/objects].
    #[arg(long, env = "TENANTRY_STORAGE_DIR", global = true)]
    pub storage_dir: Option<PathBuf>,
    /// Bucket for shared-layout tenants; dedicated buckets are `<bucket>-<tenant id>` [default: tenantry].
    #[arg(long, env = "TENANTRY_STORAGE_BUCKET", global = true)]
    pub storage_bucket: Option<String>,
    /// S3 endpoint (`http://127.0.0.1:8333`); selects S3 over the local directory.
    #[arg(long, env = "TENANTRY_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
    /// S3 region [default: us-east-1].
    #[arg(long, env = "TENANTRY_S3_REGION", global = true)]
    pub s3_region: Option<String>,
    /// S3 access key id.
    #[arg(long, env = "TENANTRY_S3_ACCESS_KEY_ID", global = true)]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(
        long,
        env = "TENANTRY_S3_SECRET_ACCESS_KEY",
        hide_env_values = true,
        global = true
    )]
    pub s3_secret_access_key: Option<String>,
    /// Keyring file of master keys that wrap tenants' data keys [default: DATA_DIR/master-keys, created on first use].
    #[arg(long, env = "TENANTRY_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// OpenBao/Vault address: keep the master key in its transit engine instead of a file.
    #[arg(long, env = "TENANTRY_OPENBAO_ADDR", global = true)]
    pub openbao_addr: Option<String>,
    /// OpenBao/Vault token.
    #[arg(
        long,
        env = "TENANTRY_OPENBAO_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub openbao_token: Option<String>,
    /// Transit key name [default: tenantry].
    #[arg(long, env = "TENANTRY_OPENBAO_KEY", global = true)]
    pub openbao_key: Option<String>,
    /// Jobs each lane's worker runs at once; 0 runs no workers and no cron here [default: 4].
    #[arg(long, env = "TENANTRY_WORKERS", global = true)]
    pub workers: Option<usize>,
    /// Directory the default mail transport writes `.eml` files to [default: DATA_DIR/outbox].
    #[arg(long, env = "TENANTRY_OUTBOX_DIR", global = true)]
    pub outbox_dir: Option<PathBuf>,
    /// SMTP server (`host:port`): send e-mail there instead of writing files.
    #[arg(long, env = "TENANTRY_SMTP_ADDR", global = true)]
    pub smtp_addr: Option<String>,
    /// Sender of e-mails for tenants without `email_from` [default: billing@tenantry.localhost].
    #[arg(long, env = "TENANTRY_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Internal address ranges webhooks may reach anyway (comma-separated CIDRs; none by default).
    #[arg(long, env = "TENANTRY_WEBHOOK_ALLOW", global = true)]
    pub webhook_allow: Option<String>,
    /// When overdue-invoice reminders go out, per tenant (cron, UTC, seconds first) [default: 0 0 3 * * *].
    #[arg(long, env = "TENANTRY_CRON_REMINDERS", global = true)]
    pub cron_reminders: Option<String>,
    /// When the system cleanup runs (cron, UTC, seconds first) [default: 0 15 * * * *].
    #[arg(long, env = "TENANTRY_CRON_CLEANUP", global = true)]
    pub cron_cleanup: Option<String>,
    /// Age after which an open invoice is overdue, in seconds [default: 1209600, 14 days].
    #[arg(long, env = "TENANTRY_OVERDUE_AFTER_SECS", global = true)]
    pub overdue_after_secs: Option<u64>,
    /// Tenants labelled by id in `/metrics` (the busiest; the rest are `other`) [default: 20].
    #[arg(long, env = "TENANTRY_METRICS_TOP_K", global = true)]
    pub metrics_top_k: Option<usize>,
    /// Per-tenant limit sizes (a TOML file of plans, system and tenant
    /// overrides; see the `limits` module), or `off` [default: built-in plan sizes].
    #[arg(long, env = "TENANTRY_LIMITS", global = true)]
    pub limits: Option<String>,
    /// Export traces to this OTLP/HTTP collector (`http://127.0.0.1:4318`;
    /// needs the `otel` feature).
    #[arg(long, env = "TENANTRY_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    app_database_url: Option<String>,
    app_role: Option<String>,
    jwt_secret: Option<String>,
    jwks: Option<String>,
    base_domain: Option<String>,
    pool_size: Option<usize>,
    redis_url: Option<String>,
    storage_dir: Option<PathBuf>,
    storage_bucket: Option<String>,
    s3_endpoint: Option<String>,
    // Accepted without the `s3` feature too, so one file serves every build.
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    s3_region: Option<String>,
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    s3_access_key_id: Option<String>,
    #[cfg_attr(not(feature = "s3"), allow(dead_code))]
    s3_secret_access_key: Option<String>,
    master_key_file: Option<PathBuf>,
    openbao_addr: Option<String>,
    openbao_token: Option<String>,
    openbao_key: Option<String>,
    workers: Option<usize>,
    outbox_dir: Option<PathBuf>,
    smtp_addr: Option<String>,
    mail_from: Option<String>,
    webhook_allow: Option<String>,
    cron_reminders: Option<String>,
    cron_cleanup: Option<String>,
    overdue_after_secs: Option<u64>,
    metrics_top_k: Option<usize>,
    limits: Option<String>,
}

/// Background jobs: workers, cron, e-mail and webhooks.
#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// Jobs each lane's worker runs at once (0: no workers or cron here).
    pub workers: usize,
    /// Where e-mails go.
    pub mail: MailTransport,
    /// Sender for tenants without their own.
    pub mail_from: String,
    /// Internal ranges webhooks may reach.
    pub webhook_allow: Vec<String>,
    /// Overdue-reminder schedule.
    pub cron_reminders: String,
    /// System cleanup schedule.
    pub cron_cleanup: String,
    /// When an open invoice becomes overdue.
    pub overdue_after: std::time::Duration,
}

/// How e-mail leaves.
#[derive(Clone, Debug)]
pub enum MailTransport {
    /// `.eml` files in a directory (one per message).
    Files(PathBuf),
    /// An SMTP server (`host:port`), plain.
    Smtp(String),
}

/// Where tenant data lives.
#[derive(Clone, Debug)]
pub enum DatabaseConfig {
    /// SQLite files in the data directory.
    Sqlite,
    /// PostgreSQL.
    Postgres {
        /// Owner-role URL, for migrations.
        owner_url: String,
        /// App-role URL, for serving.
        app_url: String,
        /// The app role's name.
        app_role: String,
    },
}

/// Resolved configuration.
#[derive(Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database.
    pub database: DatabaseConfig,
    /// HS256 secret.
    pub jwt_secret: Vec<u8>,
    /// JWKS source for RS256/ES256 tokens, if configured.
    pub jwks: Option<tenantry::edge::JwksSource>,
    /// Base domain for subdomain resolution.
    pub base_domain: String,
    /// Connection pool size.
    pub pool_size: usize,
    /// Redis, for cross-process invalidation.
    pub redis_url: Option<String>,
    /// Object storage.
    pub storage: StorageConfig,
    /// Where the master key of tenants' secrets is.
    pub master_key: MasterKeyConfig,
    /// Background jobs.
    pub jobs: JobsConfig,
    /// Tenants labelled by id in `/metrics`.
    pub metrics_top_k: usize,
    /// Per-tenant limits, or none when turned off.
    pub limits: Option<crate::limits::LimitSizes>,
}

/// Where the master key that wraps tenants' data keys is kept.
#[derive(Clone, Debug)]
pub enum MasterKeyConfig {
    /// A keyring file (created with one key on first use).
    File(PathBuf),
    /// An OpenBao/Vault transit key.
    OpenBao {
        /// Server address.
        addr: String,
        /// Token.
        token: String,
        /// Transit key name.
        key: String,
    },
}

/// Where objects live and how tenants are laid out.
#[derive(Clone, Debug)]
pub struct StorageConfig {
    /// Local directory or S3.
    pub backend: tenantry::storage::Backend,
    /// The shared bucket (and the dedicated buckets' prefix).
    pub bucket: String,
}

impl Settings {
    /// Merges flags/environment with the file and defaults.
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let file = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                toml::from_str::<FileSettings>(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileSettings::default(),
        };
        let data_dir = self
            .data_dir
            .clone()
            .or(file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("data"));
        let storage = StorageConfig {
            backend: self.storage_backend(&file, &data_dir)?,
            bucket: self
                .storage_bucket
                .clone()
                .or(file.storage_bucket.clone())
                .unwrap_or_else(|| "tenantry".to_owned()),
        };
        let app_role = self
            .app_role
            .clone()
            .or(file.app_role)
            .unwrap_or_else(|| "tenantry_app".to_owned());
        let database = match self.database_url.clone().or(file.database_url) {
            None => DatabaseConfig::Sqlite,
            Some(owner_url) => {
                let app_url = match self.app_database_url.clone().or(file.app_database_url) {
                    Some(url) => url,
                    None => crate::pg_url::with_user(&owner_url, &app_role)?,
                };
                DatabaseConfig::Postgres {
                    owner_url,
                    app_url,
                    app_role,
                }
            }
        };
        let jwt_secret = match self.jwt_secret.clone().or(file.jwt_secret) {
            Some(secret) if secret.len() >= 16 => secret.into_bytes(),
            Some(_) => anyhow::bail!("the JWT secret must be at least 16 characters"),
            None => dev_secret(&data_dir)?,
        };
        let jwks = self.jwks.clone().or(file.jwks).map(|source| {
            if source.starts_with("http://") || source.starts_with("https://") {
                tenantry::edge::JwksSource::Url(source)
            } else {
                tenantry::edge::JwksSource::File(PathBuf::from(source))
            }
        });
        let master_key = match self.openbao_addr.clone().or(file.openbao_addr.clone()) {
            Some(addr) => MasterKeyConfig::OpenBao {
                addr,
                token: self
                    .openbao_token
                    .clone()
                    .or(file.openbao_token.clone())
                    .context("--openbao-addr needs --openbao-token")?,
                key: self
                    .openbao_key
                    .clone()
                    .or(file.openbao_key.clone())
                    .unwrap_or_else(|| "tenantry".to_owned()),
            },
            None => MasterKeyConfig::File(
                self.master_key_file
                    .clone()
                    .or(file.master_key_file.clone())
                    .unwrap_or_else(|| data_dir.join("master-keys")),
            ),
        };
        let jobs = JobsConfig {
            workers: self.workers.or(file.workers).unwrap_or(4),
            mail: match self.smtp_addr.clone().or(file.smtp_addr) {
                Some(addr) => MailTransport::Smtp(addr),
                None => MailTransport::Files(
                    self.outbox_dir
                        .clone()
                        .or(file.outbox_dir)
                        .unwrap_or_else(|| data_dir.join("outbox")),
                ),
            },
            mail_from: self
                .mail_from
                .clone()
                .or(file.mail_from)
                .unwrap_or_else(|| "billing@tenantry.localhost".to_owned()),
            webhook_allow: self
                .webhook_allow
                .clone()
                .or(file.webhook_allow)
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            cron_reminders: self
                .cron_reminders
                .clone()
                .or(file.cron_reminders)
                .unwrap_or_else(|| "0 0 3 * * *".to_owned()),
            cron_cleanup: self
                .cron_cleanup
                .clone()
                .or(file.cron_cleanup)
                .unwrap_or_else(|| "0 15 * * * *".to_owned()),
            overdue_after: std::time::Duration::from_secs(
                self.overdue_after_secs
                    .or(file.overdue_after_secs)
                    .unwrap_or(14 * 24 * 60 * 60),
            ),
        };
        Ok(Config {
            limits: crate::limits::LimitSizes::from_flag(
                self.limits.clone().or(file.limits).as_deref(),
            )?,
            metrics_top_k: self.metrics_top_k.or(file.metrics_top_k).unwrap_or(20),
            jobs,
            master_key,
            database,
            jwt_secret,
            jwks,
            base_domain: self
                .base_domain
                .clone()
                .or(file.base_domain)
                .unwrap_or_else(|| "localhost".to_owned()),
            pool_size: self.pool_size.or(file.pool_size).unwrap_or(16).max(1),
            storage,
            redis_url: self.redis_url.clone().or(file.redis_url),
            data_dir,
        })
    }
}

impl Settings {
    fn storage_backend(
        &self,
        file: &FileSettings,
        data_dir: &Path,
    ) -> anyhow::Result<tenantry::storage::Backend> {
        let Some(endpoint) = self.s3_endpoint.clone().or(file.s3_endpoint.clone()) else {
            let root = self
                .storage_dir
                .clone()
                .or(file.storage_dir.clone())
                .unwrap_or_else(|| data_dir.join("objects"));
            return Ok(tenantry::storage::Backend::Local { root });
        };
        self.s3_backend(file, endpoint)
    }

    #[cfg(feature = "s3")]
    fn s3_backend(
        &self,
        file: &FileSettings,
        endpoint: String,
    ) -> anyhow::Result<tenantry::storage::Backend> {
        let pick = |flag: &Option<String>, file: &Option<String>, name: &str| {
            flag.clone()
                .or(file.clone())
                .with_context(|| format!("--s3-endpoint needs --{name}"))
        };
        Ok(tenantry::storage::Backend::S3(
            tenantry::storage::S3Config {
                endpoint: Some(endpoint),
                region: self
                    .s3_region
                    .clone()
                    .or(file.s3_region.clone())
                    .unwrap_or_else(|| "us-east-1".to_owned()),
                access_key_id: pick(
                    &self.s3_access_key_id,
                    &file.s3_access_key_id,
                    "s3-access-key-id",
                )?,
                secret_access_key: pick(
                    &self.s3_secret_access_key,
                    &file.s3_secret_access_key,
                    "s3-secret-access-key",
                )?,
            },
        ))
    }

    #[cfg(not(feature = "s3"))]
    fn s3_backend(
        &self,
        _file: &FileSettings,
        _endpoint: String,
    ) -> anyhow::Result<tenantry::storage::Backend> {
        anyhow::bail!("this build has no S3 support; rebuild with `--features s3`")
    }
}

/// Reads `DATA_DIR/jwt-secret`, creating it (owner-only) on first use.
fn dev_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let path = data_dir.join("jwt-secret");
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().as_bytes().to_vec());
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    // Two v4 UUIDs: 244 random bits from the OS generator, no extra crate.
    let secret = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            std::io::Write::write_all(&mut file, secret.as_bytes())?;
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(&path)?.trim().as_bytes().to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}
