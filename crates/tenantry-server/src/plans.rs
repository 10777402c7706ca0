//! The reference server's plans: its product policy, kept here and not in
//! the library. tenantry only knows plans as names with sizes
//! ([`PlanCatalog`]); these are the server's three.

use tenantry::plans::{Plan, PlanCatalog, PlanSpec};

/// The entry plan.
pub const FREE: Plan = Plan::from_static("free");
/// The paid plan.
pub const PRO: Plan = Plan::from_static("pro");
/// Large customers: a bucket of their own, weight 4 in the job queue.
pub const ENTERPRISE: Plan = Plan::from_static("enterprise");

const MIB: u64 = 1024 * 1024;

/// The server's plan sizes: enough for real use, low enough that a free
/// tenant cannot take the server.
pub fn catalog() -> PlanCatalog {
    let spec = |per_second, concurrent, timeout_ms, weight, quota_mib, dedicated| PlanSpec {
        requests_per_second: per_second,
        burst: per_second * 2,
        concurrent_requests: concurrent,
        request_timeout_ms: timeout_ms,
        queue_weight: weight,
        db_connections: None,
        dedicated_bucket: dedicated,
        storage_quota_bytes: Some(quota_mib * MIB),
    };
    PlanCatalog::new(
        FREE,
        [
            (FREE, spec(50, 16, 10_000, 1, 100, false)),
            (PRO, spec(200, 64, 30_000, 2, 10 * 1024, false)),
            (ENTERPRISE, spec(1_000, 256, 60_000, 4, 1024 * 1024, true)),
        ],
    )
    .expect("the built-in catalogue holds together")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_catalogue_builds() {
        let catalog = super::catalog();
        assert_eq!(
            catalog.names().collect::<Vec<_>>(),
            ["enterprise", "free", "pro"]
        );
        assert!(catalog.spec(&super::ENTERPRISE).dedicated_bucket);
    }
}
