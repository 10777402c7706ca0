-- Control plane: the tenant registry. Applied to schema "tenantry".
CREATE TABLE tenants (
    id          uuid PRIMARY KEY CHECK (id <> '00000000-0000-0000-0000-000000000000'),
    slug        text NOT NULL UNIQUE,
    name        text NOT NULL,
    plan        text NOT NULL CHECK (plan IN ('free', 'pro', 'enterprise')),
    tier        text NOT NULL CHECK (tier IN ('shared', 'schema', 'database')),
    state       text NOT NULL CHECK (state IN ('provisioning', 'active', 'suspended', 'deleting', 'deleted')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- A domain belongs to exactly one tenant: the primary key makes that global.
CREATE TABLE tenant_domains (
    domain  text PRIMARY KEY CHECK (domain = lower(domain)),
    owner   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE
);
CREATE INDEX tenant_domains_owner_idx ON tenant_domains (owner);
