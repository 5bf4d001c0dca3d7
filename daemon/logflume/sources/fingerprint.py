"""File identity: a hash of the first line (up to N bytes), as Vector's checksum fingerprint.

The content fingerprint survives rename, copy and compression (a ``.gz`` is fingerprinted on its
decompressed bytes), so a rotated copy is recognised as the same file and read only from where
reading stopped; device/inode tell open files apart and notice inode reuse. A file whose first
line is not complete yet (and shorter than N bytes) has no identity and waits.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib

GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == GZIP_MAGIC
    except OSError:
        return False


def fingerprint_bytes(head: bytes, limit: int) -> str | None:
    """The fingerprint of data starting with ``head``, or None while it is not identifiable."""
    newline = head.find(b"\n", 0, limit)
    if newline >= 0:
        first = head[: newline + 1]
    elif len(head) >= limit:
        first = head[:limit]
    else:
        return None
    return hashlib.blake2b(first, digest_size=8).hexdigest()


def read_head(path: str, limit: int, compressed: bool) -> bytes:
    """Up to ``limit`` bytes from the start of a file (decompressed when ``compressed``)."""
    if compressed:
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read(limit)
        except (EOFError, zlib.error, gzip.BadGzipFile):
            # Still being written (rotate-then-gzip in progress) or corrupt: not identifiable yet.
            return b""
    fd = os.open(path, os.O_RDONLY)
    try:
        return os.pread(fd, limit, 0)
    finally:
        os.close(fd)


def fingerprint_fd(fd: int, limit: int) -> str | None:
    return fingerprint_bytes(os.pread(fd, limit, 0), limit)


def fingerprint_path(path: str, limit: int, compressed: bool) -> str | None:
    """The file's fingerprint; None while it is not identifiable or when it vanished.

    Raises OSError when it exists but cannot be read (permissions, I/O): the caller reports that,
    instead of the file being skipped silently on every scan.
    """
    try:
        return fingerprint_bytes(read_head(path, limit, compressed), limit)
    except FileNotFoundError:
        return None
