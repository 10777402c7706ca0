-- Per-tenant settings (one JSON document) and feature-flag overrides.
-- Flags have their own rows so an admin toggling a flag and another saving
-- settings never overwrite each other.
CREATE TABLE tenant_settings (
    owner          uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    settings       jsonb NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenant_flags (
    owner          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    flag           text NOT NULL,
    enabled        boolean NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner, flag)
);
