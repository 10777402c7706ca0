-- The warm pool: tenant ids whose tier target (schema or database) is
-- already made and migrated, waiting for a sign-up to take one. A claimed
-- id becomes the new tenant's id, so onboarding finds its target ready.
CREATE TABLE warm_targets (
    id          uuid PRIMARY KEY,
    tier        text NOT NULL CHECK (tier IN ('schema', 'database')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX warm_targets_by_tier ON warm_targets (tier, created_at);
