"""The package's import direction: components never import the wiring or the config loader above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "daemon" / "logflume"


def imported(path: Path) -> set[str]:
    """Every ``logflume.*`` module a file imports, at any level (function-local imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("logflume"):
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names if alias.name.startswith("logflume"))
    return names


UPWARD = ("logflume.config", "logflume.app")


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in sorted(imported(path)):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(PACKAGE).as_posix()}: {name}")
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("ops", UPWARD),
        ("sinks", (*UPWARD, "logflume.ops", "logflume.alerts", "logflume.pipeline")),
        ("pipeline", (*UPWARD, "logflume.ops", "logflume.sinks")),
    ],
)
def test_component_does_not_import_upward(package: str, forbidden: tuple[str, ...]) -> None:
    """A component imports neither the wiring (app), the config loader, nor a sibling component."""
    assert [] == offenders(package, forbidden)
