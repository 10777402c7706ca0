-- Loads the benchmark contract's data (../shared/bench/CONTRACT.md) into a
-- tenantry database that `tenantry` has already migrated. Same md5-derived
-- ids as the Node peer's seed.js, so one orders.tsv / tokens.tsv drives both.
-- Run as the owner role (a superuser: inserts bypass RLS).
BEGIN;
TRUNCATE public.invoices, public.orders, public.counters, public.users;
DELETE FROM tenantry.tenant_domains;
DELETE FROM tenantry.tenants;

INSERT INTO tenantry.tenants (id, slug, name, plan, tier, state)
SELECT md5('tenant:' || slug)::uuid, slug, 'Tenant ' || slug,
       CASE WHEN i < 90 THEN 'free' ELSE 'pro' END, 'shared', 'active'
  FROM (SELECT i, 't' || lpad(i::text, 3, '0') AS slug FROM generate_series(0, 99) AS i) AS s;

INSERT INTO public.orders (id, tenant_id, number, customer, total_cents, status, created_at)
SELECT md5('order:' || t.slug || ':' || n)::uuid,
       t.id,
       n,
       'Customer ' || ((n * 37 + substr(t.slug, 2)::int) % 500),
       ((n * 7919 + substr(t.slug, 2)::int * 104729) % 100000) + 100,
       CASE WHEN n % 3 = 0 THEN 'paid' ELSE 'open' END,
       timestamptz '2024-01-01 00:00:00+00' + make_interval(mins => n)
  FROM tenantry.tenants AS t, generate_series(1, 1000) AS n;

-- The contract's user of each tenant (its tokens' `sub`), a member: the
-- server checks every token's user against the tenant's users.
INSERT INTO public.users (id, tenant_id, email, name, role, created_at)
SELECT md5('user:' || t.slug)::uuid, t.id, 'user@' || t.slug || '.example', 'User ' || t.slug,
       'member', timestamptz '2024-01-01 00:00:00+00'
  FROM tenantry.tenants AS t;

-- New orders continue after the seeded 1,000 of each tenant.
INSERT INTO public.counters (tenant_id, name, value) SELECT id, 'orders', 1000 FROM tenantry.tenants;
COMMIT;
ANALYZE tenantry.tenants;
ANALYZE public.orders;
ANALYZE public.counters;
