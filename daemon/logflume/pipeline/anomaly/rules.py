"""Threshold rules: N matching events within a sliding window (by event time), per subject.

Matching. ``condition`` uses the filter stage's compiler. ``pattern`` is the seed's regular
expression over the raw JSON line; events are already parsed, so the line is re-created with
``orjson.dumps`` (daemon metadata left out) and spaced after ``:`` and ``,`` the way the proxy's
``json.dumps`` writes it, so seed patterns such as ``'"level": "ERROR"'`` work unchanged. Writing
JSON costs microseconds, so each pattern gets a cheap prefilter read from it: a ``"key": "word"`` or
``"key": "(a|b)"`` piece outside any group rejects an event whose *top-level* ``key`` holds another
string, before anything is written. (Limitation: such a piece is assumed to mean the top-level
field when the event has one.) RE2 keeps each search linear in the line length.

Counting. Only the last ``threshold`` times are kept per subject: the rule holds at time t when
all of them lie within one window. A firing rule resolves once it has not held for a whole window.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Callable
from typing import Any

from logflume import jsontext
from logflume.events import META_KEY, Event
from logflume.pipeline.anomaly.alert import alert_event
from logflume.pipeline.anomaly.config import RuleConfig
from logflume.pipeline.filter.language import compile_condition, compile_regex
from logflume.pipeline.labels import group_value
from logflume.pipeline.paths import MISSING, make_getter

log = logging.getLogger(__name__)

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


class _Subject:
    __slots__ = ("firing", "held_until", "started", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.firing = False
        self.started = 0.0
        # The end of the last moment the rule held (oldest kept time + window).
        self.held_until = 0.0


class Rule:
    """One compiled rule and its per-subject state."""

    def __init__(self, config: RuleConfig) -> None:
        self.config = config
        self.name = config.name
        self.window = config.window_minutes * 60.0
        self.threshold = config.threshold
        self.condition = compile_condition(config.condition) if config.condition is not None else None
        self.regex: Any = None
        self.prefilter: Callable[[Event], bool] | None = None
        if config.pattern is not None:
            self.regex = compile_regex(config.pattern)
            self.prefilter = pattern_prefilter(config.pattern)
        self.fields = config.group_fields()
        self.getters = [make_getter(field) for field in self.fields]
        self.subjects: dict[tuple[Any, ...], _Subject] = {}
        self.quiet_until: dict[tuple[Any, ...], float] = {}
        self.dropped_subjects = 0
        self._swept_at = float("-inf")

    def subject_key(self, event: Event) -> tuple[Any, ...]:
        key = []
        for getter in self.getters:
            value = getter(event)
            key.append(None if value is MISSING else group_value(value))
        return tuple(key)

    def dimensions(self, key: tuple[Any, ...]) -> dict[str, Any]:
        return dict(zip(self.fields, key, strict=True))

    def add(self, key: tuple[Any, ...], ts: float, out: list[Event]) -> None:
        subject = self.subjects.get(key)
        if subject is None:
            if len(self.subjects) >= self.config.max_subjects:
                self.dropped_subjects += 1
                if self.dropped_subjects % 10_000 == 1:
                    log.warning(
                        "Rule tracks too many subjects; new ones are not counted.",
                        extra={"rule": self.name, "dropped": self.dropped_subjects},
                    )
                return
            subject = self.subjects[key] = _Subject()
        elif subject.firing and ts >= subject.held_until + self.window:
            # This event comes after the incident ended (the tick that would have said so has not
            # run yet): resolve first, so that it may start a new one.
            self._resolve(key, subject, out)
        times = subject.times
        if not times or ts >= times[-1]:
            times.append(ts)
        else:
            bisect.insort(times, ts)
        if len(times) > self.threshold:
            del times[0]
        if len(times) < self.threshold or times[-1] - times[0] >= self.window:
            return
        subject.held_until = max(subject.held_until, times[0] + self.window)
        if subject.firing or ts < self.quiet_until.get(key, float("-inf")):
            return
        subject.firing = True
        subject.started = ts
        dims = self.dimensions(key)
        where = f" for {', '.join(f'{k}={v}' for k, v in dims.items())}" if dims else ""
        out.append(
            alert_event(
                rule=self.name, kind="rule", severity=self.config.severity, dimensions=dims, state="firing",
                started_at=ts, at=ts,
                message=f"{self.threshold} or more matching events within {self.window:g}s{where}.",
                value=float(self.threshold), baseline=None, threshold=float(self.threshold),
                channels=list(self.config.channels), extra={"window_seconds": self.window},
            )
        )

    def _resolve(self, key: tuple[Any, ...], subject: _Subject, out: list[Event]) -> None:
        subject.firing = False
        at = subject.held_until + self.window
        self.quiet_until[key] = at + self.config.cooldown
        out.append(
            alert_event(
                rule=self.name, kind="rule", severity=self.config.severity, dimensions=self.dimensions(key),
                state="resolved", started_at=subject.started, at=at,
                message=f"Fewer than {self.threshold} matching events within {self.window:g}s again.",
                value=None, baseline=None, threshold=float(self.threshold),
                channels=list(self.config.channels), extra={"window_seconds": self.window},
            )
        )

    def advance(self, mark: float, out: list[Event]) -> None:
        """Resolve subjects that have not held for a whole window before ``mark``; forget idle ones."""
        for key, subject in self.subjects.items():
            if subject.firing and mark >= subject.held_until + self.window:
                self._resolve(key, subject, out)
        if mark - self._swept_at >= self.window:
            self._swept_at = mark
            horizon = mark - self.window
            idle = [
                key
                for key, s in self.subjects.items()
                if not s.firing and (not s.times or s.times[-1] < horizon)
            ]
            for key in idle:
                del self.subjects[key]
            for key in [k for k, until in self.quiet_until.items() if until < mark]:
                del self.quiet_until[key]

    # -- persistence ---------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "subjects": [
                [list(key), s.times, s.firing, s.started, s.held_until] for key, s in self.subjects.items()
            ],
            "quiet_until": [[list(key), until] for key, until in self.quiet_until.items()],
        }

    def restore(self, data: dict[str, Any]) -> None:
        for key, times, firing, started, held_until in data.get("subjects", []):
            subject = _Subject()
            subject.times = [float(t) for t in times][-self.threshold :]
            subject.firing = bool(firing)
            subject.started = float(started)
            subject.held_until = float(held_until)
            self.subjects[tuple(key)] = subject
        for key, until in data.get("quiet_until", []):
            self.quiet_until[tuple(key)] = float(until)


class RuleSet:
    """All rules; :meth:`observe` runs once per batch, the JSON line is written at most once per event."""

    def __init__(self, configs: list[RuleConfig]) -> None:
        self.rules = [Rule(config) for config in configs]
        self.needs_line = any(rule.regex is not None for rule in self.rules)

    def observe(self, events: list[Event], times: list[float], out: list[Event]) -> None:
        rules = self.rules
        for event, ts in zip(events, times, strict=True):
            line: bytes | None = None
            for rule in rules:
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
                rule.add(rule.subject_key(event) if rule.getters else (), ts, out)

    def advance(self, mark: float, out: list[Event]) -> None:
        for rule in self.rules:
            rule.advance(mark, out)

    def snapshot(self) -> dict[str, Any]:
        return {rule.name: rule.snapshot() for rule in self.rules}

    def restore(self, data: dict[str, Any]) -> None:
        for rule in self.rules:
            if rule.name in data:
                rule.restore(data[rule.name])

