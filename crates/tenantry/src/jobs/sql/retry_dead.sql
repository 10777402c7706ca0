-- $1 dead job id, $2 owner (NULL: any): queued again with fresh attempts,
-- under its old id. The tenant's pass is treated as on any enqueue.
WITH revived AS (
    DELETE FROM tenantry.dead_jobs WHERE id = $1 AND ($2::uuid IS NULL OR owner = $2)
    RETURNING id, owner, lane, kind, payload
), requeued AS (
    INSERT INTO tenantry.jobs (id, owner, lane, kind, payload)
    SELECT id, owner, lane, kind, payload FROM revived
    RETURNING owner, lane
), counted AS (
    INSERT INTO tenantry.job_tenants AS t (owner, lane, pass, queued)
    SELECT r.owner, r.lane, coalesce((SELECT min(pass) - 1 FROM tenantry.job_tenants
                                      WHERE lane = r.lane AND queued > 0 AND NOT paused), 0), 1
    FROM requeued r
    ON CONFLICT (owner, lane) DO UPDATE
        SET pass = CASE WHEN t.queued = 0 AND t.running = 0
                        THEN greatest(t.pass, excluded.pass) ELSE t.pass END,
            queued = t.queued + 1
    RETURNING t.queued
)
SELECT count(*) FROM counted
