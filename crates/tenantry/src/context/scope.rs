//! Entering and reading the current context.

use std::future::Future;

use tracing::Instrument;

use super::ids::TenantId;

/// What a tracing backend does to each tenant scope's span before it has
/// children (the `otel` telemetry parents it in its request's trace and
/// gives it the tenant's baggage). The context knows no backend: the
/// backend hooks in here when it is set up.
pub type SpanHook = fn(&tracing::Span, &TenantContext);

static SPAN_HOOK: std::sync::OnceLock<SpanHook> = std::sync::OnceLock::new();

/// Installs `hook` for every tenant scope's span from now on; the first
/// hook installed stays (later calls change nothing).
pub fn on_scope_span(hook: SpanHook) {
    let _ = SPAN_HOOK.set(hook);
}
use super::tenant::TenantContext;

tokio::task_local! {
    static CURRENT: TenantContext;
}

/// A tenant-scoped helper ran outside any tenant context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "no tenant context: this work must run inside TenantContext::scope, tenantry::context::spawn or run_as_system"
)]
pub struct NoTenantContext;

/// The current context, if any.
pub fn current() -> Option<TenantContext> {
    CURRENT.try_with(Clone::clone).ok()
}

/// The current tenant's id, without cloning the context (for hot paths
/// that need only the id, such as building cache keys).
pub fn current_tenant_id() -> Result<TenantId, NoTenantContext> {
    CURRENT
        .try_with(TenantContext::tenant_id)
        .map_err(|_| NoTenantContext)
}

/// The current context, or [`NoTenantContext`] — never a default tenant.
pub fn require() -> Result<TenantContext, NoTenantContext> {
    current().ok_or(NoTenantContext)
}

impl TenantContext {
    /// Runs `work` inside this context and inside a `tenant` tracing span
    /// that carries `tenant_id`, `tenant_slug` and `request_id`, so every log
    /// line emitted by the work names its tenant without call sites adding it.
    pub async fn scope<F: Future>(self, work: F) -> F::Output {
        let span = self.span();
        CURRENT.scope(self, work.instrument(span)).await
    }

    /// Runs synchronous `work` inside this context (for blocking threads).
    pub fn sync_scope<R>(self, work: impl FnOnce() -> R) -> R {
        let span = self.span();
        let _entered = span.enter();
        CURRENT.sync_scope(self, work)
    }

    /// The span that tags every event inside this context.
    pub fn span(&self) -> tracing::Span {
        let request_id = self.request_id().map(|r| r.as_str()).unwrap_or("");
        let span = tracing::info_span!(
            "tenant",
            tenant_id = %self.tenant_id(),
            tenant_slug = self.slug(),
            request_id = request_id,
            impersonated_by = tracing::field::Empty,
        );
        if let Some(operator) = self.impersonated_by() {
            span.record("impersonated_by", tracing::field::display(operator));
        }
        if let Some(dress) = SPAN_HOOK.get() {
            dress(&span, self);
        }
        span
    }

    /// Enters the system tenant; private so that [`run_as_system`] is the one door.
    fn system(reason: &'static str) -> TenantContext {
        TenantContext::builder(TenantId::SYSTEM, format!("system:{reason}")).build_system()
    }
}

pub(crate) async fn scope_without_span<F: Future>(ctx: TenantContext, work: F) -> F::Output {
    CURRENT.scope(ctx, work).await
}

pub(super) fn sync_scope_without_span<R>(ctx: TenantContext, work: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(ctx, work)
}

/// Runs cross-tenant `work` as the system tenant.
///
/// `reason` names the operation (`"migrations"`, `"cleanup-cron"`) and shows
/// up as the context's slug, in every log line of the work.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let ctx = tenantry::context::run_as_system("nightly-cleanup", async {
///     tenantry::context::require().unwrap()
/// }).await;
/// assert!(ctx.is_system());
/// assert_eq!(ctx.slug(), "system:nightly-cleanup");
/// # }
/// ```
pub async fn run_as_system<F: Future>(reason: &'static str, work: F) -> F::Output {
    tracing::info!(reason, "entering system tenant");
    TenantContext::system(reason).scope(work).await
}

#[cfg(test)]
mod tests {
    use super::super::{Role, TenantContext, TenantId, spawn, spawn_blocking};
    use super::*;

    fn acme() -> TenantContext {
        TenantContext::builder(TenantId::new_v4(), "acme")
            .build()
            .expect("not the system id")
    }

    #[tokio::test]
    async fn context_survives_awaits_and_helper_spawns() {
        let ctx = acme();
        let expected = ctx.tenant_id();
        ctx.scope(async move {
            tokio::task::yield_now().await;
            assert_eq!(require().unwrap().tenant_id(), expected);
            let spawned = spawn(async { require().map(|c| c.tenant_id()) })
                .await
                .unwrap();
            assert_eq!(spawned, Ok(expected));
            let blocking = spawn_blocking(|| require().map(|c| c.tenant_id()))
                .await
                .unwrap();
            assert_eq!(blocking, Ok(expected));
        })
        .await;
    }

    #[tokio::test]
    async fn context_is_absent_in_bare_spawns() {
        acme()
            .scope(async {
                let bare = tokio::spawn(async { require() }).await.unwrap();
                assert_eq!(bare.unwrap_err(), NoTenantContext);
                let bare_blocking = tokio::task::spawn_blocking(require).await.unwrap();
                assert_eq!(bare_blocking.unwrap_err(), NoTenantContext);
            })
            .await;
        assert_eq!(require().unwrap_err(), NoTenantContext);
    }

    #[test]
    fn system_tenant_only_through_run_as_system() {
        assert!(
            TenantContext::builder(TenantId::SYSTEM, "sneaky")
                .build()
                .is_err()
        );
        let ctx = TenantContext::builder(TenantId::new_v4(), "acme")
            .user(
                crate::context::UserId::from(uuid::Uuid::new_v4()),
                Role::System,
            )
            .build()
            .unwrap();
        assert_eq!(
            ctx.role(),
            Role::Member,
            "a claimed system role is downgraded"
        );
    }

    #[tokio::test]
    async fn system_context_is_named() {
        let ctx = run_as_system("test", async { require().unwrap() }).await;
        assert!(ctx.is_system());
        assert_eq!(ctx.role(), Role::System);
    }
}
