-- Plans are the app's names (see tenantry::plans), not a fixed three.
ALTER TABLE tenantry.tenants DROP CONSTRAINT IF EXISTS tenants_plan_check;
ALTER TABLE tenantry.tenants ADD CONSTRAINT tenants_plan_name
    CHECK (plan ~ '^[a-z][a-z0-9_-]{0,39}$');
