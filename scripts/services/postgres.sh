#!/usr/bin/env bash
# PostgreSQL server binaries for the tests and bench/sink_postgres.py. The session fixture
# (tests/fixtures/postgres.py) runs its own throw-away cluster as the `postgres` user, which
# Debian's package creates; nothing here starts a server. `openssl` makes the test server's TLS
# certificates. Idempotent and quick when installed.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && id postgres >/dev/null 2>&1 \
  && command -v openssl >/dev/null; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends postgresql openssl >/dev/null
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || { echo "postgresql install failed" >&2; exit 1; }
