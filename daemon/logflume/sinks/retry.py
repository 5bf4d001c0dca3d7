"""Exponential backoff with full jitter, shared by every sink and alert channel."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass
class Backoff:
    """Delays for successive attempts: random in [0, min(max, initial * 2**n)] ("full jitter")."""

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
