"""Daily RANGE partitions of the events table, created before a batch needs them.

Known partitions are cached, so a batch whose days all exist costs a set lookup. Creation runs
under an advisory lock (several daemons may share a table) and re-checks the catalog inside it.
Rows whose day has no partition land in the DEFAULT partition (too old, too far ahead, or a
race); creating that day's partition later moves them out of it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from logflume.sinks.postgres.schema import Schema

log = logging.getLogger("logflume.sinks.postgres")


class Partitions:
    def __init__(self, schema: Schema, ahead: int) -> None:
        self.schema = schema
        self.ahead = ahead
        self.known: set[str] = set()

    def wanted(self, days: Iterable[date], today: date) -> list[date]:
        """Days (from the batch, plus today and the days ahead) that have no partition yet."""
        needed = set(days)
        needed.update(today + timedelta(days=n) for n in range(self.ahead + 1))
        return sorted(d for d in needed if self.schema.partition_name(d) not in self.known)

    async def load(self, conn: Any) -> None:
        rows = await conn.fetch(self.schema.list_partitions(), self.schema.events)
        self.known = {row[0] for row in rows}

    async def ensure(self, conn: Any, days: Iterable[date], today: date) -> None:
        missing = self.wanted(days, today)
        if not missing:
            return
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", self.schema.lock_key)
            await self.load(conn)
            for day in missing:
                name = self.schema.partition_name(day)
                if name in self.known:
                    continue
                if await conn.fetchval(self.schema.default_has_rows(day)):
                    for statement in self.schema.move_from_default(day):
                        await conn.execute(statement)
                    log.info("Moved rows out of the default partition", extra={"partition": name})
                else:
                    await conn.execute(self.schema.create_partition(day))
                log.info("Partition created", extra={"partition": name})
        # Only after the commit: a rolled-back creation must not be remembered.
        self.known.update(self.schema.partition_name(day) for day in missing)
