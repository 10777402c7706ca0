-- A tier move in progress: while `moving_to` is set, the tenant's writes
-- go to its tier and are mirrored to `moving_to` (reads stay on its tier).
-- `route_version` grows with every change of where the tenant's
-- statements go, so server processes can say which route they have seen.
ALTER TABLE tenants ADD COLUMN moving_to TEXT
    CHECK (moving_to IN ('shared', 'schema', 'database'));
ALTER TABLE tenants ADD COLUMN route_version INTEGER NOT NULL DEFAULT 0;
