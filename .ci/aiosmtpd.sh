#!/usr/bin/env bash
# Installs aiosmtpd (PyPI, pinned), the real SMTP server the mail tests
# start on a port of their own. Idempotent.
set -euo pipefail
AIOSMTPD_VERSION=1.4.6
if ! python3 -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
  python3 -m pip install --quiet "aiosmtpd==$AIOSMTPD_VERSION"
fi
