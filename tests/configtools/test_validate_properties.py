"""Property: whatever is wrong in a config file, validate answers with problems in its own words.

Hypothesis takes the annotated example config, replaces a few of its values (anywhere, with values
of any type, unset variables among them) or renames keys, and validates the result.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from logflume.config import check_config
from logflume.errors import ConfigError, ConfigIssue

EXAMPLE = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "config" / "logflume.example.yaml").read_text()
)
ENV = {name: "x" for name in ("SLACK_WEBHOOK_URL", "PAGERDUTY_ROUTING_KEY", "SMTP_PASSWORD", "ES_API_KEY",
                              "PGPASSWORD")}  # fmt: skip


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path] if path else []
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        found += _paths(value, (*path, key))
    return found


PATHS = _paths(EXAMPLE)
values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**12) | st.floats(allow_nan=False) | st.text(max_size=12)
    | st.sampled_from(["${LOGFLUME_UNSET}", "10s", "1MB", "", "-1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
changes = st.lists(st.tuples(st.sampled_from(PATHS), values, st.booleans()), min_size=1, max_size=4)


def _apply(data: Any, path: tuple[Any, ...], value: Any, rename: bool) -> None:
    for part in path[:-1]:
        data = data[part] if isinstance(data, dict | list) and _has(data, part) else None
        if data is None:
            return
    if not isinstance(data, dict | list) or not _has(data, path[-1]):
        return
    if rename and isinstance(data, dict):
        data[f"{path[-1]}_x"] = data.pop(path[-1])
    else:
        data[path[-1]] = value


def _has(data: Any, part: Any) -> bool:
    return part in data if isinstance(data, dict) else isinstance(part, int) and part < len(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes)
def test_problems_are_in_plain_words_at_lines_of_the_file(changes: list[tuple[Any, Any, bool]]) -> None:
    """A changed config validates or raises ConfigError listing problems at lines of the file, none in
    pydantic's words."""
    data = copy.deepcopy(EXAMPLE)
    for path, value, rename in changes:
        _apply(data, path, copy.deepcopy(value), rename)
    text = yaml.safe_dump(data)
    issues = _problems(text)
    lines = len(text.splitlines())
    bad = [
        str(issue)
        for issue in issues
        if not issue.message
        or "Input should" in issue.message
        or "[type=" in issue.message
        or not (issue.line is None or 1 <= issue.line <= lines)
    ]
    assert [] == bad


def _problems(text: str) -> list[ConfigIssue]:
    try:
        check_config(text, "changed.yaml", ENV)
    except ConfigError as exc:
        if not exc.issues:
            raise AssertionError("a ConfigError without problems") from exc
        return exc.issues
    return []
