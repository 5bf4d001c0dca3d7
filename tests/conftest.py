"""Shared test fixtures. Real servers are session fixtures in tests/fixtures/, started once per run.

Property tests run derandomized and without an example database by default: the same examples on
every run, so CI is reproducible and never red by chance. `--hypothesis-profile explore` searches
with fresh random examples (and remembers failures in .hypothesis/) when hunting for bugs.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("ci")

pytest_plugins: list[str] = [
    "tests.fixtures.common",
    "tests.fixtures.postgres",
    "tests.fixtures.searchnode",
    "tests.fixtures.seaweedfs",
]
