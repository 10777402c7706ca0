//! The tenant context: who the current unit of work runs for.
//!
//! Every request, spawned task and job runs inside exactly one
//! [`TenantContext`]. Tenant-scoped helpers read it from here and take no
//! tenant parameter, so a handler cannot accidentally pass the wrong tenant;
//! outside a context they fail with [`NoTenantContext`] instead of falling
//! back to some global default.
//!
//! The context lives in a tokio task-local. Task-locals do **not** cross
//! `tokio::spawn` or `spawn_blocking` by themselves — that is deliberate:
//! use [`spawn`] / [`spawn_blocking`], which carry the context and the
//! current tracing span into the new task.
//!
//! ```
//! use tenantry::context::{self, TenantContext, TenantId};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let acme = TenantContext::builder(TenantId::new_v4(), "acme").build().unwrap();
//! let seen = acme
//!     .clone()
//!     .scope(async {
//!         tokio::task::yield_now().await;
//!         context::require().map(|ctx| ctx.slug().to_owned())
//!     })
//!     .await;
//! assert_eq!(seen.unwrap(), "acme");
//! assert!(context::require().is_err()); // no context outside the scope
//! # }
//! ```

mod ids;
mod route;
mod scope;
mod spawn;
mod tenant;
mod trace;

pub use crate::plans::Plan;
pub use ids::{RequestId, TenantId, UserId};
pub use route::Route;
#[cfg(feature = "edge")]
pub(crate) use scope::scope_without_span;
pub use scope::{
    NoTenantContext, SpanHook, current, current_tenant_id, on_scope_span, require, run_as_system,
};
pub use spawn::{spawn, spawn_blocking};
pub use tenant::{
    Role, SystemTenantReserved, TenantContext, TenantContextBuilder, Tier, UnknownVariant,
};
pub use trace::{TraceParent, trace_id_of};
