"""What real traffic needs from the detectors: its hour, its weekday, its usual bursts, slow shifts."""

from __future__ import annotations

import math
import random
from pathlib import Path

from logflume.events import Event
from logflume.pipeline.anomaly.seasonal import Baseline
from tests.pipeline.anomaly_feed import DAY, T0, Feeder, states, window

HOUR = 3600.0


def diurnal(t: float) -> float:
    """Requests per 5 minutes: 40 at 03:00 UTC, 360 at 15:00 (a 9x day-night swing)."""
    return 200.0 * (1.0 + 0.8 * math.sin(2 * math.pi * ((t % DAY) / DAY - 0.375)))


def traffic(rng: random.Random, start: float, days: float, noise: float = 0.1,
            level: float = 1.0) -> list[Event]:
    out = []
    for i in range(int(days * 288)):
        t = start + i * 300
        mean = level * diurnal(t + 150) * rng.lognormvariate(0.0, noise)
        out.append(window(t, max(0, round(rng.gauss(mean, mean**0.5)))))
    return out


class TestBaseline:
    def test_before_a_full_day_the_recent_level_is_expected(self) -> None:
        """Until a whole day was seen, the expectation is the recent level at every hour."""
        baseline = Baseline(300.0, 36, seasonal=True, counts=True)
        for i in range(72):
            baseline.learn(T0 + 6 * HOUR + i * 300, 100.0, normal=True)
        expected = [round(math.exp(baseline.expect(T0 + h * HOUR)) - 1, 6) for h in (3, 12, 21)]
        assert [100.0, 100.0, 100.0] == expected
        assert 0 == baseline.cycles

    def test_a_full_day_teaches_the_time_of_day(self) -> None:
        """After one whole day of a sharp day/night step, each hour expects its own level."""
        baseline = Baseline(300.0, 36, seasonal=True, counts=True)
        for i in range(288 + 36):
            t = T0 + i * 300
            baseline.learn(t, 80.0 if 8 <= (t % DAY) / HOUR < 20 else 20.0, normal=True)
        night, noon = (math.exp(baseline.expect(T0 + DAY + h * HOUR)) - 1 for h in (4, 12))
        assert (1, 20, 80) == (baseline.cycles, round(night), round(noon))

    def test_a_day_seen_from_part_way_teaches_nothing(self) -> None:
        """A first day joined at noon is not learned: it would place its level from its end alone."""
        baseline = Baseline(300.0, 36, seasonal=True, counts=True)
        for i in range(144 + 12):
            baseline.learn(T0 + 12 * HOUR + i * 300, 50.0 + i % 7, normal=True)
        assert 0 == baseline.cycles

    def test_weekdays_are_learned_after_a_full_week(self) -> None:
        """With weekends at half the weekday traffic, the weekday correction starts after the first
        full week; after three weeks it rests on two weeks and is shrunk by 2/3, so a Saturday hour
        expects 0.5^(2/3) of the same hour on a Wednesday."""
        baseline = Baseline(300.0, 36, seasonal=True, counts=True)
        for i in range(21 * 288):
            t = T0 + i * 300
            weekend = int(t // DAY) % 7 in (2, 3)  # epoch day 0 was a Thursday
            baseline.learn(t, 100.0 if weekend else 200.0, normal=True)
        saturday = T0 + 26 * DAY + 12 * HOUR
        wednesday = T0 + 23 * DAY + 12 * HOUR
        season = baseline.season
        offset = season(baseline.week_slot(saturday)) - season(baseline.week_slot(wednesday))
        assert round(0.5 ** (2 / 3), 2) == round(math.exp(offset), 2)


class TestTimeOfDay:
    def test_a_daily_nine_fold_swing_raises_nothing(self, tmp_path: Path) -> None:
        """Traffic swinging 9x between night and afternoon, with 10 % noise, raises no alert over
        four days."""
        feeder = Feeder(tmp_path)
        feeder.feed(traffic(random.Random(21), T0, 4))
        assert [] == states(feeder.alerts)

    def test_a_window_unusual_only_for_its_hour_fires(self, tmp_path: Path) -> None:
        """Afternoon traffic at 03:00 fires traffic_spike; the same traffic at 15:00 is normal."""
        rng = random.Random(22)
        feeder = Feeder(tmp_path)
        feeder.feed(traffic(rng, T0, 3))
        assert [] == feeder.alerts
        afternoon = T0 + 3 * DAY + 15 * HOUR
        feeder.feed(traffic(rng, T0 + 3 * DAY, 15 / 24))
        assert [] == feeder.feed([window(afternoon, 360)])
        night = T0 + 4 * DAY + 3 * HOUR
        feeder.feed(traffic(rng, afternoon + 300, (night - afternoon - 300) / DAY))
        raised = feeder.feed([window(night, 360)])
        assert [("firing", "traffic_spike", "spike")] == states(raised)


class TestDrift:
    def test_a_sustained_shift_no_window_of_which_is_extreme_fires_as_drift(self, tmp_path: Path) -> None:
        """After a day of noisy traffic (15 %), a step up to 1.55x that stays fires once, as a drift:
        no single window of it is unusual enough to fire alone."""
        rng = random.Random(23)
        feeder = Feeder(tmp_path)
        level = [window(T0 + i * 300, round(500 * rng.lognormvariate(0, 0.15))) for i in range(400)]
        shifted = [window(T0 + i * 300, round(775 * rng.lognormvariate(0, 0.15))) for i in range(400, 440)]
        assert [] == feeder.feed(level)
        raised = feeder.feed(shifted)
        assert [("firing", "traffic_spike", "drift")] == states(raised)
        assert raised[0]["z"] < 6


class TestUsualWorst:
    def test_a_subject_that_bursts_daily_pages_only_for_an_unusual_burst(self, tmp_path: Path) -> None:
        """A subject whose traffic bursts to 8x for ten minutes once a day, at a different hour each
        day, stops alerting on those bursts once it has two days of history; a 60x burst fires."""
        rng = random.Random(24)
        feeder = Feeder(tmp_path)
        firing_days = []
        for day in range(8):
            start = T0 + day * DAY
            windows = []
            burst_at = int(rng.uniform(2, 22) * 12)
            for i in range(288):
                t = start + i * 300
                count = round(300.0 * rng.lognormvariate(0.0, 0.05))
                windows.append(window(t, 2400 if burst_at <= i < burst_at + 2 else count))
            raised = feeder.feed(windows)
            if any(a["state"] == "firing" for a in raised):
                firing_days.append(day)
        # The usual worst needs two full days of history; from the third day on, no burst pages.
        assert [0, 1] == firing_days
        huge = feeder.feed([window(T0 + 8 * DAY, 300 * 60)])
        assert [("firing", "traffic_spike", "spike")] == states(huge)
