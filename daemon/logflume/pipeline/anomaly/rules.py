"""Threshold rules: N matching events within a sliding window (by event time), per subject.

Matching (which events a rule counts, for which subject) is stateless and lives in
:mod:`.matching`; this module keeps the counts.

Counting. Only the last ``threshold`` times are kept per subject: the rule holds at time t when
all of them lie within one window. A firing rule resolves once it has not held for a whole window.
"""

from __future__ import annotations

import bisect
import logging
from typing import Any

from logflume.events import Event
from logflume.pipeline.anomaly.alert import alert_event
from logflume.pipeline.anomaly.config import RuleConfig
from logflume.pipeline.anomaly.matching import Match

log = logging.getLogger(__name__)


class _Subject:
    __slots__ = ("firing", "held_until", "started", "times")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.firing = False
        self.started = 0.0
        # The end of the last moment the rule held (oldest kept time + window).
        self.held_until = 0.0


class Rule:
    """One rule's per-subject state."""

    def __init__(self, config: RuleConfig) -> None:
        self.config = config
        self.name = config.name
        self.window = config.window_minutes * 60.0
        self.threshold = config.threshold
        self.fields = config.group_fields()
        self.subjects: dict[tuple[Any, ...], _Subject] = {}
        self.quiet_until: dict[tuple[Any, ...], float] = {}
        self.dropped_subjects = 0
        self._swept_at = float("-inf")

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
    """All rules' state; matching happened before (:func:`.matching.match_all`)."""

    def __init__(self, configs: list[RuleConfig]) -> None:
        self.rules = [Rule(config) for config in configs]

    def count(self, times: list[float], matches: list[list[Match]], out: list[Event]) -> None:
        """Count each matching event (its time, and the rules it matched with their subjects)."""
        rules = self.rules
        for ts, found in zip(times, matches, strict=True):
            for index, key in found:
                rules[index].add(key, ts, out)

    def advance(self, mark: float, out: list[Event]) -> None:
        for rule in self.rules:
            rule.advance(mark, out)

    def snapshot(self) -> dict[str, Any]:
        return {rule.name: rule.snapshot() for rule in self.rules}

    def restore(self, data: dict[str, Any]) -> None:
        for rule in self.rules:
            if rule.name in data:
                rule.restore(data[rule.name])

