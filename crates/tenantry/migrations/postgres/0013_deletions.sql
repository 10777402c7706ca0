-- The record of each deleted tenant, kept by the system tenant: who asked,
-- when, what each store held when it was cleared, and the time after which
-- no backup holds the tenant any more. No foreign key: it outlives the
-- rows it describes.
CREATE TABLE tenant_deletions (
    owner                uuid PRIMARY KEY,
    slug                 text NOT NULL,
    requested_by         text NOT NULL,
    requested_at         timestamptz NOT NULL,
    finished_at          timestamptz,
    backups_clear_after  timestamptz,
    removed              jsonb NOT NULL DEFAULT '{}'
);
