"""Exporting the PostgreSQL sink's events (the ``event`` jsonb of each row) as a JSON-lines file.

The export is one ``COPY … TO STDOUT`` streamed to disk, with the time window pushed down to the
indexed ``ts`` column, so no Python code runs per row. In COPY's text format the only escaping a
single-line jsonb text can carry is a doubled backslash (jsonb prints control characters as JSON
escapes and never a raw tab or newline), so undoing that one escape yields the JSON line.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from logflume.errors import AnalysisError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def quote_table(name: str) -> str:
    """``schema.table`` or ``table`` as a quoted SQL identifier; anything else is refused."""
    parts = name.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.match(part) for part in parts):
        raise AnalysisError(f"invalid table name {name!r}: use table or schema.table")
    return ".".join(f'"{part}"' for part in parts)


def export_query(table: str, since: datetime | None, until: datetime | None) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    args: list[Any] = []
    if since is not None:
        args.append(since)
        conditions.append(f"ts >= ${len(args)}")
    if until is not None:
        args.append(until)
        conditions.append(f"ts < ${len(args)}")
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    return f"SELECT event::text FROM {quote_table(table)}{where}", args


class _LineWriter:
    """Receives COPY text chunks, undoes the backslash escape on whole lines, writes them."""

    def __init__(self, path: Path) -> None:
        self.out = path.open("wb")
        self.rest = b""

    async def __call__(self, chunk: bytes) -> None:
        data = self.rest + chunk
        end = data.rfind(b"\n") + 1
        # A line split across chunks waits for its end, so an escape is never cut in two.
        self.rest = data[end:]
        if end:
            self.out.write(data[:end].replace(b"\\\\", b"\\"))

    def close(self) -> None:
        if self.rest:
            self.out.write(self.rest.replace(b"\\\\", b"\\") + b"\n")
        self.out.close()


async def export_events(
    url: str, table: str, dest: Path, since: datetime | None, until: datetime | None
) -> Path:
    """Write the events of ``table`` within the window to ``dest/events.jsonl``; returns that path."""
    query, args = export_query(table, since, until)
    path = dest / "events.jsonl"
    writer = _LineWriter(path)
    try:
        connection = await asyncpg.connect(url)
        try:
            await connection.copy_from_query(query, *args, output=writer, format="text")
        finally:
            await connection.close()
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
        raise AnalysisError(f"cannot read table {table} from PostgreSQL: {exc}") from exc
    finally:
        writer.close()
    return path
