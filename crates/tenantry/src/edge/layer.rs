//! [`TenantLayer`]: resolve → authenticate → look up → compare → gate → scope.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use http::{Request, Response};
use tower::{Layer, Service};

use super::auth_error::AuthError;
use super::identity::{Authenticator, Identity};
use super::membership::{Membership, narrower};
use super::request_id::{request_id_of, trace_parent_of};
use super::{Claim, Rejection, TenantResolver};
use crate::context::{TenantContext, TenantId};
use crate::registry::{TenantKey, TenantRecord, TenantState, Tenants};

/// Resolves and verifies the tenant of each request, then runs the inner
/// service inside that tenant's context. See the [module docs](super).
#[derive(Clone)]
pub struct TenantLayer {
    edge: Arc<Edge>,
}

// Cloned only while the layer is being built (`Arc::make_mut`); the
// fields are shared handles, so that clone is cheap.
#[derive(Clone)]
struct Edge {
    tenants: Tenants,
    authenticator: Arc<dyn Authenticator>,
    resolvers: Vec<Arc<dyn TenantResolver>>,
    signed: Option<Arc<dyn SignedRequests>>,
    membership: Option<Arc<dyn Membership>>,
    suspended_reads: Option<String>,
}

/// Checks requests that carry a signed URL instead of a bearer token, such
/// as `storage::TenantStorage`'s object URLs.
///
/// The tenant is still resolved from the request as usual; the signature
/// must have been made for that tenant, so a URL signed for one tenant is
/// refused on another's host.
pub trait SignedRequests: Send + Sync + 'static {
    /// Whether requests to `path` (after any path-prefix rewrite) may be
    /// signed instead of authenticated.
    fn covers(&self, path: &str) -> bool;
    /// Whether `method` on the raw `path` and `query` is signed for `tenant`.
    fn verify(&self, method: &str, tenant: TenantId, path: &str, query: Option<&str>) -> bool;
}

impl TenantLayer {
    /// A layer that authenticates requests with `authenticator` (a
    /// [`TokenVerifier`](super::TokenVerifier) for bearer tokens, or your
    /// own) and looks tenants up in `tenants`. It has no resolvers yet; add
    /// them with [`Self::resolver`].
    pub fn new(tenants: Tenants, authenticator: impl Authenticator) -> Self {
        Self::with_authenticator(tenants, Arc::new(authenticator))
    }

    /// [`Self::new`] with a shared authenticator.
    pub fn with_authenticator(tenants: Tenants, authenticator: Arc<dyn Authenticator>) -> Self {
        Self {
            edge: Arc::new(Edge {
                tenants,
                authenticator,
                resolvers: Vec::new(),
                signed: None,
                membership: None,
                suspended_reads: None,
            }),
        }
    }

    /// Adds a resolver. Every resolver runs, and every claim must be the
    /// token's tenant.
    pub fn resolver(mut self, resolver: impl TenantResolver) -> Self {
        Arc::make_mut(&mut self.edge)
            .resolvers
            .push(Arc::new(resolver));
        self
    }
}

impl TenantLayer {
    /// Checks every token's user against `membership` inside the tenant's
    /// context: a user who is no longer a member gets 401, and the role is
    /// the lesser of the token's and the member's. See [`Membership`].
    pub fn membership(mut self, membership: impl Membership) -> Self {
        Arc::make_mut(&mut self.edge).membership = Some(Arc::new(membership));
        self
    }

    /// Lets requests under the paths `signed` covers authenticate with a
    /// signed URL instead of a bearer token. Their context has no user.
    pub fn signed_requests(mut self, signed: Arc<dyn SignedRequests>) -> Self {
        Arc::make_mut(&mut self.edge).signed = Some(signed);
        self
    }

    /// Keeps signed `GET`s of paths under `prefix` working while their
    /// tenant is suspended — the data export a leaving tenant downloads
    /// during its grace period. Everything else of a suspended tenant,
    /// signed or not, is still refused.
    pub fn suspended_signed_reads(mut self, prefix: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.edge).suspended_reads = Some(prefix.into());
        self
    }
}

impl<S> Layer<S> for TenantLayer {
    type Service = TenantService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TenantService {
            inner,
            edge: self.edge.clone(),
        }
    }
}

/// The service made by [`TenantLayer`].
#[derive(Clone)]
pub struct TenantService<S> {
    inner: S,
    edge: Arc<Edge>,
}

impl<S> Service<Request<Body>> for TenantService<S>
where
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        // The clone that was polled ready is the one we call (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let edge = self.edge.clone();
        Box::pin(async move {
            let refused = |rejection: Rejection| {
                tracing::debug!(status = %rejection.status(), reason = rejection.message(), "request refused at the edge");
                Ok(rejection.into_response())
            };
            let (ctx, req) = match edge.admit(req).await {
                Ok(admitted) => admitted,
                Err(rejection) => return refused(rejection),
            };
            // One `tenant` span for the whole request: the membership check
            // runs in it (it needs the tenant's context), then the handler
            // runs in the context with the member's role.
            ctx.clone()
                .scope(async move {
                    match edge.confirm_member(ctx, req).await {
                        Ok((ctx, req)) => {
                            crate::context::scope_without_span(ctx, inner.call(req)).await
                        }
                        Err(rejection) => refused(rejection),
                    }
                })
                .await
        })
    }
}

impl Edge {
    async fn admit(&self, req: Request<Body>) -> Result<(TenantContext, Request<Body>), Rejection> {
        let (mut parts, body) = req.into_parts();
        let claims: Vec<Claim> = self
            .resolvers
            .iter()
            .filter_map(|r| r.resolve(&parts))
            .collect();
        if claims.is_empty() {
            return Err(Rejection::NoTenantClaimed);
        }

        let rewrite = claims.iter().find_map(|c| c.rewrite.clone());
        let path = rewrite.as_ref().map_or(parts.uri.path(), |uri| uri.path());
        // Authentication comes before any lookup of what the request claims:
        // an anonymous caller learns nothing about which tenants exist (every
        // refusal is the same 401) and cannot make us query the registry.
        let identity = match self.authenticator.authenticate(&parts).await {
            Ok(identity) => Some(identity),
            Err(AuthError::Missing) if self.signed.as_ref().is_some_and(|s| s.covers(path)) => None,
            Err(e) => {
                // The reason stays in the logs; clients only learn "401".
                tracing::debug!(error = %e, "credentials refused");
                return Err(Rejection::Unauthenticated);
            }
        };
        let (tenant, user) = match (identity, &self.signed) {
            (Some(identity), _) => {
                let tenant = self.identity_tenant(&identity, &claims).await?;
                if !claims.iter().all(|claim| names(&claim.key, &tenant)) {
                    return Err(Rejection::TenantMismatch);
                }
                (tenant, Some((identity.subject, identity.role)))
            }
            (None, Some(signed)) => {
                // A signed URL names its tenant only through the request; an
                // unknown tenant is refused like a bad signature.
                let tenant = match self.claimed_tenant(&claims).await {
                    Ok(tenant) => tenant,
                    Err(Rejection::RegistryUnavailable) => {
                        return Err(Rejection::RegistryUnavailable);
                    }
                    Err(_) => return Err(Rejection::Unauthenticated),
                };
                let query = parts.uri.query();
                if !signed.verify(parts.method.as_str(), tenant.id, path, query) {
                    return Err(Rejection::Unauthenticated);
                }
                (tenant, None)
            }
            (None, None) => return Err(Rejection::Unauthenticated),
        };

        match tenant.state {
            TenantState::Active => {}
            TenantState::Provisioning => return Err(Rejection::Provisioning),
            TenantState::Suspended => {
                let export_read = user.is_none()
                    && parts.method == http::Method::GET
                    && self
                        .suspended_reads
                        .as_deref()
                        .is_some_and(|prefix| path.starts_with(prefix));
                if !export_read {
                    return Err(Rejection::Suspended);
                }
            }
            TenantState::Failed | TenantState::Deleting | TenantState::Deleted => {
                return Err(Rejection::UnknownTenant);
            }
        }

        let request_id = request_id_of(&parts.headers);
        let trace_parent = trace_parent_of(&parts.headers, &request_id);
        let mut ctx = tenant.context().request_id(request_id);
        if let Some(parent) = trace_parent {
            ctx = ctx.trace_parent(parent);
        }
        if let Some((user, token_role)) = user {
            ctx = ctx.user(user, token_role);
        }
        let ctx = ctx.build().map_err(|_| Rejection::UnknownTenant)?;

        if let Some(uri) = rewrite {
            parts.uri = uri;
        }
        parts.extensions.insert(ctx.clone());
        Ok((ctx, Request::from_parts(parts, body)))
    }
}

impl Edge {
    /// Checks the token's user against the [`Membership`], inside the
    /// tenant's context: not a member → 401; otherwise the context gets the
    /// lesser of the token's and the member's roles.
    async fn confirm_member(
        &self,
        ctx: TenantContext,
        mut req: Request<Body>,
    ) -> Result<(TenantContext, Request<Body>), Rejection> {
        let (Some(membership), Some(user)) = (&self.membership, ctx.user_id().cloned()) else {
            return Ok((ctx, req));
        };
        let member = membership
            .role(user.clone())
            .await
            .map_err(|e| {
                if refused_as_held(&e) {
                    // Admitted on a cached record older than the hold.
                    return Rejection::UnknownTenant;
                }
                tracing::warn!(error = %e, "membership check failed");
                Rejection::RegistryUnavailable
            })?
            .ok_or_else(|| {
                tracing::debug!(user = %user, "token of a user who is not a member");
                Rejection::Unauthenticated
            })?;
        let role = narrower(ctx.role(), member);
        if role == ctx.role() {
            return Ok((ctx, req));
        }
        let ctx = ctx.with_role(role);
        req.extensions_mut().insert(ctx.clone());
        Ok((ctx, req))
    }

    /// The tenant of an authenticated request. An identity that names one
    /// tenant has it looked up — claims are then compared with it, never
    /// looked up, so a caller cannot tell another tenant from one that does
    /// not exist (both 403). An identity that names several (a user in
    /// several organisations) has the request's claim looked up instead,
    /// and it must be one of them; an unknown claim is the same 403.
    async fn identity_tenant(
        &self,
        identity: &Identity,
        claims: &[Claim],
    ) -> Result<Arc<TenantRecord>, Rejection> {
        let find = async |key: &TenantKey| {
            self.tenants
                .find(key)
                .await
                .map_err(|_| Rejection::RegistryUnavailable)
        };
        match identity.tenants.as_slice() {
            [] => Err(Rejection::Unauthenticated),
            [only] => find(&token_key(only))
                .await?
                .ok_or(Rejection::UnknownTenant),
            several => {
                let claimed = find(&claims[0].key)
                    .await?
                    .ok_or(Rejection::TenantMismatch)?;
                let named = several.iter().any(|t| match token_key(t) {
                    TenantKey::Id(id) => id == claimed.id,
                    TenantKey::Slug(slug) => slug == claimed.slug,
                    TenantKey::Domain(_) => false,
                });
                if named {
                    Ok(claimed)
                } else {
                    Err(Rejection::TenantMismatch)
                }
            }
        }
    }

    /// The one tenant every claim names (for signed URLs, which have no
    /// token to compare with): each is looked up, and claims that name
    /// different tenants are a mismatch.
    async fn claimed_tenant(&self, claims: &[Claim]) -> Result<Arc<TenantRecord>, Rejection> {
        let mut tenant: Option<Arc<TenantRecord>> = None;
        for claim in claims {
            let record = self
                .tenants
                .find(&claim.key)
                .await
                .map_err(|_| Rejection::RegistryUnavailable)?
                .ok_or(Rejection::UnknownTenant)?;
            if tenant.as_ref().is_some_and(|t| t.id != record.id) {
                return Err(Rejection::TenantMismatch);
            }
            tenant = Some(record);
        }
        tenant.ok_or(Rejection::NoTenantClaimed)
    }
}

/// A token names its tenant by id or by slug.
fn token_key(claim: &str) -> TenantKey {
    match claim.parse::<TenantId>() {
        Ok(id) => TenantKey::Id(id),
        Err(_) => TenantKey::Slug(claim.to_owned()),
    }
}

/// Whether a request's claim names `tenant`, without asking the registry.
fn names(key: &TenantKey, tenant: &TenantRecord) -> bool {
    match key {
        TenantKey::Id(id) => *id == tenant.id,
        TenantKey::Slug(slug) => *slug == tenant.slug,
        TenantKey::Domain(domain) => tenant
            .domains
            .iter()
            .any(|d| d.eq_ignore_ascii_case(domain)),
    }
}

/// Whether the membership store was refused because the tenant is held
/// in this process (see `tenantry::fence`): the tenant is not served.
fn refused_as_held(error: &super::MembershipError) -> bool {
    #[cfg(any(feature = "postgres", feature = "sqlite"))]
    {
        matches!(
            error.0.downcast_ref::<crate::data::DataError>(),
            Some(crate::data::DataError::Fenced(crate::fence::Fenced::Held))
        )
    }
    #[cfg(not(any(feature = "postgres", feature = "sqlite")))]
    {
        let _ = error;
        false
    }
}
