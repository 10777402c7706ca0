#!/usr/bin/env bash
# The online tier move under load (issue 16): a tenant with ORDERS orders,
# each invoiced, moves shared → database → shared while a load generator
# writes WRITES_PER_S for it and reads for it and for 20 other tenants.
# Prints lost and duplicated writes (checked against the generator's own
# log), the longest write of the run and around each cutover, read errors, move times,
# and the other tenants' read latency with and without a move.
#
#   bench/move.sh [ORDERS] [WRITES_PER_S] [BASELINE_SECONDS]   (defaults: 100000 250 20)
#   env: PG (postgres://postgres@127.0.0.1:5432)
set -euo pipefail
cd "$(dirname "$0")/.."
orders="${1:-100000}"; rate="${2:-250}"; baseline="${3:-20}"
PG="${PG:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tenantry-target}"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r), $(date -u +%FT%TZ)"
cargo build --release -q -p tenantry-server --example move_bench
# The server's JSON log lines go to stdout too; the figures are the rest.
"$CARGO_TARGET_DIR/release/examples/move_bench" "$PG/tenantry_move_bench" "$orders" "$rate" "$baseline" | grep -v '^{'
