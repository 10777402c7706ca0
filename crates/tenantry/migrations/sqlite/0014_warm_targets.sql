-- The warm pool: tenant ids whose tier target (a database file) is already
-- made and migrated, waiting for a sign-up to take one. A claimed id
-- becomes the new tenant's id, so onboarding finds its target ready.
CREATE TABLE warm_targets (
    id          TEXT PRIMARY KEY,
    tier        TEXT NOT NULL CHECK (tier IN ('schema', 'database')),
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX warm_targets_by_tier ON warm_targets (tier, created_at);
