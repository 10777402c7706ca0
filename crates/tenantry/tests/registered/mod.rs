//! Registering the tenants a test needs.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use tenantry::context::Tier;
use tenantry::plans::Plan;
use tenantry::registry::{NewTenant, TenantRecord, TenantState, Tenants};

/// Registers each of `slugs` as an active shared-tier tenant on the
/// `starter` plan; their records, in order.
pub async fn register(tenants: &Tenants, slugs: &[&str]) -> Vec<TenantRecord> {
    let mut records = Vec::new();
    for slug in slugs {
        let record = tenants
            .create(NewTenant {
                id: None,
                slug: (*slug).into(),
                name: (*slug).into(),
                plan: Plan::from_static("starter"),
                tier: Tier::Shared,
                state: TenantState::Active,
                domains: vec![],
                database_server: None,
            })
            .await
            .unwrap();
        records.push(record);
    }
    records
}
