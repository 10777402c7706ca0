#!/usr/bin/env bash
# Installs schemathesis and openapi-spec-validator (PyPI, pinned) into a
# virtual environment of their own, for the API contract test
# (`tests/contract.rs`), which finds them at $HOME/.cache/tenantry-venv.
# Idempotent.
set -euo pipefail
SCHEMATHESIS_VERSION=4.32.5
VALIDATOR_VERSION=0.9.0
venv="${TENANTRY_VENV:-$HOME/.cache/tenantry-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" - <<PY 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(not (version("schemathesis") == "$SCHEMATHESIS_VERSION"
              and version("openapi-spec-validator") == "$VALIDATOR_VERSION"))
PY
then
  "$venv/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION" \
    "openapi-spec-validator==$VALIDATOR_VERSION"
fi
"$venv/bin/st" --version
