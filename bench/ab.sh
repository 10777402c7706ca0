#!/usr/bin/env bash
# A/B of the read path: two tenantry builds on the same machine, each on a
# database seeded by its own tree's bench seed, measured alternately (A, B,
# A, B) on the contract's GET /api/orders/{id}, so drift in the machine hits
# both alike.
#
#   bench/ab.sh OLD_TREE OLD_BIN NEW_BIN [DURATION_S] [CONNECTIONS] [ROUNDS]
#   (defaults: 10 s, 32 connections, 2 rounds)
#   env: PG (postgres://postgres@127.0.0.1:5432), BENCH (../shared/bench),
#        MODE (get: GET /api/orders/{id}; post: POST /api/orders — the write path)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
old_tree="$1"; old_bin="$2"; new_bin="$3"
duration="${4:-10}"; conns="${5:-32}"; rounds="${6:-2}"
MODE="${MODE:-get}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
BENCH="$(cd "${BENCH:-$root/../shared/bench}" && pwd)"
export BENCH_JWT_SECRET="${BENCH_JWT_SECRET:-bench-secret-change-me-0123456789abcdef}"
mkdir -p /tmp/bench
wait_up() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.1; done; return 1; }

psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS bench_ab_old WITH (FORCE)" -c "DROP DATABASE IF EXISTS bench_ab_new WITH (FORCE)"
(cd "$old_tree" && bash bench/seed.sh "$PG/bench_ab_old" "$old_bin" && cp /tmp/bench/orders.tsv /tmp/bench/orders-old.tsv)
bash bench/seed.sh "$PG/bench_ab_new" "$new_bin"
cmp -s /tmp/bench/orders.tsv /tmp/bench/orders-old.tsv && echo "both seeds hold the same orders"
node "$BENCH/load/mint-tokens.js" >/dev/null

serve() {  # serve BIN DB PORT EXTRA...
  local bin="$1" db="$2" port="$3"; shift 3
  "$bin" serve --listen "127.0.0.1:$port" --database-url "$db" --jwt-secret "$BENCH_JWT_SECRET" \
    --base-domain app.localhost --data-dir "/tmp/bench/ab-$port" --limits bench/limits-contract.toml "$@" \
    > "/tmp/bench/ab-$port.log" 2>&1 &
  echo $!
}
old_pid=$(serve "$old_bin" "$PG/bench_ab_old" 3021)
new_pid=$(serve "$new_bin" "$PG/bench_ab_new" 3022 --admin-listen off)
trap 'kill $old_pid $new_pid 2>/dev/null || true' EXIT
wait_up 3021; wait_up 3022
for port in 3021 3022; do MODE="$MODE" "$BENCH/load/run-bench.sh" "$port" 3 "$conns" >/dev/null; done
for round in $(seq "$rounds"); do
  for side in old:3021 new:3022; do
    echo "##### round $round ${side%%:*}  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    MODE="$MODE" "$BENCH/load/run-bench.sh" "${side##*:}" "$duration" "$conns" | grep -E "requests/s|p50|p99|unexpected|^  [0-9]{3}:"
  done
done
