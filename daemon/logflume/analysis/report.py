"""Writing an ``analyze`` :class:`~logflume.analysis.results.Report` as a table, JSON or CSV.

JSON carries everything, with full precision (rates are fractions, times milliseconds, and a
value that is undefined — a rate of nothing, a percentile of no requests — is ``null``). CSV is
one metrics table: the ``all`` row first, then one row per group. The table is for people.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

import orjson

from logflume.analysis.results import Metrics, Report

METRIC_FIELDS = (
    "total_events",
    "total_requests",
    "error_count",
    "error_rate",
    "error_events",
    "avg_response_time_ms",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "slow_requests",
    "cache_hit_rate",
    "cache_hits",
    "cache_lookups",
)


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def metrics_dict(metrics: Metrics) -> dict[str, Any]:
    return {name: getattr(metrics, name) for name in METRIC_FIELDS}


def to_dict(report: Report) -> dict[str, Any]:
    """The JSON form: the summary metrics at the top level, then errors, window and groups."""
    out = metrics_dict(report.summary)
    out["slow_ms"] = report.slow_ms
    out["top_errors"] = dict(report.top_errors)
    out["first_event"] = _iso(report.first_event)
    out["last_event"] = _iso(report.last_event)
    out["since"] = _iso(report.since)
    out["until"] = _iso(report.until)
    out["files"] = report.files
    out["digests"] = report.digests
    if report.group_by is not None:
        out["group_by"] = report.group_by
        out["groups"] = {key: metrics_dict(metrics) for key, metrics in report.groups}
    return out


def render_json(report: Report) -> str:
    return orjson.dumps(to_dict(report), option=orjson.OPT_INDENT_2).decode() + "\n"


def render_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("scope", "key", *METRIC_FIELDS))
    rows = [("all", "", report.summary)]
    rows += [(report.group_by or "", key, metrics) for key, metrics in report.groups]
    for scope, key, metrics in rows:
        values = metrics_dict(metrics)
        writer.writerow((scope, key, *("" if values[n] is None else values[n] for n in METRIC_FIELDS)))
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Table


def _count(value: int) -> str:
    return f"{value:,}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.2f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _columns(headers: list[str], rows: list[list[str]], align: str) -> list[str]:
    """Aligned columns; ``align`` has one letter per column: "l" (text) or "r" (numbers)."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        parts = [
            cell.ljust(w) if side == "l" else cell.rjust(w)
            for cell, w, side in zip(cells, widths, align, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def render_table(report: Report, width: int = 100) -> str:
    summary = report.summary
    window = f"{_iso(report.first_event) or '-'} .. {_iso(report.last_event) or '-'}"
    lines = [
        f"Events {window}  ({report.files} file{'s' if report.files != 1 else ''}"
        + (f", {report.digests} read from digests)" if report.digests else ")"),
        "",
        f"  Requests            {_count(summary.total_requests)}  (of {_count(summary.total_events)} events)",
        f"  Errors              {_count(summary.error_count)}  ({_percent(summary.error_rate)} of requests;"
        f" {_count(summary.error_events)} error events)",
        f"  Response time (ms)  avg {_ms(summary.avg_response_time_ms)}   p50 {_ms(summary.p50_ms)}"
        f"   p95 {_ms(summary.p95_ms)}   p99 {_ms(summary.p99_ms)}",
        f"  Slow (> {report.slow_ms:g} ms)    {_count(summary.slow_requests)}",
        f"  Cache hit rate      {_percent(summary.cache_hit_rate)}"
        f"  ({_count(summary.cache_hits)} of {_count(summary.cache_lookups)})",
    ]
    if report.top_errors:
        lines += ["", "Top errors"]
        room = max(width - 12, 20)
        rows = [
            [_count(count), message if len(message) <= room else message[: room - 1] + "…"]
            for message, count in report.top_errors
        ]
        lines += ["  " + line for line in _columns(["count", "message"], rows, "rl")]
    if report.group_by is not None:
        lines += ["", f"By {report.group_by}"]
        headers = [
            report.group_by,
            "requests",
            "errors",
            "error %",
            "avg ms",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "slow",
            "cache hit",
        ]
        rows = [
            [
                key,
                _count(m.total_requests),
                _count(m.error_count),
                _percent(m.error_rate),
                _ms(m.avg_response_time_ms),
                _ms(m.p50_ms),
                _ms(m.p95_ms),
                _ms(m.p99_ms),
                _count(m.slow_requests),
                _percent(m.cache_hit_rate),
            ]
            for key, m in report.groups
        ]
        lines += ["  " + line for line in _columns(headers, rows, "l" + "r" * 9)]
    return "\n".join(lines) + "\n"


RENDERERS = {"table": render_table, "json": render_json, "csv": render_csv}
