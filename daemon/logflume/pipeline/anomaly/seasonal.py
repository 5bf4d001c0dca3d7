"""A subject's expected value at a given time, learned online, in log space.

    expected(t) = level + profile[slot(t)] + weekly[hour of the week(t)]

in units of log(value + offset): the offset is 0 for latencies and 1 for counts, so that a window
without events is a finite step below one with a single event.

Real traffic swings by 30-100 % over a day and differs between weekdays, so a window is compared
with what is usual *for its hour*, not with the last hours' median:

* ``level`` — the interquartile mean (the mean of the middle half) of the last ``history`` normal
  windows with the time-of-day and day-of-week pattern taken out: it moves only once more than a
  quarter of them changed, and an incident is kept out of it. Not the median: for a quiet subject
  whose windows are empty half the time the median is an empty window, while one request every
  other window is a rate of 0.5.
* ``daily`` — one value per slot of the day (the window, at least 5 minutes). At each UTC midnight
  the day just ended teaches it: a slot's target is the mean of that day's windows in it minus the
  day's level (the median over the day's slots, pattern removed, so a day that was busy all day
  long shifts no slot). A slot is the plain mean of its first 7 days, then moves 1/7 of the way each
  day. A slot holding a window that was not normal (an outlier, an incident, a suspected shift) is
  held back for a day: if the next day's window there is abnormal too, the pattern recurs and both
  days are learned (a daily batch job is expected from its third day on); if not, the one-off is
  dropped and never becomes expected.
* ``profile`` — what is used: the daily values averaged per hour (interpolated between hours), plus
  each slot's own detail shrunk by how much of it is real. One day's slot values are noisy (one
  window each), so the detail's variance across slots is compared with the noise a slot estimate
  carries (the variance of a day's targets around the profile, divided by the days it rests on):
  a sharp daily step keeps its detail, a noisy subject gets the smooth hourly curve.
* ``weekly`` — a correction per hour of the week, learned the same way once a full week of day
  levels is known: how this weekday's hour differs from the profile, plus how this weekday's level
  differs from the median day's (weekends). Plain mean of the first 4 weeks, then 1/4; shrunk by
  n/(n+1) while it rests on n weeks, since one week is one noisy sample.

Before the first midnight only the level exists, which is the fallback: the recent median.

How much windows vary around this expectation is learned from the normal windows' residuals
(:mod:`~logflume.pipeline.anomaly.noise`).
"""

from __future__ import annotations

import math
from collections import deque
from statistics import median
from typing import Any

from logflume.pipeline.anomaly.noise import Spread

DAY = 86_400.0
HOUR = 3_600.0
MIN_SLOT = DAY / 288  # 5 minutes: finer profiles would be learned from too few windows per day
DAILY_MEMORY = 7
WEEKLY_MEMORY = 4
WEEK_DAYS = 7
# An exponentially weighted mean with weight 1/7 rests on as much data as 13 equal samples.
EFFECTIVE_DAYS = 2 * DAILY_MEMORY - 1


class Baseline:
    """Level, seasonal profile and noise of one subject's metric (log values)."""

    def __init__(self, window: float, history: int, seasonal: bool, counts: bool) -> None:
        self.seasonal = seasonal
        self.counts = counts
        self.offset = 1.0 if counts else 0.0
        self.slot = max(window, MIN_SLOT)
        self.day_slots = math.ceil(DAY / self.slot)
        self.coarse = max(HOUR, self.slot)
        self.day_hours = math.ceil(DAY / self.coarse)
        self.daily = [0.0] * self.day_slots
        self.daily_n = [0] * self.day_slots
        self.profile = [0.0] * self.day_slots
        self.day_noise = 0.0  # mean squared deviation of one day's targets from the daily values
        self.weekly = [0.0] * (self.day_hours * WEEK_DAYS)
        self.weekly_n = [0] * (self.day_hours * WEEK_DAYS)
        self.day_levels: deque[float] = deque(maxlen=WEEK_DAYS)
        # The day being collected: its number (epoch days) and per-slot sums of log values; a day
        # the subject was first seen in after its start is partial and teaches nothing.
        self.day: int | None = None
        self.partial = False
        self.day_sum: dict[int, float] = {}
        self.day_count: dict[int, int] = {}
        self.day_odd: set[int] = set()  # slots of the day with an abnormal window
        self.pending: dict[int, float] = {}  # yesterday's abnormal slots: their targets, held back
        # Recent normal windows (week slot, value) and their log values with the pattern removed.
        self.recent: deque[tuple[int, float]] = deque(maxlen=history)
        self.recent_flat: deque[float] = deque(maxlen=history)
        # The latest windows whatever their verdict: what an incident that lasts is re-learned from.
        self.latest: deque[tuple[int, float]] = deque(maxlen=history)
        self.noise = Spread(max(history, math.ceil(7 * DAY / window)), fit=counts)

    # -- reading --------------------------------------------------------------------------------

    def log(self, value: float) -> float:
        """The value on the scale the baseline works in."""
        return math.log(max(value + self.offset, 1e-9))

    def week_slot(self, t: float) -> int:
        day = int(t // DAY)
        return (day % WEEK_DAYS) * self.day_slots + int((t - day * DAY) // self.slot)

    def _hour_of_week(self, week_slot: int) -> int:
        weekday, slot = divmod(week_slot, self.day_slots)
        return weekday * self.day_hours + int(slot * self.slot // self.coarse)

    def season(self, week_slot: int) -> float:
        """The pattern's offset at a slot of the week (0 until it has been learned)."""
        if not self.seasonal:
            return 0.0
        value = self.profile[week_slot % self.day_slots]
        hour = self._hour_of_week(week_slot)
        n = self.weekly_n[hour]
        if n:
            value += self.weekly[hour] * n / (n + 1)
        return value

    @property
    def ready(self) -> bool:
        return bool(self.recent_flat)

    def expect(self, t: float) -> float:
        """Expected log value at time ``t`` (call only when :attr:`ready`)."""
        return middle_mean(self.recent_flat) + self.season(self.week_slot(t))

    @property
    def cycles(self) -> int:
        """Full days learned so far (0 while the fallback is in use)."""
        return max(self.daily_n) if self.seasonal else 0

    # -- learning -------------------------------------------------------------------------------

    def learn(self, t: float, value: float, normal: bool) -> None:
        """Record one window's ``value`` (count or latency) at time ``t``; only ``normal`` windows
        move the level (see the module docstring for the profile). The noise is taught by the caller."""
        slot = self.week_slot(t)
        y = self.log(value)
        if self.seasonal:
            self._collect(t, slot, y, normal)
        self.latest.append((slot, value))
        if normal:
            self.recent.append((slot, value))
            self.recent_flat.append(y - self.season(slot))

    def recent_mean(self) -> float:
        """The plain mean of the recent normal values (0 when there are none)."""
        return sum(value for _, value in self.recent) / len(self.recent) if self.recent else 0.0

    def recent_median(self) -> float | None:
        """The median of the recent normal values (what warm-up judges against), or None."""
        if len(self.recent) < 3:
            return None
        return median(value for _, value in self.recent)

    def rebase(self) -> None:
        """Take the latest windows, whatever their verdict, as the new normal level."""
        self.recent = deque(self.latest, maxlen=self.recent.maxlen)
        self._flatten()

    def _collect(self, t: float, slot: int, y: float, normal: bool) -> None:
        day = int(t // DAY)
        if self.day is None:
            self.day = day
            self.partial = slot % self.day_slots > 0
        elif day > self.day:
            self._close_day()
            self.day = day
            self.partial = False
        elif day < self.day:
            return  # a window older than the day being collected: too late for the profile
        day_slot = slot % self.day_slots
        self.day_sum[day_slot] = self.day_sum.get(day_slot, 0.0) + y
        self.day_count[day_slot] = self.day_count.get(day_slot, 0) + 1
        if not normal:
            self.day_odd.add(day_slot)

    def _close_day(self) -> None:
        """Teach the profile the day just collected, then re-flatten the recent windows with it."""
        assert self.day is not None
        means = {slot: self.day_sum[slot] / self.day_count[slot] for slot in self.day_sum}
        odd, pending = self.day_odd, self.pending
        self.day_sum, self.day_count, self.day_odd, self.pending = {}, {}, set(), {}
        # A day followed from part-way through would place its level from its end alone.
        if self.partial or len(means) * 4 < self.day_slots:
            return
        # The day's own level: its median once the daily shape is taken out (weekday effects stay in).
        level = median(value - self.profile[slot] for slot, value in means.items())
        week_level = median(self.day_levels) if len(self.day_levels) == WEEK_DAYS else None
        self.day_levels.append(level)
        deviations = []
        taught = {}
        for slot, value in means.items():
            target = value - level
            if slot in odd:
                before = pending.get(slot)
                if before is None:
                    self.pending[slot] = target
                    continue
                target = (target + before) / 2.0
            taught[slot] = value
            n = self.daily_n[slot] = self.daily_n[slot] + 1
            if n > 1:
                deviations.append((target - self.daily[slot]) ** 2)
            self.daily[slot] += (target - self.daily[slot]) / min(n, DAILY_MEMORY)
        if deviations:
            days = min(len(self.day_levels), DAILY_MEMORY)
            self.day_noise += (sum(deviations) / len(deviations) - self.day_noise) / days
        self._build_profile()
        if week_level is not None:
            self._learn_week(taught, week_level)
        self._flatten()

    def _build_profile(self) -> None:
        """Hourly means of the daily values (interpolated) plus each slot's detail, shrunk."""
        per_hour = self.day_slots / self.day_hours
        sums = [0.0] * self.day_hours
        counts = [0] * self.day_hours
        for slot, n in enumerate(self.daily_n):
            if n:
                hour = int(slot / per_hour)
                sums[hour] += self.daily[slot]
                counts[hour] += 1
        learned = [slot for slot, n in enumerate(self.daily_n) if n]
        if not learned:
            return
        hourly = _fill_circle([s / c if c else None for s, c in zip(sums, counts, strict=True)])
        smooth = [self._interpolate(hourly, (slot + 0.5) / per_hour - 0.5) for slot in range(self.day_slots)]
        detail = sum((self.daily[s] - smooth[s]) ** 2 for s in learned) / len(learned)
        days = min(max(self.daily_n), EFFECTIVE_DAYS)
        # After one day there is no day-to-day deviation yet: the windows' own mean squared
        # residual (from the recent median, so it includes the daily swing) stands in, cautiously.
        noise = (self.day_noise if days > 1 else self.noise.mean_square) / days
        keep = max(0.0, detail - noise) / detail if detail > 0 else 0.0
        # A slot not learned yet (held back, or never seen) takes the hourly curve around it.
        self.profile = [
            smooth[s] + keep * (self.daily[s] - smooth[s]) if self.daily_n[s] else smooth[s]
            for s in range(self.day_slots)
        ]

    @staticmethod
    def _interpolate(values: list[float], position: float) -> float:
        """Linear interpolation on a circle of ``values`` at fractional index ``position``."""
        n = len(values)
        low = math.floor(position)
        frac = position - low
        return values[low % n] * (1.0 - frac) + values[(low + 1) % n] * frac

    def _learn_week(self, means: dict[int, float], week_level: float) -> None:
        first = (self.day % WEEK_DAYS if self.day is not None else 0) * self.day_hours
        per_hour = self.day_slots / self.day_hours
        sums: dict[int, float] = {}
        counts: dict[int, int] = {}
        for slot, value in means.items():
            hour = first + int(slot / per_hour)
            sums[hour] = sums.get(hour, 0.0) + value - self.profile[slot] - week_level
            counts[hour] = counts.get(hour, 0) + 1
        for hour, total in sums.items():
            n = self.weekly_n[hour] = self.weekly_n[hour] + 1
            self.weekly[hour] += (total / counts[hour] - self.weekly[hour]) / min(n, WEEKLY_MEMORY)

    def _flatten(self) -> None:
        self.recent_flat = deque(
            (self.log(value) - self.season(s) for s, value in self.recent), maxlen=self.recent.maxlen
        )

    # -- persistence ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        return {
            "slot": self.slot,
            "daily": [round(v, 6) for v in self.daily], "daily_n": self.daily_n,
            "day_noise": self.day_noise,
            "weekly": [round(v, 6) for v in self.weekly], "weekly_n": self.weekly_n,
            "day_levels": list(self.day_levels),
            "day": self.day, "partial": self.partial,
            "day_sum": list(self.day_sum.items()), "day_count": list(self.day_count.items()),
            "day_odd": sorted(self.day_odd), "pending": list(self.pending.items()),
            "recent": [list(r) for r in self.recent], "latest": [list(r) for r in self.latest],
            "noise": self.noise.snapshot(),
        }

    def restore(self, data: dict[str, Any]) -> None:
        if float(data.get("slot", -1)) != self.slot:
            # Another window length: the profile's slots mean other times. Start again.
            return
        self.daily = [float(v) for v in data["daily"]]
        self.daily_n = [int(n) for n in data["daily_n"]]
        self.day_noise = float(data["day_noise"])
        self.weekly = [float(v) for v in data["weekly"]]
        self.weekly_n = [int(n) for n in data["weekly_n"]]
        self.day_levels.extend(float(v) for v in data["day_levels"])
        self.day = None if data["day"] is None else int(data["day"])
        self.partial = bool(data.get("partial", False))
        self.day_sum = {int(k): float(v) for k, v in data["day_sum"]}
        self.day_count = {int(k): int(v) for k, v in data["day_count"]}
        self.day_odd = {int(k) for k in data.get("day_odd", [])}
        self.pending = {int(k): float(v) for k, v in data.get("pending", [])}
        self.recent.extend((int(s), float(y)) for s, y in data["recent"])
        self.latest.extend((int(s), float(y)) for s, y in data["latest"])
        self.noise.restore(data["noise"])
        if any(self.daily_n):
            self._build_profile()
        self._flatten()


def _fill_circle(values: list[float | None]) -> list[float]:
    """Missing entries of a circular list, interpolated linearly between the nearest known ones."""
    known = [i for i, v in enumerate(values) if v is not None]
    n = len(values)
    out = [0.0] * n
    for j, i in enumerate(known):
        nxt = known[(j + 1) % len(known)]
        gap = (nxt - i) % n or n
        a, b = values[i] or 0.0, values[nxt] or 0.0
        for step in range(gap):
            out[(i + step) % n] = a + (b - a) * step / gap
    return out


def middle_mean(values: deque[float]) -> float:
    """The interquartile mean: the mean of the values without their highest and lowest quarter."""
    ordered = sorted(values)
    cut = len(ordered) // 4
    kept = ordered[cut : len(ordered) - cut]
    return sum(kept) / len(kept)
