-- Fleet migrations: canary ("edge") tenants migrate first.
ALTER TABLE tenants ADD COLUMN canary INTEGER NOT NULL DEFAULT 0 CHECK (canary IN (0, 1));
