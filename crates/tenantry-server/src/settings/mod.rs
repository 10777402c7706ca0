//! Settings, declared once: each is a command-line flag, a `TENANTRY_*`
//! environment variable and a key of the TOML file (`--config`), in that
//! order of precedence, with the embedded default last.
//!
//! One struct serves all three: clap reads flags and environment into it,
//! serde reads the file into the same struct, and [`Settings::layered`]
//! lays the first over the second key by key. [`Settings::resolve`] then
//! checks the result and turns it into plain [`Config`] data; nothing past
//! this module sees a flag.
//!
//! With nothing configured the server runs on SQLite files under `./data`
//! and a JWT secret generated into `./data/jwt-secret`, so `tenantry serve`
//! and `tenantry token` agree without any set-up.

use std::path::{Path, PathBuf};

mod error;

use serde::{Deserialize, Serialize};

pub use error::SettingsError;

use crate::config::{
    Config, DatabaseConfig, JobsConfig, MailTransport, MasterKeyConfig, SmtpConfig,
    SmtpCredentials, SmtpSecurity, StorageConfig,
};

/// Options shared by every command that touches the data (the file's keys
/// are the flags' names with `_` for `-`).
#[derive(clap::Args, Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// TOML file with any of the settings below (flags and environment win).
    #[arg(long, env = "TENANTRY_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Directory for SQLite files and the generated dev secret [default: ./data].
    #[arg(long, env = "TENANTRY_DATA_DIR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL of the owner role (migrations); selects PostgreSQL over SQLite.
    #[arg(long, env = "TENANTRY_DATABASE_URL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// PostgreSQL URL the app serves with [default: --database-url as --app-role].
    #[arg(long, env = "TENANTRY_APP_DATABASE_URL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_database_url: Option<String>,
    /// `transaction` when --app-database-url is a pooler in transaction
    /// mode (PgBouncer `pool_mode = transaction`): statements are then sent
    /// unnamed, and job wake-ups LISTEN on --database-url [default: none].
    #[arg(long, env = "TENANTRY_DATABASE_POOLER", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_pooler: Option<String>,
    /// Non-owner role without BYPASSRLS the app connects as [default: tenantry_app].
    #[arg(long, env = "TENANTRY_APP_ROLE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_role: Option<String>,
    /// HS256 secret for bearer tokens, at least 32 characters [default: generated into DATA_DIR/jwt-secret].
    #[arg(
        long,
        env = "TENANTRY_JWT_SECRET",
        hide_env_values = true,
        global = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_secret: Option<String>,
    /// JWKS for RS256/ES256 tokens: a file path or an https URL. HS256
    /// tokens are then refused unless --jwt-allow-hs256.
    #[arg(long, env = "TENANTRY_JWKS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// Keep accepting HS256 tokens (the shared secret) beside a JWKS.
    #[arg(long, env = "TENANTRY_JWT_ALLOW_HS256", global = true)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub jwt_allow_hs256: bool,
    /// Allow a plain-HTTP JWKS URL when its host is a loopback address (tests, a local sidecar).
    #[arg(long, env = "TENANTRY_JWKS_ALLOW_LOOPBACK_HTTP", global = true)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub jwks_allow_loopback_http: bool,
    /// Required `iss` of every token.
    #[arg(long, env = "TENANTRY_JWT_ISSUER", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_issuer: Option<String>,
    /// Required `aud` of every token.
    #[arg(long, env = "TENANTRY_JWT_AUDIENCE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwt_audience: Option<String>,
    /// Base domain whose subdomains are tenant slugs [default: localhost].
    #[arg(long, env = "TENANTRY_BASE_DOMAIN", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_domain: Option<String>,
    /// Reach a PostgreSQL or Redis on another host without a verified
    /// certificate (`sslmode` below verify-ca, `redis://`): only on a
    /// network you trust.
    #[arg(long, env = "TENANTRY_ALLOW_INSECURE_TRANSPORT", global = true)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_insecure_transport: bool,
    /// Redis URL: tenant-record changes reach every server process at once.
    #[arg(long, env = "TENANTRY_REDIS_URL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Maximum database connections [default: 16].
    #[arg(long, env = "TENANTRY_POOL_SIZE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<usize>,
    /// Directory for objects on the local backend [default: DATA_DIR/objects].
    #[arg(long, env = "TENANTRY_STORAGE_DIR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_dir: Option<PathBuf>,
    /// Bucket for shared-layout tenants; dedicated buckets are `<bucket>-<tenant id>` [default: tenantry].
    #[arg(long, env = "TENANTRY_STORAGE_BUCKET", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_bucket: Option<String>,
    /// Bytes of files every tenant may keep, in MiB [default: by plan: free 100, pro 10240, enterprise 1048576].
    #[arg(long, env = "TENANTRY_STORAGE_QUOTA_MB", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage_quota_mb: Option<u64>,
    /// S3 endpoint (`http://127.0.0.1:8333`); selects S3 over the local directory.
    #[arg(long, env = "TENANTRY_S3_ENDPOINT", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_endpoint: Option<String>,
    /// S3 region [default: us-east-1].
    #[arg(long, env = "TENANTRY_S3_REGION", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_region: Option<String>,
    /// S3 access key id.
    #[arg(long, env = "TENANTRY_S3_ACCESS_KEY_ID", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_access_key_id: Option<String>,
    /// S3 secret access key.
    #[arg(
        long,
        env = "TENANTRY_S3_SECRET_ACCESS_KEY",
        hide_env_values = true,
        global = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s3_secret_access_key: Option<String>,
    /// Keyring file of master keys that wrap tenants' data keys [default: DATA_DIR/master-keys, created on first use].
    #[arg(long, env = "TENANTRY_MASTER_KEY_FILE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key_file: Option<PathBuf>,
    /// OpenBao/Vault address: keep the master key in its transit engine instead of a file.
    #[arg(long, env = "TENANTRY_OPENBAO_ADDR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openbao_addr: Option<String>,
    /// OpenBao/Vault token.
    #[arg(
        long,
        env = "TENANTRY_OPENBAO_TOKEN",
        hide_env_values = true,
        global = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openbao_token: Option<String>,
    /// Transit key name [default: tenantry].
    #[arg(long, env = "TENANTRY_OPENBAO_KEY", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub openbao_key: Option<String>,
    /// Jobs each lane's worker runs at once; 0 runs no workers and no cron here [default: 4].
    #[arg(long, env = "TENANTRY_WORKERS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workers: Option<usize>,
    /// How long a claimed job is held before another process may take it
    /// over (renewed every third while it runs), in seconds, at least 3 [default: 30].
    #[arg(long, env = "TENANTRY_JOB_LEASE_SECS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_lease_secs: Option<u64>,
    /// Directory the default mail transport writes `.eml` files to [default: DATA_DIR/outbox].
    #[arg(long, env = "TENANTRY_OUTBOX_DIR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbox_dir: Option<PathBuf>,
    /// SMTP server (`host:port`): send e-mail there instead of writing files.
    #[arg(long, env = "TENANTRY_SMTP_ADDR", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_addr: Option<String>,
    /// How SMTP is protected: `starttls` (port 587), `tls` (port 465) or
    /// `none` [default: starttls; none for a server on this host]. `none`
    /// to another host needs --allow-insecure-transport.
    #[arg(long, env = "TENANTRY_SMTP_TLS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_tls: Option<String>,
    /// SMTP user name (AUTH), with --smtp-password.
    #[arg(long, env = "TENANTRY_SMTP_USERNAME", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_username: Option<String>,
    /// SMTP password.
    #[arg(
        long,
        env = "TENANTRY_SMTP_PASSWORD",
        hide_env_values = true,
        global = true
    )]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_password: Option<String>,
    /// PEM file of a private CA that signed the SMTP server's certificate.
    #[arg(long, env = "TENANTRY_SMTP_CA_FILE", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smtp_ca_file: Option<PathBuf>,
    /// Sender of e-mails for tenants without `email_from` (default: billing@tenantry.localhost).
    #[arg(long, env = "TENANTRY_MAIL_FROM", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_from: Option<String>,
    /// Internal address ranges webhooks may reach anyway (comma-separated CIDRs; none by default).
    #[arg(long, env = "TENANTRY_WEBHOOK_ALLOW", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_allow: Option<String>,
    /// When overdue-invoice reminders go out, per tenant (cron, UTC, seconds first) [default: 0 0 3 * * *].
    #[arg(long, env = "TENANTRY_CRON_REMINDERS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron_reminders: Option<String>,
    /// When the system cleanup runs (cron, UTC, seconds first) [default: 0 15 * * * *].
    #[arg(long, env = "TENANTRY_CRON_CLEANUP", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron_cleanup: Option<String>,
    /// Age after which an open invoice is overdue, in seconds [default: 1209600, 14 days].
    #[arg(long, env = "TENANTRY_OVERDUE_AFTER_SECS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overdue_after_secs: Option<u64>,
    /// Tier targets (schemas and databases on PostgreSQL, database files on
    /// SQLite) kept made and migrated ahead of sign-ups, per tier, so a new
    /// tenant on those tiers is active without waiting for DDL [default: 0].
    #[arg(long, env = "TENANTRY_WARM_POOL", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_pool: Option<usize>,
    /// Open self-service sign-up (`POST /signup`): each request is
    /// confirmed by e-mail before a tenant exists [default: off].
    #[arg(long, env = "TENANTRY_SIGNUP", global = true)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub signup: bool,
    /// Proxies whose `X-Forwarded-For` names the client, for per-client
    /// limits (`10.0.0.0/8,::1`) [default: none: the peer is the client].
    #[arg(long, env = "TENANTRY_TRUSTED_PROXIES", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trusted_proxies: Option<String>,
    /// Slugs sign-up refuses besides the built-in list (`admin`, `www`,
    /// `api`, …), comma-separated.
    #[arg(long, env = "TENANTRY_RESERVED_SLUGS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reserved_slugs: Option<String>,
    /// How many days backups are kept; a deleted tenant's deletion record
    /// says when the last backup holding it expires [default: 30].
    #[arg(long, env = "TENANTRY_BACKUP_RETENTION_DAYS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_retention_days: Option<u64>,
    /// Tenants labelled by id in `/metrics` (the busiest; the rest are `other`) [default: 20].
    #[arg(long, env = "TENANTRY_METRICS_TOP_K", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics_top_k: Option<usize>,
    /// Per-tenant limit sizes (a TOML file of plans, system and tenant
    /// overrides; see the `limits` module), or `off` [default: built-in plan sizes].
    #[arg(long, env = "TENANTRY_LIMITS", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<String>,
    /// Export traces to this OTLP/HTTP collector (`http://127.0.0.1:4318`;
    /// needs the `otel` feature).
    #[arg(long, env = "TENANTRY_OTLP_ENDPOINT", global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
}

fn is_false(flag: &bool) -> bool {
    !*flag
}

impl Settings {
    /// These settings (flags and environment) over the file named by
    /// `--config`, key by key: a key set here wins, a switch is on when
    /// either turns it on. Unknown keys in the file are refused.
    pub fn layered(&self) -> Result<Settings, SettingsError> {
        let Some(path) = &self.config else {
            return Ok(self.clone());
        };
        let text = std::fs::read_to_string(path).map_err(SettingsError::file("reading", path))?;
        let reading = || format!("reading {}", path.display());
        let file: toml::Table =
            toml::from_str(&text).map_err(SettingsError::unparsable(reading()))?;
        let mut merged =
            serde_json::to_value(file).map_err(SettingsError::unparsable(reading()))?;
        if let (Some(merged), serde_json::Value::Object(given)) = (
            merged.as_object_mut(),
            serde_json::to_value(self).map_err(SettingsError::unparsable(reading()))?,
        ) {
            merged.extend(given);
        }
        let mut layered: Settings =
            serde_json::from_value(merged).map_err(SettingsError::unparsable(reading()))?;
        layered.config = self.config.clone();
        Ok(layered)
    }

    /// The configuration these settings describe, checked: the layered
    /// settings with every default filled in.
    pub fn resolve(&self) -> Result<Config, SettingsError> {
        let s = self.layered()?;
        let data_dir = s.data_dir.clone().unwrap_or_else(|| PathBuf::from("data"));
        let storage = StorageConfig {
            backend: s.storage_backend(&data_dir)?,
            bucket: s
                .storage_bucket
                .clone()
                .unwrap_or_else(|| "tenantry".to_owned()),
            quota_bytes: s.storage_quota_mb.map(|mb| mb.saturating_mul(1024 * 1024)),
        };
        let app_role = s
            .app_role
            .clone()
            .unwrap_or_else(|| "tenantry_app".to_owned());
        let database = match s.database_url.clone() {
            None => DatabaseConfig::Sqlite,
            Some(owner_url) => {
                let app_url = match s.app_database_url.clone() {
                    Some(url) => url,
                    None => crate::pg_url::with_user(&owner_url, &app_role)?,
                };
                let statements = match s.database_pooler.clone() {
                    Some(mode) => mode
                        .parse()
                        .map_err(SettingsError::unparsable::<String>("--database-pooler"))?,
                    None => tenantry::data::postgres::Statements::Prepared,
                };
                DatabaseConfig::Postgres {
                    owner_url,
                    app_url,
                    app_role,
                    statements,
                }
            }
        };
        let jwt_secret = match s.jwt_secret.clone() {
            Some(secret) => strong_secret(secret.as_bytes(), "--jwt-secret")?,
            None => dev_secret(&data_dir)?,
        };
        let loopback_http = s.jwks_allow_loopback_http;
        let jwks = s
            .jwks
            .clone()
            .map(|source| jwks_source(&source, loopback_http))
            .transpose()?;
        let hs256_tokens = jwks.is_none() || s.jwt_allow_hs256;
        let allow_insecure_transport = s.allow_insecure_transport;
        let redis_url = s.redis_url.clone();
        if !allow_insecure_transport {
            if let DatabaseConfig::Postgres {
                owner_url, app_url, ..
            } = &database
            {
                for url in [owner_url, app_url] {
                    check_postgres_transport(url)?;
                }
            }
            if let Some(url) = &redis_url {
                check_redis_transport(url)?;
            }
        }
        let master_key = match s.openbao_addr.clone() {
            Some(addr) => MasterKeyConfig::OpenBao {
                addr,
                token: s.openbao_token.clone().ok_or_else(|| {
                    SettingsError::refused("--openbao-addr needs --openbao-token")
                })?,
                key: s
                    .openbao_key
                    .clone()
                    .unwrap_or_else(|| "tenantry".to_owned()),
            },
            None => MasterKeyConfig::File(
                s.master_key_file
                    .clone()
                    .unwrap_or_else(|| data_dir.join("master-keys")),
            ),
        };
        let lease_secs = s.job_lease_secs.unwrap_or(30);
        if lease_secs < 3 {
            return Err(SettingsError::refused(
                "--job-lease-secs must be at least 3 (a lease is renewed every third of it)",
            ));
        }
        let jobs = JobsConfig {
            workers: s.workers.unwrap_or(4),
            lease: std::time::Duration::from_secs(lease_secs),
            mail: match &s.smtp_addr {
                Some(addr) => MailTransport::Smtp(s.smtp(addr, allow_insecure_transport)?),
                None => MailTransport::Files(
                    s.outbox_dir
                        .clone()
                        .unwrap_or_else(|| data_dir.join("outbox")),
                ),
            },
            mail_from: s
                .mail_from
                .clone()
                .unwrap_or_else(|| "billing@tenantry.localhost".to_owned()),
            webhook_allow: s
                .webhook_allow
                .clone()
                .map(|list| {
                    list.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            cron_reminders: s
                .cron_reminders
                .clone()
                .unwrap_or_else(|| "0 0 3 * * *".to_owned()),
            cron_cleanup: s
                .cron_cleanup
                .clone()
                .unwrap_or_else(|| "0 15 * * * *".to_owned()),
            overdue_after: std::time::Duration::from_secs(
                s.overdue_after_secs.unwrap_or(14 * 24 * 60 * 60),
            ),
        };
        Ok(Config {
            limits: crate::limit_sizes::LimitSizes::from_flag(s.limits.clone().as_deref())?,
            metrics_top_k: s.metrics_top_k.unwrap_or(20),
            warm_pool: s.warm_pool.unwrap_or(0),
            signup: crate::config::SignupConfig {
                enabled: s.signup,
                trusted_proxies: crate::client_address::TrustedProxies::parse(
                    s.trusted_proxies.as_deref().unwrap_or(""),
                )
                .map_err(SettingsError::unparsable::<String>("--trusted-proxies"))?,
                reserved: s
                    .reserved_slugs
                    .as_deref()
                    .unwrap_or("")
                    .split(',')
                    .map(|slug| slug.trim().to_ascii_lowercase())
                    .filter(|slug| !slug.is_empty())
                    .collect(),
            },
            backup_retention: std::time::Duration::from_secs(
                s.backup_retention_days
                    .unwrap_or(30)
                    .saturating_mul(24 * 60 * 60),
            ),
            jobs,
            master_key,
            database,
            jwt_secret,
            jwks,
            hs256_tokens,
            jwt_issuer: s.jwt_issuer.clone(),
            jwt_audience: s.jwt_audience.clone(),
            allow_insecure_transport,
            base_domain: s
                .base_domain
                .clone()
                .unwrap_or_else(|| "localhost".to_owned()),
            pool_size: s.pool_size.unwrap_or(16).max(1),
            storage,
            redis_url,
            data_dir,
        })
    }
}

impl Settings {
    /// The SMTP server at `addr` (`host:port`), checked: TLS to any other
    /// host unless insecure transport is allowed, a password with a user.
    fn smtp(&self, addr: &str, allow_insecure: bool) -> Result<SmtpConfig, SettingsError> {
        let (host, port) = match addr.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(':') => (
                host,
                Some(
                    port.parse::<u16>()
                        .map_err(SettingsError::unparsable(format!(
                            "--smtp-addr {addr:?}: bad port"
                        )))?,
                ),
            ),
            _ => (addr, None),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(SettingsError::refused(format!(
                "--smtp-addr {addr:?} names no host"
            )));
        }
        let local = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let security = match self.smtp_tls.as_deref() {
            Some("starttls") => SmtpSecurity::StartTls,
            Some("tls") => SmtpSecurity::Tls,
            Some("none") => SmtpSecurity::None,
            None if local => SmtpSecurity::None,
            None => SmtpSecurity::StartTls,
            Some(other) => {
                return Err(SettingsError::refused(format!(
                    "--smtp-tls {other:?}: use starttls, tls or none"
                )));
            }
        };
        if security == SmtpSecurity::None && !local && !allow_insecure {
            return Err(SettingsError::refused(format!(
                "SMTP on {host} without TLS would send tenants' mail (and any password) in the clear: \
                 use --smtp-tls starttls or tls, or pass --allow-insecure-transport on a network you trust"
            )));
        }
        let credentials = match (&self.smtp_username, &self.smtp_password) {
            (Some(username), Some(password)) => Some(SmtpCredentials {
                username: username.clone(),
                password: password.clone(),
            }),
            (None, None) => None,
            _ => {
                return Err(SettingsError::refused(
                    "--smtp-username and --smtp-password go together",
                ));
            }
        };
        let port = port.unwrap_or(match security {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::None => 25,
        });
        Ok(SmtpConfig {
            host: host.to_owned(),
            port,
            security,
            credentials,
            ca_file: self.smtp_ca_file.clone(),
        })
    }

    fn storage_backend(
        &self,
        data_dir: &Path,
    ) -> Result<tenantry::storage::Backend, SettingsError> {
        let Some(endpoint) = self.s3_endpoint.clone() else {
            let root = self
                .storage_dir
                .clone()
                .unwrap_or_else(|| data_dir.join("objects"));
            return Ok(tenantry::storage::Backend::Local { root });
        };
        self.s3_backend(endpoint)
    }

    #[cfg(feature = "s3")]
    fn s3_backend(&self, endpoint: String) -> Result<tenantry::storage::Backend, SettingsError> {
        let pick = |value: &Option<String>, name: &str| {
            value
                .clone()
                .ok_or_else(|| SettingsError::refused(format!("--s3-endpoint needs --{name}")))
        };
        Ok(tenantry::storage::Backend::S3(
            tenantry::storage::S3Config {
                endpoint: Some(endpoint),
                region: self
                    .s3_region
                    .clone()
                    .unwrap_or_else(|| "us-east-1".to_owned()),
                access_key_id: pick(&self.s3_access_key_id, "s3-access-key-id")?,
                secret_access_key: pick(&self.s3_secret_access_key, "s3-secret-access-key")?,
            },
        ))
    }

    #[cfg(not(feature = "s3"))]
    fn s3_backend(&self, _endpoint: String) -> Result<tenantry::storage::Backend, SettingsError> {
        Err(SettingsError::refused(
            "this build has no S3 support; rebuild with `--features s3`",
        ))
    }
}

/// Refuses a PostgreSQL URL that reaches another host without verifying
/// its certificate: anyone on the path could read every tenant's rows.
pub fn check_postgres_transport(url: &str) -> Result<(), SettingsError> {
    let (config, tls) = tenantry::data::postgres::parse_url(url)
        .map_err(SettingsError::unparsable("the PostgreSQL URL"))?;
    if !tenantry::data::postgres::is_local(&config) && !tls.verifies_server() {
        return Err(SettingsError::Refused(format!(
            "PostgreSQL on another host is reached with sslmode {:?}, which does not verify the server: \
             add sslmode=verify-full (and sslrootcert=CA.pem for a private CA) to the URL, \
             or pass --allow-insecure-transport on a network you trust",
            tls.mode()
        )));
    }
    Ok(())
}

/// Refuses a plain `redis://` URL to another host (use `rediss://`).
fn check_redis_transport(url: &str) -> Result<(), SettingsError> {
    let Some(rest) = url.strip_prefix("redis://") else {
        return Ok(());
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    let local = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !local {
        return Err(SettingsError::refused(format!(
            "Redis on {host} is reached without TLS: use a rediss:// URL \
             (a private CA through SSL_CERT_FILE), or pass --allow-insecure-transport on a network you trust"
        )));
    }
    Ok(())
}

/// The shortest HS256 secret accepted: 256 bits, as RFC 7518 asks of an
/// HS256 key (shorter ones can be brute-forced from one token).
pub const MIN_SECRET_LEN: usize = 32;

/// `secret` without surrounding white space, if it is long enough.
fn strong_secret(secret: &[u8], source: &str) -> Result<Vec<u8>, SettingsError> {
    let trimmed = secret.trim_ascii();
    if trimmed.len() < MIN_SECRET_LEN {
        return Err(SettingsError::refused(format!(
            "the JWT secret from {source} is {} characters long; it must be at least {MIN_SECRET_LEN} \
             (anyone who guesses it can sign tokens for every tenant)",
            trimmed.len()
        )));
    }
    Ok(trimmed.to_vec())
}

fn jwks_source(
    source: &str,
    loopback_http: bool,
) -> Result<tenantry::edge::JwksSource, SettingsError> {
    use tenantry::edge::{JwksSource, JwksUrl};
    if !source.contains("://") {
        return Ok(JwksSource::File(PathBuf::from(source)));
    }
    let url = if loopback_http {
        JwksUrl::allowing_loopback_http(source)
    } else {
        JwksUrl::https(source)
    };
    Ok(JwksSource::Url(
        url.map_err(SettingsError::unparsable("--jwks"))?,
    ))
}

/// Reads `DATA_DIR/jwt-secret`, creating it (owner-only) on first use.
///
/// The file appears whole or not at all: the secret is written to a
/// private temporary file, synced, then hard-linked to its name (which
/// fails if another process got there first). A reader never sees a
/// half-written or empty file, and a crash leaves at most a stray
/// temporary file — never an empty secret that would be accepted.
fn dev_secret(data_dir: &Path) -> Result<Vec<u8>, SettingsError> {
    let path = data_dir.join("jwt-secret");
    let read = |path: &Path| -> Result<Vec<u8>, SettingsError> {
        let secret = std::fs::read(path).map_err(SettingsError::file("reading", path))?;
        strong_secret(&secret, &path.display().to_string()).map_err(|weak| {
            SettingsError::unparsable(format!(
                "{} is not a usable secret: remove it to have a new one generated, \
                 or write at least {MIN_SECRET_LEN} random characters into it",
                path.display()
            ))(weak)
        })
    };
    if path.exists() {
        return read(&path);
    }
    std::fs::create_dir_all(data_dir).map_err(SettingsError::file("creating", data_dir))?;
    // 256 bits from the OS generator.
    let secret = crate::random::hex_secret(32)
        .map_err(SettingsError::unparsable("reading the OS random generator"))?;
    let staging = data_dir.join(format!(".jwt-secret.{}", uuid::Uuid::new_v4().simple()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&staging).and_then(|mut file| {
        std::io::Write::write_all(&mut file, secret.as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&staging, &path));
    let _ = std::fs::remove_file(&staging);
    match linked {
        Ok(()) => Ok(secret.into_bytes()),
        // Another process created it first: use theirs (complete, by the above).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(SettingsError::file("creating", &path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tenantry-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn settings(dir: &Path) -> Settings {
        Settings {
            data_dir: Some(dir.to_owned()),
            ..Settings::default()
        }
    }

    #[test]
    fn an_empty_or_short_secret_file_is_refused() {
        for content in ["", "   \n", "short-secret\n"] {
            let dir = temp_dir();
            std::fs::write(dir.join("jwt-secret"), content).unwrap();
            let err = settings(&dir).resolve().err().expect("refused");
            assert!(format!("{err:#}").contains("jwt-secret"), "{err:#}");
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_short_secret_from_a_flag_or_file_is_refused() {
        let dir = temp_dir();
        let mut s = settings(&dir);
        s.jwt_secret = Some("sixteen-chars-ok".into());
        assert!(s.resolve().is_err());
        s.jwt_secret = Some(format!("  {}  ", "x".repeat(31)));
        assert!(s.resolve().is_err(), "white space does not count");
        s.jwt_secret = Some("k".repeat(32));
        assert_eq!(s.resolve().unwrap().jwt_secret.len(), 32);
        let config = dir.join("tenantry.toml");
        std::fs::write(&config, "jwt_secret = \"\"\n").unwrap();
        let from_file = Settings {
            config: Some(config),
            ..settings(&dir)
        };
        assert!(from_file.resolve().is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn processes_starting_together_agree_on_one_complete_secret() {
        let dir = temp_dir();
        let secrets: Vec<Vec<u8>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|_| scope.spawn(|| dev_secret(&dir).unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(secrets[0].len() >= MIN_SECRET_LEN);
        assert!(secrets.iter().all(|s| *s == secrets[0]));
        let on_disk = std::fs::read(dir.join("jwt-secret")).unwrap();
        assert_eq!(on_disk, secrets[0]);
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no stray files"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_jwks_url_must_be_https() {
        assert!(jwks_source("http://id.example.com/jwks.json", false).is_err());
        assert!(jwks_source("http://127.0.0.1:1/jwks.json", false).is_err());
        assert!(jwks_source("http://127.0.0.1:1/jwks.json", true).is_ok());
        assert!(jwks_source("http://id.example.com/jwks.json", true).is_err());
        assert!(jwks_source("https://id.example.com/jwks.json", false).is_ok());
    }

    #[test]
    fn remote_backends_need_verified_tls_unless_allowed() {
        let dir = temp_dir();
        let mut s = settings(&dir);
        s.database_url = Some("postgres://postgres@db.internal:5432/t".into());
        let err = s.resolve().err().expect("refused");
        assert!(format!("{err:#}").contains("verify-full"), "{err:#}");
        s.database_url = Some("postgres://postgres@db.internal:5432/t?sslmode=require".into());
        assert!(s.resolve().is_err(), "encrypted but unverified");
        s.database_url = Some("postgres://postgres@db.internal:5432/t?sslmode=verify-full".into());
        assert!(s.resolve().is_ok());
        s.database_url = Some("postgres://postgres@127.0.0.1:5432/t".into());
        assert!(s.resolve().is_ok(), "the same host needs no TLS");

        s.redis_url = Some("redis://cache.internal:6379".into());
        assert!(s.resolve().is_err());
        s.redis_url = Some("rediss://cache.internal:6379".into());
        assert!(s.resolve().is_ok());
        s.redis_url = Some("redis://127.0.0.1:6379".into());
        assert!(s.resolve().is_ok());

        s.redis_url = Some("redis://cache.internal:6379".into());
        s.database_url = Some("postgres://postgres@db.internal:5432/t".into());
        s.allow_insecure_transport = true;
        assert!(s.resolve().is_ok(), "an explicit choice");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn smtp_to_another_host_needs_tls_unless_allowed() {
        let dir = temp_dir();
        let mut s = settings(&dir);
        let smtp = |s: &Settings| match s.resolve().map(|c| c.jobs.mail) {
            Ok(MailTransport::Smtp(smtp)) => Ok(smtp),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(format!("{e:#}")),
        };
        s.smtp_addr = Some("mail.example.com".into());
        let remote = smtp(&s).unwrap();
        assert_eq!(
            (remote.security, remote.port),
            (SmtpSecurity::StartTls, 587)
        );
        s.smtp_tls = Some("none".into());
        assert!(smtp(&s).unwrap_err().contains("in the clear"));
        s.allow_insecure_transport = true;
        assert_eq!(
            smtp(&s).unwrap().security,
            SmtpSecurity::None,
            "an explicit choice"
        );
        s.allow_insecure_transport = false;
        s.smtp_addr = Some("127.0.0.1:2525".into());
        assert_eq!(smtp(&s).unwrap().port, 2525, "this host needs no TLS");
        s.smtp_tls = Some("tls".into());
        s.smtp_addr = Some("[::1]".into());
        let local = smtp(&s).unwrap();
        assert_eq!((local.host.as_str(), local.port), ("::1", 465));
        s.smtp_tls = Some("maybe".into());
        assert!(smtp(&s).is_err());
        s.smtp_tls = None;
        s.smtp_username = Some("billing".into());
        assert!(smtp(&s).unwrap_err().contains("go together"));
        s.smtp_password = Some("secret".into());
        let debug = format!("{:?}", smtp(&s).unwrap());
        assert!(
            debug.contains("billing") && !debug.contains("secret"),
            "{debug}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_is_read_under_the_flags() {
        let dir = temp_dir();
        let file = dir.join("tenantry.toml");
        std::fs::write(
            &file,
            "base_domain = \"from-file.example\"\npool_size = 3\nallow_insecure_transport = true\n",
        )
        .unwrap();
        let mut s = Settings {
            config: Some(file.clone()),
            ..settings(&dir)
        };
        let config = s.resolve().unwrap();
        assert_eq!(config.base_domain, "from-file.example");
        assert_eq!(config.pool_size, 3);
        assert!(config.allow_insecure_transport);
        s.pool_size = Some(5);
        assert_eq!(s.resolve().unwrap().pool_size, 5, "a flag wins");
        std::fs::write(&file, "pool_sise = 3\n").unwrap();
        let err = format!("{:#}", s.resolve().err().unwrap());
        assert!(err.contains("pool_sise"), "unknown keys are refused: {err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn hs256_is_off_beside_a_jwks_unless_asked_for() {
        let dir = temp_dir();
        let mut s = settings(&dir);
        assert!(
            s.resolve().unwrap().hs256_tokens,
            "no JWKS: the secret is the key"
        );
        s.jwks = Some("https://id.example.com/jwks.json".into());
        assert!(!s.resolve().unwrap().hs256_tokens);
        s.jwt_allow_hs256 = true;
        assert!(s.resolve().unwrap().hs256_tokens);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
