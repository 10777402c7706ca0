//! The `tenantry` command line.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use tenantry::context::{Plan, Tier};
use tenantry::edge::{Claims, issue_hs256};
use tenantry::registry::{NewTenant, TenantKey, TenantRecord, TenantState};

use crate::config::Settings;
use crate::logging::{LogFormat, LogTarget};
use crate::{backend, demo};

/// tenantry: a multi-tenant SaaS reference server.
#[derive(Parser, Debug)]
#[command(name = "tenantry", version, about)]
pub struct Cli {
    #[command(flatten)]
    settings: Settings,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Json, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default command).
    Serve(ServeArgs),
    /// Manage tenants.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// Print a development token signed with the configured HS256 secret.
    Token(TokenArgs),
    /// Migrate the tenant plane as a fleet (PostgreSQL).
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Inspect and steer the job queue (as the system tenant).
    #[command(subcommand)]
    Jobs(crate::jobs_cli::JobsCommand),
    /// Probe an API for cross-tenant leaks (exit status 1 on any finding).
    Probe(tenantry_probe::ProbeArgs),
}

#[derive(clap::Args, Debug, Default)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "TENANTRY_LISTEN")]
    listen: Option<SocketAddr>,
    /// Seed the demo tenants `acme` and `globex` (idempotent).
    #[arg(long)]
    demo: bool,
    /// Address of the operator endpoints (`/metrics`, health), or `off`.
    /// Keep it on loopback or a private network: metrics name tenants.
    #[arg(long, default_value = "127.0.0.1:9464", env = "TENANTRY_ADMIN_LISTEN")]
    admin_listen: AdminListen,
    /// Seconds a client has to send a request's head (slow-loris guard).
    #[arg(long, default_value_t = 10, env = "TENANTRY_HEADER_READ_TIMEOUT_SECS")]
    header_read_timeout_secs: u64,
    /// Connections open at once; more are closed on arrival.
    #[arg(long, default_value_t = 4096, env = "TENANTRY_MAX_CONNECTIONS")]
    max_connections: usize,
}

/// Where the operator endpoints listen, if anywhere.
#[derive(Clone, Copy, Debug)]
enum AdminListen {
    Off,
    On(SocketAddr),
}

impl std::str::FromStr for AdminListen {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(Self::Off),
            addr => addr
                .parse()
                .map(Self::On)
                .map_err(|_| format!("{addr:?} is neither an address (host:port) nor `off`")),
        }
    }
}

impl Default for AdminListen {
    fn default() -> Self {
        Self::On(SocketAddr::from(([127, 0, 0, 1], 9464)))
    }
}

#[derive(Subcommand, Debug)]
enum TenantsCommand {
    /// Register an active tenant.
    Create {
        /// DNS-label slug.
        #[arg(long)]
        slug: String,
        /// Display name [default: the slug].
        #[arg(long)]
        name: Option<String>,
        /// Plan: one of the server's plans (free, pro, enterprise).
        #[arg(long, default_value = "free")]
        plan: Plan,
        /// Isolation tier: shared, schema (PostgreSQL) or database (a
        /// PostgreSQL database, or a SQLite file, per tenant).
        #[arg(long, default_value = "shared")]
        tier: Tier,
        /// A custom domain (repeatable).
        #[arg(long = "domain")]
        domains: Vec<String>,
        /// Database tier on PostgreSQL: put the tenant's database on this
        /// server (`postgres://host:port`) instead of the default one.
        #[arg(long)]
        database_server: Option<String>,
        /// Create the tenant's first admin user with this e-mail.
        #[arg(long)]
        admin_email: Option<String>,
    },
    /// List tenants.
    List,
    /// Show one tenant.
    Show { slug: String },
    /// Suspend a tenant (its requests get 403).
    Suspend { slug: String },
    /// Resume a suspended tenant.
    Resume { slug: String },
    /// Finish provisioning a tenant left in `provisioning` (idempotent).
    Provision { slug: String },
}

#[derive(Subcommand, Debug)]
enum MigrateCommand {
    /// Each target's version and last outcome, and counts per version.
    Status,
    /// Migrate every target: canaries first, then the rest in parallel.
    Run {
        /// Only these tenants' schemas (comma-separated slugs).
        #[arg(long, value_delimiter = ',')]
        tenants: Option<Vec<String>>,
        /// Targets migrated at once.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
        /// Also treat these tenants as canaries (comma-separated slugs).
        #[arg(long, value_delimiter = ',')]
        canary_tenants: Vec<String>,
        /// Also treat the first N schema tenants (by slug) as canaries.
        #[arg(long, default_value_t = 0)]
        canary: usize,
        /// Failures tolerated before the fleet halts.
        #[arg(long, default_value_t = 0)]
        max_failures: usize,
        /// Show what would run, change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Mark a tenant as a canary: fleet migrations reach it first.
    Canary {
        /// Tenant slug.
        slug: String,
        /// Remove the mark instead.
        #[arg(long)]
        off: bool,
    },
}

#[derive(clap::Args, Debug)]
struct TokenArgs {
    /// Tenant slug the token is for (it must exist).
    #[arg(long)]
    tenant: String,
    /// Role the token carries: no default, so an admin token is always asked for.
    #[arg(long, value_parser = ["admin", "member"])]
    role: String,
    /// Lifetime, e.g. 30m, 12h (at most 24h).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    ttl: Duration,
    /// The user, by e-mail [default: the tenant's first user with --role].
    #[arg(long)]
    user: Option<String>,
}

/// The command that runs this binary again, for the start-up hint: the
/// hint must work as printed for whoever started the server — `tenantry`
/// when that name on the `PATH` is this binary, `cargo run -q --` (with
/// `--release` for a release build) when it was built by cargo and is not
/// installed, and otherwise the binary's own path.
fn how_to_run_me() -> String {
    let Ok(me) = std::env::current_exe().and_then(std::fs::canonicalize) else {
        return "tenantry".to_owned();
    };
    let on_path = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path)
            .any(|dir| std::fs::canonicalize(dir.join("tenantry")).is_ok_and(|found| found == me))
    });
    if on_path {
        return "tenantry".to_owned();
    }
    let profile = me
        .parent()
        .and_then(|dir| dir.file_name())
        .and_then(|n| n.to_str());
    match profile {
        Some("debug") => "cargo run -q --".to_owned(),
        Some("release") => "cargo run -q --release --".to_owned(),
        _ => me.display().to_string(),
    }
}

/// The longest lifetime `tenantry token` mints: a token cannot be revoked
/// one by one, so a leaked one must not outlive a day.
const MAX_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

fn parse_ttl(text: &str) -> Result<Duration, String> {
    let (digits, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("bad duration {text:?}"))?;
    let secs = match unit {
        "s" | "" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("bad duration unit in {text:?} (use s, m, h or d)")),
    };
    let ttl = Duration::from_secs(secs);
    if ttl.is_zero() || ttl > MAX_TOKEN_TTL {
        return Err(format!("{text:?}: a token lives between 1s and 24h"));
    }
    Ok(ttl)
}

impl Cli {
    /// Runs the parsed command.
    pub async fn run(self) -> anyhow::Result<()> {
        let command = self.command.unwrap_or(Command::Serve(ServeArgs::default()));
        let target = match command {
            Command::Serve(_) => LogTarget::Stdout,
            _ => LogTarget::Stderr,
        };
        let log_guard = crate::logging::init(
            self.log_format,
            target,
            self.settings.otlp_endpoint.as_deref(),
        )?;
        let result = match command {
            Command::Serve(args) => serve(&self.settings, args).await,
            Command::Tenants(cmd) => tenants(&self.settings, cmd).await,
            Command::Token(args) => token(&self.settings, &args).await,
            Command::Migrate(cmd) => migrate(&self.settings, cmd).await,
            Command::Jobs(cmd) => crate::jobs_cli::run(&self.settings, cmd).await,
            Command::Probe(args) => {
                if !tenantry_probe::run_cli(args).await? {
                    bail!(
                        "the probe found cross-tenant leaks or could not vouch for every operation"
                    );
                }
                Ok(())
            }
        };
        log_guard.shutdown().await;
        result
    }
}

async fn serve(settings: &Settings, args: ServeArgs) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    let backend = backend::open(&config).await?;
    if args.demo {
        demo::seed(&backend).await?;
    }
    let app = crate::build(&config, &backend);
    let admin_listener = match args.admin_listen {
        AdminListen::Off => None,
        AdminListen::On(addr) => {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "the operator endpoints listen beyond loopback: keep that network private");
            }
            Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the admin listener {addr}"))?,
            )
        }
    };
    let addr = args
        .listen
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let addr = listener.local_addr()?;
    let store = match &config.database {
        crate::config::DatabaseConfig::Sqlite => {
            format!("SQLite files in {}", config.data_dir.display())
        }
        crate::config::DatabaseConfig::Postgres { .. } => "PostgreSQL".to_owned(),
    };
    let example = if args.demo { "acme" } else { "<slug>" };
    let tenantry = how_to_run_me();
    eprintln!(
        "tenantry listening on http://{addr} ({store})\n\
         \n  docs:   http://{addr}/docs\
         \n  token:  {tenantry} token --tenant {example} --role admin\
         \n  try:    curl -H 'Host: {example}.{base}:{port}' -H \"Authorization: Bearer $({tenantry} token --tenant {example} --role admin)\" http://{addr}/api/orders\n",
        base = config.base_domain,
        port = addr.port(),
    );
    if let Some(admin) = &admin_listener {
        eprintln!(
            "tenantry admin on http://{}  (/metrics)",
            admin.local_addr()?
        );
    }
    let background = crate::jobs::start(&config, &backend)?;
    let (stop, stopping) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop.send(true);
    });
    let until_stopped = |mut stopping: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let limits = crate::serve::ServeLimits {
        header_read_timeout: Duration::from_secs(args.header_read_timeout_secs.max(1)),
        max_connections: args.max_connections.max(1),
    };
    let admin = admin_listener.map(|listener| {
        tokio::spawn(crate::serve::serve(
            listener,
            app.admin,
            limits,
            until_stopped(stopping.clone()),
        ))
    });
    crate::serve::serve(listener, app.api, limits, until_stopped(stopping)).await?;
    if let Some(admin) = admin {
        admin.await??;
    }
    // In-flight jobs finish before the process exits (their leases would
    // bring them back otherwise, but later).
    background.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

async fn tenants(settings: &Settings, cmd: TenantsCommand) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    let backend = backend::open(&config).await?;
    let tenants = &backend.tenants;
    let by_slug = |slug: String| async move {
        tenants
            .find(&TenantKey::Slug(slug.clone()))
            .await?
            .with_context(|| format!("no tenant {slug:?}"))
    };
    match cmd {
        TenantsCommand::Create {
            slug,
            name,
            plan,
            tier,
            domains,
            database_server,
            admin_email,
        } => {
            let plan = crate::plans::catalog().plan(plan.as_str())?;
            let domains = domains
                .iter()
                .map(|d| d.trim().to_ascii_lowercase())
                .collect();
            let new = NewTenant {
                id: None,
                name: name.unwrap_or_else(|| slug.clone()),
                slug,
                plan,
                tier,
                state: TenantState::Active,
                domains,
                database_server,
            };
            let record = crate::provision::create_tenant(&backend, new).await?;
            if let Some(email) = admin_email {
                let email = email.trim().to_ascii_lowercase();
                demo::context_for(&record)?
                    .scope(crate::store::users::create(
                        &backend.db,
                        &email,
                        "Admin",
                        "admin",
                    ))
                    .await
                    .with_context(|| format!("creating the admin user {email}"))?;
            }
            print_tenant(&record);
        }
        TenantsCommand::List => {
            for record in tenants.list().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    record.slug, record.id, record.plan, record.tier, record.state
                );
            }
        }
        TenantsCommand::Show { slug } => print_tenant(&*by_slug(slug).await?),
        TenantsCommand::Suspend { slug } => {
            let record = by_slug(slug).await?;
            print_tenant(&tenants.set_state(record.id, TenantState::Suspended).await?);
        }
        TenantsCommand::Resume { slug } => {
            let record = by_slug(slug).await?;
            print_tenant(&tenants.set_state(record.id, TenantState::Active).await?);
        }
        TenantsCommand::Provision { slug } => {
            let record = by_slug(slug).await?;
            print_tenant(&crate::provision::provision(&backend, &record).await?);
        }
    }
    Ok(())
}

async fn migrate(settings: &Settings, cmd: MigrateCommand) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    let backend = backend::connect(&config).await?;
    match cmd {
        MigrateCommand::Status => {
            let targets = crate::fleet::targets(&backend, None, &[]).await?;
            crate::fleet::status(&backend, &targets).await
        }
        MigrateCommand::Run {
            tenants,
            concurrency,
            canary_tenants,
            canary,
            max_failures,
            dry_run,
        } => {
            let mut targets =
                crate::fleet::targets(&backend, tenants.as_deref(), &canary_tenants).await?;
            for target in targets
                .iter_mut()
                .filter(|t| t.tenant.is_some())
                .take(canary)
            {
                target.canary = true;
            }
            if dry_run {
                return crate::fleet::dry_run(&backend, &targets).await;
            }
            let options = tenantry::data::postgres::fleet::FleetOptions {
                concurrency,
                max_failures,
            };
            crate::fleet::run_command(&backend, targets, options).await
        }
        MigrateCommand::Canary { slug, off } => {
            let record = backend
                .tenants
                .find(&TenantKey::Slug(slug.clone()))
                .await?
                .with_context(|| format!("no tenant {slug:?}"))?;
            print_tenant(&backend.tenants.set_canary(record.id, !off).await?);
            Ok(())
        }
    }
}

fn print_tenant(record: &TenantRecord) {
    println!(
        "{}",
        serde_json::to_string_pretty(record).unwrap_or_default()
    );
}

async fn token(settings: &Settings, args: &TokenArgs) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    if !config.hs256_tokens {
        bail!(
            "this configuration does not accept HS256 tokens (a JWKS is configured without \
             --jwt-allow-hs256): get tokens from the identity provider"
        );
    }
    let backend = backend::open(&config).await?;
    let tenant = backend
        .tenants
        .find(&TenantKey::Slug(args.tenant.clone()))
        .await?
        .with_context(|| format!("no tenant {:?}", args.tenant))?;
    let ctx = demo::context_for(&tenant)?;
    let db = backend.db.clone();
    let user = ctx
        .scope(async {
            match &args.user {
                Some(email) => crate::store::users::by_email(&db, email).await,
                None => crate::store::users::first_with_role(&db, &args.role).await,
            }
        })
        .await?
        .with_context(|| match &args.user {
            Some(email) => format!("{} has no user {email:?}", tenant.slug),
            None => format!(
                "{} has no {} user: create one first, or name one with --user",
                tenant.slug, args.role
            ),
        })?;
    if args.role == "admin" && user.role != "admin" {
        bail!(
            "{} is a {} of {}: a token cannot carry more than the user's role",
            user.email,
            user.role,
            tenant.slug
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = Claims {
        sub: user.id.to_string(),
        tenant: tenant.slug.clone(),
        role: Some(args.role.clone()),
        exp: now + args.ttl.as_secs(),
        iat: Some(now),
        iss: config.jwt_issuer.clone(),
        aud: config.jwt_audience.clone(),
        ..Claims::default()
    };
    println!("{}", issue_hs256(&config.jwt_secret, &claims)?);
    Ok(())
}
