//! The probe's command line (also mounted as `tenantry probe`).

use crate::{Probe, ProbeError, TenantAccess};

/// Probe an API for cross-tenant leaks.
#[derive(clap::Args, Debug, Clone)]
pub struct ProbeArgs {
    /// Base URL requests go to (its host claims no tenant).
    #[arg(long)]
    pub base_url: String,
    /// OpenAPI document: a file path or an http(s) URL [default: BASE_URL/openapi.json].
    #[arg(long)]
    pub openapi: Option<String>,
    /// Tenant A's slug (its credentials are used).
    #[arg(long)]
    pub a_slug: String,
    /// Host header that claims tenant A.
    #[arg(long)]
    pub a_host: String,
    /// Tenant A's bearer token.
    #[arg(long, env = "PROBE_A_TOKEN", hide_env_values = true)]
    pub a_token: String,
    /// Tenant B's slug (its ids are used).
    #[arg(long)]
    pub b_slug: String,
    /// Host header that claims tenant B.
    #[arg(long)]
    pub b_host: String,
    /// Tenant B's bearer token (to learn B's ids).
    #[arg(long, env = "PROBE_B_TOKEN", hide_env_values = true)]
    pub b_token: String,
    /// Path-prefix template that claims a tenant, e.g. `/t/{slug}`.
    #[arg(long)]
    pub path_prefix: Option<String>,
    /// Header that claims a tenant, e.g. `x-tenant-id`.
    #[arg(long)]
    pub tenant_header: Option<String>,
}

/// Runs the probe from parsed arguments; `Ok(false)` when it found problems.
pub async fn run_cli(args: ProbeArgs) -> Result<bool, ProbeError> {
    let source = args
        .openapi
        .clone()
        .unwrap_or_else(|| format!("{}/openapi.json", args.base_url.trim_end_matches('/')));
    let unreadable = |e: String| ProbeError::OpenApi(format!("reading {source}: {e}"));
    let openapi: serde_json::Value =
        if source.starts_with("http://") || source.starts_with("https://") {
            crate::run::client()?
                .get(&source)
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?
        } else {
            let bytes = std::fs::read(&source).map_err(|e| unreadable(e.to_string()))?;
            serde_json::from_slice(&bytes).map_err(|e| unreadable(e.to_string()))?
        };
    let probe = Probe {
        base_url: args.base_url,
        openapi,
        attacker: TenantAccess {
            slug: args.a_slug,
            host: args.a_host,
            token: args.a_token,
        },
        victim: TenantAccess {
            slug: args.b_slug,
            host: args.b_host,
            token: args.b_token,
        },
        path_prefix: args.path_prefix,
        tenant_header: args.tenant_header,
    };
    let report = probe.run().await?;
    println!("{report}");
    Ok(report.is_clean())
}
