"""``logflume --version``: logflume, Python, the platform and the versions of what it runs on.

Versions come from the installed distributions' metadata (``importlib.metadata``), so printing
them imports none of the libraries; an extra that is not installed says how to install it.
"""

from __future__ import annotations

import argparse
import platform
import sys
from collections.abc import Sequence
from typing import Any

from logflume import __version__, extras

# The base install's libraries that decide how the daemon behaves.
CORE_DISTRIBUTIONS = ("pydantic", "orjson", "pyyaml", "google-re2", "watchfiles", "aiohttp", "numpy")


def version_text() -> str:
    lines = [
        f"logflume {__version__}",
        f"Python {platform.python_version()} ({platform.python_implementation()}) at {sys.executable}",
        f"platform {platform.platform()}",
        "dependencies: " + ", ".join(_versions(CORE_DISTRIBUTIONS)),
        "extras:",
    ]
    width = max(map(len, extras.EXTRAS))
    for name, extra in extras.EXTRAS.items():
        if extras.installed(name):
            state = "installed (" + ", ".join(_versions(extra.distributions)) + ")"
        else:
            state = f"not installed: {extras.install_hint(name)}"
        lines.append(f"  {name:<{width}}  {state}")
    return "\n".join(lines) + "\n"


def _versions(distributions: Sequence[str]) -> list[str]:
    return [f"{name} {extras.distribution_version(name) or 'missing'}" for name in distributions]


class VersionAction(argparse.Action):
    """``--version``: print :func:`version_text` and exit 0."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        sys.stdout.write(version_text())
        parser.exit()
