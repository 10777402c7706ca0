-- Tenant plane of the reference app (shared tier, schema "public").
-- Every table: tenant_id on every row, RLS enabled AND forced, one policy
-- that both filters reads (USING) and refuses foreign writes (WITH CHECK).

CREATE TABLE users (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL DEFAULT tenantry_current_tenant(),
    email       text NOT NULL,
    name        text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, email)
);

-- Per-tenant sequences (order and invoice numbers start at 1 for every tenant).
CREATE TABLE counters (
    tenant_id   uuid NOT NULL DEFAULT tenantry_current_tenant(),
    name        text NOT NULL,
    value       bigint NOT NULL,
    PRIMARY KEY (tenant_id, name)
);

CREATE TABLE orders (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL DEFAULT tenantry_current_tenant(),
    number      bigint NOT NULL,
    customer    text NOT NULL,
    total_cents bigint NOT NULL CHECK (total_cents >= 0),
    status      text NOT NULL CHECK (status IN ('open', 'paid', 'cancelled')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, number),
    -- Target of the invoices' composite key below.
    UNIQUE (tenant_id, id)
);
CREATE INDEX orders_tenant_number_idx ON orders (tenant_id, number DESC);

CREATE TABLE invoices (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL DEFAULT tenantry_current_tenant(),
    order_id      uuid NOT NULL,
    number        bigint NOT NULL,
    amount_cents  bigint NOT NULL CHECK (amount_cents >= 0),
    status        text NOT NULL CHECK (status IN ('open', 'paid')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    paid_at       timestamptz,
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, order_id),
    -- Foreign-key checks bypass RLS: keying on (tenant_id, order_id) makes a
    -- reference to another tenant's order impossible, not merely filtered.
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE RESTRICT
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['users', 'counters', 'orders', 'invoices'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I
                 USING (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)
                 WITH CHECK (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)', t);
    END LOOP;
END $$;
