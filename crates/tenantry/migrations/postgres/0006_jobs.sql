-- The job queue. Every job has an owner tenant (the system tenant's id for
-- cross-tenant work); `job_tenants` holds each tenant's place in the fair
-- scheduler per lane: its pass (stride scheduling), weight, concurrency cap,
-- counts of queued and running jobs, and whether it is paused.
CREATE TABLE jobs (
    id               bigserial PRIMARY KEY,
    owner            uuid NOT NULL,
    lane             text NOT NULL CHECK (lane IN ('interactive', 'batch')),
    kind             text NOT NULL,
    payload          jsonb NOT NULL,
    priority         smallint NOT NULL DEFAULT 0,
    state            text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running')),
    run_at           timestamptz NOT NULL DEFAULT now(),
    attempts         integer NOT NULL DEFAULT 0,
    max_attempts     integer NOT NULL DEFAULT 5,
    lease_until      timestamptz,
    worker           text,
    idempotency_key  text,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_ready_idx ON jobs (owner, lane, priority DESC, id) WHERE state = 'queued';
CREATE INDEX jobs_leases_idx ON jobs (lease_until) WHERE state = 'running';
CREATE UNIQUE INDEX jobs_idempotency_idx ON jobs (owner, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE job_tenants (
    owner     uuid NOT NULL,
    lane      text NOT NULL,
    pass      bigint NOT NULL DEFAULT 0,
    weight    integer NOT NULL DEFAULT 1 CHECK (weight > 0),
    cap       integer NOT NULL DEFAULT 4 CHECK (cap > 0),
    queued    integer NOT NULL DEFAULT 0,
    running   integer NOT NULL DEFAULT 0,
    paused    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (owner, lane)
);
CREATE INDEX job_tenants_pick_idx ON job_tenants (lane, pass, owner) WHERE queued > 0 AND NOT paused;

CREATE TABLE dead_jobs (
    id          bigint PRIMARY KEY,
    owner       uuid,
    lane        text NOT NULL,
    kind        text NOT NULL,
    payload     jsonb NOT NULL,
    attempts    integer NOT NULL,
    reason      text NOT NULL,
    died_at     timestamptz NOT NULL DEFAULT now()
);
