#!/usr/bin/env bash
# The noisy-neighbour benchmark of issue 6: 50 normal tenants at a steady
# rate, plus one tenant at 20 times its quota, against the reference server
# on PostgreSQL (RLS, JWT, JSON access log, metrics: everything on).
# Four runs, each on a fresh server: no noisy tenant (baseline), the noisy
# tenant at exactly its quota, at 20 times it with limits on, and at 20
# times it with limits off.
#
#   bench/noisy-neighbour.sh [DURATION_S] [NORMAL_RPS] [NOISY_RPS]   (defaults: 20 20 4000)
#   env: PG (postgres://postgres@127.0.0.1:5432), REPEAT (1) rounds of the four runs
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-20}"; normal_rps="${2:-20}"; noisy_rps="${3:-4000}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
secret="bench-secret-change-me-0123456789abcdef"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tenantry-target}"
mkdir -p /tmp/bench
cargo build --release -q -p tenantry-server --bin tenantry --example noisy_neighbour
bin="$CARGO_TARGET_DIR/release/tenantry"
load="$CARGO_TARGET_DIR/release/examples/noisy_neighbour"
db="$PG/bench_rust"
bench/seed.sh "$db" "$bin"

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%FT%TZ)"
echo "50 normal tenants x $normal_rps req/s (GET /api/orders/{id}); noisy tenant: GET /api/orders?limit=100 at $noisy_rps req/s (quota 200/s)"
echo
echo "| run | normal p50 ms | p90 | p99 | max | normal statuses | noisy statuses |"
echo "|---|---|---|---|---|---|---|"
run() {  # run LABEL LIMITS NOISY_RPS
  "$bin" serve --listen 127.0.0.1:3010 --database-url "$db" --jwt-secret "$secret" \
    --base-domain app.localhost --data-dir /tmp/bench/tenantry-data --workers 0 \
    --limits "$2" > /tmp/bench/noisy-server.log 2>&1 &
  local pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:3010/healthz >/dev/null && break; sleep 0.1; done
  "$load" http://127.0.0.1:3010 "$secret" /tmp/bench/orders.tsv 50 "$normal_rps" 0 3 warm-up >/dev/null
  "$load" http://127.0.0.1:3010 "$secret" /tmp/bench/orders.tsv 50 "$normal_rps" "$3" "$duration" "$1"
  kill $pid; wait $pid 2>/dev/null || true
}
# REPEAT rounds, the four runs interleaved in each, so slow spells of the
# machine spread over all of them rather than landing on one.
for _ in $(seq "${REPEAT:-1}"); do
  run "no noisy tenant (limits on)" bench/limits-noisy.toml 0
  run "noisy tenant at its quota (200/s), limits on" bench/limits-noisy.toml 200
  run "noisy tenant, limits on" bench/limits-noisy.toml "$noisy_rps"
  run "noisy tenant, limits off" off "$noisy_rps"
done
