//! A custom [`Authenticator`]: machine clients call with an API key issued
//! to one tenant (`X-Api-Key`), instead of a user's bearer token. The edge
//! does the rest as for tokens: the request must claim the key's tenant
//! (its subdomain here; another tenant's is 403), the tenant's state is
//! checked, and the handler runs in the tenant's context.
//!
//! Keys are kept as SHA-256 digests, never in clear: a leaked table of
//! digests lets no one call the API.
//!
//! ```text
//! cargo run -p tenantry --example api_keys --features edge
//! curl -H 'Host: acme.api.localhost' -H 'X-Api-Key: acme-demo-key-…' http://127.0.0.1:3000/whoami
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use axum::{Json, Router, routing::get};
use sha2::{Digest, Sha256};
use tenantry::context::{Role, UserId};
use tenantry::edge::{AuthError, Authenticator, FromSubdomain, Identity, Tenant, TenantLayer};
use tenantry::registry::{BoxFuture, Tenants};

/// An issued key: which tenant it is for, what it may do, and a name for
/// the logs and the audit trail.
#[derive(Clone, Debug)]
pub(crate) struct IssuedKey {
    pub(crate) tenant: String,
    pub(crate) role: Role,
    pub(crate) name: String,
}

/// API keys by the SHA-256 of the key.
#[derive(Default)]
pub(crate) struct ApiKeys {
    by_digest: HashMap<[u8; 32], IssuedKey>,
}

impl ApiKeys {
    /// Registers `key` (shown once to whoever asked for it; only its digest is kept).
    pub(crate) fn issue(&mut self, key: &str, issued: IssuedKey) {
        self.by_digest.insert(Sha256::digest(key).into(), issued);
    }
}

impl Authenticator for ApiKeys {
    fn authenticate<'a>(
        &'a self,
        request: &'a http::request::Parts,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async move {
            let key = request.headers.get("x-api-key").ok_or(AuthError::Missing)?;
            let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
            let issued = self
                .by_digest
                .get(&digest)
                .ok_or_else(|| AuthError::Invalid("unknown API key".into()))?;
            Ok(Identity {
                subject: UserId::new(&format!("api-key:{}", issued.name))
                    .ok_or_else(|| AuthError::Invalid("unusable key name".into()))?,
                tenants: vec![issued.tenant.clone()],
                role: issued.role,
            })
        })
    }
}

/// The service: every route behind the edge, authenticated by `keys`.
pub(crate) fn app(tenants: Tenants, keys: ApiKeys) -> Router {
    let edge = TenantLayer::with_authenticator(tenants, Arc::new(keys))
        .resolver(FromSubdomain::new("api.localhost"));
    Router::new()
        .route(
            "/whoami",
            get(|Tenant(ctx): Tenant| async move {
                Json(serde_json::json!({
                    "tenant": ctx.slug(),
                    "client": ctx.user_id().map(ToString::to_string),
                    "role": ctx.role().as_str(),
                }))
            }),
        )
        .layer(edge)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    use tenantry::registry::{MemoryTenantStore, NewTenant, TenantState};
    let store = Arc::new(MemoryTenantStore::default());
    let tenants = Tenants::new(store);
    tenants
        .create(NewTenant {
            id: None,
            slug: "acme".into(),
            name: "Acme".into(),
            plan: tenantry::plans::Plan::from_static("starter"),
            tier: tenantry::context::Tier::Shared,
            state: TenantState::Active,
            domains: vec![],
            database_server: None,
        })
        .await?;
    let key = format!("acme-demo-key-{}", uuid::Uuid::new_v4().simple());
    let mut keys = ApiKeys::default();
    let name = "billing-sync".into();
    keys.issue(
        &key,
        IssuedKey {
            tenant: "acme".into(),
            role: Role::Member,
            name,
        },
    );
    println!("acme's key (shown once): {key}");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    axum::serve(listener, app(tenants, keys)).await?;
    Ok(())
}
