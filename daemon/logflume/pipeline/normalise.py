"""Normalise (the end of parse): renamed fields, one UTC ``@timestamp``, canonical level names.

Runs first, so every later stage, sink and query sees the same field names and shapes whatever
the writing application called them. Times are read by :mod:`logflume.eventtime`, the one parser
every stage and sink uses: a value it cannot read is no time, never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from logflume import eventtime
from logflume.events import META_KEY, Batch, Event
from logflume.models import StrictModel
from logflume.pipeline.paths import MISSING, check_path, make_getter, make_popper, make_setter
from logflume.telemetry import CONVERSION_FAILED, Count, count

TIMESTAMP_FIELD = "@timestamp"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_ALIASES = {
    "trace": "DEBUG", "debug": "DEBUG", "dbg": "DEBUG",
    "info": "INFO", "information": "INFO", "informational": "INFO", "notice": "INFO",
    "warn": "WARNING", "warning": "WARNING",
    "err": "ERROR", "error": "ERROR",
    "crit": "CRITICAL", "critical": "CRITICAL", "fatal": "CRITICAL", "alert": "CRITICAL",
    "emerg": "CRITICAL", "emergency": "CRITICAL", "panic": "CRITICAL",
}  # fmt: skip
# Python's logging numbers, which the proxy's own logger may emit.
_NUMERIC = {10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL"}


class NormaliseConfig(StrictModel):
    """Field renames, timestamp and level normalisation; on by default."""

    enabled: bool = Field(True, description="Turn the whole stage off (events pass unchanged).")
    fields: dict[str, str] = Field(
        default_factory=dict,
        description="Renames applied first, source path → target path (dotted paths reach into objects), "
        "e.g. {msg: message, ctx.request.id: request_id}.",
    )
    timestamp_fields: list[str] = Field(
        default_factory=lambda: ["timestamp", "time", "ts", "@timestamp"],
        description="Fields holding the event time (ISO 8601, or epoch seconds/ms/µs/ns told apart by "
        "magnitude); first present wins.",
    )
    on_bad_timestamp: Literal["ingested_at", "omit"] = Field(
        "ingested_at",
        description="No parseable timestamp: use the time logflume read the line, or leave @timestamp out.",
    )
    level_field: str = Field("level", description="Field holding the level name.")
    levels: dict[str, Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]] = Field(
        default_factory=dict,
        description="Extra level aliases (case-insensitive) on top of the built-in ones "
        "(warn→WARNING, err→ERROR, fatal→CRITICAL, …).",
    )

    @field_validator("fields")
    @classmethod
    def _paths(cls, value: dict[str, str]) -> dict[str, str]:
        for source, target in value.items():
            check_path(source)
            check_path(target)
        return value

    @field_validator("timestamp_fields")
    @classmethod
    def _timestamp_paths(cls, value: list[str]) -> list[str]:
        return [check_path(path) for path in value]


@dataclass
class NormaliseStats:
    bad_timestamps: int = 0  # events whose time fields held no time (on_bad_timestamp applied)


def _level_table(extra: Mapping[str, str]) -> dict[Any, str]:
    table: dict[Any, str] = {}
    for alias, level in {**_ALIASES, **{k.lower(): v for k, v in extra.items()}}.items():
        for spelling in (alias, alias.upper(), alias.capitalize()):
            table[spelling] = level
    table.update(_NUMERIC)
    return table


class Normaliser:
    """The normalise stage."""

    name = "normalise"

    def __init__(self, config: NormaliseConfig) -> None:
        self.renames = [(make_popper(src), make_setter(dst)) for src, dst in config.fields.items()]
        self.timestamp_getters = [make_getter(path) for path in config.timestamp_fields]
        # Plain keys (the default) are read inline, one dict lookup each; dotted paths use getters
        # (and so does an empty list, which leaves every timestamp bad).
        plain = config.timestamp_fields and all("." not in path for path in config.timestamp_fields)
        self._timestamp_keys = tuple(config.timestamp_fields) if plain else None
        self.fallback = config.on_bad_timestamp == "ingested_at"
        self.level_field = config.level_field
        self.levels = _level_table(config.levels)
        self.canonical = frozenset(LEVELS)
        self.stats = NormaliseStats()

    def telemetry(self) -> list[Count]:
        return [count("errors", self.stats.bad_timestamps, error_type=CONVERSION_FAILED)]

    def __call__(self, batch: Batch, now: float) -> Batch:
        if self.renames:
            self._rename(batch.events)
        if self._timestamp_keys is None:
            self._timestamps(batch.events)
            self._levels(batch.events)
        else:
            self._plain(batch.events)
        return batch

    def _plain(self, events: list[Event]) -> None:
        """Timestamps from plain keys and levels, in one pass: the default configuration.

        Does what :meth:`_timestamps` then :meth:`_levels` do, with the common case inline: a
        string already in canonical form only has to parse (``fromisoformat`` is cheap; the
        function calls around it were most of the cost).
        """
        keys, fallback, fromisoformat = self._timestamp_keys or (), self.fallback, datetime.fromisoformat
        to_text, canonical_sizes = eventtime.canonical, eventtime.CANONICAL_SIZES
        field, table, canonical = self.level_field, self.levels, self.canonical
        bad = 0
        stamp: str | None
        for event in events:
            for key in keys:
                value = event.get(key, MISSING)
                if value is not MISSING:
                    break
            # eventtime.looks_canonical, inline: the proxy's own UTC text only has to parse.
            if (
                type(value) is str
                and (size := len(value)) in canonical_sizes
                and value[-1] == "Z"
                and value[10] == "T"
                and value[7] == "-"
                and value[16] == ":"
                and (size == 20 or value[19] == ".")
                and (size < 27 or (value[20:-1].isdigit() and value.isascii()))
            ):
                try:
                    fromisoformat(value)
                    stamp = value
                except ValueError:  # the layout, not the calendar (30 February)
                    stamp = None
            else:
                stamp = None if value is MISSING else to_text(value)
            if stamp is None:
                bad += 1
                meta = event.get(META_KEY)
                if fallback and type(meta) is dict and "ingested_at" in meta:
                    event[TIMESTAMP_FIELD] = meta["ingested_at"]
                else:
                    event.pop(TIMESTAMP_FIELD, None)
            else:
                event[TIMESTAMP_FIELD] = stamp
            level = event.get(field)
            if type(level) is str:
                if level not in canonical:
                    new = table.get(level) or table.get(level.strip().lower())
                    if new is not None:
                        event[field] = new
            elif type(level) is int:
                new = table.get(level)
                if new is not None:
                    event[field] = new
        self.stats.bad_timestamps += bad

    def _rename(self, events: list[Event]) -> None:
        for event in events:
            for pop, put in self.renames:
                value = pop(event)
                if value is not MISSING:
                    put(event, value)

    def _timestamps(self, events: list[Event]) -> None:
        getters: list[Callable[[Event], Any]] = self.timestamp_getters
        fallback = self.fallback
        bad = 0
        for event in events:
            stamp = None
            for get in getters:
                value = get(event)
                if value is not MISSING:
                    stamp = eventtime.canonical(value)
                    break
            if stamp is None:
                bad += 1
                meta = event.get(META_KEY)
                if fallback and type(meta) is dict and "ingested_at" in meta:
                    stamp = meta["ingested_at"]
                else:
                    event.pop(TIMESTAMP_FIELD, None)
                    continue
            event[TIMESTAMP_FIELD] = stamp
        self.stats.bad_timestamps += bad

    def _levels(self, events: list[Event]) -> None:
        field, table, canonical = self.level_field, self.levels, self.canonical
        for event in events:
            level = event.get(field)
            kind = type(level)
            if kind is str:
                if level in canonical:
                    continue
                new = table.get(level) or table.get(str(level).strip().lower())
            elif kind is int:
                new = table.get(level)
            else:
                continue
            if new is not None:
                event[field] = new
