"""Shared test fixtures. Real servers are session fixtures in tests/fixtures/, started once per run."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.fixtures.common",
    "tests.fixtures.postgres",
    "tests.fixtures.searchnode",
    "tests.fixtures.seaweedfs",
]
