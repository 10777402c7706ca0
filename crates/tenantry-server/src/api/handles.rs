//! What a handler takes from the [`AppState`]: each handle it uses, by
//! type (`State<Database>`, `State<TenantStorage>`, …), rather than the
//! whole state — a handler's signature says which parts of the server it
//! touches, and a test can see it needs nothing else. Each is cheap to
//! clone (its parts are shared).

use std::sync::Arc;

use axum::extract::FromRef;
use tenantry::config::TenantConfig;
use tenantry::data::Database;
use tenantry::jobs::JobQueue;
use tenantry::secrets::Secrets;
use tenantry::storage::TenantStorage;

use super::AppState;
use crate::invoice_summary::InvoiceSummaries;
use crate::tenant_settings::TenantSettings;

/// The tenant plane.
impl FromRef<AppState> for Database {
    fn from_ref(app: &AppState) -> Self {
        app.services.db.clone()
    }
}

/// Tenants' objects.
impl FromRef<AppState> for TenantStorage {
    fn from_ref(app: &AppState) -> Self {
        app.services.storage.clone()
    }
}

/// Tenants' secrets.
impl FromRef<AppState> for Secrets {
    fn from_ref(app: &AppState) -> Self {
        app.services.secrets.clone()
    }
}

/// Tenants' settings and flags.
impl FromRef<AppState> for TenantConfig<TenantSettings> {
    fn from_ref(app: &AppState) -> Self {
        app.services.config.clone()
    }
}

/// The job queue.
impl FromRef<AppState> for Arc<dyn JobQueue> {
    fn from_ref(app: &AppState) -> Self {
        app.services.queue.clone()
    }
}

/// Invoice summaries behind the tenant cache.
impl FromRef<AppState> for Arc<InvoiceSummaries> {
    fn from_ref(app: &AppState) -> Self {
        app.services.summaries.clone()
    }
}
