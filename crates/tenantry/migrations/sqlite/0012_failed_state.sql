-- A tenant whose onboarding failed (and was undone) is `failed`. SQLite
-- cannot alter a CHECK, so the table is rebuilt as in 0009.
CREATE TABLE tenants_new (
    id              TEXT PRIMARY KEY CHECK (id <> '00000000-0000-0000-0000-000000000000'),
    slug            TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    plan            TEXT NOT NULL CHECK (length(plan) BETWEEN 1 AND 40
                                         AND plan GLOB '[a-z]*'
                                         AND NOT plan GLOB '*[^a-z0-9_-]*'),
    tier            TEXT NOT NULL CHECK (tier IN ('shared', 'schema', 'database')),
    state           TEXT NOT NULL CHECK (state IN ('provisioning', 'active', 'suspended', 'failed', 'deleting', 'deleted')),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    canary          INTEGER NOT NULL DEFAULT 0 CHECK (canary IN (0, 1)),
    database_server TEXT
) STRICT;
INSERT INTO tenants_new (id, slug, name, plan, tier, state, created_at, updated_at, canary, database_server)
    SELECT id, slug, name, plan, tier, state, created_at, updated_at, canary, database_server FROM tenants;
DROP TABLE tenants;
ALTER TABLE tenants_new RENAME TO tenants;
