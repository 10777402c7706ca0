-- Jobs whose lease ran out (their worker died) are queued again now.
WITH expired AS (
    UPDATE tenantry.jobs
    SET state = 'queued', worker = NULL, lease_until = NULL, run_at = now(),
        last_error = 'lease expired (worker lost)'
    WHERE state = 'running' AND lease_until < now()
    RETURNING owner, lane
), per_tenant AS (
    SELECT owner, lane, count(*)::int AS n FROM expired GROUP BY owner, lane
), fixed AS (
    UPDATE tenantry.job_tenants t SET running = t.running - p.n, queued = t.queued + p.n
    FROM per_tenant p WHERE t.owner = p.owner AND t.lane = p.lane
)
SELECT owner FROM expired
