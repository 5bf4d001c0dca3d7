"""Detector state on disk: one versioned JSON file, replaced atomically (temp → fsync → rename)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import orjson

from logflume.errors import CheckpointError
from logflume.fsutil import atomic_write

log = logging.getLogger(__name__)

STATE_VERSION = 2  # 2: seasonal baselines (version-1 state is ignored, warm-up starts again)


def save_state(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` so that a crash leaves either the old file or the new one, never a torn one."""
    payload = orjson.dumps({"version": STATE_VERSION, **data})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, payload)
    except OSError as exc:
        raise CheckpointError(f"cannot write detector state {path}: {exc.strerror}") from exc


def load_state(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is none; a file of another version is ignored."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read detector state {path}: {exc}") from exc
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        found = data.get("version") if isinstance(data, dict) else None
        log.warning(
            "Detector state of another version ignored; detectors learn again.",
            extra={"path": str(path), "version": found, "expected": STATE_VERSION},
        )
        return None
    return data
