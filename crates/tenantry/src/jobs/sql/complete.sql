-- $1 job id: done; removed, and its tenant's running count released.
WITH done AS (
    DELETE FROM tenantry.jobs WHERE id = $1 AND state = 'running' RETURNING owner, lane
)
UPDATE tenantry.job_tenants t SET running = t.running - 1
FROM done WHERE t.owner = done.owner AND t.lane = done.lane
