"""The daemon's own commands: ``run``, ``validate``, ``generate`` and ``demo`` (arguments and runners).

Runners import what they use when they run: building the parser (every ``logflume`` call, shell
completion included) must not load the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from logflume.errors import EXIT_FAILURE, EXIT_OK, ConfigError

GENERATED_NAME = "llm_proxy.log"


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """Commands that take nothing but ``-c``."""


def cmd_run(args: argparse.Namespace) -> int:
    from logflume.app import run_daemon
    from logflume.cli.config import load_config_arg
    from logflume.config import log_warnings
    from logflume.selflog import setup_logging

    loaded = load_config_arg(args.config)
    config = loaded.config
    setup_logging(config.log.level, config.log.format, dict(config.log.levels))
    log_warnings(loaded, args.config)
    try:
        return asyncio.run(run_daemon(config, args.config))
    except ConfigError as exc:
        exc.file = exc.file or args.config or "<embedded default>"  # a build refused it: say which file
        raise


def cmd_validate(args: argparse.Namespace) -> int:
    from logflume.cli.config import build_issues, load_config_arg
    from logflume.cli.main import print_warnings

    loaded = load_config_arg(args.config)
    config = loaded.config
    name = args.config or "<embedded default>"
    issues = build_issues(config)
    if issues:
        raise ConfigError(issues, name, warnings=loaded.warnings)
    print_warnings(name, loaded.warnings)
    print(f"{name}: valid ({len(config.sources)} sources, {len(config.sinks)} sinks)")
    return EXIT_OK


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def generate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help=f"directory to write {GENERATED_NAME} (and its rotations) into",
    )
    parser.add_argument("--lines", type=int, default=100_000, metavar="N", help="lines to write")
    parser.add_argument(
        "--rotate-every",
        type=int,
        default=20_000,
        metavar="N",
        help="rotate after this many lines, 0 for never",
    )
    parser.add_argument(
        "--rate", type=float, default=0.0, metavar="PER_S", help="lines per second, 0 for as fast as possible"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed (the same seed, the same lines)")
    parser.add_argument(
        "--end",
        type=_time,
        metavar="TIME",
        help="ISO time of the last line (default: now; with --rate, when the writing ends)",
    )
    parser.add_argument(
        "--append", action="store_true", help=f"add to an existing {GENERATED_NAME} instead of refusing to"
    )


def cmd_generate(args: argparse.Namespace) -> int:
    from logflume.generate import generate_rotating, timeline

    target = Path(args.out) / GENERATED_NAME
    if not args.append and target.exists() and target.stat().st_size > 0:
        print(
            f"logflume generate: {target} exists ({target.stat().st_size} bytes): "
            "pass --append to add to it, or choose another --out",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    end = args.end
    if end is None:
        now = datetime.now(UTC)
        end = now + timedelta(seconds=(args.lines - 1) / args.rate) if args.rate > 0 else now
    start, step_ms = timeline(args.lines, args.rate, end)
    count = generate_rotating(
        Path(args.out), args.lines, args.rotate_every, args.rate, args.seed, start=start, step_ms=step_ms
    )
    rotation = f"rotated every {args.rotate_every} lines" if args.rotate_every else "not rotated"
    print(f"wrote {count} lines to {target} ({rotation}), timestamps {_iso(start)} to {_iso(end)}")
    return EXIT_OK


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir", default="./demo", metavar="DIR", help="working directory for logs/, out/ and state/"
    )
    parser.add_argument("--lines", type=int, default=50_000, metavar="N", help="lines to generate")
    parser.add_argument(
        "--rotate-every", type=int, default=10_000, metavar="N", help="rotate the log after this many lines"
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from logflume.demo import run_demo

    return run_demo(Path(args.dir), args.lines, args.rotate_every)
