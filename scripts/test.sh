#!/usr/bin/env bash
# Sets up everything the test suite needs (venv, packages, services' binaries) and runs it.
# Servers themselves are started once per run by session fixtures in tests/fixtures/.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[all,dev]'
for installer in scripts/services/*.sh; do
  [ -e "$installer" ] || continue
  echo "== $installer"
  bash "$installer"
done
.venv/bin/ruff check daemon tests bench
.venv/bin/mypy
exec .venv/bin/pytest "$@"
