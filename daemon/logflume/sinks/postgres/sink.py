"""The PostgreSQL sink: COPY into staging, then one idempotent INSERT per table, per batch.

Delivery is at-least-once from the runner and exactly-once in the table: every row is keyed by
the event's id, and a replayed batch is skipped by ``ON CONFLICT DO NOTHING``. A batch is
acknowledged once its transaction has committed, so :meth:`sync` has nothing left to do.

``open`` makes the pool (it connects on demand); ``prepare`` applies migrations and makes today's
partitions. When they fail the runner (:mod:`logflume.sinks.lifecycle`) defers and retries; a
table dropped under a running sink is reported as a lost set-up, and prepared again.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Coroutine
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson

from logflume import lines
from logflume.errors import FatalSinkError, SinkError
from logflume.events import Event
from logflume.lines import Lines
from logflume.retry import Outcome, sink_error
from logflume.sinks.base import ACCEPTED, LinesResult, WriteResult
from logflume.sinks.postgres.classify import classify, describe
from logflume.sinks.postgres.config import PostgresSinkConfig
from logflume.sinks.postgres.copy import HEADER, TRAILER, days_of, encoding_key
from logflume.sinks.postgres.partitions import Partitions
from logflume.sinks.postgres.rows import RowBuilder, Rows
from logflume.sinks.postgres.schema import (
    ALERT_NAMES,
    METRIC_NAMES,
    STAGE_ALERTS,
    STAGE_EVENT_NAMES,
    STAGE_EVENTS,
    STAGE_METRICS,
    Schema,
    stage_ddl,
)
from logflume.sinks.registry import SinkContext

log = logging.getLogger("logflume.sinks.postgres")

_JSONB_VERSION = b"\x01"  # binary jsonb is a version byte, then the JSON text


def _encode_jsonb(value: Any) -> bytes:
    # Rows carry JSON already encoded by rows.dump (it had to be checked anyway).
    if type(value) is bytes:
        return _JSONB_VERSION + value
    return _JSONB_VERSION + orjson.dumps(value, default=str)


def _decode_jsonb(value: bytes) -> Any:
    return orjson.loads(value[1:])


async def _init_connection(conn: Any) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )
    for statement in stage_ddl():
        await conn.execute(statement)


def ssl_argument(config: PostgresSinkConfig) -> ssl.SSLContext | str | bool | None:
    """asyncpg's ``ssl=``: None keeps the DSN's sslmode; a CA file needs an SSL context."""
    if config.sslmode is None:
        return None
    if config.sslmode == "disable":
        return False
    if config.ssl_ca_file is None:
        return config.sslmode
    context = ssl.create_default_context(cafile=config.ssl_ca_file)
    context.check_hostname = config.sslmode == "verify-full"
    return context


_MIN_PART = 1000  # below this, a part's fixed cost (a transaction, two statements) dominates


def _split(events: list[Event], parts: int) -> list[list[Event]]:
    parts = max(1, min(parts, len(events) // _MIN_PART))
    size = -(-len(events) // parts)  # ceiling
    return [events[i : i + size] for i in range(0, len(events), size)]


def _first_error(outcomes: list[Any]) -> BaseException | None:
    """The error to raise for a batch written in parts: a fatal one first, else the first one."""
    errors = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    fatal = [error for error in errors if isinstance(error, FatalSinkError)]
    return (fatal or errors or [None])[0]


def _cut_blocks(blocks: list[Lines], start: int, stop: int) -> list[Lines]:
    """Events ``start`` to ``stop`` of ``blocks`` (counted across them), as blocks."""
    out: list[Lines] = []
    offset = 0
    for block in blocks:
        size = len(block)
        if offset + size > start and offset < stop:
            out.append(block.cut(max(0, start - offset), min(size, stop - offset)))
        offset += size
    return out


async def _in_parts(writes: list[Coroutine[Any, Any, list[tuple[Event, str]]]]) -> list[tuple[Event, str]]:
    """Run the writes of a batch's parts concurrently; the events they refused, or their error."""
    if len(writes) == 1:
        return await writes[0]
    # Each part runs until it awaits the server, then the next one encodes: the client's and the
    # server's work overlap. Replays are idempotent, so when one part fails the runner may safely
    # retry the whole batch, parts already committed included.
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    error = _first_error(outcomes)
    if error is not None:
        # Raised from here, the error's traceback references this frame; a local still
        # referencing it (or the other parts' errors, whose tracebacks hold their rows)
        # would make a cycle that keeps all of it until the garbage collector runs.
        del outcomes
        try:
            raise error
        finally:
            del error
    return [item for outcome in outcomes if isinstance(outcome, list) for item in outcome]


def _count(status: str) -> int:
    """Rows inserted, from a command tag such as "INSERT 0 42"."""
    try:
        return int(status.rsplit(" ", 1)[-1])
    except ValueError:
        return 0


class PostgresSink:
    def __init__(self, config: PostgresSinkConfig, context: SinkContext) -> None:
        self.name = config.name
        self.config = config
        self.schema = Schema(config.db_schema, config.table)
        self._rows = RowBuilder(config.partitions_max_past_days, config.partitions_max_future_days)
        # The blocks' encoding this sink takes as it is (rows made in the workers, see write_lines).
        self.encoding = encoding_key(config.partitions_max_past_days, config.partitions_max_future_days)
        self._partitions = Partitions(self.schema, config.partitions_ahead)
        self._insert_events = self.schema.insert_events()
        self._insert_metrics = self.schema.insert_metrics()
        self._insert_alerts = self.schema.insert_alerts()
        self._window = timedelta(seconds=config.fallback_dedup_window)
        self._pool: Any = None

    # -- lifecycle ----------------------------------------------------------------------------

    def _connect_args(self) -> dict[str, Any]:
        password = self.config.password.get_secret_value() if self.config.password else None
        args: dict[str, Any] = {
            "dsn": self.config.dsn,
            "password": password,
            "timeout": self.config.connect_timeout,
            "command_timeout": self.config.command_timeout,
        }
        tls = ssl_argument(self.config)
        if tls is not None:
            args["ssl"] = tls
        return args

    async def open(self) -> None:
        """Create the pool; min_size=0, so it connects on demand (``prepare`` is the first)."""
        if self._pool is not None:
            return
        try:
            self._pool = await asyncpg.create_pool(
                min_size=0, max_size=self.config.pool_size, init=_init_connection, **self._connect_args()
            )
        except Exception as exc:
            raise self._error(exc, classify(exc), "connect") from exc

    async def prepare(self) -> None:
        """Apply migrations and make sure today's partitions exist."""
        try:
            async with self._pool.acquire() as conn:
                await self._migrate(conn)
                await self._partitions.load(conn)
                await self._partitions.ensure(conn, (), datetime.now(UTC).date())
        except SinkError:
            raise
        except Exception as exc:
            raise self._error(exc, classify(exc), "set-up") from exc

    async def _migrate(self, conn: Any) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.schema.lock_key)
            await conn.execute(self.schema.migrations_ddl())
            applied = {row[0] for row in await conn.fetch(f"SELECT version FROM {self.schema.migrations}")}
            for version, description, statements in self.schema.migrations_list():
                if version in applied:
                    continue
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute(
                    f"INSERT INTO {self.schema.migrations} (version, description) VALUES ($1, $2)",
                    version,
                    description,
                )
                log.info(
                    "Migration applied",
                    extra={"sink": self.name, "table": self.config.table, "version": version},
                )
            # A table dropped after it was migrated (by hand, by a cleanup job): made again, empty.
            for table, statements in self.schema.tables():
                if await conn.fetchval("SELECT to_regclass($1) IS NULL", table):
                    log.warning("Table missing; creating it again", extra={"sink": self.name, "table": table})
                    for statement in statements:
                        await conn.execute(statement)

    async def sync(self) -> None:
        """Nothing to do: a batch is reported written only after its transaction committed."""

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                # Bounded: a connection stuck on a dead server must not hold up shutdown.
                await asyncio.wait_for(pool.close(), self.config.connect_timeout)
            except Exception as exc:  # close what can be closed, drop the rest
                log.warning("Pool not closed cleanly", extra={"sink": self.name, "error": str(exc)})
                pool.terminate()

    # -- writing ------------------------------------------------------------------------------

    async def write(self, events: list[Event]) -> WriteResult:
        if not events:
            return ACCEPTED
        now = datetime.now(UTC)
        parts = _split(events, self.config.parallel_parts)
        rejected = await _in_parts([self._write(part, now) for part in parts])
        return WriteResult(rejected=rejected) if rejected else ACCEPTED

    async def write_lines(self, blocks: list[Lines]) -> LinesResult:
        """Write blocks whose staging rows were built and encoded where they were encoded (a
        worker, :mod:`.copy`): one binary COPY of them per part. Blocks without them (read back
        from a disk buffer, the daemon's own metrics and alerts) are decoded and written as rows."""
        key = self.encoding
        if not blocks or not all(block.encoded and key in block.encoded for block in blocks):
            result = await self.write(lines.decode(blocks))
            return LinesResult(lines.encode(result.retry), result.rejected)
        now = datetime.now(UTC)
        total = lines.count(blocks)
        if not total:
            return LinesResult()
        count = max(1, min(self.config.parallel_parts, total // _MIN_PART))
        size = -(-total // count)  # ceiling
        parts = [_cut_blocks(blocks, start, start + size) for start in range(0, total, size)]
        rejected = await _in_parts([self._write_copy(part, now) for part in parts])
        return LinesResult(rejected=rejected)

    async def _write(self, events: list[Event], now: datetime) -> list[tuple[Event, str]]:
        """Write ``events``; if PostgreSQL refuses a value, split the batch to find the culprits."""
        rows: Rows | None = None
        try:
            async with self._pool.acquire() as conn:
                # Rows only once connected: while the server is down, a retry costs no encoding
                # and holds no second copy of the batch.
                rows = self._rows.build(events, now)
                await self._load(conn, rows, now)
            return rows.rejected
        except Exception as exc:
            outcome = classify(exc)
            if outcome is not Outcome.REJECT:
                raise self._error(exc, outcome, "write") from exc
            reason = describe(exc)
        if len(events) == 1:
            log.warning("PostgreSQL refused an event", extra={"sink": self.name, "error": reason})
            earlier = rows.rejected if rows is not None else []
            return [*earlier, (events[0], f"refused by PostgreSQL: {reason}")]
        middle = len(events) // 2
        return await self._write(events[:middle], now) + await self._write(events[middle:], now)

    async def _write_copy(self, blocks: list[Lines], now: datetime) -> list[tuple[Event, str]]:
        """:meth:`_write` for blocks with encoded rows (the same halving to find refused rows)."""
        try:
            async with self._pool.acquire() as conn:
                await self._load_copy(conn, blocks, now)
            return []
        except Exception as exc:
            outcome = classify(exc)
            if outcome is not Outcome.REJECT:
                raise self._error(exc, outcome, "write") from exc
            reason = describe(exc)
        total = lines.count(blocks)
        if total == 1:
            # The one row refused: written once more the sink's own way, which rejects it with the
            # server's reason if the server refuses the value, and stores it should the fault
            # have been in the encoded row.
            log.debug("Encoded row refused", extra={"sink": self.name, "error": reason})
            line = next(block for block in blocks if len(block)).line(0)
            return await self._write([lines.decode_line(line)], now)
        middle = total // 2
        first = await self._write_copy(_cut_blocks(blocks, 0, middle), now)
        return first + await self._write_copy(_cut_blocks(blocks, middle, total), now)

    async def _load_copy(self, conn: Any, blocks: list[Lines], now: datetime) -> None:
        timeout = self.config.command_timeout
        key = self.encoding
        encoded = [block.encoded[key] for block in blocks if block.encoded]
        days: set[date] = set()
        for part in encoded:
            days |= days_of(part.names)
        await self._partitions.ensure(conn, days, now.date())
        # A memoryview: asyncpg takes bytes for a file name (os.fspath accepts them).
        data = memoryview(b"".join([HEADER, *(part.data for part in encoded), TRAILER]))
        async with conn.transaction():
            await conn.copy_to_table(
                STAGE_EVENTS, source=data, columns=STAGE_EVENT_NAMES, format="binary", timeout=timeout
            )
            inserted = _count(await conn.execute(self._insert_events, self._window, timeout=timeout))
        total = sum(len(part.ends) for part in encoded)
        if inserted < total:
            log.debug(
                "Rows already stored were skipped",
                extra={"sink": self.name, "rows": total, "skipped": total - inserted},
            )

    async def _load(self, conn: Any, rows: Rows, now: datetime) -> None:
        timeout = self.config.command_timeout
        await self._partitions.ensure(conn, rows.days, now.date())
        async with conn.transaction():
            inserted = 0
            if rows.events:
                await conn.copy_records_to_table(
                    STAGE_EVENTS, records=rows.events, columns=STAGE_EVENT_NAMES, timeout=timeout
                )
                inserted += _count(await conn.execute(self._insert_events, self._window, timeout=timeout))
            if rows.metrics:
                await conn.copy_records_to_table(
                    STAGE_METRICS, records=rows.metrics, columns=METRIC_NAMES, timeout=timeout
                )
                inserted += _count(await conn.execute(self._insert_metrics, timeout=timeout))
            if rows.alerts:
                await conn.copy_records_to_table(
                    STAGE_ALERTS, records=rows.alerts, columns=ALERT_NAMES, timeout=timeout
                )
                inserted += _count(await conn.execute(self._insert_alerts, timeout=timeout))
        total = len(rows.events) + len(rows.metrics) + len(rows.alerts)
        if inserted < total:
            log.debug(
                "Rows already stored were skipped",
                extra={"sink": self.name, "rows": total, "skipped": total - inserted},
            )

    def _error(self, exc: BaseException, outcome: Outcome, during: str) -> SinkError:
        if outcome is Outcome.SETUP_LOST:
            # Someone dropped or altered a table under us: the runner prepares again, which
            # reloads the partitions it knows.
            self._partitions.known.clear()
        elif outcome is Outcome.REJECT:
            outcome = Outcome.FATAL  # a whole request (not one batch's events) that cannot work
        return sink_error(outcome, f"PostgreSQL {during} failed: {describe(exc)}")

    # -- check --------------------------------------------------------------------------------

    async def check(self) -> str:
        try:
            conn = await asyncpg.connect(**self._connect_args())
        except Exception as exc:
            raise self._error(exc, classify(exc), "connect") from exc
        try:
            user, database = await conn.fetchrow("SELECT current_user, current_database()")
            tables = (self.schema.events, self.schema.metrics, self.schema.alerts)
            if await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", self.schema.events):
                allowed = all(
                    [await conn.fetchval("SELECT has_table_privilege($1, 'INSERT')", t) for t in tables]
                )
                what = f"INSERT on {self.config.db_schema}.{self.config.table}"
            else:
                allowed = await conn.fetchval(
                    "SELECT has_schema_privilege($1, 'CREATE')", self.config.db_schema
                )
                what = f"CREATE in schema {self.config.db_schema} (tables not created yet)"
        except Exception as exc:
            raise self._error(exc, classify(exc), "check") from exc
        finally:
            await conn.close()
        where = urlsplit(self.config.dsn).hostname or "local socket"
        if not allowed:
            raise FatalSinkError(f"PostgreSQL user {user} lacks {what} in database {database}")
        return f"connected to {where}/{database} as {user}; {what} granted"
