-- A lane of its own for lifecycle workflow steps. SQLite cannot alter a
-- CHECK constraint: the table is rebuilt (its documented procedure), its
-- AUTOINCREMENT counter carried over so no job id is ever reused.
CREATE TABLE jobs_new (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    owner            TEXT NOT NULL,
    lane             TEXT NOT NULL CHECK (lane IN ('interactive', 'batch', 'lifecycle')),
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
    created_at       INTEGER NOT NULL,
    request_id       TEXT,
    trace_parent     TEXT CHECK (length(trace_parent) <= 64)
) STRICT;
INSERT INTO jobs_new (id, owner, lane, kind, payload, priority, state, run_at, attempts,
                      max_attempts, lease_until, worker, idempotency_key, last_error,
                      created_at, request_id, trace_parent)
    SELECT id, owner, lane, kind, payload, priority, state, run_at, attempts,
           max_attempts, lease_until, worker, idempotency_key, last_error,
           created_at, request_id, trace_parent
      FROM jobs;
DELETE FROM sqlite_sequence WHERE name = 'jobs_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_new', seq FROM sqlite_sequence WHERE name = 'jobs';
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_ready_idx ON jobs (owner, lane, priority DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_leases_idx ON jobs (lease_until) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_idempotency_idx ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;
