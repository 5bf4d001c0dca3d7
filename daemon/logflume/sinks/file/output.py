"""One output file of the file sink: an :class:`~logflume.fsutil.AppendFile` (whole batches, torn
tails cut off when opened) plus what rotation and fsync scheduling need."""

from __future__ import annotations

from dataclasses import dataclass

from logflume.fsutil import AppendFile


@dataclass
class OutputFile(AppendFile):
    opened: float = 0.0
    dirty: bool = False  # written since the last fsync

    @classmethod
    def create(cls, path: str, mode: int, now: float) -> OutputFile:
        base = AppendFile.open(path, mode)
        return cls(base.path, base.fd, base.size, opened=now)

    def write_batch(self, data: bytes | bytearray, fsync: bool) -> None:
        self.append(data, fsync)
        if not fsync:
            self.dirty = True
