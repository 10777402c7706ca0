#!/usr/bin/env bash
# The read path through PgBouncer in transaction mode (pool of 4 server
# connections), against the same server connected directly.
#
#   bench/pgbouncer.sh [DURATION_S] [CONNECTIONS]     (defaults: 10 16)
#   env: PG (postgres://postgres@127.0.0.1:5432), BENCH (../shared/bench)
# Runs, each on the contract's GET /api/orders/{id} (get and foreign):
#   1. direct, prepared statements (the default);
#   2. direct, --database-pooler transaction (unnamed statements): what the
#      pooler mode costs without a pooler;
#   3. through PgBouncer with --database-pooler transaction;
#   4. through PgBouncer without it (the failure the mode exists for).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
duration="${1:-10}"; conns="${2:-16}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
BENCH="$(cd "${BENCH:-$root/../shared/bench}" && pwd)"
export BENCH_JWT_SECRET="${BENCH_JWT_SECRET:-bench-secret-change-me-0123456789abcdef}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tenantry-target}"
mkdir -p /tmp/bench
say() { printf '\n##### %s\n' "$*"; }
wait_up() { for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0; sleep 0.1; done; echo "port $1 did not come up" >&2; return 1; }

bash .ci/pgbouncer.sh
say "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%FT%TZ)"
cargo build --release -q -p tenantry-server --bin tenantry
bin="$CARGO_TARGET_DIR/release/tenantry"
db="$PG/bench_rust"
bench/seed.sh "$db" "$bin"
node "$BENCH/load/mint-tokens.js" >/dev/null

# PgBouncer of our own on 6433, transaction mode, 4 server connections.
pgb=/tmp/bench/pgbouncer; rm -rf "$pgb"; mkdir -p "$pgb"
printf '"tenantry_app" ""\n"postgres" ""\n' > "$pgb/users.txt"
cat > "$pgb/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 6433
unix_socket_dir =
auth_type = trust
auth_file = $pgb/users.txt
pool_mode = transaction
default_pool_size = 4
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits
INI
chmod -R a+rX "$pgb"
/usr/sbin/pgbouncer $( [ "$(id -u)" = 0 ] && echo -u postgres ) "$pgb/pgbouncer.ini" > "$pgb/log" 2>&1 &
pgb_pid=$!
pids=("$pgb_pid")
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

run() {  # run LABEL PORT EXTRA_FLAGS...
  local label="$1" port="$2"; shift 2
  say "$label"
  "$bin" serve --listen "127.0.0.1:$port" --admin-listen off --database-url "$db" \
    --jwt-secret "$BENCH_JWT_SECRET" --base-domain app.localhost \
    --data-dir /tmp/bench/tenantry-data --limits bench/limits-contract.toml "$@" \
    > "/tmp/bench/tenantry-$port.log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  wait_up "$port"
  "$BENCH/load/check.sh" "$port" | tail -1 || true
  MODE=get "$BENCH/load/run-bench.sh" "$port" 3 "$conns" >/dev/null
  for mode in get foreign; do
    MODE="$mode" "$BENCH/load/run-bench.sh" "$port" "$duration" "$conns"
  done
  kill "$pid"; wait "$pid" 2>/dev/null || true
}

app_direct="$PG/bench_rust"; app_direct="${app_direct/postgres@/tenantry_app@}"
app_pooled="postgres://tenantry_app@127.0.0.1:6433/bench_rust"
run "1. direct, prepared statements" 3011 --app-database-url "$app_direct"
run "2. direct, unnamed statements (--database-pooler transaction)" 3012 \
  --app-database-url "$app_direct" --database-pooler transaction
run "3. PgBouncer (transaction mode, 4 server connections), --database-pooler transaction" 3013 \
  --app-database-url "$app_pooled" --database-pooler transaction
run "4. PgBouncer, prepared statements (no --database-pooler): expected to fail" 3014 \
  --app-database-url "$app_pooled"
echo "errors logged by run 4: $(grep -c 'does not exist' /tmp/bench/tenantry-3014.log || true)"
