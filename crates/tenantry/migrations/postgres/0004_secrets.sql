-- Per-tenant secrets: each tenant's data key (wrapped by the master key)
-- and its secrets sealed under it. Deleting a tenant row takes both.
-- The column is `owner`, not `tenant_id`: these are control-plane rows,
-- read across tenants (re-wrapping), not tenant rows under RLS or guards.
CREATE TABLE tenant_data_keys (
    owner      uuid PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    master_key_id  text NOT NULL,
    wrapped        bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tenant_secrets (
    owner      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (name ~ '^[a-z0-9_.-]{1,64}$'),
    ciphertext     bytea NOT NULL,
    last4          text NOT NULL,
    updated_at_ms  bigint NOT NULL,
    PRIMARY KEY (owner, name)
);
