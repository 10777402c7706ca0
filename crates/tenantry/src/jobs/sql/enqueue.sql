-- A batch of jobs, one statement. Parallel arrays: $1 owners, $2 lanes,
-- $3 kinds, $4 payloads, $5 priorities, $6 delays (ms), $7 idempotency
-- keys, $8 max attempts, $9 enqueuing requests' ids, $10 the tenants'
-- default weights (by plan; used when a tenant is first seen in a lane),
-- $11 the enqueuing spans (`traceparent`s).
--
-- * `numbered`: each input row gets its job id up front, so the result can
--   say which input became which job;
-- * `room`: the tenant is below its backlog maximum (checked, not locked:
--   concurrent enqueues may overshoot by their batch);
-- * `inserted`: the jobs, except those whose idempotency key was seen;
-- * `counted`: the tenants' queued counts. A tenant with nothing queued or
--   running rejoins just ahead of the lowest pass of the tenants waiting:
--   its first job is the next dispatched, however deep their backlogs, and
--   it gains no more than that one place (idle time is not credit). Rows
--   are taken in one order so concurrent batches cannot deadlock;
-- * `woken`: a NOTIFY per lane where a tenant had nothing queued, so idle
--   workers start at once; busy ones find the jobs on their next claim.
--
-- One row per input: its position, the new job's id, the id of the job
-- queued earlier under the same key, whether its tenant had room and its
-- maximum backlog.
WITH numbered AS MATERIALIZED (
    SELECT i.*, nextval('tenantry.jobs_id_seq') AS id
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::jsonb[], $5::smallint[],
                $6::bigint[], $7::text[], $8::int[], $9::text[], $10::int[], $11::text[])
         WITH ORDINALITY AS i(owner, lane, kind, payload, priority, delay_ms, key, max_attempts, request_id, weight, trace_parent, n)
), room AS (
    SELECT n.n, coalesce(t.queued < t.max_backlog, true) AS ok, coalesce(t.max_backlog, 0) AS max_backlog
    FROM numbered n
    LEFT JOIN tenantry.job_tenants t ON t.owner = n.owner AND t.lane = n.lane
), inserted AS (
    INSERT INTO tenantry.jobs (id, owner, lane, kind, payload, priority, run_at, idempotency_key, max_attempts, request_id, trace_parent)
    SELECT n.id, n.owner, n.lane, n.kind, n.payload, n.priority,
           now() + n.delay_ms * interval '1 millisecond', n.key, n.max_attempts, n.request_id, n.trace_parent
    FROM numbered n JOIN room r ON r.n = n.n
    WHERE r.ok
    ORDER BY n.n
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, owner, lane
), counted AS (
    INSERT INTO tenantry.job_tenants AS t (owner, lane, pass, queued, weight)
    SELECT i.owner, i.lane,
           coalesce((SELECT min(w.pass) - 1 FROM tenantry.job_tenants w
                     WHERE w.lane = i.lane AND w.queued > 0 AND NOT w.paused), 0),
           count(*)::int, max(n.weight)
    FROM inserted i JOIN numbered n ON n.id = i.id
    GROUP BY i.owner, i.lane
    ORDER BY i.owner, i.lane
    ON CONFLICT (owner, lane) DO UPDATE
        SET pass = CASE WHEN t.queued = 0 AND t.running = 0
                        THEN greatest(t.pass, excluded.pass) ELSE t.pass END,
            queued = t.queued + excluded.queued
    RETURNING t.owner, t.lane, t.queued
), woken AS (
    SELECT pg_notify('tenantry_jobs', lane) FROM (
        SELECT DISTINCT c.lane FROM counted c
        JOIN (SELECT owner, lane, count(*) AS n FROM inserted GROUP BY owner, lane) added
          ON added.owner = c.owner AND added.lane = c.lane
        WHERE c.queued = added.n
    ) idle
)
SELECT n.n, i.id,
       (SELECT e.id FROM tenantry.jobs e
        WHERE n.key IS NOT NULL AND e.owner = n.owner AND e.idempotency_key = n.key) AS earlier,
       r.ok, r.max_backlog,
       (SELECT count(*) FROM woken) AS woken
FROM numbered n
JOIN room r ON r.n = n.n
LEFT JOIN inserted i ON i.id = n.id
ORDER BY n.n
