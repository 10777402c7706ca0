-- $1 lane, $2 lease (ms), $3 worker, $4 stride. Takes the best runnable job
-- of the tenant with the lowest pass that is not paused and under its cap,
-- and advances that tenant's pass by stride / weight.
WITH pick AS (
    SELECT t.owner, t.weight, j.id
    FROM tenantry.job_tenants t
    CROSS JOIN LATERAL (
        SELECT id FROM tenantry.jobs j
        WHERE j.owner = t.owner AND j.lane = t.lane AND j.state = 'queued' AND j.run_at <= now()
        ORDER BY j.priority DESC, j.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    ) j
    WHERE t.lane = $1 AND t.queued > 0 AND NOT t.paused AND t.running < t.cap
    ORDER BY t.pass, t.owner
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED
), advanced AS (
    UPDATE tenantry.job_tenants t
    SET pass = t.pass + $4::bigint / pick.weight, queued = t.queued - 1, running = t.running + 1
    FROM pick
    WHERE t.owner = pick.owner AND t.lane = $1
)
UPDATE tenantry.jobs j
SET state = 'running', attempts = j.attempts + 1, worker = $3,
    lease_until = now() + $2::bigint * interval '1 millisecond'
FROM pick
WHERE j.id = pick.id
RETURNING j.id, j.owner, j.lane, j.kind, j.payload, j.attempts, j.max_attempts
