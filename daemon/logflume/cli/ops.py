"""The ``check`` and ``tap`` commands (arguments and runners).

Exit codes: 0 success, 1 a check failed or the daemon could not be tapped, 2 an invalid config.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from logflume.errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK

# The daemon's modules are imported by the runners, not here: every `logflume` invocation builds
# these commands' parsers, and `logflume analyze` should not pay for the daemon.

# For the help only: the running daemon names its stages and refuses others.
STAGES = ("parse", "audit", "normalise", "redact", "enrich", "filter", "sample", "aggregate", "anomaly")


def check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="seconds each sink may take to answer"
    )


def cmd_check(args: argparse.Namespace) -> int:
    from logflume.cli.config import build_issues, load_config_arg
    from logflume.ops.check import CheckResult, run_checks

    config = load_config_arg(args.config).config
    # Built as `run` builds it: a geo database or lookup table it cannot open fails here too.
    issues = build_issues(config)
    built = "; ".join(map(str, issues)) or "parse steps, stages and sinks built as run builds them"
    results = [CheckResult("pipeline", not issues, built)]
    results += asyncio.run(
        run_checks(config.state_dir, list(config.sources), list(config.sinks), args.timeout)
    )
    for result in results:
        print(result)
    failed = sum(not result.ok for result in results)
    if failed:
        print(f"{failed} of {len(results)} checks failed", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def tap_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--address", metavar="HOST:PORT", help="the daemon's endpoint (instead of http.address of -c FILE)"
    )
    parser.add_argument(
        "--stage",
        default=None,
        metavar="STAGE",
        help=f"print events as they leave this stage (default: redact): {', '.join(STAGES)}; those "
        "before redact need http.tap_before_redact: true in the daemon's config",
    )
    parser.add_argument("--limit", type=int, default=10, metavar="N", help="stop after this many events")
    parser.add_argument(
        "--timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="give up when no event arrives for this long, 0 to wait for ever",
    )


def cmd_tap(args: argparse.Namespace) -> int:
    from logflume.cli.config import load_config_arg
    from logflume.ops.config import split_address
    from logflume.ops.tap import run_tap, tap_url

    if args.address:
        try:
            host, port = split_address(args.address)
        except ValueError as exc:
            print(f"--address: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    else:
        config = load_config_arg(args.config).config
        if not config.http.enabled:
            print("http.enabled is false: the daemon has no endpoint to tap", file=sys.stderr)
            return EXIT_CONFIG
        host, port = config.http.host, config.http.port
    timeout = args.timeout if args.timeout > 0 else None
    return run_tap(tap_url(host, port, args.stage, args.limit), sys.stdout, timeout)
