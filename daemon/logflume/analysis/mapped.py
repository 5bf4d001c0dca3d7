"""``--preset NAME``: raw gateway logs mapped onto the canonical fields before they are analysed.

The mapping is the daemon's own (:class:`~logflume.pipeline.mapping.Mapper`, the same preset
file), applied in Python to each line; the mapped events are written as JSON lines into the run's
temporary directory and analysed from there, so ``analyze`` and ``query`` answer exactly what the
daemon's output of the same lines would give. Lines the mapping cannot convert are counted and the
first reason kept; the caller reports them on stderr.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson

from logflume.analysis.inputs import LocalFile
from logflume.analysis.query import QueryStats, read_batches
from logflume.errors import AnalysisError, MappingError
from logflume.events import Event
from logflume.pipeline.mapping import Mapper, load_preset


@dataclass
class MappingStats:
    events: int = 0
    failed: int = 0
    first_reason: str | None = None

    def note(self) -> str | None:
        """The stderr line about lines that could not be mapped, or None."""
        if not self.failed:
            return None
        return (
            f"skipped {self.failed} of {self.events + self.failed} events the preset cannot map "
            f"(first: {self.first_reason})"
        )


def preset_mapper(name: str) -> Mapper:
    try:
        return Mapper(load_preset(name))
    except MappingError as exc:
        raise AnalysisError(str(exc)) from exc


def map_batches(
    batches: Iterable[list[tuple[bytes, Event]]], mapper: Mapper, stats: MappingStats
) -> Iterator[list[tuple[bytes, Event]]]:
    """The batches with every event mapped in place; events that fail are left out and counted."""
    for batch in batches:
        kept: list[tuple[bytes, Event]] = []
        for line, event in batch:
            try:
                mapper(event)
            except MappingError as exc:
                stats.failed += 1
                if stats.first_reason is None:
                    stats.first_reason = str(exc)
                continue
            kept.append((line, event))
        stats.events += len(kept)
        yield kept


def map_files(
    files: list[LocalFile], mapper: Mapper, workdir: Path, stats: MappingStats, read: QueryStats
) -> list[LocalFile]:
    """Each input mapped into one plain JSON-lines file under ``workdir``."""
    out: list[LocalFile] = []
    dumps = orjson.dumps
    for index, file in enumerate(files):
        target = workdir / f"mapped-{index}.jsonl"
        with target.open("wb") as handle:
            for batch in map_batches(read_batches([file], read), mapper, stats):
                handle.write(b"".join(dumps(event) + b"\n" for _, event in batch))
        out.append(LocalFile(target, gzip=False))
    return out
