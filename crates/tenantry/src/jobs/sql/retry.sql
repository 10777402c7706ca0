-- $1 job id, $2 error, $3 backoff (ms): queued again after the backoff.
WITH again AS (
    UPDATE tenantry.jobs
    SET state = 'queued', worker = NULL, lease_until = NULL, last_error = $2,
        run_at = now() + $3::bigint * interval '1 millisecond'
    WHERE id = $1 AND state = 'running'
    RETURNING owner, lane
)
UPDATE tenantry.job_tenants t SET running = t.running - 1, queued = t.queued + 1
FROM again WHERE t.owner = again.owner AND t.lane = again.lane
