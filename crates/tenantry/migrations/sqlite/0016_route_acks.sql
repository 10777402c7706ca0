-- Which server processes are alive, and which route version of each moving
-- tenant each one serves: a tier move trusts a new route only once every
-- live process has acknowledged it.
CREATE TABLE server_processes (
    name     TEXT PRIMARY KEY,
    seen_at  INTEGER NOT NULL
) STRICT;
CREATE TABLE route_acks (
    process  TEXT NOT NULL REFERENCES server_processes (name) ON DELETE CASCADE,
    owner    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (process, owner)
) STRICT;
