//! `serve --demo`: two tenants with the same shapes of data, so every
//! endpoint has something to leak if isolation were broken.

use crate::error::ServerError;
use tenantry::context::{Plan, TenantContext, Tier};
use tenantry::registry::{NewTenant, TenantKey, TenantRecord, TenantState};

use crate::services::Services;
use crate::store::{invoices, orders, users};

/// The demo tenants: slug, name, plan.
pub const DEMO_TENANTS: [(&str, &str, Plan); 2] = [
    ("acme", "Acme Corporation", crate::plans::PRO),
    ("globex", "Globex Corporation", crate::plans::FREE),
];

/// Creates the demo tenants and their data; tenants that exist are left alone.
pub async fn seed(services: &Services) -> Result<(), ServerError> {
    for (slug, name, plan) in DEMO_TENANTS {
        if services
            .tenants
            .find(&TenantKey::Slug(slug.to_owned()))
            .await?
            .is_some()
        {
            continue;
        }
        seed_tenant(services, slug, name, plan, Tier::Shared).await?;
    }
    Ok(())
}

/// Creates one tenant on `tier` (provisioning its target) with demo data:
/// two users, five orders, two invoices.
pub async fn seed_tenant(
    services: &Services,
    slug: &str,
    name: &str,
    plan: Plan,
    tier: Tier,
) -> Result<TenantRecord, ServerError> {
    let new = NewTenant {
        id: None,
        slug: slug.to_owned(),
        name: name.to_owned(),
        plan,
        tier,
        state: TenantState::Active,
        domains: vec![],
        database_server: None,
    };
    let tenant = crate::provision::create_tenant(services, new).await?;
    context_for(&tenant)?.scope(fill(services, slug)).await?;
    tracing::info!(tenant = slug, %tier, "seeded demo tenant");
    Ok(tenant)
}

/// The id of demo tenant `slug`'s user with `role` (`admin` or `member`):
/// derived from the two, so tests and benchmarks can mint tokens for a
/// real member without asking the database.
pub fn user_id(slug: &str, role: &str) -> uuid::Uuid {
    const DEMO_USERS: uuid::Uuid = uuid::uuid!("6f1b8a52-3c1e-4d55-9a0e-7d3f2f4b9c11");
    uuid::Uuid::new_v5(&DEMO_USERS, format!("{slug}/{role}").as_bytes())
}

/// Adds the user `id` (`email`, `role`) to `tenant` — for tests and
/// benchmarks that mint tokens for users of their own.
pub async fn add_user(
    services: &Services,
    tenant: &TenantRecord,
    id: uuid::Uuid,
    email: &str,
    role: &str,
) -> Result<(), ServerError> {
    context_for(tenant)?
        .scope(crate::store::users::insert(
            &services.db,
            id,
            email,
            "Test user",
            role,
        ))
        .await?;
    Ok(())
}

/// A context for seeding `tenant` (no user, admin rights are not needed by the stores).
pub fn context_for(tenant: &TenantRecord) -> Result<TenantContext, ServerError> {
    Ok(tenant.context().build()?)
}

async fn fill(services: &Services, slug: &str) -> Result<(), ServerError> {
    let db = &services.db;
    for role in ["admin", "member"] {
        let email = format!("{role}@{slug}.example");
        let name = if role == "admin" { "Admin" } else { "Member" };
        users::insert(db, user_id(slug, role), &email, name, role).await?;
    }
    let mut created = Vec::new();
    for (i, customer) in ["Ada", "Brook", "Casey", "Dana", "Eli"]
        .into_iter()
        .enumerate()
    {
        created.push(
            orders::create(db, format!("{customer} ({slug})"), 1_000 * (i as i64 + 1)).await?,
        );
    }
    for order in &created[..2] {
        let invoice = invoices::create_for_order(db, order.id)
            .await
            .map_err(ServerError::other)?;
        // A receipt on every invoice: the file the OpenAPI document's
        // example names, so the leak probe has a real object to aim at.
        let key = tenantry::storage::ObjectKey::join([
            "invoices",
            invoice.id.to_string().as_str(),
            "receipt.txt",
        ])?;
        let receipt = format!("Receipt for {}\n", order.customer);
        services.storage.put(&key, receipt.into()).await?;
    }
    // A dead letter, as a failed export would leave: what the jobs page
    // shows, and an id the leak probe can aim at.
    let job = tenantry::jobs::JobEnvelope::new("demo.export", &"invoices.csv")?;
    let id = services.queue.enqueue(&job).await?;
    services
        .queue
        .bury(id, "demo: the export service was unreachable")
        .await?;
    Ok(())
}
