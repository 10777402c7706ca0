#!/usr/bin/env bash
# The database-tier benchmark of issue 3: TENANTS database-tier tenants (a
# PostgreSQL database each) all active against one release server whose
# connection budget is BUDGET; reports PostgreSQL sessions and server RSS.
#
#   bench/db-tier.sh [TENANTS] [BUDGET] [ROUNDS]      (defaults: 1000 40 3)
#   env: PG (postgres://postgres@127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/.."
tenants="${1:-1000}"; budget="${2:-40}"; rounds="${3:-3}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tenantry-target}"
secret="db-tier-bench-secret-0123456789abcdef"
db="$PG/bench_db_tier"
data=/tmp/bench/db-tier-data
mkdir -p /tmp/bench

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%FT%TZ)"
echo "PostgreSQL max_connections: $(psql "$PG/postgres" -Atc 'SHOW max_connections')"
cargo build --release -q -p tenantry-server --bin tenantry --example db_tier_bench
bin="$CARGO_TARGET_DIR/release/tenantry"
bench="$CARGO_TARGET_DIR/release/examples/db_tier_bench"

"$bench" provision "$db" "$tenants" 8
echo "disk used by the tenant databases: $(psql "$PG/postgres" -Atc "SELECT pg_size_pretty(sum(pg_database_size(datname))) FROM pg_database WHERE datname LIKE 'tdb\_%'")"

"$bin" serve --listen 127.0.0.1:3005 --database-url "$db" --jwt-secret "$secret" \
  --pool-size "$budget" --data-dir "$data" >/tmp/bench/db-tier-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 200); do curl -sf http://127.0.0.1:3005/healthz >/dev/null && break; sleep 0.1; done
echo "connection budget (--pool-size): $budget"
sessions() { psql "$PG/postgres" -Atc "SELECT sum(sessions) FROM pg_database d JOIN pg_stat_database s USING (datname) WHERE d.datname LIKE 'tdb\_%'"; }
echo "## every tenant, round-robin (more active tenants than connections)"
before=$(sessions)
"$bench" load http://127.0.0.1:3005 "$db" "$secret" "$server" "$tenants" "$rounds" 64
echo "new tenant-database sessions: $(( $(sessions) - before ))"
echo "## 30 tenants, 30 rounds (the active set fits the budget)"
before=$(sessions)
"$bench" load http://127.0.0.1:3005 "$db" "$secret" "$server" 30 30 32
echo "new tenant-database sessions: $(( $(sessions) - before ))"
