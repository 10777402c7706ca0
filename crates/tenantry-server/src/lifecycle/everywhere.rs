//! Changes of a tenant's record that every serving process must have
//! taken up before a workflow goes on (see `tenantry::fence`): each waits
//! for the live processes' acknowledgements and fails naming the ones
//! that did not give theirs.

use crate::error::{Doing as _, ServerError};
use tenantry::context::TenantId;
use tenantry::registry::{RegistryError, TenantRecord};

use crate::services::Services;

/// Makes `change` (a registry write: a state, plan or route) and waits
/// until every live serving process serves the record it returns — for a
/// held tenant: refused everywhere, nothing of it in flight anywhere.
pub(crate) async fn applied(
    services: &Services,
    change: impl Future<Output = Result<TenantRecord, RegistryError>>,
) -> Result<TenantRecord, ServerError> {
    let record = change.await?;
    acknowledged(services, &record).await?;
    Ok(record)
}

/// Tenant `id`'s record as the control plane has it now (this process's
/// copy replaced), once every live serving process serves it.
pub(crate) async fn current(
    services: &Services,
    id: TenantId,
) -> Result<TenantRecord, ServerError> {
    let record = services
        .tenants
        .refresh(id)
        .await?
        .as_deref()
        .cloned()
        .doing(|| format!("tenant {id} is not registered"))?;
    acknowledged(services, &record).await?;
    Ok(record)
}

/// Waits until every live serving process has acknowledged `record`'s
/// version.
async fn acknowledged(services: &Services, record: &TenantRecord) -> Result<(), ServerError> {
    if record.route_version == 0 {
        // Never changed in a way a process must acknowledge.
        return Ok(());
    }
    let timing = services.acknowledger.timing();
    let wait = || {
        tenantry::fence::acknowledged(
            &*services.route_acks,
            record.id,
            record.route_version,
            &timing,
        )
    };
    match wait().await {
        Err(tenantry::fence::NotAcknowledged::Lagging { processes, .. })
            if processes.iter().any(|p| crate::process::is_dead_here(p)) =>
        {
            // Some of them died on this machine without signing off: they
            // hold nothing, so they are not waited for to their lease.
            crate::process::forget_dead_here(&*services.route_acks).await;
            wait().await?;
        }
        done => done?,
    }
    Ok(())
}
