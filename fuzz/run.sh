#!/usr/bin/env bash
# Runs every fuzz target for SECONDS (default 600) one after another on the
# nightly toolchain (or RUSTC_BOOTSTRAP=1 on stable when there is none),
# then minimises each corpus in place. The corpora in fuzz/corpus/ are
# committed; the proptest twins replay them in CI.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(host path_prefix jwt object_key signed_url webhook_signature)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked --version 0.13.1
if rustup toolchain list | grep -q '^nightly'; then toolchain=(+nightly); else toolchain=(); export RUSTC_BOOTSTRAP=1; fi
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_FUZZ:-$HOME/.cache/tenantry-fuzz-target}"
cargo "${toolchain[@]}" fuzz build --target-dir "$CARGO_TARGET_DIR"
for target in "${targets[@]}"; do
  echo "=== $target: ${seconds}s  ($(date -u +%FT%TZ))"
  cargo "${toolchain[@]}" fuzz run --target-dir "$CARGO_TARGET_DIR" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 2>&1 | grep -E "^(#[0-9]+ +DONE|Done|stat::|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)" || true
  cargo "${toolchain[@]}" fuzz cmin --target-dir "$CARGO_TARGET_DIR" "$target" "corpus/$target" 2>&1 | tail -1
  [ -z "$(ls -A "artifacts/$target" 2>/dev/null)" ] || { echo "CRASH: artifacts/$target"; ls "artifacts/$target"; }
done
