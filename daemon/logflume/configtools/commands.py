"""``logflume config schema`` and ``logflume config docs``: the config reference, from the models.

:func:`add_config_commands` adds the ``config`` command to the CLI's subparsers; each subcommand
stores its runner as ``func`` (parsed arguments in, exit code out). The models are imported when a
subcommand runs, not when the CLI starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from logflume.errors import EXIT_FAILURE, EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from logflume.config import config_schema

    return _write(json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n", args.output)


def cmd_docs(args: argparse.Namespace) -> int:
    from logflume.config import config_schema
    from logflume.configtools.docs import render

    return _write(render(config_schema()), args.output)


def _write(text: str, output: str | None) -> int:
    if output is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        Path(output).write_text(text)
    except OSError as exc:
        print(f"cannot write {output}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def add_config_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config = subparsers.add_parser("config", help="the configuration reference, generated from the models")
    sub = config.add_subparsers(dest="config_command", required=True)
    schema = sub.add_parser("schema", help="print the JSON Schema of the config file (every key)")
    schema.add_argument("-o", "--output", help="write to this file instead of stdout")
    schema.set_defaults(func=cmd_schema)
    docs = sub.add_parser(
        "docs", help="print the Markdown reference of every key (docs/configuration.md is this output)"
    )
    docs.add_argument("-o", "--output", help="write to this file instead of stdout")
    docs.set_defaults(func=cmd_docs)
