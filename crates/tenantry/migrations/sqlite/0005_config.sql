-- Per-tenant settings (one JSON document) and feature-flag overrides.
-- Flags have their own rows so an admin toggling a flag and another saving
-- settings never overwrite each other.
CREATE TABLE tenant_settings (
    owner          TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    settings       TEXT NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE tenant_flags (
    owner          TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    flag           TEXT NOT NULL,
    enabled        INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    updated_at     INTEGER NOT NULL,
    PRIMARY KEY (owner, flag)
) STRICT;
