-- $1 lane, $2 lease (ms), $3 worker, $4 stride, $5 most jobs to take.
--
-- Takes runnable jobs round-robin from the tenants with the lowest passes
-- (up to $5 tenants) that are not paused, under their caps and within their
-- rates: each tenant's best job first (priority, then age), then each one's
-- second, and so on — no tenant more than its cap leaves room for, a
-- rate-limited one one job — until $5 jobs. Each tenant's pass advances by
-- stride / weight per job it got. Tenant rows are taken with SKIP LOCKED:
-- concurrent claims take other tenants, never wait.
WITH tenant AS (
    SELECT t.owner, t.weight, t.rate_interval_ms, t.pass,
           CASE WHEN t.rate_interval_ms IS NULL THEN t.cap - t.running ELSE 1 END AS room
    FROM tenantry.job_tenants t
    WHERE t.lane = $1 AND t.queued > 0 AND NOT t.paused AND t.running < t.cap
      AND (t.rate_interval_ms IS NULL OR t.tat <= now())
      -- A subplan probed per tenant in pass order, through the ready-jobs
      -- index (its ORDER BY): an EXISTS would be planned as a semi-join
      -- over the whole job table, a bare LIMIT 1 as a sequential scan that
      -- wades through claimed rows.
      AND (SELECT true FROM tenantry.jobs j
           WHERE j.owner = t.owner AND j.lane = t.lane AND j.state = 'queued' AND j.run_at <= now()
           ORDER BY j.priority DESC, j.id
           LIMIT 1)
    ORDER BY t.pass, t.owner
    LIMIT $5
    FOR UPDATE OF t SKIP LOCKED
), candidates AS (
    SELECT tenant.owner, tenant.pass, tenant.room, j.id, j.priority FROM tenant CROSS JOIN LATERAL (
        SELECT id, priority FROM tenantry.jobs j
        WHERE j.owner = tenant.owner AND j.lane = $1 AND j.state = 'queued' AND j.run_at <= now()
        ORDER BY j.priority DESC, j.id
        LIMIT $5
        FOR UPDATE SKIP LOCKED
    ) j
), picked AS (
    SELECT id FROM (
        SELECT c.id, c.pass, c.owner, c.room,
               row_number() OVER (PARTITION BY c.owner ORDER BY c.priority DESC, c.id) AS turn
        FROM candidates c
    ) r
    WHERE r.turn <= r.room
    ORDER BY r.turn, r.pass, r.owner
    LIMIT $5
), claimed AS (
    UPDATE tenantry.jobs j
    SET state = 'running', attempts = j.attempts + 1, worker = $3,
        lease_until = now() + $2::bigint * interval '1 millisecond'
    FROM picked
    WHERE j.id = picked.id
    RETURNING j.id, j.owner, j.lane, j.kind, j.payload, j.attempts, j.max_attempts, j.priority, j.request_id, j.trace_parent,
              greatest(0, (extract(epoch FROM now() - j.run_at) * 1000))::bigint AS waited_ms
), per_tenant AS (
    SELECT owner, count(*)::int AS n FROM claimed GROUP BY owner
), advanced AS (
    UPDATE tenantry.job_tenants t
    SET pass = t.pass + p.n * $4::bigint / tenant.weight,
        queued = t.queued - p.n,
        running = t.running + p.n,
        tat = CASE WHEN tenant.rate_interval_ms IS NULL THEN t.tat
                   ELSE greatest(t.tat, now()) + tenant.rate_interval_ms * interval '1 millisecond' END
    FROM per_tenant p JOIN tenant ON tenant.owner = p.owner
    WHERE t.owner = p.owner AND t.lane = $1
)
SELECT id, owner, lane, kind, payload, attempts, max_attempts, request_id, trace_parent, waited_ms FROM claimed
ORDER BY owner, priority DESC, id
