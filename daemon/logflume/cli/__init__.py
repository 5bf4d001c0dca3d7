# PYTHON_ARGCOMPLETE_OK  (lets argcomplete's global completion complete `logflume`)
"""The ``logflume`` command line: every subcommand is registered in :mod:`logflume.cli.registry`.

main      parser, shell completion, the error boundary (a ConfigError or a missing extra: exit 2)
registry  the commands: name, help, arguments, runner, config, extras
config    loading ``-c FILE`` for every command
help      the help formatter (defaults shown)
version   ``--version``
daemon    run, validate, generate, demo
ops       check, tap
"""

from logflume.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
