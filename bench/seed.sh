#!/usr/bin/env bash
# Seeds the benchmark contract's data into PostgreSQL database $1 (a URL)
# for the tenantry binary $2, and writes /tmp/bench/orders.tsv (slug, order
# id). Shared by bench/run.sh and bench/noisy-neighbour.sh.
set -euo pipefail
db="$1"; bin="$2"
cd "$(dirname "$0")/.."
mkdir -p /tmp/bench
"$bin" --log-format pretty migrate run --database-url "$db" --data-dir /tmp/bench/tenantry-data >/dev/null  # creates + migrates the tenant plane
psql -q "$db" -f bench/seed-tenantry.sql
psql -At -F $'\t' "$db" -c "SELECT t.slug, o.id FROM orders o JOIN tenantry.tenants t ON t.id = o.tenant_id ORDER BY t.slug, o.number" > /tmp/bench/orders.tsv
