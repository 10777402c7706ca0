-- $1 job ids: done; removed, and their tenants' running counts released.
-- Tenant rows are locked in one order, so two workers completing jobs of
-- the same tenants cannot deadlock.
WITH done AS (
    DELETE FROM tenantry.jobs WHERE id = ANY($1) AND state = 'running' RETURNING owner, lane
), per_tenant AS (
    SELECT owner, lane, count(*)::int AS n FROM done GROUP BY owner, lane
), locked AS (
    SELECT t.owner, t.lane FROM tenantry.job_tenants t
    JOIN per_tenant p ON p.owner = t.owner AND p.lane = t.lane
    ORDER BY t.owner, t.lane
    FOR UPDATE OF t
)
UPDATE tenantry.job_tenants t SET running = t.running - p.n
FROM per_tenant p JOIN locked l ON l.owner = p.owner AND l.lane = p.lane
WHERE t.owner = p.owner AND t.lane = p.lane
