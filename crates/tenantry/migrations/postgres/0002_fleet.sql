-- Fleet migrations: canary ("edge") tenants migrate first, and every
-- target's last result is kept for `tenantry migrate status`.
ALTER TABLE tenants ADD COLUMN canary boolean NOT NULL DEFAULT false;

CREATE TABLE migration_targets (
    target      text PRIMARY KEY,
    owner       uuid REFERENCES tenants (id) ON DELETE SET NULL,
    version     bigint,
    state       text NOT NULL CHECK (state IN ('ok', 'failed')),
    error       text,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
