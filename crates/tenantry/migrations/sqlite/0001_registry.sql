-- Control plane: the tenant registry (control.db).
CREATE TABLE tenants (
    id          TEXT PRIMARY KEY CHECK (id <> '00000000-0000-0000-0000-000000000000'),
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    plan        TEXT NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
    tier        TEXT NOT NULL CHECK (tier IN ('shared', 'schema', 'database')),
    state       TEXT NOT NULL CHECK (state IN ('provisioning', 'active', 'suspended', 'deleting', 'deleted')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE tenant_domains (
    domain  TEXT PRIMARY KEY CHECK (domain = lower(domain)),
    owner   TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
) STRICT;
CREATE INDEX tenant_domains_owner_idx ON tenant_domains (owner);
