-- A tier move's mirror: while the target is being filled, a write the
-- mirror refuses (a row it does not have yet) is skipped and repaired by
-- the move's catch-up; once `mirror_synced`, the mirror must take every
-- write or the write fails on both tiers.
ALTER TABLE tenantry.tenants ADD COLUMN mirror_synced boolean NOT NULL DEFAULT false;
