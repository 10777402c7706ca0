#!/usr/bin/env bash
# The read-path benchmark of issue 2, end to end, on one machine and one
# PostgreSQL: tenantry, a stripped bare-axum handler, the Node peer (1 and 2
# processes, string secret and KeyObject) and pgbench's select-only ceiling.
#
#   bench/run.sh [DURATION_S] [CONNECTIONS]        (defaults: 10 32)
#   env: PG (postgres://postgres@127.0.0.1:5432), BENCH (../shared/bench),
#        SKIP_NODE=1 to leave the Node peer out.
# Output: every wrk report and summary on stdout; tenantry's access log in
# /tmp/bench/tenantry.log (its line count is printed).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
duration="${1:-10}"; conns="${2:-32}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
BENCH="${BENCH:-$root/../shared/bench}"
BENCH="$(cd "$BENCH" && pwd)"
export BENCH_JWT_SECRET="${BENCH_JWT_SECRET:-bench-secret-change-me-0123456789abcdef}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tenantry-target}"
mkdir -p /tmp/bench

say() { printf '\n##### %s\n' "$*"; }
wait_up() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.1; done; echo "port $1 did not come up" >&2; return 1; }
measure() {  # measure LABEL PORT MODE...
  local label="$1" port="$2"; shift 2
  MODE=get "$BENCH/load/run-bench.sh" "$port" 3 "$conns" >/dev/null   # warm-up
  for mode in "$@"; do
    say "$label  mode=$mode  load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    MODE="$mode" "$BENCH/load/run-bench.sh" "$port" "$duration" "$conns"
  done
}

say "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%FT%TZ)"
cargo build --release -q -p tenantry-server --bin tenantry --example bare_orders
bin="$CARGO_TARGET_DIR/release/tenantry"
bare="$CARGO_TARGET_DIR/release/examples/bare_orders"

say "seed bench_rust"
db="$PG/bench_rust"
bench/seed.sh "$db" "$bin"
node "$BENCH/load/mint-tokens.js" >/dev/null
wc -l /tmp/bench/orders.tsv /tmp/bench/tokens.tsv

say "tenantry (RLS, per-transaction tenant, JWT, registry cache, tenant limits, JSON access log to a file)"
"$bin" serve --listen 127.0.0.1:3002 --database-url "$db" --jwt-secret "$BENCH_JWT_SECRET" \
  --base-domain app.localhost --data-dir /tmp/bench/tenantry-data \
  --limits bench/limits-contract.toml > /tmp/bench/tenantry.log 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
wait_up 3002
"$BENCH/load/check.sh" 3002 | tail -1
measure "tenantry" 3002 get foreign
kill $pid; wait $pid 2>/dev/null || true
echo "tenantry log lines: $(wc -l < /tmp/bench/tenantry.log)"

say "bare axum handler (STRIPPED: no auth, no tenant, no RLS, no logging)"
"$bare" "$db" 127.0.0.1:3003 2>/dev/null &
pid=$!
wait_up 3003
measure "bare" 3003 get
kill $pid; wait $pid 2>/dev/null || true

if [ -z "${SKIP_NODE:-}" ]; then
  say "Node/Express peer"
  # A writable copy of the shared bench tree (the peer's scripts find the
  # loader at ../../load relative to themselves).
  rm -rf /tmp/bench/shared && cp -r "$BENCH" /tmp/bench/shared && chmod -R u+w /tmp/bench/shared
  peer=/tmp/bench/shared/peers/node-express
  ( cd "$peer" && npm ci --silent --no-audit --no-fund >/dev/null )
  export DATABASE_URL="$PG/bench_node"
  node "$peer/seed.js" /tmp/bench/orders-node.tsv
  cmp -s <(sort /tmp/bench/orders.tsv) <(sort /tmp/bench/orders-node.tsv) && echo "orders.tsv identical for both databases"
  for keyobject in "" 1; do
    for workers in 1 2; do
      say "node WORKERS=$workers JWT_KEYOBJECT=${keyobject:-unset}"
      ( cd "$peer" && JWT_KEYOBJECT="$keyobject" PORT=3001 ./bench-workers.sh "$workers" "$duration" "$conns" get foreign )
    done
  done
fi

say "pgbench -S -M prepared, $conns clients (the database's own select-only ceiling)"
psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS bench_pgbench" -c "CREATE DATABASE bench_pgbench"
pgbench -q -i -s 10 "$PG/bench_pgbench" >/dev/null 2>&1
pgbench -S -M prepared -c "$conns" -j 2 -T "$duration" "$PG/bench_pgbench" 2>&1 | grep -E "tps|latency|clients"
