"""``logflume``'s entry point: build the parser from the registry, complete, dispatch, and end any
command the same way when its config is unusable or an extra it needs is missing (exit 2)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from logflume import extras
from logflume.cli.help import HelpFormatter
from logflume.cli.registry import add_commands, find, resolve
from logflume.cli.version import VersionAction
from logflume.errors import EXIT_CONFIG, ConfigError, ConfigIssue, MissingExtraError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logflume",
        description="Tail, process and ship LLM-proxy JSON logs; answer questions about them.",
        epilog='Shell completion: eval "$(register-python-argcomplete logflume)" (bash, zsh).',
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--version",
        action=VersionAction,
        help="print the versions of logflume, Python, the platform and the libraries, then exit",
    )
    add_commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:
        # Only when the shell asks for completions; argcomplete prints them and exits.
        import argcomplete

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    command = find(args.command)
    try:
        for extra in command.extras:
            extras.require(extra, f"logflume {command.name}")
        result: int = resolve(command.run)(args)
    except ConfigError as exc:
        print_warnings(exc.file or "<embedded default>", exc.warnings)
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    except MissingExtraError as exc:
        print(f"logflume {command.name}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    return result


def print_warnings(name: str, warnings: list[ConfigIssue]) -> None:
    """Warnings about a config file (literal secrets), on stderr: they never change the exit code."""
    for warning in warnings:
        print(f"warning: {name}: {warning}", file=sys.stderr)
