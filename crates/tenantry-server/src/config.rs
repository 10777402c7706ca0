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
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
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
        Ok(Config {
            data_dir,
            database,
            jwt_secret,
            jwks,
            base_domain: self
                .base_domain
                .clone()
                .or(file.base_domain)
                .unwrap_or_else(|| "localhost".to_owned()),
            pool_size: self.pool_size.or(file.pool_size).unwrap_or(16).max(1),
            redis_url: self.redis_url.clone().or(file.redis_url),
        })
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
