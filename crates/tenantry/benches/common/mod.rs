//! What the benches share: a current-thread runtime and a fresh tenant.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)] // each bench uses part of it

use tenantry::context::{TenantContext, TenantId};

/// A current-thread runtime, as one request's work runs on.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A context for a fresh tenant.
pub fn tenant() -> TenantContext {
    TenantContext::builder(TenantId::new_v4(), "bench")
        .build()
        .unwrap()
}
