"""Hostile or absurd config files, each made from a valid one: for `validate` and SIGHUP tests.

Each case turns the text of a valid config into a bad one and names a fragment of the error
`logflume validate` (and a failed reload) must report. None may end in a traceback or a hang.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

_LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for prev, name in zip([None, *"abcdefghi"], "abcdefghij", strict=False)
)


@dataclass(frozen=True)
class Hostile:
    name: str
    make: Callable[[str], str]
    message: str  # a fragment of the error report


def _edit(change: Callable[[dict[str, Any]], None]) -> Callable[[str], str]:
    def make(text: str) -> str:
        data = yaml.safe_load(text)
        change(data)
        return yaml.safe_dump(data)

    return make


def _set_source(key: str, value: Any) -> Callable[[str], str]:
    return _edit(lambda data: data["sources"][0].__setitem__(key, value))


def _set_sink(key: str, value: Any) -> Callable[[str], str]:
    return _edit(lambda data: data["sinks"][0].__setitem__(key, value))


CASES = [
    Hostile("billion_laughs", lambda text: _LAUGHS + text, "refused: aliases expand this value"),
    Hostile("deep_nesting", lambda text: text + "x: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested deeper"),
    Hostile(
        "recursive_alias", lambda text: text + "x: &loop\n  - *loop\n", "refers to a node that contains"
    ),
    Hostile(
        "oversized_document",
        lambda text: text + "# " + "x" * (1024 * 1024) + "\n",
        "larger than 1048576 bytes",
    ),
    Hostile("not_utf8", lambda text: text + "# caf\udce9\n", "not UTF-8 text"),
    Hostile("bad_date", lambda text: text + "queue_chunks: 2001-13-45\n", "month must be in 1..12"),
    Hostile(
        "huge_integer", lambda text: text + "queue_chunks: " + "9" * 5000 + "\n", "cannot read this value"
    ),
    Hostile("size_400_digits", _set_source("max_line_bytes", "9" * 400 + "TB"), "sources[0].max_line_bytes"),
    Hostile("absurd_line_size", _set_source("max_line_bytes", "1TB"), "sources[0].max_line_bytes"),
    Hostile("infinite_duration", _set_source("poll_interval", float("inf")), "sources[0].poll_interval"),
    Hostile("absurd_queue", _edit(lambda data: data.__setitem__("queue_chunks", 10**12)), "queue_chunks"),
    Hostile("absurd_batch", _set_sink("batch", {"max_bytes": "10TB"}), "sinks[0].batch.max_bytes"),
    Hostile("source_name_dotdot", _set_source("name", ".."), "sources[0].name"),
    Hostile("source_name_slash", _set_source("name", "../../etc"), "sources[0].name"),
    Hostile("sink_name_escapes", _set_sink("name", "a/../../b"), "sinks[0].name"),
    Hostile("sink_name_nul", _set_sink("name", "a\x00b"), "sinks[0].name"),
]


def write_hostile(path: Any, case: Hostile, valid_text: str) -> None:
    """Write the case's config to ``path`` (bytes: one case is deliberately not UTF-8)."""
    path.write_bytes(case.make(valid_text).encode("utf-8", "surrogateescape"))
