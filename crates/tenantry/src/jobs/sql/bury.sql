-- $1 job id, $2 reason: moved to the dead letters, whatever its state.
WITH gone AS (
    DELETE FROM tenantry.jobs WHERE id = $1
    RETURNING id, owner, lane, kind, payload, attempts, state
), buried AS (
    INSERT INTO tenantry.dead_jobs (id, owner, lane, kind, payload, attempts, reason)
    SELECT id, owner, lane, kind, payload, attempts, $2 FROM gone
)
UPDATE tenantry.job_tenants t
SET running = t.running - (gone.state = 'running')::int,
    queued = t.queued - (gone.state = 'queued')::int
FROM gone WHERE t.owner = gone.owner AND t.lane = gone.lane
