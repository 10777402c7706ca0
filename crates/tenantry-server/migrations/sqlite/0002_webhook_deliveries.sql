-- Each webhook delivery attempt, for the tenant's delivery log.
CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL,
    job_id       INTEGER NOT NULL,
    event        TEXT NOT NULL,
    url          TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    created_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_deliveries_tenant_idx ON webhook_deliveries (tenant_id, created_at DESC);
