-- $1 owner, $2 lane, $3 kind, $4 payload, $5 priority, $6 delay (ms),
-- $7 idempotency key, $8 max attempts, $9 the enqueuing request's id. One statement, one round trip:
--
-- * `room`: the tenant is below its backlog maximum (checked, not locked:
--   concurrent enqueues may overshoot by their number);
-- * `inserted`: the job, unless its idempotency key was seen before;
-- * `counted`: one more queued job for the tenant. A tenant with nothing
--   queued or running rejoins just ahead of the lowest pass of the tenants
--   waiting: its first job is the next dispatched, however deep their
--   backlogs, and it gains no more than that one place (idle time is not
--   credit);
-- * `woken`: a NOTIFY when the tenant had nothing queued, so idle workers
--   start at once; busy workers find the job on their next claim anyway.
--
-- One row: whether there was room, the new job's id, the id of the job
-- queued earlier under the same key.
WITH room AS (
    SELECT coalesce((SELECT t.queued < t.max_backlog FROM tenantry.job_tenants t
                     WHERE t.owner = $1 AND t.lane = $2), true) AS ok
), inserted AS (
    INSERT INTO tenantry.jobs (owner, lane, kind, payload, priority, run_at, idempotency_key, max_attempts, request_id)
    SELECT $1, $2, $3, $4, $5, now() + $6::bigint * interval '1 millisecond', $7, $8, $9
    FROM room WHERE room.ok
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id
), counted AS (
    INSERT INTO tenantry.job_tenants AS t (owner, lane, pass, queued)
    SELECT $1, $2, coalesce((SELECT min(pass) - 1 FROM tenantry.job_tenants
                             WHERE lane = $2 AND queued > 0 AND NOT paused), 0), 1
    FROM inserted
    ON CONFLICT (owner, lane) DO UPDATE
        SET pass = CASE WHEN t.queued = 0 AND t.running = 0
                        THEN greatest(t.pass, excluded.pass) ELSE t.pass END,
            queued = t.queued + 1
    RETURNING t.queued
), woken AS (
    SELECT pg_notify('tenantry_jobs', $2) FROM counted WHERE counted.queued = 1 AND $6::bigint = 0
)
SELECT room.ok,
       (SELECT id FROM inserted) AS id,
       (SELECT j.id FROM tenantry.jobs j
        WHERE $7::text IS NOT NULL AND j.owner = $1 AND j.idempotency_key = $7) AS earlier,
       (SELECT count(*) FROM woken) AS woken,
       (SELECT t.max_backlog FROM tenantry.job_tenants t WHERE t.owner = $1 AND t.lane = $2) AS max_backlog
FROM room
