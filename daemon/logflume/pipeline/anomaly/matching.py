"""Which events a threshold rule counts, and for which subject: the stateless half of a rule.

``condition`` uses the filter stage's compiler. ``pattern`` is the seed's regular expression over
the raw JSON line; events are already parsed, so the line is re-created with ``orjson.dumps``
(daemon metadata left out) and spaced after ``:`` and ``,`` the way the proxy's ``json.dumps``
writes it, so seed patterns such as ``'"level": "ERROR"'`` work unchanged. Writing JSON costs
microseconds, so each pattern gets a cheap prefilter read from it: a ``"key": "word"`` or
``"key": "(a|b)"`` piece outside any group rejects an event whose *top-level* ``key`` holds another
string, before anything is written. (Limitation: such a piece is assumed to mean the top-level
field when the event has one.) RE2 keeps each search linear in the line length.

Matching needs no state, so it runs wherever the stateless stages run (a worker process when the
daemon has several, see :mod:`.front`); counting is the rule's (:mod:`.rules`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from logflume import jsontext
from logflume.events import META_KEY, Event
from logflume.pipeline.anomaly.config import RuleConfig
from logflume.pipeline.filter.language import compile_condition, compile_regex
from logflume.pipeline.labels import group_value
from logflume.pipeline.paths import MISSING, make_getter

_KEY_VALUE = re.compile(r'"(\w+)":\s?"(?:(\w+)|\((\w+(?:\|\w+)*)\))"(?![*?{+])')


def _top_level(pattern: str) -> str | None:
    """The pattern with every parenthesised part blanked, or None if it has a top-level '|'."""
    depth = 0
    out = []
    escaped = False
    for char in pattern:
        if escaped:
            escaped = False
            out.append(char if depth == 0 else " ")
            continue
        if char == "\\":
            escaped = True
        elif char == "(":
            depth += 1
            if depth == 1:
                out.append(char)
                continue
        elif char == ")":
            depth -= 1
            if depth == 0:
                out.append(char)
                continue
        elif char == "|" and depth == 0:
            return None
        out.append(char if depth == 0 else "\0")
    return "".join(out)


def pattern_prefilter(pattern: str) -> Callable[[Event], bool] | None:
    """A cheap test that rejects events the pattern cannot match, or None when none can be read."""
    top = _top_level(pattern)
    if top is None:
        return None
    tests: list[tuple[str, frozenset[str]]] = []
    for match in _KEY_VALUE.finditer(pattern):
        start, end = match.span()
        outside = top[start:end]
        if match.group(3):
            # The value's own (a|b) group is allowed; any other enclosing group is not.
            inner_start, inner_end = match.span(3)
            outside = top[start:inner_start] + top[inner_end:end]
        if "\0" in outside:
            continue
        values = frozenset([match.group(2)] if match.group(2) else match.group(3).split("|"))
        tests.append((match.group(1), values))
    if not tests:
        return None

    def prefilter(event: Event) -> bool:
        for key, allowed in tests:
            value = event.get(key)
            if type(value) is str and value not in allowed:
                return False
        return True

    return prefilter


def json_line(event: Event) -> bytes:
    """The event as the proxy would have written it (``json.dumps`` spacing), without metadata."""
    meta = event.pop(META_KEY, None)
    try:
        text = jsontext.dumps(event)  # orjson's, unless the event holds what orjson refuses
    finally:
        if meta is not None:
            event[META_KEY] = meta
    return text.replace(b'":', b'": ').replace(b',"', b', "')


class RuleMatcher:
    """One rule's compiled test and subject (``group_by``) reader."""

    def __init__(self, config: RuleConfig) -> None:
        self.condition = compile_condition(config.condition) if config.condition is not None else None
        self.regex: Any = None
        self.prefilter: Callable[[Event], bool] | None = None
        if config.pattern is not None:
            self.regex = compile_regex(config.pattern)
            self.prefilter = pattern_prefilter(config.pattern)
        self.fields = config.group_fields()
        self.getters = [make_getter(field) for field in self.fields]

    def subject_key(self, event: Event) -> tuple[Any, ...]:
        key = []
        for getter in self.getters:
            value = getter(event)
            key.append(None if value is MISSING else group_value(value))
        return tuple(key)


Match = tuple[int, tuple[Any, ...]]  # (rule index, subject key)


def match_all(matchers: list[RuleMatcher], event: Event) -> list[Match]:
    """The rules (by index) ``event`` counts for, each with its subject; the JSON line is written
    at most once, and only when a pattern needs it."""
    found: list[Match] = []
    line: bytes | None = None
    for index, rule in enumerate(matchers):
        prefilter = rule.prefilter
        if prefilter is not None and not prefilter(event):
            continue
        condition = rule.condition
        if condition is not None and not condition(event):
            continue
        if rule.regex is not None:
            if line is None:
                line = json_line(event)
            if not rule.regex.search(line):
                continue
        found.append((index, rule.subject_key(event) if rule.getters else ()))
    return found
