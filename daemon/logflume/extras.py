"""The optional parts of logflume (pip extras) and whether this installation has them.

The base install runs the daemon with file sinks, every stage and every alert channel. Backends
and the analysis commands bring large client libraries, so each comes with an extra:
``pip install 'logflume[postgres]'``; ``logflume[all]`` installs every one. Whether an extra is
installed is looked up without importing anything (``importlib.util.find_spec``).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass

from logflume.errors import MissingExtraError


@dataclass(frozen=True)
class Extra:
    """An extra: the modules that must be importable and the distributions they come from."""

    name: str
    purpose: str
    modules: tuple[str, ...]
    distributions: tuple[str, ...]


# Keep in step with [project.optional-dependencies] in pyproject.toml (a test compares them).
EXTRAS: dict[str, Extra] = {
    extra.name: extra
    for extra in (
        Extra("elasticsearch", "the elasticsearch sink (flavor: elasticsearch)", ("elasticsearch",),
              ("elasticsearch",)),
        Extra("opensearch", "the elasticsearch sink with flavor: opensearch", ("opensearchpy",),
              ("opensearch-py",)),
        Extra("s3", "the s3 sink and s3:// inputs of analyze/query", ("aioboto3",), ("aioboto3",)),
        Extra("postgres", "the postgres sink and postgresql:// inputs of analyze/query", ("asyncpg",),
              ("asyncpg",)),
        Extra("analysis", "logflume analyze, --plot and the file sink's analysis digests",
              ("duckdb", "matplotlib"), ("duckdb", "matplotlib")),
    )
}  # fmt: skip


def installed(name: str) -> bool:
    """Whether every module of the extra ``name`` can be imported here."""
    return all(importlib.util.find_spec(module) is not None for module in EXTRAS[name].modules)


def require(name: str, needed_by: str) -> None:
    """Raise :class:`MissingExtraError` when the extra ``name`` is not installed."""
    if not installed(name):
        raise MissingExtraError(name, needed_by)


def install_hint(name: str) -> str:
    return f"pip install 'logflume[{name}]'"


def distribution_version(distribution: str) -> str | None:
    """The installed version of a distribution, None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None
