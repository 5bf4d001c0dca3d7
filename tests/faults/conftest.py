"""Fixtures of the fault tests."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.disks import mount_tmpfs, unmount


@pytest.fixture
def small_disk() -> Iterator[Callable[[Path, int], Path]]:
    """``small_disk(directory, size_bytes)`` mounts a tmpfs there; every mount is undone at teardown."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs to fill a real filesystem needs root")
    mounted: list[Path] = []

    def mount(directory: Path, size: int) -> Path:
        mount_tmpfs(directory, size)
        mounted.append(directory)
        return directory

    try:
        yield mount
    finally:
        for directory in reversed(mounted):
            unmount(directory)
