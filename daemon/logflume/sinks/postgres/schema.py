"""Tables, versioned migrations and the SQL the sink runs; no I/O here.

Three tables, each with typed columns for the fields people filter on plus the whole event as
``jsonb``:

* ``<table>``: log events, RANGE-partitioned by day on ``ts`` (see :mod:`.partitions`). A
  partitioned table's unique keys must contain the partition key, so the primary key is
  ``(event_id, ts)``; ``ts`` is derived from the event itself, so a replay hits the same key.
* ``<table>_metrics`` and ``<table>_alerts``: the daemon's own window metrics and alerts, far
  fewer rows, plain tables keyed by ``event_id``.

Batches are COPYed into per-connection temporary staging tables and moved with one
``INSERT … SELECT … ON CONFLICT DO NOTHING`` per table, in one transaction.

The events staging table holds the JSON as ``bytea`` and the address as ``text``, converted by
the INSERT: binary COPY then passes the bytes rows.py already encoded straight through, which
halves the client's COPY work (no Python codec call per row, no address object to encode).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

# (name, type) in row-tuple order; rows.py builds tuples in exactly this order.
# event_id compares bytewise (COLLATE "C"): it is an opaque key, and a language collation would
# make every primary-key lookup and insert pay for locale-aware comparison.
EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", 'text COLLATE "C"'),
    ("ts", "timestamptz"),
    ("level", "text"),
    ("logger", "text"),
    ("message", "text"),
    ("request_id", "text"),
    ("user_id", "text"),
    ("provider", "text"),
    ("model", "text"),
    ("tokens", "bigint"),
    ("response_time_ms", "double precision"),
    ("status_code", "integer"),
    ("ip", "inet"),
    ("source", "text"),
    ("ingested_at", "timestamptz"),
    ("event", "jsonb"),
)
# Staging: the events columns with cheaper COPY types, plus ``ts_fallback``, true when ``ts`` is
# the ingest time because the event had no usable timestamp.
_STAGE_TYPES = {"ip": "text", "event": "bytea"}
_STAGE_CASTS = {"ip": "s.ip::inet", "event": "convert_from(s.event, 'UTF8')::jsonb"}
STAGE_EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    *((name, _STAGE_TYPES.get(name, kind)) for name, kind in EVENT_COLUMNS),
    ("ts_fallback", "boolean"),
)

METRIC_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", 'text COLLATE "C"'),
    ("ts", "timestamptz"),
    ("name", "text"),
    ("window_start", "timestamptz"),
    ("window_end", "timestamptz"),
    ("count", "bigint"),
    ("source", "text"),
    ("dimensions", "jsonb"),
    ("event", "jsonb"),
)

ALERT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", 'text COLLATE "C"'),
    ("ts", "timestamptz"),
    ("rule", "text"),
    ("severity", "text"),
    ("state", "text"),
    ("subject", "text"),
    ("message", "text"),
    ("started_at", "timestamptz"),
    ("source", "text"),
    ("event", "jsonb"),
)

STAGE_EVENTS = "logflume_stage_events"
STAGE_METRICS = "logflume_stage_metrics"
STAGE_ALERTS = "logflume_stage_alerts"

STAGE_EVENT_NAMES = tuple(name for name, _ in STAGE_EVENT_COLUMNS)
METRIC_NAMES = tuple(name for name, _ in METRIC_COLUMNS)
ALERT_NAMES = tuple(name for name, _ in ALERT_COLUMNS)


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _column_defs(columns: tuple[tuple[str, str], ...], not_null: tuple[str, ...] = ()) -> str:
    return ", ".join(f"{quote(n)} {t}{' NOT NULL' if n in not_null else ''}" for n, t in columns)


def _names(columns: tuple[tuple[str, str], ...]) -> str:
    return ", ".join(quote(n) for n, _ in columns)


def stage_ddl() -> list[str]:
    """Temporary staging tables, created once per connection; emptied at every commit."""
    return [
        f"CREATE TEMP TABLE IF NOT EXISTS {quote(name)} ({_column_defs(cols)}) ON COMMIT DELETE ROWS"
        for name, cols in (
            (STAGE_EVENTS, STAGE_EVENT_COLUMNS),
            (STAGE_METRICS, METRIC_COLUMNS),
            (STAGE_ALERTS, ALERT_COLUMNS),
        )
    ]


def partition_bounds(day: date) -> tuple[str, str]:
    """Literal bounds of the UTC day's partition (DDL takes no parameters; dates are safe)."""
    return f"'{day.isoformat()} 00:00:00+00'", f"'{(day + timedelta(days=1)).isoformat()} 00:00:00+00'"


@dataclass(frozen=True)
class Schema:
    """Qualified names and statements for one configured table."""

    db_schema: str
    table: str

    def qualified(self, name: str) -> str:
        return f"{quote(self.db_schema)}.{quote(name)}"

    @property
    def events(self) -> str:
        return self.qualified(self.table)

    @property
    def metrics(self) -> str:
        return self.qualified(self.table + "_metrics")

    @property
    def alerts(self) -> str:
        return self.qualified(self.table + "_alerts")

    @property
    def migrations(self) -> str:
        return self.qualified(self.table + "_migrations")

    @property
    def default_partition(self) -> str:
        return self.qualified(self.table + "_default")

    def partition_name(self, day: date) -> str:
        return f"{self.table}_p{day:%Y%m%d}"

    @property
    def lock_key(self) -> str:
        """Text hashed into the advisory lock that serialises DDL on these tables."""
        return f"logflume:{self.db_schema}.{self.table}"

    # -- migrations ---------------------------------------------------------------------------

    def migrations_ddl(self) -> str:
        return (
            f"CREATE TABLE IF NOT EXISTS {self.migrations} ("
            "version integer PRIMARY KEY, description text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )

    def migrations_list(self) -> list[tuple[int, str, list[str]]]:
        """(version, description, statements) in order; append, never edit a released one."""
        return [
            (
                1,
                "events (daily partitions), metrics and alerts tables",
                [statement for _, statements in self.tables() for statement in statements],
            ),
        ]

    def tables(self) -> list[tuple[str, list[str]]]:
        """Each table with the statements that make it as the migrations leave it (its default
        partition, its index): what ``prepare`` runs again for a table dropped after it was
        migrated. A migration that changes a table must change its statements here too."""
        required = ("event_id", "ts", "event")
        return [
            (
                self.events,
                [
                    f"CREATE TABLE {self.events} ({_column_defs(EVENT_COLUMNS, required)}, "
                    f"PRIMARY KEY (event_id, ts)) PARTITION BY RANGE (ts)",
                    f"CREATE TABLE {self.default_partition} PARTITION OF {self.events} DEFAULT",
                ],
            ),
            (
                self.metrics,
                [
                    f"CREATE TABLE {self.metrics} ({_column_defs(METRIC_COLUMNS, required)}, "
                    "PRIMARY KEY (event_id))",
                    f"CREATE INDEX ON {self.metrics} (ts)",
                ],
            ),
            (
                self.alerts,
                [
                    f"CREATE TABLE {self.alerts} ({_column_defs(ALERT_COLUMNS, required)}, "
                    "PRIMARY KEY (event_id))",
                    f"CREATE INDEX ON {self.alerts} (ts)",
                ],
            ),
        ]

    # -- loading ------------------------------------------------------------------------------

    def insert_events(self) -> str:
        """Staging → events; $1 is the fallback dedup window (interval).

        The primary key catches replays of events with their own timestamp. An event stored at
        ingest time gets a different ``ts`` on replay, so for those (only) look for the same
        ``event_id`` near that time; the OR keeps the lookup off the common path.
        """
        cols = _names(EVENT_COLUMNS)
        values = ", ".join(_STAGE_CASTS.get(name, f"s.{quote(name)}") for name, _ in EVENT_COLUMNS)
        return (
            f"INSERT INTO {self.events} ({cols}) SELECT {values} FROM {quote(STAGE_EVENTS)} s "
            "WHERE NOT s.ts_fallback OR NOT EXISTS ("
            f"SELECT 1 FROM {self.events} e WHERE e.event_id = s.event_id "
            "AND e.ts >= s.ts - $1::interval AND e.ts <= s.ts + $1::interval) "
            "ON CONFLICT DO NOTHING"
        )

    def insert_metrics(self) -> str:
        cols = _names(METRIC_COLUMNS)
        return (
            f"INSERT INTO {self.metrics} ({cols}) SELECT {cols} FROM {quote(STAGE_METRICS)} "
            "ON CONFLICT DO NOTHING"
        )

    def insert_alerts(self) -> str:
        cols = _names(ALERT_COLUMNS)
        return (
            f"INSERT INTO {self.alerts} ({cols}) SELECT {cols} FROM {quote(STAGE_ALERTS)} "
            "ON CONFLICT DO NOTHING"
        )

    # -- partitions ---------------------------------------------------------------------------

    def list_partitions(self) -> str:
        """Names of the events table's partitions; $1 is the qualified table name as text."""
        return (
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass($1)"
        )

    def create_partition(self, day: date) -> str:
        lo, hi = partition_bounds(day)
        name = self.qualified(self.partition_name(day))
        return f"CREATE TABLE {name} PARTITION OF {self.events} FOR VALUES FROM ({lo}) TO ({hi})"

    def default_has_rows(self, day: date) -> str:
        lo, hi = partition_bounds(day)
        return f"SELECT EXISTS (SELECT 1 FROM {self.default_partition} WHERE ts >= {lo} AND ts < {hi})"

    def move_from_default(self, day: date) -> list[str]:
        """Create the day's partition when the DEFAULT partition already holds rows of that day.

        PostgreSQL refuses ``CREATE TABLE … PARTITION OF`` then (the default would hold rows
        that belong to the new partition), so build the table, move the rows, then attach it.
        """
        lo, hi = partition_bounds(day)
        name = self.qualified(self.partition_name(day))
        return [
            f"CREATE TABLE {name} (LIKE {self.events} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
            f"WITH moved AS (DELETE FROM {self.default_partition} WHERE ts >= {lo} AND ts < {hi} "
            f"RETURNING *) INSERT INTO {name} SELECT * FROM moved",
            f"ALTER TABLE {self.events} ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})",
        ]
