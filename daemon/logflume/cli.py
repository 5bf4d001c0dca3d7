"""The ``logflume`` command: run, validate, generate, demo (and the analysis commands)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from logflume import __version__
from logflume.errors import EXIT_CONFIG, EXIT_OK, ConfigError, ConfigIssue


def cmd_validate(args: argparse.Namespace) -> int:
    from logflume.config import read_config

    name = args.config or "<embedded default>"
    try:
        loaded = read_config(args.config)
    except ConfigError as exc:
        print_warnings(name, exc.warnings)
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    print_warnings(name, loaded.warnings)
    config = loaded.config
    print(f"{name}: valid ({len(config.sources)} sources, {len(config.sinks)} sinks)")
    return EXIT_OK


def print_warnings(name: str, warnings: list[ConfigIssue]) -> None:
    for warning in warnings:
        print(f"warning: {name}: {warning}", file=sys.stderr)


def cmd_run(args: argparse.Namespace) -> int:
    from logflume.app import run_daemon
    from logflume.config import log_warnings, read_config
    from logflume.selflog import setup_logging

    try:
        loaded = read_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    config = loaded.config
    setup_logging(config.log.level, config.log.format, dict(config.log.levels))
    log_warnings(loaded, args.config)
    return asyncio.run(run_daemon(config, args.config))


def cmd_generate(args: argparse.Namespace) -> int:
    from logflume.generate import generate_rotating

    count = generate_rotating(Path(args.out), args.lines, args.rotate_every, args.rate, args.seed)
    print(f"wrote {count} lines to {args.out}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from logflume.demo import run_demo

    return run_demo(Path(args.dir), args.lines, args.rotate_every)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logflume", description="Tail, process and ship LLM-proxy JSON logs."
    )
    parser.add_argument("--version", action="version", version=f"logflume {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the daemon in the foreground")
    run.add_argument("-c", "--config", help="YAML config file (default: the embedded default)")
    run.set_defaults(func=cmd_run)

    validate = sub.add_parser("validate", help="check a config file; exit 2 when invalid")
    validate.add_argument("-c", "--config", help="YAML config file (default: the embedded default)")
    validate.set_defaults(func=cmd_validate)

    gen = sub.add_parser("generate", help="write sample LLM-proxy logs, rotating them")
    gen.add_argument("--out", default="./logs", help="directory to write llm_proxy.log into")
    gen.add_argument("--lines", type=int, default=100_000)
    gen.add_argument(
        "--rotate-every", type=int, default=20_000, help="rotate after this many lines (0: never)"
    )
    gen.add_argument("--rate", type=float, default=0.0, help="lines per second (0: as fast as possible)")
    gen.add_argument("--seed", type=int, default=1)
    gen.set_defaults(func=cmd_generate)

    demo = sub.add_parser("demo", help="generate rotating logs and run the embedded default on them")
    demo.add_argument("--dir", default="./demo", help="working directory for logs/, out/ and state/")
    demo.add_argument("--lines", type=int, default=50_000)
    demo.add_argument("--rotate-every", type=int, default=10_000)
    demo.set_defaults(func=cmd_demo)

    _add_optional_commands(sub)
    return parser


def _add_optional_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands that live in their own packages."""
    from logflume.configtools.commands import add_config_commands
    from logflume.ops.commands import add_ops_commands

    add_ops_commands(sub)
    add_config_commands(sub)
    try:
        from logflume.analysis.commands import add_analysis_commands
    except ImportError:
        return
    add_analysis_commands(sub)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
