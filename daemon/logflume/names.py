"""Names that become parts of paths: source and sink names.

A source name is a directory under the file sink's output (``{source}``), a checkpoint file
(``<state_dir>/checkpoints/<source>.json``) and part of S3 keys; a sink name is a disk-buffer
directory (``<state_dir>/buffers/<sink>/``). So a name is one plain path component: letters,
digits, ``_``, ``-`` and ``.``, not starting with a dot (no ``..``, no hidden files), no ``/``
or NUL, at most :data:`MAX_NAME_LENGTH` characters.
"""

from __future__ import annotations

import re

MAX_NAME_LENGTH = 64
_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")


def check_name(name: str) -> str:
    """``name`` when it is a safe path component; ValueError saying why not."""
    if not name:
        raise ValueError("a name cannot be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"a name is at most {MAX_NAME_LENGTH} characters")
    if name.startswith("."):
        raise ValueError("a name cannot start with '.': it becomes a file or directory name")
    if not _NAME.fullmatch(name):
        raise ValueError("a name may only hold letters, digits, '_', '-' and '.' (it becomes part of paths)")
    return name
