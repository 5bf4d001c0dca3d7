"""Every ``logflume`` subcommand, registered here and nowhere else.

A command is a name, a one-line help, the function that adds its arguments to its subparser and
the function that runs it, both written ``"module:function"``. Argument modules are imported to
build the parser (they must stay light: no DuckDB, no daemon); a runner's module only when that
command runs. A runner takes the parsed arguments and returns the exit code.

Adding a command is one entry in :data:`COMMANDS`. ``config=True`` gives it ``-c/--config``,
read with :func:`logflume.cli.config.load_config_arg`; ``extras`` names the pip extras it cannot
run without (checked before the runner is imported, so a missing one is a clear message, exit 2).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from logflume.cli.help import HelpFormatter

CONFIG_HELP = "YAML config file; without it, the embedded default (config/default.yaml)"


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    arguments: str  # "module:function(parser)"
    run: str  # "module:function(args) -> exit code"
    config: bool = False
    extras: tuple[str, ...] = ()


COMMANDS: tuple[Command, ...] = (
    Command(
        "run",
        "run the daemon in the foreground (SIGTERM/SIGINT drain and stop, SIGHUP reloads)",
        "logflume.cli.daemon:no_arguments",
        "logflume.cli.daemon:cmd_run",
        config=True,
    ),
    Command(
        "validate",
        "check a config file without starting anything; exit 2 with every problem and its key path",
        "logflume.cli.daemon:no_arguments",
        "logflume.cli.daemon:cmd_validate",
        config=True,
    ),
    Command(
        "check",
        "check that sources are readable and every sink's backend answers; exit 1 on any failure",
        "logflume.cli.ops:check_arguments",
        "logflume.cli.ops:cmd_check",
        config=True,
    ),
    Command(
        "tap",
        "print a live sample of events after a stage, from the running daemon's endpoint",
        "logflume.cli.ops:tap_arguments",
        "logflume.cli.ops:cmd_tap",
        config=True,
    ),
    Command(
        "analyze",
        "request, error and latency statistics of log files, S3 or PostgreSQL",
        "logflume.analysis.commands:analyze_arguments",
        "logflume.analysis.commands:run_analyze",
        extras=("analysis",),
    ),
    Command(
        "query",
        "print the events matching a filter expression",
        "logflume.analysis.commands:query_arguments",
        "logflume.analysis.commands:run_query",
    ),
    Command(
        "config",
        "the configuration reference, generated from the models: JSON Schema or Markdown",
        "logflume.configtools.commands:config_arguments",
        "logflume.configtools.commands:cmd_config",
    ),
    Command(
        "generate",
        "write sample LLM-proxy logs (timestamps ending now), rotating them",
        "logflume.cli.daemon:generate_arguments",
        "logflume.cli.daemon:cmd_generate",
    ),
    Command(
        "demo",
        "generate rotating logs and run the embedded default config on them",
        "logflume.cli.daemon:demo_arguments",
        "logflume.cli.daemon:cmd_demo",
    ),
)


def resolve(target: str) -> Callable[..., Any]:
    """The function a ``"module:function"`` string names (importing the module)."""
    module_name, _, attr = target.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module_name), attr)
    return function


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """One subparser per command, with its arguments; ``args.command`` names the one chosen."""
    for command in COMMANDS:
        parser = subparsers.add_parser(
            command.name, help=command.help, description=command.help, formatter_class=HelpFormatter
        )
        if command.config:
            parser.add_argument("-c", "--config", metavar="FILE", help=CONFIG_HELP)
        resolve(command.arguments)(parser)


def find(name: str) -> Command:
    return next(command for command in COMMANDS if command.name == name)
