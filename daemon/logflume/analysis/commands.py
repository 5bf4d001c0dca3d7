"""The ``analyze`` and ``query`` subcommands: their arguments and the run of each.

Registered in ``logflume.cli.registry`` (``analyze_arguments``/``run_analyze``,
``query_arguments``/``run_query``); a runner takes the parsed arguments and returns the exit code
(0 success, 1 failure — an unreadable input, an invalid expression, input without the fields the
answer needs —, 2 usage errors from argparse or an input that needs an extra which is not
installed). ``--preset NAME`` maps a gateway's raw logs onto the canonical fields first
(:mod:`logflume.analysis.mapped`). ``python -m logflume.analysis`` is ``logflume`` (:func:`main`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from logflume import extras
from logflume.analysis import progress
from logflume.analysis.inputs import FetchOptions, LocalFile, is_postgres, is_s3, resolve
from logflume.analysis.results import GROUP_FIELDS
from logflume.errors import AnalysisError, ConditionError

EXIT_OK = 0
EXIT_FAILURE = 1
# The PostgreSQL sink's default events table.
DEFAULT_TABLE = "logflume_events"

_INPUT_HELP = (
    "log files, directories, globs ('logs/**/*.gz'), s3://bucket/prefix (the S3 sink's objects) "
    "or a postgresql:// URL (the PostgreSQL sink's events table)"
)
_ANALYZE_EPILOG = """\
definitions:
  request      an event with response_time_ms or status_code (a request's outcome line)
  error        a request with level ERROR/CRITICAL/FATAL or status_code >= 500;
               error_rate = errors / requests
  error event  any event with such a level or status; top errors count their messages
  slow         response_time_ms > --slow-ms
  cache hit    cache_hit true, among events that carry cache_hit
times: --since/--until take a duration back from now (30m, 1h, 2d) or an ISO time
(2024-01-15T10:30:00Z; without an offset it is UTC); since is inclusive, until exclusive.
"""


def _add_remote_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--s3-endpoint",
        metavar="URL",
        help="S3-compatible endpoint for s3:// inputs (credentials from the AWS environment)",
    )
    parser.add_argument(
        "--table",
        default=DEFAULT_TABLE,
        help="events table for postgresql:// inputs",
    )


def _add_preset_option(parser: argparse.ArgumentParser) -> None:
    from logflume.pipeline.mapping import preset_names

    parser.add_argument(
        "--preset",
        choices=preset_names(),
        help="map raw logs of this gateway or web server onto the canonical fields first "
        "(the daemon's preset of the same name)",
    )


def analyze_arguments(analyze: argparse.ArgumentParser) -> None:
    """The arguments of ``logflume analyze``."""
    analyze.description = "Request, error, latency and cache statistics over logs, scanned with DuckDB."
    analyze.epilog = _ANALYZE_EPILOG
    analyze.add_argument("inputs", nargs="+", metavar="INPUT", help=_INPUT_HELP)
    analyze.add_argument("--since", metavar="T", help="only events at or after T (1h, 30m, 2d or ISO time)")
    analyze.add_argument("--until", metavar="T", help="only events before T (1h, 30m, 2d or ISO time)")
    analyze.add_argument(
        "--by", choices=GROUP_FIELDS, help="add a table per provider, model, endpoint or level"
    )
    analyze.add_argument(
        "--slow-ms", type=float, default=5000.0, metavar="MS", help="a request slower than this is slow"
    )
    analyze.add_argument("--top", type=int, default=10, metavar="N", help="error messages listed")
    analyze.add_argument("--format", choices=("table", "json", "csv"), default="table", help="output format")
    analyze.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw latency distribution, error rate over time and provider load into this PNG",
    )
    analyze.add_argument(
        "--no-digest",
        dest="digests",
        action="store_false",
        help="decode every compressed file, ignoring the digests the file sink writes beside them",
    )
    _add_remote_options(analyze)
    _add_preset_option(analyze)


def query_arguments(query: argparse.ArgumentParser) -> None:
    """The arguments of ``logflume query``."""
    query.description = (
        "Print the events matching EXPR, in the filter stage's condition language, e.g. "
        "'level == \"ERROR\" and response_time_ms > 5000'."
    )
    query.add_argument("expression", metavar="EXPR", help="condition, as in the filter stage's rules")
    query.add_argument("inputs", nargs="+", metavar="INPUT", help=_INPUT_HELP)
    query.add_argument("--fields", metavar="A,B,C", help="print these fields (dotted paths) as a table")
    query.add_argument("--limit", type=int, metavar="N", help="stop after N matches")
    query.add_argument("--count", action="store_true", help="print only the number of matches")
    _add_remote_options(query)
    _add_preset_option(query)


def require_input_extras(command: str, inputs: list[str]) -> None:
    """MissingExtraError when an s3:// or postgresql:// INPUT needs a client that is not installed."""
    for spec in inputs:
        if is_s3(spec):
            extras.require("s3", f"logflume {command} {spec}")
        elif is_postgres(spec):
            extras.require("postgres", f"logflume {command} {spec}")


def _fail(command: str, message: str) -> int:
    print(f"logflume {command}: {message}", file=sys.stderr)
    return EXIT_FAILURE


def _resolve(specs: list[str], options: FetchOptions, workdir: Path) -> list[LocalFile]:
    return asyncio.run(resolve(specs, options, workdir))


def run_analyze(args: argparse.Namespace) -> int:
    """Resolve the inputs, scan them, write the report (and the plot); returns the exit code."""
    from logflume.analysis.engine import Engine
    from logflume.analysis.mapped import MappingStats, map_files, preset_mapper
    from logflume.analysis.query import QueryStats
    from logflume.analysis.report import RENDERERS
    from logflume.analysis.times import parse_time

    require_input_extras("analyze", args.inputs)
    mapping = MappingStats()
    try:
        now = datetime.now(UTC)
        since = parse_time(args.since, now) if args.since else None
        until = parse_time(args.until, now) if args.until else None
        options = FetchOptions(args.s3_endpoint, args.table, since, until)
        with tempfile.TemporaryDirectory(prefix="logflume-analyze-") as workdir:
            files = _resolve(args.inputs, options, Path(workdir))
            if args.preset:
                files = map_files(files, preset_mapper(args.preset), Path(workdir), mapping, QueryStats())
                _note("analyze", mapping.note())
            with Engine(progress=progress.wanted()) as engine:
                engine.load(files, since, until, args.by, use_digests=args.digests)
                report = engine.report(args.slow_ms, args.top, since, until)
                if report.summary.total_requests == 0 and not _empty_window(args, since, until, engine):
                    raise AnalysisError(_no_requests(report.summary.total_events, args.preset))
                if args.plot:
                    from logflume.analysis.plot import render_plot

                    try:
                        render_plot(report, engine.plot_data(), Path(args.plot))
                    except OSError as exc:
                        raise AnalysisError(f"cannot write {args.plot}: {exc.strerror}") from exc
    except AnalysisError as exc:
        return _fail("analyze", str(exc))
    code = _write(RENDERERS[args.format](report))
    if args.plot:
        # stderr: stdout is the report, which may be piped as JSON or CSV.
        print(f"logflume analyze: plot written to {Path(args.plot).resolve()}", file=sys.stderr)
    return code


def _empty_window(
    args: argparse.Namespace, since: datetime | None, until: datetime | None, engine: Any
) -> bool:
    """Whether a report without requests is an honest answer: the window holds none, but the input
    does (PostgreSQL inputs are read only inside the window, so their emptiness is the answer)."""
    if since is None and until is None:
        return False
    from logflume.analysis.inputs import is_postgres

    return any(is_postgres(spec) for spec in args.inputs) or bool(engine.any_requests())


def _no_requests(events: int, preset: str | None) -> str:
    from logflume import digest
    from logflume.pipeline.mapping import preset_names

    if events == 0:
        what = "no line of the input has a field analyze reads (" + ", ".join(digest.EVENT_FIELDS) + ")"
    else:
        what = f"none of the {events:,} events read has response_time_ms or status_code: no request to report"
    if preset is None:
        return f"{what}; for a gateway's own log format use --preset ({', '.join(preset_names())})"
    return f"{what}; are these logs of the {preset} format?"


def _note(command: str, message: str | None) -> None:
    if message:
        print(f"logflume {command}: {message}", file=sys.stderr)


def run_query(args: argparse.Namespace) -> int:
    """Print the events matching the expression; returns the exit code."""
    from logflume.analysis.mapped import MappingStats, map_batches, preset_mapper
    from logflume.analysis.query import (
        FieldsSeen,
        QueryStats,
        TableWriter,
        compile_query,
        condition_fields,
        matches,
        parse_fields,
        read_batches,
    )

    require_input_extras("query", args.inputs)
    try:
        condition = compile_query(args.expression)
        fields = parse_fields(args.fields) if args.fields else None
        mapper = preset_mapper(args.preset) if args.preset else None
    except (ConditionError, ValueError, AnalysisError) as exc:
        return _fail("query", str(exc))
    if args.limit is not None and args.limit < 0:
        return _fail("query", "--limit cannot be negative")
    stats = QueryStats()
    mapping = MappingStats()
    seen = FieldsSeen(condition_fields(args.expression))
    try:
        with tempfile.TemporaryDirectory(prefix="logflume-query-") as workdir:
            files = _resolve(args.inputs, FetchOptions(args.s3_endpoint, args.table), Path(workdir))
            batches = read_batches(files, stats)
            if mapper is not None:
                batches = map_batches(batches, mapper, mapping)
            found = matches(batches, condition, args.limit, stats, seen) if args.limit != 0 else iter(())
            if args.count:
                for _ in found:
                    pass
                sys.stdout.write(f"{stats.matched}\n")
            elif fields is not None:
                table = TableWriter(fields, sys.stdout)
                for batch in found:
                    table.add(event for _, event in batch)
                table.close()
            elif mapper is not None:
                # Mapped events are new JSON: the line as read would not show the canonical fields.
                out = sys.stdout.buffer
                for batch in found:
                    out.write(b"".join(orjson.dumps(event) + b"\n" for _, event in batch))
            else:
                out = sys.stdout.buffer
                for batch in found:
                    out.write(b"".join(line + b"\n" for line, _ in batch))
            sys.stdout.flush()
    except AnalysisError as exc:
        return _fail("query", str(exc))
    except OSError as exc:
        if isinstance(exc, BrokenPipeError):
            return _quiet_broken_pipe()
        return _fail("query", f"cannot read an input: {exc}")
    if stats.skipped:
        print(
            f"logflume query: skipped {stats.skipped} of {stats.lines} lines that are not JSON objects",
            file=sys.stderr,
        )
    _note("query", mapping.note())
    if stats.matched == 0 and args.limit != 0 and seen.unseen:
        missing = ", ".join(seen.unseen)
        hint = "" if args.preset else " (for a gateway's own log format use --preset)"
        return _fail("query", f"no line has the field(s) the expression reads: {missing}{hint}")
    return EXIT_OK


def _write(text: str) -> int:
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        return _quiet_broken_pipe()
    return EXIT_OK


def _quiet_broken_pipe() -> int:
    # The reader (head, less) went away: that is not an error, and Python's flush at exit must
    # not report it either.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``logflume ARGV`` (the analysis commands are ordinary ``logflume`` commands)."""
    from logflume.cli import main as logflume_main

    return logflume_main(argv)
