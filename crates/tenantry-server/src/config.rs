//! The server's configuration as plain data: what [`crate::settings`]
//! resolved from flags, environment, file and defaults, checked. Services
//! are opened from it; nothing here opens anything.

use std::path::PathBuf;

/// Background jobs: workers, cron, e-mail and webhooks.
#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// Jobs each lane's worker runs at once (0: no workers or cron here).
    pub workers: usize,
    /// How long a claimed job is held before it counts as lost.
    pub lease: std::time::Duration,
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
    /// An SMTP server.
    Smtp(SmtpConfig),
}

/// An SMTP server and how to reach it.
#[derive(Clone, Debug)]
pub struct SmtpConfig {
    /// Host name (what the certificate must name) or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
    /// Who to log in as (SMTP AUTH), if anyone.
    pub credentials: Option<SmtpCredentials>,
    /// A private CA to trust for the server's certificate, beside the
    /// platform's.
    pub ca_file: Option<PathBuf>,
}

/// How an SMTP connection is protected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only to a server on this host, unless insecure transport
    /// was allowed.
    None,
}

/// An SMTP login.
#[derive(Clone)]
pub struct SmtpCredentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl std::fmt::Debug for SmtpCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
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
        /// How statements reach the server through `app_url`.
        statements: tenantry::data::postgres::Statements,
    },
}

/// Resolved configuration.
#[derive(Clone)]
pub struct Config {
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database.
    pub database: DatabaseConfig,
    /// HS256 secret (also the root of the URL-signing key).
    pub jwt_secret: Vec<u8>,
    /// JWKS source for RS256/ES256 tokens, if configured.
    pub jwks: Option<tenantry::edge::JwksSource>,
    /// Whether HS256 tokens are accepted (always without a JWKS; with one
    /// only when asked for).
    pub hs256_tokens: bool,
    /// Required `iss`.
    pub jwt_issuer: Option<String>,
    /// Required `aud`.
    pub jwt_audience: Option<String>,
    /// Whether non-local backends may be reached without verified TLS.
    pub allow_insecure_transport: bool,
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
    pub limits: Option<crate::limit_sizes::LimitSizes>,
    /// Provisioned schema/database targets kept ready for sign-ups, per
    /// tier (0: none).
    pub warm_pool: usize,
    /// How long backups are kept: a deleted tenant is in none of them once
    /// this has passed since its deletion (the deletion record says when).
    pub backup_retention: std::time::Duration,
    /// Self-service sign-up.
    pub signup: SignupConfig,
}

/// Self-service sign-up: off unless enabled; whom the per-client limits
/// count; which slugs it refuses besides the built-in ones.
#[derive(Clone, Debug, Default)]
pub struct SignupConfig {
    /// Whether `POST /signup` is open.
    pub enabled: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: crate::client_address::TrustedProxies,
    /// Extra reserved slugs (lowercase).
    pub reserved: Vec<String>,
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
    /// Every tenant's quota in bytes, or `None` for the plans' own.
    pub quota_bytes: Option<u64>,
}
