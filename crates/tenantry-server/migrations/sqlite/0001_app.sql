-- Tenant plane of the reference app (shared.db). SQLite has no row-level
-- security: reads filter on tenantry_current_tenant() in the repositories,
-- and tenantry's migration runner adds triggers to every table with a
-- tenant_id column that refuse any write touching another tenant's rows.

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    email       TEXT NOT NULL,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'member')),
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, email)
) STRICT;

CREATE TABLE counters (
    tenant_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    value       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT;

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    number      INTEGER NOT NULL,
    customer    TEXT NOT NULL,
    total_cents INTEGER NOT NULL CHECK (total_cents >= 0),
    status      TEXT NOT NULL CHECK (status IN ('open', 'paid', 'cancelled')),
    created_at  INTEGER NOT NULL,
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, id)
) STRICT;

CREATE TABLE invoices (
    id            TEXT PRIMARY KEY,
    tenant_id     TEXT NOT NULL,
    order_id      TEXT NOT NULL,
    number        INTEGER NOT NULL,
    amount_cents  INTEGER NOT NULL CHECK (amount_cents >= 0),
    status        TEXT NOT NULL CHECK (status IN ('open', 'paid')),
    created_at    INTEGER NOT NULL,
    paid_at       INTEGER,
    UNIQUE (tenant_id, number),
    UNIQUE (tenant_id, order_id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE RESTRICT
) STRICT;
