-- The job queue (see the PostgreSQL migration of the same number). Times
-- are Unix milliseconds.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    owner            TEXT NOT NULL,
    lane             TEXT NOT NULL CHECK (lane IN ('interactive', 'batch')),
    kind             TEXT NOT NULL,
    payload          TEXT NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0,
    state            TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running')),
    run_at           INTEGER NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 5,
    lease_until      INTEGER,
    worker           TEXT,
    idempotency_key  TEXT,
    last_error       TEXT,
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX jobs_ready_idx ON jobs (owner, lane, priority DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_leases_idx ON jobs (lease_until) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_idempotency_idx ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE job_tenants (
    owner     TEXT NOT NULL,
    lane      TEXT NOT NULL,
    pass      INTEGER NOT NULL DEFAULT 0,
    weight    INTEGER NOT NULL DEFAULT 1 CHECK (weight > 0),
    cap       INTEGER NOT NULL DEFAULT 4 CHECK (cap > 0),
    queued    INTEGER NOT NULL DEFAULT 0,
    running   INTEGER NOT NULL DEFAULT 0,
    paused    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (owner, lane)
) STRICT;
CREATE INDEX job_tenants_pick_idx ON job_tenants (lane, pass, owner) WHERE queued > 0 AND NOT paused;

CREATE TABLE dead_jobs (
    id          INTEGER PRIMARY KEY,
    owner       TEXT,
    lane        TEXT NOT NULL,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    attempts    INTEGER NOT NULL,
    reason      TEXT NOT NULL,
    died_at     INTEGER NOT NULL
) STRICT;
