-- Per-tenant job rate limits and backlog caps, and the record of cron ticks.
-- A rate-limited tenant's next job may start at `tat` (its theoretical
-- arrival time, GCRA); `rate_interval_ms` is NULL for no limit.
ALTER TABLE job_tenants
    ADD COLUMN rate_interval_ms bigint CHECK (rate_interval_ms > 0),
    ADD COLUMN tat timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN max_backlog integer NOT NULL DEFAULT 100000 CHECK (max_backlog >= 0);

-- The request that enqueued a job, so its logs and its outbound calls name it.
ALTER TABLE jobs ADD COLUMN request_id text;

-- One row per schedule and tick, written in the same transaction as the
-- tick's jobs: whichever process records it first enqueues, once.
CREATE TABLE cron_ticks (
    schedule    text NOT NULL,
    tick        bigint NOT NULL,
    jobs        integer NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule, tick)
);

-- A scheduler row is rewritten on every claim and completion: vacuum it
-- often, whatever its size, and leave room on its pages for the new
-- versions. The job table churns too.
ALTER TABLE job_tenants SET (fillfactor = 50, autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000);
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02);
