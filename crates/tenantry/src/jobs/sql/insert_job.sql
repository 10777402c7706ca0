-- $1 owner, $2 lane, $3 kind, $4 payload, $5 priority, $6 delay (ms),
-- $7 idempotency key, $8 max attempts. No row when the idempotency key was
-- seen before.
INSERT INTO tenantry.jobs (owner, lane, kind, payload, priority, run_at, idempotency_key, max_attempts)
VALUES ($1, $2, $3, $4, $5, now() + $6::bigint * interval '1 millisecond', $7, $8)
ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id
