"""User attributes from a lookup table file (CSV or YAML keyed by user id), reloaded on change.

The stage stays free of I/O on the hot path: it looks at the file's status at most once per
``reload_interval`` and reads the file only when its modification time, size or inode changed.
A table that fails to load keeps the previous one in use.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from pathlib import Path
from typing import Any

import yaml

from logflume import safeyaml
from logflume.errors import ConfigError, ConfigIssue
from logflume.events import Event
from logflume.pipeline.enrich.config import UserLookupConfig
from logflume.pipeline.paths import make_getter, make_setter

log = logging.getLogger("logflume.pipeline.enrich")

Table = dict[str, dict[str, Any]]


class TableError(ValueError):
    """The lookup file's content is not a table."""


def parse_table(text: str, fmt: str, key: str) -> Table:
    """Rows keyed by id (as a string) from CSV (header row, ``key`` column) or YAML (mapping)."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        if reader.fieldnames is None or key not in reader.fieldnames:
            raise TableError(f"the CSV header has no {key!r} column")
        table: Table = {}
        for row in reader:
            ident = row.pop(key)
            if ident:
                # Empty cells mean "unknown": left out rather than written as "".
                table[ident] = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
        return table
    try:
        # Bounded like a config (depth, aliases), but a table may be as large as its file: aliases
        # may not make it much larger than that.
        data, _ = safeyaml.load(
            text, max_bytes=len(text) * 4 + 1, max_nodes=len(text) + 1, max_expanded=2 * len(text) + 4096
        )
    except yaml.YAMLError as exc:
        raise TableError(f"not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise TableError("the YAML must map each user id to a mapping of attributes")
    return {str(k): dict(v) for k, v in data.items()}


def _format(config: UserLookupConfig) -> str:
    if config.format != "auto":
        return config.format
    return "csv" if config.path.suffix.lower() == ".csv" else "yaml"


def _identity(stat: os.stat_result) -> tuple[int, int, int]:
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


class UserLookup:
    name = "users"

    def __init__(self, config: UserLookupConfig, now: float) -> None:
        self.path: Path = config.path
        self.format = _format(config)
        self.key_field = config.column or config.key.rsplit(".", 1)[-1]
        self.interval = config.reload_interval
        self.get = make_getter(config.key)
        self.put = make_setter(config.target)
        self.reloads = 0
        self.failures = 0
        self.missing = False
        try:
            self.version = _identity(self.path.stat())
            self.table = parse_table(self.path.read_text(), self.format, self.key_field)
        except (OSError, UnicodeDecodeError, TableError) as exc:
            issue = ConfigIssue("pipeline.enrich.users.path", f"cannot load {self.path}: {exc}")
            raise ConfigError([issue]) from exc
        self.next_check = now + self.interval

    def maybe_reload(self, now: float) -> None:
        """Reload the table if the file changed; at most one stat per interval."""
        if now < self.next_check:
            return
        self.next_check = now + self.interval
        try:
            version = _identity(self.path.stat())
        except OSError as exc:
            if not self.missing:
                self.missing = True
                self.failures += 1
                log.warning(
                    "Lookup table is gone, keeping the old one",
                    extra={"path": str(self.path), "error": exc.strerror},
                )
            return
        self.missing = False
        if version == self.version:
            return
        # Remembered even if the load fails, so a broken file is reported once, not every interval.
        self.version = version
        try:
            table = parse_table(self.path.read_text(), self.format, self.key_field)
        except (OSError, UnicodeDecodeError, TableError) as exc:
            self.failures += 1
            log.warning(
                "Lookup table reload failed, keeping the old one",
                extra={"path": str(self.path), "error": str(exc)},
            )
            return
        self.table = table
        self.reloads += 1
        log.info("Lookup table reloaded", extra={"path": str(self.path), "rows": len(table)})

    def __call__(self, events: list[Event], now: float) -> None:
        self.maybe_reload(now)
        get, put, table = self.get, self.put, self.table
        for event in events:
            ident = get(event)
            kind = type(ident)
            if kind is int:
                # No table key is longer than 4300 digits (str() refuses those anyway).
                if not -(2**63) <= ident < 2**64:
                    continue
                ident = str(ident)
            elif kind is not str:
                continue
            row = table.get(ident)
            if row is not None:
                put(event, dict(row))
