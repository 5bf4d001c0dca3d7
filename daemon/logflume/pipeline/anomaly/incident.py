"""One detector's incident on one subject: when it fires, what keeps it open, when it resolves.

A window is anomalous in a direction when

* it is a **spike**: its z-score reaches ``z`` (a single very unusual window), or
* it ends a **drift**: the running sum S = max(0, S + min(z, z_fire) - drift_slack) of the windows'
  z-scores reaches ``drift`` (CUSUM: a level shift or a slow ramp, each window only a little
  unusual; one huge window adds no more than ``z``, so spikes stay the spike test's job),

and, either way, it differs from the baseline by at least ``min_ratio`` and ``min_delta`` and goes
beyond the subject's usual daily worst (:mod:`~logflume.pipeline.anomaly.calibration`). Windows
while a running sum is half-way to ``drift`` are suspect: kept out of the baseline until the sum
falls back, fires, or has been up for ``adapt_after`` (then the shift is the new normal).

The first anomalous window outside the cooldown fires. While firing, windows are kept out of the
baseline, so an incident does not become the new normal — until it has lasted ``adapt_after``: then
the level is re-learned from the latest windows and the alert resolves once they are calm. A
silence (a volume of zero where events were expected) is exempt: it is judged for as long as it
lasts. ``resolve_after`` consecutive calm windows (|z| < 2 in the firing direction) resolve; then
``cooldown`` keeps the subject quiet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

CALM_Z = 2.0


@dataclass(slots=True)
class Step:
    """What one window did to an incident."""

    fire: bool = False
    resolve: bool = False
    rebase: bool = False
    learn: bool = True  # the window counts as normal for the baseline
    trigger: str = ""  # spike, drift or silence
    up: bool = True


@dataclass(slots=True)
class Incident:
    firing: bool = False
    up: bool = True
    trigger: str = ""
    started: float = 0.0
    calm: int = 0
    quiet_until: float = -math.inf
    cusum_up: float = 0.0
    cusum_down: float = 0.0
    suspect_since: float | None = None

    def step(
        self,
        *,
        start: float,
        end: float,
        z_up: float,
        z_down: float,
        anomalous_up: tuple[bool, bool],
        anomalous_down: tuple[bool, bool],
        silence: bool,
        resolve_after: int,
        cooldown: float,
        adapt_after: float,
    ) -> Step:
        """Advance by one judged window; ``anomalous_*`` are (spike, drift) per direction, already
        restricted to the directions the detector watches and to practical deviations."""
        if self.firing:
            z = z_up if self.up else z_down
            self.calm = self.calm + 1 if z < CALM_Z else 0
            if self.calm >= resolve_after:
                self._close(end + cooldown)
                return Step(resolve=True)
            if end - self.started >= adapt_after and not (silence and not self.up):
                self.cusum_up = self.cusum_down = 0.0
                return Step(rebase=True, learn=False)
            return Step(learn=False)
        for up, (spike, drift) in ((True, anomalous_up), (False, anomalous_down)):
            if not (spike or drift):
                continue
            if start < self.quiet_until:
                return Step(learn=False)
            trigger = "silence" if silence and not up else ("spike" if spike else "drift")
            self.firing, self.up, self.trigger = True, up, trigger
            self.started, self.calm = start, 0
            return Step(fire=True, learn=False, trigger=trigger, up=up)
        return Step()

    def accumulate(self, z_up: float, z_down: float, cap: float, slack: float) -> tuple[float, float]:
        """Add one window to the running sums; returns them."""
        self.cusum_up = max(0.0, self.cusum_up + min(z_up, cap) - slack)
        self.cusum_down = max(0.0, self.cusum_down + min(z_down, cap) - slack)
        return self.cusum_up, self.cusum_down

    def suspect(
        self, start: float, end: float, drift: float, adapt_after: float, silence: bool
    ) -> tuple[bool, bool]:
        """Whether a window not anomalous by itself is still kept out of the baseline because a
        running sum is half-way to a drift alarm (learning it would let the level follow a shift
        before it is judged), and whether that has lasted ``adapt_after``: then the shift is the
        new normal, the sums restart and the baseline takes the latest windows (never during a
        silence: an outage does not become the level traffic is judged against when it returns)."""
        if max(self.cusum_up, self.cusum_down) < drift / 2:
            self.suspect_since = None
            return False, False
        if self.suspect_since is None:
            self.suspect_since = start
        if end - self.suspect_since >= adapt_after and not silence:
            self.suspect_since = None
            self.cusum_up = self.cusum_down = 0.0
            return True, True
        return True, False

    def forget(self) -> None:
        """Resolve without a cooldown (the subject went away)."""
        self._close(-math.inf)

    def _close(self, quiet_until: float) -> None:
        self.firing = False
        self.calm = 0
        self.quiet_until = quiet_until
        self.cusum_up = self.cusum_down = 0.0
        self.suspect_since = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "firing": self.firing, "up": self.up, "trigger": self.trigger, "started": self.started,
            "calm": self.calm, "quiet_until": None if math.isinf(self.quiet_until) else self.quiet_until,
            "cusum": [self.cusum_up, self.cusum_down], "suspect_since": self.suspect_since,
        }

    @classmethod
    def restore(cls, data: dict[str, Any]) -> Incident:
        quiet = data.get("quiet_until")
        up, down = data.get("cusum", [0.0, 0.0])
        return cls(
            firing=bool(data["firing"]), up=bool(data.get("up", True)), trigger=str(data.get("trigger", "")),
            started=float(data["started"]), calm=int(data.get("calm", 0)),
            quiet_until=-math.inf if quiet is None else float(quiet), cusum_up=float(up),
            cusum_down=float(down),
            suspect_since=None if data.get("suspect_since") is None else float(data["suspect_since"]),
        )
