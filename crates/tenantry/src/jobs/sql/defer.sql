-- $1 job id, $2 delay (ms): put a claimed job back without counting the
-- attempt (its tenant cannot run jobs now: suspended or provisioning).
WITH again AS (
    UPDATE tenantry.jobs
    SET state = 'queued', worker = NULL, lease_until = NULL,
        attempts = greatest(attempts - 1, 0),
        run_at = now() + $2::bigint * interval '1 millisecond'
    WHERE id = $1 AND state = 'running'
    RETURNING owner, lane
)
UPDATE tenantry.job_tenants t SET running = t.running - 1, queued = t.queued + 1
FROM again WHERE t.owner = again.owner AND t.lane = again.lane
