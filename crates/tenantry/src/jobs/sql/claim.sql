-- $1 lane, $2 lease (ms), $3 worker, $4 stride, $5 most jobs to take.
-- Takes the runnable jobs (best priority first) of the tenant with the
-- lowest pass that is not paused, under its cap and within its rate — as
-- many as its cap leaves room for, up to $5, or one when it is rate
-- limited — and advances its pass by stride / weight for each.
WITH tenant AS (
    SELECT t.owner, t.weight, t.rate_interval_ms, t.cap - t.running AS room
    FROM tenantry.job_tenants t
    WHERE t.lane = $1 AND t.queued > 0 AND NOT t.paused AND t.running < t.cap
      AND (t.rate_interval_ms IS NULL OR t.tat <= now())
      AND EXISTS (SELECT 1 FROM tenantry.jobs j
                  WHERE j.owner = t.owner AND j.lane = t.lane AND j.state = 'queued' AND j.run_at <= now())
    ORDER BY t.pass, t.owner
    LIMIT 1
    FOR UPDATE OF t SKIP LOCKED
), candidates AS (
    SELECT j.id, j.priority FROM tenant CROSS JOIN LATERAL (
        SELECT id, priority FROM tenantry.jobs j
        WHERE j.owner = tenant.owner AND j.lane = $1 AND j.state = 'queued' AND j.run_at <= now()
        ORDER BY j.priority DESC, j.id
        LIMIT $5
        FOR UPDATE SKIP LOCKED
    ) j
), picked AS (
    SELECT c.id FROM (
        SELECT id, row_number() OVER (ORDER BY priority DESC, id) AS n FROM candidates
    ) c, tenant
    WHERE c.n <= CASE WHEN tenant.rate_interval_ms IS NULL THEN tenant.room ELSE 1 END
), claimed AS (
    UPDATE tenantry.jobs j
    SET state = 'running', attempts = j.attempts + 1, worker = $3,
        lease_until = now() + $2::bigint * interval '1 millisecond'
    FROM picked
    WHERE j.id = picked.id
    RETURNING j.id, j.owner, j.lane, j.kind, j.payload, j.attempts, j.max_attempts, j.priority, j.request_id
), advanced AS (
    UPDATE tenantry.job_tenants t
    SET pass = t.pass + c.n * $4::bigint / tenant.weight,
        queued = t.queued - c.n,
        running = t.running + c.n,
        tat = CASE WHEN tenant.rate_interval_ms IS NULL THEN t.tat
                   ELSE greatest(t.tat, now()) + tenant.rate_interval_ms * interval '1 millisecond' END
    FROM tenant, (SELECT count(*)::int AS n FROM claimed) c
    WHERE t.owner = tenant.owner AND t.lane = $1 AND c.n > 0
)
SELECT id, owner, lane, kind, payload, attempts, max_attempts, request_id FROM claimed
ORDER BY priority DESC, id
