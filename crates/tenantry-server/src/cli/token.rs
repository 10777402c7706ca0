//! `tenantry token`: a development token signed with the configured HS256
//! secret, for an existing user of an existing tenant.

use std::time::Duration;

use anyhow::{Context, bail};
use tenantry::edge::{Claims, issue_hs256};
use tenantry::registry::TenantKey;

use crate::app;
use crate::settings::Settings;

#[derive(clap::Args, Debug)]
pub(crate) struct TokenArgs {
    /// Tenant slug the token is for (it must exist).
    #[arg(long)]
    pub(crate) tenant: String,
    /// Role the token carries: no default, so an admin token is always asked for.
    #[arg(long, value_parser = ["admin", "member"])]
    pub(crate) role: String,
    /// Lifetime, e.g. 30m, 12h (at most 24h).
    #[arg(long, default_value = "1h", value_parser = parse_ttl)]
    pub(crate) ttl: Duration,
    /// The user, by e-mail [default: the tenant's first user with --role].
    #[arg(long)]
    pub(crate) user: Option<String>,
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

pub(crate) async fn run(settings: &Settings, args: &TokenArgs) -> anyhow::Result<()> {
    let config = settings.resolve()?;
    if !config.hs256_tokens {
        bail!(
            "this configuration does not accept HS256 tokens (a JWKS is configured without \
             --jwt-allow-hs256): get tokens from the identity provider"
        );
    }
    let services = app::connect(&config).await?;
    let tenant = services
        .tenants
        .find(&TenantKey::Slug(args.tenant.clone()))
        .await?
        .with_context(|| format!("no tenant {:?}", args.tenant))?;
    let ctx = crate::demo::context_for(&tenant)?;
    let db = services.db.clone();
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
    crate::stdout::outln!("{}", issue_hs256(&config.jwt_secret, &claims)?);
    Ok(())
}
