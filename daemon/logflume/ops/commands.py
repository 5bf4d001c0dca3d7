"""The ``check`` and ``tap`` subcommands.

``logflume.cli`` calls :func:`add_ops_commands` with its subparsers; each command stores its runner
as ``func``, which takes the parsed arguments and returns the exit code (0 success, 1 a check
failed or the daemon could not be tapped, 2 an invalid config).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from logflume.errors import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, ConfigError

# The daemon's modules are imported by the commands that use them, not here: every `logflume`
# invocation registers these commands, and `logflume analyze` should not pay for the daemon.


def cmd_check(args: argparse.Namespace) -> int:
    from logflume.config import load_config_or_default
    from logflume.ops.check import run_checks

    try:
        config = load_config_or_default(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    results = asyncio.run(
        run_checks(config.state_dir, list(config.sources), list(config.sinks), args.timeout)
    )
    for result in results:
        print(result)
    failed = sum(not result.ok for result in results)
    if failed:
        print(f"{failed} of {len(results)} checks failed", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def cmd_tap(args: argparse.Namespace) -> int:
    from logflume.config import load_config_or_default
    from logflume.ops.config import split_address
    from logflume.ops.tap import run_tap, tap_url

    if args.address:
        try:
            host, port = split_address(args.address)
        except ValueError as exc:
            print(f"--address: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    else:
        try:
            config = load_config_or_default(args.config)
        except ConfigError as exc:
            print(exc, file=sys.stderr)
            return EXIT_CONFIG
        if not config.http.enabled:
            print("http.enabled is false: the daemon has no endpoint to tap", file=sys.stderr)
            return EXIT_CONFIG
        host, port = config.http.host, config.http.port
    timeout = args.timeout if args.timeout > 0 else None
    return run_tap(tap_url(host, port, args.stage, args.limit), sys.stdout, timeout)


def add_ops_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    check = subparsers.add_parser(
        "check",
        help="check that sources are readable and every sink's backend answers; exit 1 on any failure",
    )
    check.add_argument("-c", "--config", help="YAML config file (default: the embedded default)")
    check.add_argument("--timeout", type=float, default=10.0, help="seconds each sink may take to answer")
    check.set_defaults(func=cmd_check)

    tap = subparsers.add_parser(
        "tap", help="print a live sample of events after a stage, from the running daemon's endpoint"
    )
    tap.add_argument("-c", "--config", help="the running daemon's config, for http.address")
    tap.add_argument("--address", help="host:port of the endpoint (instead of reading the config)")
    tap.add_argument(
        "--stage",
        default=None,
        help="stage to follow (default: redact): parse, audit, normalise, redact, enrich, filter, "
        "sample, aggregate, anomaly; those before redact need http.tap_before_redact: true",
    )
    tap.add_argument("--limit", type=int, default=10, help="stop after this many events")
    tap.add_argument(
        "--timeout", type=float, default=0.0, help="give up when no event arrives for this long (0: wait)"
    )
    tap.set_defaults(func=cmd_tap)
