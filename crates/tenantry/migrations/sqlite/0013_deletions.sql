-- The record of each deleted tenant, kept by the system tenant: who asked,
-- when, what each store held when it was cleared, and the time after which
-- no backup holds the tenant any more. No foreign key: it outlives the
-- rows it describes.
CREATE TABLE tenant_deletions (
    owner                TEXT PRIMARY KEY,
    slug                 TEXT NOT NULL,
    requested_by         TEXT NOT NULL,
    requested_at         INTEGER NOT NULL,
    finished_at          INTEGER,
    backups_clear_after  INTEGER,
    removed              TEXT NOT NULL DEFAULT '{}'
) STRICT;
