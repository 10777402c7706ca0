-- A tenant whose onboarding failed (and was undone) is `failed`.
ALTER TABLE tenantry.tenants DROP CONSTRAINT IF EXISTS tenants_state_check;
ALTER TABLE tenantry.tenants ADD CONSTRAINT tenants_state_check
    CHECK (state IN ('provisioning', 'active', 'suspended', 'failed', 'deleting', 'deleted'));
