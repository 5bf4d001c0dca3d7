"""PostgreSQL sink against a real server: exactly-once rows, daily partitions, typed columns, errors."""

from __future__ import annotations

import logging
import subprocess
import uuid
from array import array
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from logflume.config import parse_config
from logflume.errors import FatalSinkError, RetryableSinkError
from logflume.events import META_KEY, Event
from logflume.lines import Encoded, Lines
from logflume.sinks.postgres.config import PostgresSinkConfig
from logflume.sinks.postgres.sink import PostgresSink
from logflume.sinks.registry import SinkContext, build_sink
from tests.fixtures.common import free_port
from tests.fixtures.postgres import PASSWORD, PostgresServer
from tests.sinks import encoded
from tests.sinks.ready import ready

TODAY = datetime.now(UTC).date()


def make_event(n: int, day: date = TODAY, **fields: Any) -> Event:
    """An LLM-proxy log line as the parse stage hands it over (with logflume metadata)."""
    event: Event = {
        "timestamp": f"{day.isoformat()}T10:30:15.123Z",
        "level": "INFO",
        "logger": "llm_proxy.api",
        "message": "Chat completion request processed",
        "request_id": f"req_{n}",
        "user_id": "user_987654321",
        "provider": "openai",
        "model": "gpt-4",
        "tokens": 150,
        "response_time_ms": 245.67,
        "status_code": 200,
        "ip_address": "192.168.1.100",
        "extra_data": {"temperature": 0.7, "stream": False},
        META_KEY: {
            "event_id": f"f00d-{n:x}",
            "source": "proxy",
            "file": "/var/log/proxy/app.log",
            "offset": n * 400,
            "ingested_at": f"{TODAY.isoformat()}T10:30:16.000Z",
        },
    }
    event.update(fields)
    return event


def config(server: PostgresServer, table: str, **fields: Any) -> PostgresSinkConfig:
    return PostgresSinkConfig.model_validate(
        {
            "name": "pg",
            "type": "postgres",
            "dsn": server.dsn_without_password(),
            "password": PASSWORD,
            "table": table,
            **fields,
        }
    )


def make_sink(server: PostgresServer, table: str, **fields: Any) -> PostgresSink:
    return PostgresSink(config(server, table, **fields), SinkContext(Path("/nonexistent"), "test-host"))


@pytest.fixture
def table() -> str:
    """A table name no other test uses."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def db(postgres_server: PostgresServer) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(postgres_server.dsn)
    yield conn
    await conn.close()


@pytest.fixture
async def sink(postgres_server: PostgresServer, table: str) -> AsyncIterator[PostgresSink]:
    sink = make_sink(postgres_server, table)
    await ready(sink)
    yield sink
    await sink.close()


async def stored_ids(db: asyncpg.Connection, table: str) -> list[str]:
    return sorted(r[0] for r in await db.fetch(f'SELECT event_id FROM "{table}"'))


class TestDelivery:
    async def test_writes_each_event_once(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str
    ) -> None:
        """A few thousand events become exactly one row each."""
        events = [make_event(n) for n in range(3000)]
        result = await sink.write(events)
        expected = ([], [])
        assert expected == (result.retry, result.rejected)
        assert sorted(f"f00d-{n:x}" for n in range(3000)) == await stored_ids(db, table)

    async def test_replayed_batches_leave_each_event_once(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str
    ) -> None:
        """Writing the same batch again, and an overlapping one, adds only the new events."""
        await sink.write([make_event(n) for n in range(2000)])
        await sink.write([make_event(n) for n in range(2000)])
        await sink.write([make_event(n) for n in range(1500, 2500)])
        assert sorted(f"f00d-{n:x}" for n in range(2500)) == await stored_ids(db, table)

    async def test_typed_columns_hold_the_common_fields(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str
    ) -> None:
        """The usual fields get typed columns, and the whole event is kept as jsonb."""
        event = make_event(1)
        await sink.write([event])
        row = await db.fetchrow(
            f"SELECT ts, level, logger, message, request_id, user_id, provider, model, tokens, "
            f'response_time_ms, status_code, host(ip) AS ip, source, event::text AS event FROM "{table}"'
        )
        assert row is not None
        expected = {
            "ts": datetime.combine(TODAY, datetime.min.time(), UTC)
            + timedelta(hours=10, minutes=30, seconds=15.123),
            "level": "INFO",
            "logger": "llm_proxy.api",
            "message": "Chat completion request processed",
            "request_id": "req_1",
            "user_id": "user_987654321",
            "provider": "openai",
            "model": "gpt-4",
            "tokens": 150,
            "response_time_ms": 245.67,
            "status_code": 200,
            "ip": "192.168.1.100",
            "source": "proxy",
        }
        assert expected == {k: row[k] for k in expected}
        import orjson

        assert event == orjson.loads(row["event"])

    async def test_unconvertible_values_are_null_in_typed_columns_but_kept_in_jsonb(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str
    ) -> None:
        """Bad values do not fail the batch: NUL is removed, a bad IP or number becomes NULL."""
        bad = make_event(
            7,
            message="before\x00after",
            ip_address="not-an-ip",
            tokens="many",
            status_code=10**20,
            response_time_ms={"nested": True},
            huge=10**30,
        )
        result = await sink.write([make_event(6), bad])
        expected = []
        assert expected == result.rejected
        row = await db.fetchrow(
            f"SELECT message, ip, tokens, status_code, response_time_ms, event->>'huge' AS huge, "
            f"event->>'message' AS raw_message, event->>'ip_address' AS raw_ip, "
            f"event->'status_code' AS raw_status FROM \"{table}\" WHERE event_id = 'f00d-7'"
        )
        assert row is not None
        assert {
            "message": "beforeafter",
            "ip": None,
            "tokens": None,
            "status_code": None,
            "response_time_ms": None,
            "huge": str(10**30),
            "raw_message": "beforeafter",
            "raw_ip": "not-an-ip",
            "raw_status": "100000000000000000000",
        } == dict(row)

    async def test_an_event_json_cannot_hold_is_rejected_alone(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str
    ) -> None:
        """An event nested too deeply to encode (deeper than Python's recursion limit) is rejected
        with a reason; the rest of the batch is written."""
        deep: dict[str, Any] = {}
        node = deep
        for _ in range(5000):
            node["x"] = {}
            node = node["x"]
        bad = make_event(2, payload=deep)
        result = await sink.write([make_event(1), bad, make_event(3)])
        assert [bad] == [event for event, _ in result.rejected]
        assert "cannot encode event as JSON" in result.rejected[0][1]
        expected = ["f00d-1", "f00d-3"]
        assert expected == await stored_ids(db, table)

    @pytest.mark.parametrize("rows", ["sink-built", "worker-encoded"])
    async def test_an_event_postgres_refuses_is_rejected_alone(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str, rows: str
    ) -> None:
        """When the server refuses one row (here a CHECK constraint), the batch is split until only
        that event is rejected, as it was; every other event is stored. The same whether the sink
        builds the rows or they come encoded for binary COPY from a worker."""
        await db.execute(f"ALTER TABLE \"{table}\" ADD CONSTRAINT refuse CHECK (message <> 'refuse me')")
        events = [make_event(n) for n in range(3000)]  # written in parallel parts
        events[2222]["message"] = "refuse me"
        if rows == "worker-encoded":
            result: Any = await sink.write_lines(worker_blocks(sink, events))
        else:
            result = await sink.write(events)
        assert [events[2222]] == [event for event, _ in result.rejected]
        assert "CheckViolationError" in result.rejected[0][1]
        assert sorted(f"f00d-{n:x}" for n in range(3000) if n != 2222) == await stored_ids(db, table)

    async def test_events_without_timestamp_stay_once_when_replayed_later(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str
    ) -> None:
        """An event dated by its ingest time is not stored twice when a replay ingests it an hour later."""
        first = make_event(5)
        del first["timestamp"]
        replay = make_event(5)
        del replay["timestamp"]
        replay[META_KEY]["ingested_at"] = f"{TODAY.isoformat()}T11:30:16.000Z"
        await sink.write([first])
        await sink.write([replay])
        rows = await db.fetch(f'SELECT event_id, ts FROM "{table}"')
        ingested = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(
            hours=10, minutes=30, seconds=16
        )
        assert [("f00d-5", ingested)] == [(r["event_id"], r["ts"]) for r in rows]

    async def test_events_by_the_daemon_are_written_through_the_registry(
        self, postgres_server: PostgresServer, db: asyncpg.Connection, table: str
    ) -> None:
        """A config file's postgres sink, with the password from the environment, builds and writes."""
        text = (
            "state_dir: /tmp/x\nsources: [{name: proxy, include: [/tmp/x/*.log]}]\n"
            f"sinks:\n  - name: db\n    type: postgres\n    dsn: {postgres_server.dsn_without_password()}\n"
            f"    password: ${{PG_TEST_PASSWORD}}\n    table: {table}\n"
        )
        cfg = parse_config(text, env={"PG_TEST_PASSWORD": PASSWORD})
        assert PASSWORD not in repr(cfg.sinks[0])
        sink = build_sink(cfg.sinks[0], SinkContext(Path("/tmp/x"), "h"))
        await ready(sink)
        try:
            await sink.write([make_event(1)])
        finally:
            await sink.close()
        expected = ["f00d-1"]
        assert expected == await stored_ids(db, table)


class TestPartitions:
    async def test_events_land_in_the_partition_of_their_day(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str
    ) -> None:
        """Events of three days go to three daily partitions, none to the default partition."""
        days = [TODAY - timedelta(days=2), TODAY - timedelta(days=1), TODAY]
        await sink.write([make_event(i * 10 + n, day) for i, day in enumerate(days) for n in range(3)])
        rows = await db.fetch(
            f'SELECT tableoid::regclass::text AS part, count(*) AS n FROM "{table}" GROUP BY 1'
        )
        assert {f"{table}_p{day:%Y%m%d}": 3 for day in days} == {r["part"]: r["n"] for r in rows}

    async def test_today_and_tomorrow_exist_after_open(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str
    ) -> None:
        """Opening creates the default partition and those of today and tomorrow, ahead of need."""
        rows = await db.fetch(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = $1::regclass",
            table,
        )
        tomorrow = TODAY + timedelta(days=1)
        assert {f"{table}_default", f"{table}_p{TODAY:%Y%m%d}", f"{table}_p{tomorrow:%Y%m%d}"} == {
            r[0] for r in rows
        }

    async def test_rows_parked_in_default_move_when_their_partition_is_created(
        self, postgres_server: PostgresServer, db: asyncpg.Connection, table: str
    ) -> None:
        """An event dated beyond the partition horizon waits in DEFAULT; once a sink creates its day's
        partition, the waiting row moves there and nothing is lost or doubled."""
        later = TODAY + timedelta(days=5)
        narrow = make_sink(postgres_server, table, partitions_max_future_days=1)
        await ready(narrow)
        await narrow.write([make_event(1, later)])
        await narrow.close()
        wide = make_sink(postgres_server, table, partitions_max_future_days=7)
        await ready(wide)
        await wide.write([make_event(2, later), make_event(1, later)])
        await wide.close()
        rows = await db.fetch(f'SELECT event_id, tableoid::regclass::text AS part FROM "{table}" ORDER BY 1')
        part = f"{table}_p{later:%Y%m%d}"
        assert [("f00d-1", part), ("f00d-2", part)] == [(r["event_id"], r["part"]) for r in rows]

    async def test_metric_and_alert_events_go_to_their_own_tables(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str
    ) -> None:
        """Window metrics and alerts get their own tables, typed columns and jsonb; replays add nothing."""
        metric: Event = {
            "type": "metric",
            "name": "requests_total",
            "window_start": "2024-01-15T10:00:00Z",
            "window_end": "2024-01-15T10:01:00Z",
            "count": 42,
            "dimensions": {"provider": "openai", "model": "gpt-4"},
            META_KEY: {"event_id": "metric-1", "source": "proxy"},
        }
        alert: Event = {
            "type": "alert",
            "rule": "error_rate",
            "severity": "critical",
            "state": "firing",
            "subject": "provider=openai",
            "message": "Error rate 12% over 5m",
            "started_at": "2024-01-15T10:05:00Z",
            META_KEY: {"event_id": "alert-1", "source": "proxy"},
        }
        for _ in range(2):
            await sink.write([make_event(1), metric, alert])
        metrics = await db.fetch(
            f"SELECT event_id, name, window_start, window_end, count, source, dimensions->>'model' AS model "
            f'FROM "{table}_metrics"'
        )
        alerts = await db.fetch(
            f'SELECT event_id, rule, severity, state, subject, message, started_at FROM "{table}_alerts"'
        )
        ten = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)
        assert [("metric-1", "requests_total", ten, ten + timedelta(minutes=1), 42, "proxy", "gpt-4")] == [
            tuple(r) for r in metrics
        ]
        assert [
            (
                "alert-1",
                "error_rate",
                "critical",
                "firing",
                "provider=openai",
                "Error rate 12% over 5m",
                ten + timedelta(minutes=5),
            )
        ] == [tuple(r) for r in alerts]
        expected = ["f00d-1"]
        assert expected == await stored_ids(db, table)


class TestSetup:
    async def test_migrations_run_once(
        self, postgres_server: PostgresServer, db: asyncpg.Connection, table: str
    ) -> None:
        """A second sink opening the same table finds it migrated and records nothing new."""
        for _ in range(2):
            sink = make_sink(postgres_server, table)
            await ready(sink)
            await sink.close()
        rows = await db.fetch(f'SELECT version FROM "{table}_migrations"')
        expected = [1]
        assert expected == [r[0] for r in rows]

    async def test_check_reports_what_it_verified(self, sink: PostgresSink) -> None:
        """check() connects and confirms INSERT on the table."""
        assert "INSERT on public." in await sink.check()


class TestErrors:
    async def test_wrong_password_is_fatal(self, postgres_server: PostgresServer, table: str) -> None:
        """Authentication failure cannot be fixed by retrying: preparing the sink is fatal."""
        sink = make_sink(postgres_server, table, password="wrong")
        with pytest.raises(FatalSinkError, match="28P01"):
            await ready(sink)
        await sink.close()

    async def test_missing_database_is_fatal(self, postgres_server: PostgresServer, table: str) -> None:
        """A database that does not exist is a configuration error."""
        sink = make_sink(postgres_server, table)
        sink.config = config(postgres_server, table, dsn=postgres_server.dsn_without_password() + "_missing")
        with pytest.raises(FatalSinkError, match="3D000"):
            await sink.check()

    async def test_nothing_listening_is_retryable(self, table: str) -> None:
        """Connection refused is transient: open() makes a pool that connects on demand, prepare()
        asks for a retry."""
        cfg = PostgresSinkConfig.model_validate(
            {
                "name": "pg",
                "type": "postgres",
                "dsn": f"postgresql://u@127.0.0.1:{free_port()}/db",
                "table": table,
            }
        )
        sink = PostgresSink(cfg, SinkContext(Path("/nonexistent"), "h"))
        await sink.open()
        with pytest.raises(RetryableSinkError, match="ConnectionRefusedError"):
            await sink.prepare()
        await sink.close()

    async def test_check_refuses_a_user_without_insert(
        self, sink: PostgresSink, postgres_server: PostgresServer, db: asyncpg.Connection, table: str
    ) -> None:
        """A user who may read but not insert fails check() with a fatal error."""
        role = f"reader_{table}"
        await db.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pw'")
        await db.execute(f'GRANT SELECT ON "{table}" TO {role}')
        try:
            reader = make_sink(
                postgres_server,
                table,
                dsn=f"postgresql://{role}@127.0.0.1:{postgres_server.port}/postgres",
                password="reader-pw",
            )
            with pytest.raises(FatalSinkError, match="lacks INSERT"):
                await reader.check()
        finally:
            await db.execute(f'REVOKE ALL ON "{table}" FROM {role}')
            await db.execute(f"DROP ROLE {role}")


@pytest.fixture
def other_ca(tmp_path: Path) -> Path:
    """A CA certificate that did not sign the test server's certificate."""
    ca = tmp_path / "other-ca.crt"
    command = f"openssl req -x509 -newkey rsa:2048 -nodes -keyout {tmp_path / 'k'} -out {ca} -days 1"
    subprocess.run([*command.split(), "-subj", "/CN=someone else"], check=True, capture_output=True)
    return ca


class TestTls:
    async def ssl_in_use(self, sink: PostgresSink) -> bool:
        async with sink._pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"))

    async def test_verify_full_with_the_servers_ca_connects_over_tls(
        self, postgres_server: PostgresServer, db: asyncpg.Connection, table: str
    ) -> None:
        """sslmode verify-full with the CA that signed the server's certificate writes over TLS."""
        sink = make_sink(
            postgres_server, table, sslmode="verify-full", ssl_ca_file=str(postgres_server.ca_file)
        )
        try:
            await ready(sink)
            await sink.write([make_event(1)])
            expected = (True, ["f00d-1"])
            assert expected == (await self.ssl_in_use(sink), await stored_ids(db, table))
        finally:
            await sink.close()

    async def test_disable_connects_in_clear(self, postgres_server: PostgresServer, table: str) -> None:
        """sslmode disable does not use TLS even though the server offers it."""
        sink = make_sink(postgres_server, table, sslmode="disable")
        try:
            await ready(sink)
            await sink.write([make_event(1)])
            assert False is await self.ssl_in_use(sink)
        finally:
            await sink.close()

    async def test_a_certificate_from_another_ca_is_fatal(
        self, postgres_server: PostgresServer, table: str, other_ca: Path
    ) -> None:
        """A server certificate the configured CA did not sign is refused for good, not retried."""
        sink = make_sink(postgres_server, table, sslmode="verify-full", ssl_ca_file=str(other_ca))
        with pytest.raises(FatalSinkError, match="certificate verify failed"):
            await ready(sink)
        await sink.close()


def worker_blocks(sink: PostgresSink, events: list[Event], size: int = 500) -> list[Lines]:
    """``events`` as a worker hands them over: blocks of lines, each with the sink's staging rows
    encoded for binary COPY beside them, where the encoder makes them."""
    return encoded.worker_blocks(sink.encoding, events, size)


def varied_events(count: int) -> list[Event]:
    """Events exercising every column type and conversion: days apart, no time of their own,
    unconvertible values, IPv6, text beyond ASCII, NUL, big numbers, missing fields."""
    events = []
    for n in range(count):
        event = make_event(n, TODAY - timedelta(days=n % 3))
        kind = n % 10
        if kind == 1:
            del event["timestamp"]
        elif kind == 2:
            event.update(ip_address="2001:db8::1", message="héllo ✓ 𝄞", tokens="12", status_code=503.0)
        elif kind == 3:
            event.update(ip_address="not-an-ip", tokens="many", status_code=10**20, response_time_ms="x")
        elif kind == 4:
            event.update(message="before\x00after", huge=10**30)
        elif kind == 5:
            for key in ("level", "logger", "user_id", "provider", "model", "tokens", "status_code"):
                del event[key]
        elif kind == 6:
            event.update(msg=event.pop("message"), tokens_used=event.pop("tokens"))
            event["ip"] = event.pop("ip_address")
        elif kind == 7:
            event["timestamp"] = "2026-02-30T00:00:00Z"  # no such day: filed by ingest time
        elif kind == 8:
            event.update(response_time_ms=-0.0, tokens=-(2**63), status_code=-(2**31))
        events.append(event)
    return events


class TestWorkerEncodedRows:
    """Rows built and encoded for binary COPY in the workers are stored exactly as the rows the
    sink builds itself from the same events."""

    async def test_the_rows_stored_are_the_sinks_own(
        self, postgres_server: PostgresServer, db: asyncpg.Connection, table: str
    ) -> None:
        events = varied_events(3000)
        own, copied = make_sink(postgres_server, table), make_sink(postgres_server, table + "_w")
        await ready(own)
        await ready(copied)
        try:
            blocks = worker_blocks(copied, events)
            assert all(block.encoded for block in blocks)  # the encoded path is the one taken
            result = await copied.write_lines(blocks)
            expected = await own.write(events)
        finally:
            await own.close()
            await copied.close()
        assert (result.retry, result.rejected, expected.rejected) == ([], [], [])
        query = 'SELECT * FROM "{}" ORDER BY event_id'
        mine = [dict(row) for row in await db.fetch(query.format(table))]
        theirs = [dict(row) for row in await db.fetch(query.format(table + "_w"))]
        assert len(mine) == 3000
        assert mine == theirs

    async def test_blocks_with_metrics_or_without_rows_are_written_by_the_sink(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str
    ) -> None:
        """A block holding a metric event gets no encoded rows (its rows go to another table);
        written beside encoded blocks, every event is still stored, each in its table."""
        metric: Event = {
            "type": "metric",
            "name": "requests_total",
            "window_start": "2024-01-15T10:00:00Z",
            "window_end": "2024-01-15T10:01:00Z",
            "count": 42,
            META_KEY: {"event_id": "metric-1", "source": "proxy"},
        }
        blocks = worker_blocks(sink, [make_event(1), metric]) + worker_blocks(sink, [make_event(2)])
        assert [block.encoded is None for block in blocks] == [True, False]
        result = await sink.write_lines(blocks)
        assert result.rejected == []
        assert ["f00d-1", "f00d-2"] == await stored_ids(db, table)
        metrics = await db.fetch(f'SELECT event_id FROM "{table}_metrics"')
        assert [("metric-1",)] == [tuple(r) for r in metrics]

    async def test_a_row_encoded_wrongly_is_stored_the_sinks_own_way(
        self, sink: PostgresSink, db: asyncpg.Connection, table: str, caplog: pytest.LogCaptureFixture
    ) -> None:
        """Should an encoded row be malformed (a fault in the encoder, here a boolean of two bytes),
        the server's refusal narrows it down to that row, which is then built and stored the
        sink's own way: nothing is lost or dead-lettered."""
        events = [make_event(n) for n in range(10)]
        (block,) = worker_blocks(sink, events)
        assert block.encoded is not None
        encoded = block.encoded[sink.encoding]
        start, end = encoded.ends[3], encoded.ends[4]
        item = bytes(encoded.data[start:end])
        assert item.endswith(b"\x00\x00\x00\x01\x00")  # ts_fallback false, the last field
        broken = item[:-5] + b"\x00\x00\x00\x02\x00\x00"
        data = bytes(encoded.data[:start]) + broken + bytes(encoded.data[end:])
        ends = array("q", [*encoded.ends[:4], *(e + 1 for e in encoded.ends[4:])])
        block.encoded[sink.encoding] = Encoded(data, ends, encoded.names)
        caplog.set_level(logging.DEBUG, logger="logflume.sinks.postgres")
        result = await sink.write_lines([block])
        assert result.rejected == []
        assert sorted(f"f00d-{n:x}" for n in range(10)) == await stored_ids(db, table)
        refused = [r for r in caplog.records if r.getMessage() == "Encoded row refused"]
        assert len(refused) == 1  # the server did refuse it, and only that row in the end
        assert "binary" in str(refused[0].__dict__.get("error"))

    async def test_blocks_without_events_write_nothing(self, sink: PostgresSink) -> None:
        empty = Lines("proxy", b"", array("q"), {sink.encoding: Encoded(b"", array("q"))})
        assert (await sink.write_lines([empty, empty])).rejected == []
