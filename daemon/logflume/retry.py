"""One retry policy for sinks and alert channels: how an outcome is classified, and how long to wait.

A backend (a sink, an alert channel) only *classifies* what happened, as an :class:`Outcome`; the
layer that calls it (:mod:`logflume.sinks.writer`, :mod:`logflume.alerts.dispatcher`) decides what
follows, with the same :class:`Backoff`. Neutral ground: imports nothing of ours but the error tree,
so sinks and alerts share it without importing each other.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from logflume.errors import (
    FatalAlertError,
    FatalSinkError,
    RetryableSinkError,
    SinkError,
    SinkSetupLostError,
)


class Outcome(enum.Enum):
    """What a failed request means for the next attempt."""

    RETRY = "retry"  # transient (connection, timeout, 429, 5xx): the same request may work later
    FATAL = "fatal"  # cannot work as configured (auth, permissions, bad request): do not retry
    REJECT = "reject"  # something in the batch is unstorable: find those events and refuse them
    SETUP_LOST = "setup_lost"  # what prepare made is gone (a dropped table): prepare again, retry


def http_outcome(status: int) -> Outcome:
    """An HTTP error status: 408, 429 and 5xx may pass, any other 4xx will not."""
    if status in (408, 429) or status >= 500:
        return Outcome.RETRY
    return Outcome.FATAL


def outcome_of(exc: BaseException) -> Outcome:
    """The outcome an exception stands for; anything unexpected is treated as transient (dropping
    data over a bug is worse than retrying it, and the error is logged)."""
    if isinstance(exc, SinkSetupLostError):
        return Outcome.SETUP_LOST
    if isinstance(exc, FatalSinkError | FatalAlertError):
        return Outcome.FATAL
    return Outcome.RETRY


def sink_error(outcome: Outcome, message: str) -> SinkError:
    """The sink exception for a whole request classified as ``outcome`` (REJECT is the sink's own
    business: it finds the events and reports them, so it never reaches here as an exception)."""
    if outcome is Outcome.SETUP_LOST:
        return SinkSetupLostError(message)
    if outcome is Outcome.RETRY:
        return RetryableSinkError(message)
    return FatalSinkError(message)


@dataclass
class Backoff:
    """Delays for successive attempts: random in [ceiling/2, ceiling], the ceiling doubling from
    ``initial`` up to ``maximum``."""

    initial: float
    maximum: float
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2.0 ** min(self.attempt, 30))
        self.attempt += 1
        # Half fixed, half random: full jitter can pick ~0 repeatedly and hammer a sick backend.
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0
