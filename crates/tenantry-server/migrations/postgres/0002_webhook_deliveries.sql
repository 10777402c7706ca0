-- Each webhook delivery attempt, for the tenant's delivery log.
CREATE TABLE webhook_deliveries (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL DEFAULT tenantry_current_tenant(),
    job_id       bigint NOT NULL,
    event        text NOT NULL,
    url          text NOT NULL,
    attempt      integer NOT NULL,
    status_code  integer,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_deliveries_tenant_idx ON webhook_deliveries (tenant_id, created_at DESC);
ALTER TABLE webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE webhook_deliveries FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON webhook_deliveries
    USING (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    WITH CHECK (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
