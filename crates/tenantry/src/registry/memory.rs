//! [`MemoryTenantStore`]: the registry in memory, for tests and examples.

use crate::registry::RegistryFuture;
use std::sync::Mutex;

use super::{NewTenant, RegistryError, TenantKey, TenantRecord, TenantState, TenantStore};
use crate::context::TenantId;

/// Tenant records held in memory: nothing survives the process. Useful to
/// test code built on [`Tenants`](super::Tenants) without a database.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::Arc;
/// use tenantry::context::{Plan, Tier};
/// use tenantry::registry::{MemoryTenantStore, NewTenant, TenantKey, TenantState, Tenants};
/// let tenants = Tenants::new(Arc::new(MemoryTenantStore::default()));
/// let new = NewTenant { id: None, slug: "acme".into(), name: "Acme".into(), plan: Plan::from_static("free"),
///     tier: Tier::Shared, state: TenantState::Active, domains: vec![], database_server: None };
/// tenants.create(new).await.unwrap();
/// assert!(tenants.find(&TenantKey::Slug("acme".into())).await.unwrap().is_some());
/// # }
/// ```
#[derive(Default)]
pub struct MemoryTenantStore {
    rows: Mutex<Vec<TenantRecord>>,
}

impl MemoryTenantStore {
    fn update(
        &self,
        id: TenantId,
        change: impl FnOnce(&mut TenantRecord),
    ) -> Result<TenantRecord, RegistryError> {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let row = rows
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or(RegistryError::NotFound)?;
        change(row);
        row.updated_at_ms = crate::clock::now_ms();
        Ok(row.clone())
    }
}

impl TenantStore for MemoryTenantStore {
    fn find(&self, key: &TenantKey) -> RegistryFuture<'_, Option<TenantRecord>> {
        let rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let hit = rows
            .iter()
            .find(|r| match key {
                TenantKey::Slug(s) => &r.slug == s,
                TenantKey::Id(id) => &r.id == id,
                TenantKey::Domain(d) => r.domains.contains(d),
            })
            .cloned();
        Box::pin(async move { Ok(hit) })
    }

    fn list(&self) -> RegistryFuture<'_, Vec<TenantRecord>> {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner()).clone();
        rows.sort_by(|a, b| a.slug.cmp(&b.slug));
        Box::pin(async move { Ok(rows) })
    }

    fn insert(&self, t: NewTenant) -> RegistryFuture<'_, TenantRecord> {
        let mut rows = self.rows.lock().unwrap_or_else(|p| p.into_inner());
        let id = t.id.unwrap_or_else(TenantId::new_v4);
        let taken = rows.iter().find_map(|r| {
            if r.slug == t.slug || r.id == id {
                Some(format!("tenant {} (slug or id)", t.slug))
            } else {
                t.domains
                    .iter()
                    .find(|d| r.domains.contains(d))
                    .map(|d| format!("domain {d}"))
            }
        });
        let result = match taken {
            Some(what) => Err(RegistryError::Conflict { what, source: None }),
            None => {
                let now = crate::clock::now_ms();
                let record = TenantRecord {
                    id,
                    slug: t.slug,
                    name: t.name,
                    plan: t.plan,
                    tier: t.tier,
                    state: t.state,
                    domains: t.domains,
                    canary: false,
                    database_server: t.database_server,
                    moving_to: None,
                    route_version: 0,
                    mirror_synced: false,
                    created_at_ms: now,
                    updated_at_ms: now,
                };
                rows.push(record.clone());
                Ok(record)
            }
        };
        Box::pin(async move { result })
    }

    fn set_state(&self, id: TenantId, state: TenantState) -> RegistryFuture<'_, TenantRecord> {
        let result = self.update(id, |r| r.state = state);
        Box::pin(async move { result })
    }

    fn set_canary(&self, id: TenantId, canary: bool) -> RegistryFuture<'_, TenantRecord> {
        let result = self.update(id, |r| r.canary = canary);
        Box::pin(async move { result })
    }
}
