#!/usr/bin/env bash
# Installs wrk (Debian's package, pinned), the load generator the bench
# scripts (`bench/run.sh`, `bench/ab.sh`, the contract's load) drive. Not
# needed by the test suite; run it before benchmarking. Idempotent.
set -euo pipefail
version="4.1.0-3+b2"
if ! command -v wrk >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "wrk=$version" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "wrk=$version" >/dev/null; }
fi
wrk --version 2>&1 | head -1 || true
