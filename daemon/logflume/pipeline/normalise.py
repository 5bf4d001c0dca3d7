"""Normalise (the end of parse): renamed fields, one UTC ``@timestamp``, canonical level names.

Runs first, so every later stage, sink and query sees the same field names and shapes whatever
the writing application called them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from logflume.events import META_KEY, Batch, Event
from logflume.models import StrictModel
from logflume.pipeline.paths import MISSING, check_path, make_getter, make_popper, make_setter

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
        description="Fields holding the event time (ISO 8601, or epoch seconds/milliseconds); "
        "first present wins.",
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
    bad_timestamps: int = 0


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with Z, millisecond precision unless the time has finer digits."""
    moment = moment.astimezone(UTC)
    spec = "milliseconds" if moment.microsecond % 1000 == 0 else "microseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def parse_timestamp(value: Any) -> str | None:
    """The UTC ISO 8601 form of a timestamp value, or None when it is not one.

    Strings: ISO 8601 with Z or an offset (no offset means UTC), or digits of epoch time.
    Numbers: epoch seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude.
    """
    kind = type(value)
    if kind is str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return _parse_odd_string(value)
        # Already canonical: keep the text, formatting is most of the cost.
        if _canonical_shape(value):
            return value  # type: ignore[no-any-return]
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return format_utc(moment)
    if kind is int or kind is float:
        return _from_epoch(value)
    return None


def _canonical_shape(value: str) -> bool:
    """Laid out as format_utc writes (given that it parses): date T time, seconds, Z."""
    return value[-1] == "Z" and len(value) >= 20 and value[10] == "T" and value[19] in ".Z"


def _parse_odd_string(value: str) -> str | None:
    text = value.strip()
    if text.isdigit() or (text.count(".") == 1 and text.replace(".", "", 1).isdigit()):
        return _from_epoch(float(text))
    return None


def _from_epoch(number: float) -> str | None:
    size = abs(number)
    if size >= 1e17:
        number /= 1e9
    elif size >= 1e14:
        number /= 1e6
    elif size >= 1e11:
        number /= 1e3
    try:
        return format_utc(datetime.fromtimestamp(number, UTC))
    except (OverflowError, OSError, ValueError):
        return None


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
        function calls and checks around it were most of the cost).
        """
        keys, fallback, fromisoformat = self._timestamp_keys or (), self.fallback, datetime.fromisoformat
        field, table, canonical = self.level_field, self.levels, self.canonical
        bad = 0
        stamp: str | None
        for event in events:
            for key in keys:
                value = event.get(key, MISSING)
                if value is not MISSING:
                    break
            # _canonical_shape, inline and before parsing; parse_timestamp for anything else.
            if type(value) is str and len(value) >= 20 and value[-1] == "Z" and value[10] == "T":
                if value[19] in ".Z":
                    try:
                        fromisoformat(value)
                        stamp = value
                    except ValueError:
                        stamp = _parse_odd_string(value)
                else:
                    stamp = parse_timestamp(value)
            else:
                stamp = None if value is MISSING else parse_timestamp(value)
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
                    stamp = parse_timestamp(value)
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
