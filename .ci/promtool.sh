#!/usr/bin/env bash
# Installs promtool (Debian's `prometheus` package), which the metrics test
# uses to check `/metrics` with Prometheus's own parser. Idempotent.
set -euo pipefail
if ! command -v promtool >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; }
fi
promtool --version | head -1
