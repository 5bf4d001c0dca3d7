"""The alert dispatcher: routes alerts to channels without ever blocking the pipeline.

Each channel has its own bounded queue and one worker task, so a slow or failing channel only
delays itself. ``submit`` never waits: a full queue drops the alert (counted and logged). A worker
takes a token from the channel's bucket (waiting for one, which is the rate limit), then tries the
delivery up to ``max_attempts`` times, each under ``timeout``, with exponential backoff between
attempts; after the last one the alert is recorded as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass

from logflume.alerts.channels import Channel, build_channel
from logflume.alerts.config import AlertsConfig, ChannelConfig
from logflume.errors import AlertError
from logflume.events import Event
from logflume.retry import Backoff, Outcome, outcome_of

log = logging.getLogger(__name__)

_SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


@dataclass
class DeliveryStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0


class TokenBucket:
    """``burst`` tokens, refilled continuously at ``rate`` per second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.capacity = float(burst)
        self.tokens = float(burst)
        self.updated = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def take(self) -> None:
        self._refill()
        while self.tokens < 1.0:
            await asyncio.sleep((1.0 - self.tokens) / self.rate)
            self._refill()
        self.tokens -= 1.0


class _Lane:
    """One channel: its queue, bucket and worker."""

    def __init__(self, name: str, config: ChannelConfig, channel: Channel) -> None:
        self.name = name
        self.config = config
        self.channel = channel
        self.queue: asyncio.Queue[Event] = asyncio.Queue(config.queue_size)
        self.bucket = TokenBucket(config.rate_limit.per_minute / 60.0, config.rate_limit.burst)
        self.task: asyncio.Task[None] | None = None
        self.min_rank = _SEVERITY_RANK[config.min_severity]


class AlertDispatcher:
    """Delivers alert events to their channels; stats per (rule, channel)."""

    def __init__(self, config: AlertsConfig) -> None:
        self.config = config
        self.lanes = {
            name: _Lane(name, cfg, build_channel(name, cfg)) for name, cfg in config.channels.items()
        }
        self.stats: dict[tuple[str, str], DeliveryStats] = defaultdict(DeliveryStats)
        self.unrouted = 0
        self._started = False

    async def start(self) -> None:
        """Open the channels' clients and start one worker per channel."""
        for lane in self.lanes.values():
            await lane.channel.open()
            lane.task = asyncio.create_task(self._work(lane), name=f"alerts:{lane.name}")
        self._started = True

    def submit(self, alerts: list[Event]) -> None:
        """Queue alerts for their channels (the alert's ``channels``, else the defaults); never blocks."""
        for alert in alerts:
            rule = str(alert.get("rule"))
            names = alert.get("channels") or self.config.default_channels
            rank = _SEVERITY_RANK.get(str(alert.get("severity")), 0)
            if not names:
                self.unrouted += 1
                continue
            for name in names:
                lane = self.lanes.get(name)
                if lane is None:
                    self.stats[(rule, name)].dropped += 1
                    log.warning("Alert names an unknown channel.", extra={"rule": rule, "channel": name})
                    continue
                if rank < lane.min_rank:
                    continue
                try:
                    lane.queue.put_nowait(alert)
                except asyncio.QueueFull:
                    self.stats[(rule, name)].dropped += 1
                    log.warning("Alert queue is full; alert dropped.", extra={"rule": rule, "channel": name})

    async def _work(self, lane: _Lane) -> None:
        while True:
            alert = await lane.queue.get()
            try:
                await lane.bucket.take()
                await self._deliver(lane, alert)
            except asyncio.CancelledError:
                # Stopped mid-delivery: the alert did not go out.
                self.stats[(str(alert.get("rule")), lane.name)].dropped += 1
                raise
            finally:
                lane.queue.task_done()

    async def _deliver(self, lane: _Lane, alert: Event) -> None:
        config = lane.config
        rule = str(alert.get("rule"))
        stats = self.stats[(rule, lane.name)]
        backoff = Backoff(config.backoff_initial, config.backoff_max)
        reason = ""
        for attempt in range(1, config.max_attempts + 1):
            try:
                async with asyncio.timeout(config.timeout):
                    await lane.channel.send(alert)
            except AlertError as exc:
                reason = str(exc)
                if outcome_of(exc) is Outcome.FATAL:
                    break
            except TimeoutError:
                reason = f"{lane.name}: no answer within {config.timeout:g}s"
            else:
                stats.sent += 1
                return
            if attempt < config.max_attempts:
                stats.retries += 1
                await asyncio.sleep(backoff.next_delay())
        stats.failed += 1
        log.warning(
            "Alert delivery failed.",
            extra={"rule": rule, "channel": lane.name, "subject": alert.get("subject"), "error": reason},
        )

    # The deadline is part of the interface the app calls (like Sink.close), hence a parameter.
    async def stop(self, timeout: float) -> None:  # noqa: ASYNC109
        """Give queued alerts up to ``timeout`` seconds to go out, then cancel and close channels."""
        if not self._started:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(lane.queue.join() for lane in self.lanes.values()))
        for lane in self.lanes.values():
            if lane.task is not None:
                lane.task.cancel()
        tasks = [lane.task for lane in self.lanes.values() if lane.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)
        for lane in self.lanes.values():
            left = lane.queue.qsize()
            if left:
                for _ in range(left):
                    alert = lane.queue.get_nowait()
                    self.stats[(str(alert.get("rule")), lane.name)].dropped += 1
                log.warning("Queued alerts dropped at shutdown.", extra={"channel": lane.name, "count": left})
            await lane.channel.close()
        self._started = False

    def snapshot(self) -> dict[str, dict[str, dict[str, int]]]:
        """Stats as plain data: {rule: {channel: {sent, failed, dropped, retries}}}."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        for (rule, channel), s in self.stats.items():
            out.setdefault(rule, {})[channel] = {
                "sent": s.sent, "failed": s.failed, "dropped": s.dropped, "retries": s.retries
            }
        return out
