-- Per-tenant secrets: each tenant's data key (wrapped by the master key)
-- and its secrets sealed under it. Deleting a tenant row takes both.
-- The column is `owner`, not `tenant_id`: these are control-plane rows,
-- read across tenants (re-wrapping), not tenant rows under RLS or guards.
CREATE TABLE tenant_data_keys (
    owner      TEXT PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    master_key_id  TEXT NOT NULL,
    wrapped        BLOB NOT NULL,
    created_at     INTEGER NOT NULL
) STRICT;

CREATE TABLE tenant_secrets (
    owner      TEXT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name           TEXT NOT NULL,
    ciphertext     BLOB NOT NULL,
    last4          TEXT NOT NULL,
    updated_at_ms  INTEGER NOT NULL,
    PRIMARY KEY (owner, name)
) STRICT;
