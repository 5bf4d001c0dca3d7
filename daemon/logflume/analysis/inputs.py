"""Resolving INPUT arguments into local JSON-lines files that DuckDB and the query reader scan.

An INPUT is one of

* a file — a raw proxy log or the file sink's output (``.gz`` or not: gzip is recognised by its
  magic bytes, so rotated files with any name work);
* a directory — every regular file below it;
* a glob — ``*``, ``?``, ``[...]`` and ``**`` (recursive);
* ``s3://bucket/prefix`` — every object under the prefix, as the S3 sink writes them (gzip NDJSON);
  fetched into a temporary directory;
* ``postgresql://…`` — the PostgreSQL sink's events table: each row's ``event`` jsonb (the whole
  original event) is exported as one JSON line, with the time window pushed down to ``ts``.

Remote inputs are fetched first, so everything after this module reads local files through one
code path (DuckDB's ``read_json`` cannot reach S3 or PostgreSQL here: its httpfs and postgres
extensions download from a host this machine cannot reach).
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from logflume import digest
from logflume.errors import AnalysisError

GZIP_MAGIC = b"\x1f\x8b"
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class LocalFile:
    """A readable JSON-lines file and whether it is gzip-compressed."""

    path: Path
    gzip: bool


@dataclass(frozen=True)
class FetchOptions:
    """How to reach remote inputs, and the time window to push down to PostgreSQL."""

    s3_endpoint: str | None = None
    table: str = "logflume_events"
    since: datetime | None = None
    until: datetime | None = None


def is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def _files_below(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs.sort()
        found.extend(Path(root, name) for name in sorted(files))
    return found


def local_paths(spec: str) -> list[Path]:
    """The files an INPUT that is a path, a directory or a glob names, in a stable order.

    Analysis digests in a directory or a glob's matches are not inputs of their own (they are
    read in place of the archive they belong to).
    """
    if _GLOB_CHARS.intersection(spec):
        matches = sorted(Path(match) for match in glob.glob(spec, recursive=True))
        paths = [path for path in matches if path.is_file() and not digest.is_sidecar(path)]
        if not paths:
            raise AnalysisError(f"{spec}: the pattern matches no files")
        return paths
    path = Path(spec)
    if path.is_dir():
        return [found for found in _files_below(path) if not digest.is_sidecar(found)]
    if path.is_file():
        return [path]
    raise AnalysisError(f"{spec}: no such file or directory")


def describe(path: Path) -> LocalFile:
    try:
        return LocalFile(path, is_gzip(path))
    except OSError as exc:
        raise AnalysisError(f"{path}: cannot read: {exc.strerror}") from exc


def is_s3(spec: str) -> bool:
    return spec.startswith("s3://")


def is_postgres(spec: str) -> bool:
    return spec.startswith(("postgresql://", "postgres://"))


async def resolve(specs: list[str], options: FetchOptions, workdir: Path) -> list[LocalFile]:
    """Every INPUT as local files; remote ones are fetched into ``workdir`` (which the caller removes).

    Raises :class:`AnalysisError` naming the INPUT that cannot be resolved or fetched.
    """
    files: list[LocalFile] = []
    for index, spec in enumerate(specs):
        target = workdir / f"input-{index}"
        if is_s3(spec):
            # Imported here so local analysis never loads the AWS client stack.
            from logflume.analysis.fetch_s3 import fetch_prefix

            target.mkdir(parents=True)
            paths = await fetch_prefix(spec, target, options.s3_endpoint)
        elif is_postgres(spec):
            from logflume.analysis.fetch_postgres import export_events

            target.mkdir(parents=True)
            paths = [await export_events(spec, options.table, target, options.since, options.until)]
        else:
            paths = local_paths(spec)
        files.extend(describe(path) for path in paths)
    return files
