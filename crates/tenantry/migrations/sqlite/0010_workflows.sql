-- Lifecycle workflows: an ordered list of named steps for one tenant, each
-- step's progress persisted so a restarted process resumes where the last
-- one stopped. No foreign key to `tenants`: a workflow's record outlives
-- whatever the workflow removes. Times are Unix milliseconds.
CREATE TABLE workflows (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    owner        TEXT NOT NULL,
    kind         TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'running'
                 CHECK (state IN ('running', 'succeeded', 'compensating', 'failed', 'cancelled')),
    input        TEXT NOT NULL DEFAULT '{}',
    error        TEXT,
    requested_by TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    finished_at  INTEGER
) STRICT;
-- One workflow at a time per tenant: a second start conflicts here.
CREATE UNIQUE INDEX workflows_one_live_per_tenant ON workflows (owner)
    WHERE state IN ('running', 'compensating');
CREATE INDEX workflows_by_owner ON workflows (owner, id DESC);

CREATE TABLE workflow_steps (
    workflow_id  INTEGER NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    position     INTEGER NOT NULL CHECK (position >= 0),
    name         TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'running', 'done', 'failed', 'compensating', 'compensated')),
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    started_at   INTEGER,
    finished_at  INTEGER,
    deadline_at  INTEGER,
    PRIMARY KEY (workflow_id, position)
) STRICT;
