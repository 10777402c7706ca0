-- $1 owner, $2 lane: one more queued job. A tenant with nothing queued or
-- running rejoins just ahead of the lowest pass of the tenants waiting:
-- its first job is the next one dispatched, however deep their backlogs
-- (behind them it would wait for all of them), and it gains no more than
-- that one place (idle time is not credit).
INSERT INTO tenantry.job_tenants AS t (owner, lane, pass, queued)
VALUES ($1, $2, coalesce((SELECT min(pass) - 1 FROM tenantry.job_tenants
                          WHERE lane = $2 AND queued > 0 AND NOT paused), 0), 1)
ON CONFLICT (owner, lane) DO UPDATE
    SET pass = CASE WHEN t.queued = 0 AND t.running = 0
                    THEN greatest(t.pass, excluded.pass) ELSE t.pass END,
        queued = t.queued + 1
