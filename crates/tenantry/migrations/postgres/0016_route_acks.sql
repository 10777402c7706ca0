-- Which server processes are alive, and which route version of each moving
-- tenant each one serves: a tier move trusts a new route only once every
-- live process has acknowledged it.
CREATE TABLE server_processes (
    name     text PRIMARY KEY,
    seen_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE route_acks (
    process  text NOT NULL REFERENCES server_processes (name) ON DELETE CASCADE,
    owner    uuid NOT NULL,
    version  bigint NOT NULL,
    PRIMARY KEY (process, owner)
);
