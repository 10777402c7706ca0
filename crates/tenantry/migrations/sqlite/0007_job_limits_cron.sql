-- Per-tenant job rate limits and backlog caps, and the record of cron ticks
-- (see the PostgreSQL migration of the same number).
ALTER TABLE job_tenants ADD COLUMN rate_interval_ms INTEGER CHECK (rate_interval_ms > 0);
ALTER TABLE job_tenants ADD COLUMN tat INTEGER NOT NULL DEFAULT 0;
ALTER TABLE job_tenants ADD COLUMN max_backlog INTEGER NOT NULL DEFAULT 100000 CHECK (max_backlog >= 0);
ALTER TABLE jobs ADD COLUMN request_id TEXT;

CREATE TABLE cron_ticks (
    schedule    TEXT NOT NULL,
    tick        INTEGER NOT NULL,
    jobs        INTEGER NOT NULL,
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (schedule, tick)
) STRICT;
