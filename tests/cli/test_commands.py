"""The command registry: every command is reachable, documented, light to build, and reads its
config through the one loader (an invalid config ends any of them with exit 2 and the key path)."""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from pathlib import Path

import pytest

from logflume.cli import build_parser, main
from logflume.cli.registry import COMMANDS, CONFIG_HELP, resolve
from tests.cli.helpers import HEAVY, logflume, write_yaml

PACKAGE = Path(__file__).resolve().parents[2] / "daemon" / "logflume"


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


class TestRegistry:
    def test_every_command_is_registered_once(self) -> None:
        """The parser has exactly the registry's commands, each with its help line."""
        parser = build_parser()
        assert [command.name for command in COMMANDS] == list(subparsers(parser))
        assert len({command.name for command in COMMANDS}) == len(COMMANDS)
        help_text = parser.format_help()
        for command in COMMANDS:
            assert command.help.split()[0] in help_text

    def test_runners_resolve(self) -> None:
        """Every command's runner names a function that exists (imported only to check it)."""
        for command in COMMANDS:
            assert callable(resolve(command.run)), command.name

    def test_args_name_the_command(self) -> None:
        """Parsing a command line records which command was chosen and its options."""
        args = build_parser().parse_args(["analyze", "--by", "model", "x.log"])
        query = build_parser().parse_args(["query", "--count", "level exists", "x.log"])
        assert ("analyze", "model", "query", True) == (args.command, args.by, query.command, query.count)

    def test_commands_are_registered_nowhere_else(self) -> None:
        """No module but the registry adds subparsers: add_parser is called in one place."""
        callers = []
        for path in PACKAGE.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute) and node.attr in ("add_parser", "add_subparsers"):
                    callers.append(path.relative_to(PACKAGE).as_posix())
        assert ["cli/main.py", "cli/registry.py"] == sorted(set(callers))


class TestHelp:
    @pytest.mark.parametrize("name", [command.name for command in COMMANDS])
    def test_every_argument_has_help_and_shows_its_default(self, name: str) -> None:
        """Each argument of a command has help text, and each default other than none/on-off is shown."""
        parser = subparsers(build_parser())[name]
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.dest}: no help"
            default = action.default
            if default is not None and not isinstance(default, bool) and action.option_strings:
                assert f"(default: {default})" in text, f"{name} {action.dest}"

    def test_config_option_says_what_it_defaults_to(self) -> None:
        """Commands reading a config say so in -c's help: the embedded default when omitted."""
        parser = subparsers(build_parser())["run"]
        assert " ".join(CONFIG_HELP.split()) in " ".join(parser.format_help().split())

    def test_building_the_parser_loads_no_heavy_library(self) -> None:
        """``logflume --help`` (and shell completion) build every parser without the daemon or DuckDB."""
        code = (
            "import sys; from logflume.cli import build_parser; build_parser(); "
            f"print(sorted(m for m in {HEAVY!r} + ('logflume.app',) if m in sys.modules))"
        )
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert ("[]", "") == (result.stdout.strip(), result.stderr)


class TestConfigLoading:
    @pytest.mark.parametrize("name", [command.name for command in COMMANDS if command.config])
    def test_invalid_config_exits_2_with_the_key_path(
        self, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Every command that reads -c refuses an invalid file the same way: exit 2, the key path named."""
        config = write_yaml(
            tmp_path / "bad.yaml",
            {
                "state_dir": str(tmp_path / "state"),
                "sources": [{"name": "proxy", "include": ["x.log"]}],
                "sinks": [{"name": "out", "type": "file", "path": "out.jsonl", "rotation": {"max_size": -1}}],
            },
        )
        assert 2 == main([name, "-c", str(config)])
        err = capsys.readouterr().err
        assert f"invalid config {config}" in err
        assert "sinks[0].rotation.max_size" in err
        assert not (tmp_path / "state").exists()

    def test_unreadable_config_exits_2(self, tmp_path: Path) -> None:
        """A config file that does not exist: exit 2 with the reason, from the real command line."""
        result = logflume("validate", "-c", str(tmp_path / "missing.yaml"))
        assert 2 == result.returncode
        assert "cannot read config" in result.stderr
