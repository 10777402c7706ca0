#!/usr/bin/env bash
# Installs PgBouncer (Debian's package, pinned), which the pooler test starts
# in transaction mode in front of the machine's PostgreSQL. Idempotent; the
# package's own service is not used (the test runs its own instance).
set -euo pipefail
version="1.18.0-1+deb12u1"
if ! command -v pgbouncer >/dev/null && [ ! -x /usr/sbin/pgbouncer ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends "pgbouncer=$version" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "pgbouncer=$version" >/dev/null; }
  # The package starts a service on 6432 where it can; the test needs none.
  (service pgbouncer stop || pkill -x pgbouncer || true) >/dev/null 2>&1
fi
/usr/sbin/pgbouncer --version | head -1
