"""``logflume config schema`` and ``logflume config docs``: the config reference, from the models.

:func:`config_arguments` adds the arguments of the ``config`` command (registered in
:mod:`logflume.cli.registry`); :func:`cmd_config` prints the schema or the docs. The models
are imported when a subcommand runs, not when the CLI starts.
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


def config_arguments(config: argparse.ArgumentParser) -> None:
    """The arguments of ``logflume config``: what to print, and where."""
    config.add_argument(
        "what",
        choices=("schema", "docs"),
        help="schema: the JSON Schema of the config file (every key); docs: the Markdown reference "
        "of every key (docs/configuration.md is this output)",
    )
    config.add_argument("-o", "--output", metavar="FILE", help="write to this file instead of stdout")


def cmd_config(args: argparse.Namespace) -> int:
    return cmd_schema(args) if args.what == "schema" else cmd_docs(args)
