-- A tier move in progress: while `moving_to` is set, the tenant's writes
-- go to its tier and are mirrored to `moving_to` (reads stay on its tier).
-- `route_version` grows with every change of where the tenant's
-- statements go, so server processes can say which route they have seen.
ALTER TABLE tenantry.tenants
    ADD COLUMN moving_to text CHECK (moving_to IN ('shared', 'schema', 'database')),
    ADD COLUMN route_version bigint NOT NULL DEFAULT 0;
