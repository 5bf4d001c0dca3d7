"""The DuckDB side of ``analyze``: one scan of the inputs into a small columnar table, then SQL.

The scan is DuckDB's ``read_json`` over every file at once (gzip decoded by DuckDB, files read in
parallel) with an explicit column list, so lines with different keys, missing keys and values of
the wrong type all load: a value that does not convert becomes NULL, and a line that is not a JSON
object becomes a row of NULLs, which the "is an event" test drops. Only the fields the statistics
need are kept (the message only for error events), so the aggregate queries, the groups and the
plot data after it read a few columns of memory instead of the files again. Compressed files with
an analysis digest beside them (:mod:`logflume.digest`: the same rows, made by the same SQL when
the file sink closed the file) are read from the digest instead of being decompressed.

Why these definitions (see :mod:`logflume.analysis.results`): the seed's ``LogAnalyzer`` counts
every line as a request, but one request logs several lines and only the outcome line carries a
response time or a status code, so counting those lines gives one request per request. Errors
follow the seed's ``level == ERROR`` plus CRITICAL/FATAL and any 5xx status (a 4xx is the
client's fault, not the proxy's). ``error_rate`` is errors among requests, so it stays within
0..1; error lines that are not outcome lines (a provider timeout logged before the response) are
still counted in ``error_events`` and listed in ``top_errors``, which is what one greps for.
Percentiles are ``quantile_cont``: linear interpolation, the same as numpy's default.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb

from logflume import digest
from logflume.analysis.inputs import LocalFile
from logflume.analysis.progress import progress_bar
from logflume.analysis.results import (
    GROUP_FIELDS,
    Histogram,
    Metrics,
    PlotData,
    ProviderPoint,
    Report,
    TimePoint,
)
from logflume.errors import AnalysisError

HISTOGRAM_BINS = 60
TIMELINE_BUCKETS = 120
# Candidate bucket widths for the timeline, seconds: the first that gives at most
# TIMELINE_BUCKETS buckets is used, so a minute of logs and a month of logs both plot well.
BUCKET_WIDTHS = (1, 5, 10, 30, 60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 7 * 86400)

_METRICS_SQL = """
    count(*) AS total_events,
    count(*) FILTER (WHERE is_request) AS total_requests,
    count(*) FILTER (WHERE is_request AND is_error) AS error_count,
    count(*) FILTER (WHERE is_error) AS error_events,
    avg(rt) AS avg_rt,
    quantile_cont(rt, [0.5, 0.95, 0.99]) AS quantiles,
    count(*) FILTER (WHERE rt > $slow) AS slow_requests,
    count(*) FILTER (WHERE cache_hit) AS cache_hits,
    count(cache_hit) AS cache_lookups
"""


def _metrics(row: Sequence[Any]) -> Metrics:
    """A Metrics from the columns of ``_METRICS_SQL``, in order."""
    total, requests, errors, error_events, avg_rt, quantiles, slow, hits, lookups = row
    p50, p95, p99 = quantiles if quantiles is not None else (None, None, None)
    return Metrics(
        total_events=int(total),
        total_requests=int(requests),
        error_count=int(errors),
        error_events=int(error_events),
        avg_response_time_ms=avg_rt,
        p50_ms=p50,
        p95_ms=p95,
        p99_ms=p99,
        slow_requests=int(slow),
        cache_hits=int(hits),
        cache_lookups=int(lookups),
    )


class Engine:
    """An in-memory DuckDB database holding the events of one ``analyze`` run."""

    def __init__(self, progress: bool = False, threads: int | None = None) -> None:
        self.db = duckdb.connect(":memory:")
        self.progress = progress
        self.group_by: str | None = None
        self.files = 0
        self.digests = 0
        # The scan of the inputs without the time window, for any_requests().
        self._scan: tuple[str, dict[str, Any]] = ("SELECT * FROM (SELECT NULL AS is_request) WHERE false", {})
        # Timestamps without an offset are UTC, and results come back in UTC.
        self.db.execute("SET TimeZone = 'UTC'")
        # Row order is irrelevant to aggregates; dropping it lets the load stream with less memory.
        self.db.execute("SET preserve_insertion_order = false")
        self.db.execute("SET enable_progress_bar = true")
        self.db.execute("SET enable_progress_bar_print = false")
        if threads is not None:
            self.db.execute(f"SET threads = {int(threads)}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
        try:
            with progress_bar(self.db, self.progress):
                return self.db.execute(sql, params or {}).fetchall()
        except duckdb.Error as exc:
            raise AnalysisError(f"cannot analyse the input: {exc}") from exc

    def load(
        self,
        files: Sequence[LocalFile],
        since: datetime | None = None,
        until: datetime | None = None,
        group_by: str | None = None,
        use_digests: bool = True,
    ) -> None:
        """Scan ``files`` once into the ``ev`` table, keeping events in ``[since, until)``.

        A compressed file with a matching digest (:mod:`logflume.digest`) is read from its digest;
        every other file is decoded, through the same SQL that made the digests. With a window,
        events without a readable timestamp are left out (their time is unknown).
        """
        if group_by is not None and group_by not in GROUP_FIELDS:
            raise AnalysisError(f"cannot group by {group_by!r}: use one of {', '.join(GROUP_FIELDS)}")
        self.group_by = group_by
        self.files = len(files)
        params: dict[str, Any] = {}
        digests: list[str] = []
        decode: dict[str, list[str]] = {"gzip": [], "none": []}
        for file in files:
            found = digest.find(file.path) if use_digests and file.gzip else None
            if found is not None:
                digests.append(str(found))
            else:
                decode["gzip" if file.gzip else "none"].append(str(file.path))
        self.digests = len(digests)
        scans: list[str] = []
        for compression, paths in decode.items():
            if paths:
                params[f"files_{compression}"] = paths
                params["columns"] = digest.RAW_COLUMNS
                scans.append(digest.rows_sql(digest.read_json_sql(f"files_{compression}", compression)))
        if digests:
            params["digests"] = digests
            columns = ", ".join(digest.DIGEST_COLUMNS)
            scans.append(f"SELECT {columns} FROM read_parquet($digests)")
        if not scans:
            scans.append(digest.rows_sql(f"SELECT * FROM ({self._empty_row()}) WHERE false"))
        self._scan = (" UNION ALL ".join(scans), dict(params))
        conditions = ["true"]
        if since is not None:
            params["since"] = since
            conditions.append("ts >= $since")
        if until is not None:
            params["until"] = until
            conditions.append("ts < $until")
        group = f"CAST({digest.quote(group_by)} AS VARCHAR)" if group_by else "NULL::VARCHAR"
        if group_by == "level":
            group = "upper(level)"
        try:
            self._run(
                f"""
                CREATE OR REPLACE TABLE ev AS
                SELECT ts, {group} AS grp, provider, rt, is_request, is_error, error_message, cache_hit
                FROM ({" UNION ALL ".join(scans)})
                WHERE {" AND ".join(conditions)}
                """,
                params,
            )
        except AnalysisError as exc:
            if not digests:
                raise
            # A digest damaged after it was written (its name still matches): the archives are
            # the truth, so answer from them rather than not at all.
            print(f"logflume analyze: a digest is unreadable ({exc}); decoding the archives", file=sys.stderr)
            self.load(files, since, until, group_by, use_digests=False)

    def any_requests(self) -> bool:
        """Whether any line of the inputs, inside the window or not, is a request.

        Stops at the first one, so it is cheap unless the answer is no (then it scans everything,
        which only happens when the report would be empty anyway).
        """
        sql, params = self._scan
        return bool(self._run(f"SELECT 1 FROM ({sql}) WHERE is_request LIMIT 1", params))

    @staticmethod
    def _empty_row() -> str:
        return "SELECT " + ", ".join(
            f"NULL::{kind} AS {digest.quote(name)}" for name, kind in digest.RAW_COLUMNS.items()
        )

    def report(
        self,
        slow_ms: float = 5000.0,
        top: int = 10,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Report:
        """The statistics of the loaded events."""
        params = {"slow": slow_ms}
        row = self._run(f"SELECT {_METRICS_SQL}, min(ts), max(ts) FROM ev", params)[0]
        summary = _metrics(row[:9])
        top_errors = [
            (str(message), int(count))
            for message, count in self._run(
                "SELECT coalesce(error_message, '(no message)') AS m, count(*) AS c FROM ev "
                "WHERE is_error GROUP BY m ORDER BY c DESC, m LIMIT $top",
                {"top": top},
            )
        ]
        groups: list[tuple[str, Metrics]] = []
        if self.group_by is not None:
            for values in self._run(
                f"SELECT coalesce(grp, '(none)') AS g, {_METRICS_SQL} FROM ev GROUP BY g "
                "ORDER BY total_requests DESC, total_events DESC, g",
                params,
            ):
                groups.append((str(values[0]), _metrics(values[1:])))
        return Report(
            summary=summary,
            top_errors=top_errors,
            group_by=self.group_by,
            groups=groups,
            first_event=row[9],
            last_event=row[10],
            since=since,
            until=until,
            slow_ms=slow_ms,
            files=self.files,
            digests=self.digests,
        )

    def plot_data(self) -> PlotData:
        """Response-time histogram, error rate over time and requests per provider."""
        return PlotData(
            histogram=self._histogram(),
            timeline=(timeline := self._timeline())[0],
            bucket_seconds=timeline[1],
            providers=[
                ProviderPoint(str(name), int(requests), int(errors), avg)
                for name, requests, errors, avg in self._run(
                    "SELECT coalesce(provider, '(none)') AS p, count(*) FILTER (WHERE is_request) AS r, "
                    "count(*) FILTER (WHERE is_request AND is_error), avg(rt) FROM ev GROUP BY p "
                    "HAVING r > 0 ORDER BY r DESC, p LIMIT 15"
                )
            ],
        )

    def _histogram(self) -> Histogram:
        low, high = self._run("SELECT min(rt) FILTER (WHERE rt > 0), max(rt) FROM ev")[0]
        if low is None or high is None:
            return Histogram([], [])
        # Log-spaced bins: latencies span milliseconds to minutes, and a linear axis would put
        # almost every request into the first bin.
        low_log, high_log = math.log10(low), math.log10(max(high, low * 1.0001))
        width = (high_log - low_log) / HISTOGRAM_BINS
        counts = [0] * HISTOGRAM_BINS
        for index, count in self._run(
            "SELECT least(greatest(floor((log10(greatest(rt, $low)) - $low_log) / $width), 0), $last)::INT "
            "AS b, count(*) FROM ev WHERE rt IS NOT NULL GROUP BY b",
            {"low": low, "low_log": low_log, "width": width, "last": HISTOGRAM_BINS - 1},
        ):
            counts[index] = int(count)
        edges = [10 ** (low_log + width * i) for i in range(HISTOGRAM_BINS + 1)]
        return Histogram(edges, counts)

    def _timeline(self) -> tuple[list[TimePoint], int]:
        first, last = self._run("SELECT min(ts), max(ts) FROM ev")[0]
        if first is None or last is None:
            return [], BUCKET_WIDTHS[0]
        span = (last - first).total_seconds()
        seconds = next((w for w in BUCKET_WIDTHS if span / w <= TIMELINE_BUCKETS), BUCKET_WIDTHS[-1])
        rows = self._run(
            "SELECT time_bucket(to_seconds($w), ts) AS b, count(*), count(*) FILTER (WHERE is_request), "
            "count(*) FILTER (WHERE is_request AND is_error) FROM ev WHERE ts IS NOT NULL "
            "GROUP BY b ORDER BY b",
            {"w": seconds},
        )
        return [
            TimePoint(start, int(events), int(requests), int(errors))
            for start, events, requests, errors in rows
        ], seconds
