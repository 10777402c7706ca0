-- Lifecycle workflows: an ordered list of named steps for one tenant, each
-- step's progress persisted so a restarted process resumes where the last
-- one stopped. No foreign key to `tenants`: a workflow's record outlives
-- whatever the workflow removes.
CREATE TABLE workflows (
    id           bigserial PRIMARY KEY,
    owner        uuid NOT NULL,
    kind         text NOT NULL,
    state        text NOT NULL DEFAULT 'running'
                 CHECK (state IN ('running', 'succeeded', 'compensating', 'failed', 'cancelled')),
    input        jsonb NOT NULL DEFAULT '{}',
    error        text,
    requested_by text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);
-- One workflow at a time per tenant: a second start conflicts here.
CREATE UNIQUE INDEX workflows_one_live_per_tenant ON workflows (owner)
    WHERE state IN ('running', 'compensating');
CREATE INDEX workflows_by_owner ON workflows (owner, id DESC);

CREATE TABLE workflow_steps (
    workflow_id  bigint NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    position     integer NOT NULL CHECK (position >= 0),
    name         text NOT NULL,
    state        text NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'running', 'done', 'failed', 'compensating', 'compensated')),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    started_at   timestamptz,
    finished_at  timestamptz,
    deadline_at  timestamptz,
    PRIMARY KEY (workflow_id, position)
);
