"""Prometheus metrics: a collector that reads the daemon's own counters when scraped.

Nothing on the hot path calls a metrics library: sources and stages keep plain integer counts
and report them through one contract (:mod:`logflume.telemetry`, gathered by
:mod:`logflume.ops.components`), sinks keep theirs (:class:`~logflume.sinks.stats.SinkStats`),
and :class:`DaemonCollector` turns them into metric families at scrape time, on the event loop.

Labels: a family about one kind of component names it by that kind (``source``, ``stage``,
``sink``; alerts ``rule`` and ``channel``); ``*_errors_total`` families carry ``error_type`` from a
fixed set; state gauges are one series per possible state, 1 for the current one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from logflume import __version__
from logflume.ops.components import families, source_counts, stage_counts
from logflume.ops.health import READY_STATES, SINK_STATES, ready_state, sink_state
from logflume.ops.view import DaemonView
from logflume.sinks.runner import SinkRunner
from logflume.sinks.stats import SinkStats
from logflume.sources.notices import STATES as SOURCE_STATES

# Seconds per sink write: local files take milliseconds, a bulk request to a busy cluster seconds.
LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class _Histogram:
    """Cumulative latency buckets of one sink, fed from its bounded list of recent samples."""

    stats: SinkStats
    seen: int = 0  # stats.batches when last read
    counts: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))
    total: int = 0
    sum: float = 0.0

    def update(self) -> None:
        """Fold in the writes since the last scrape.

        ``SinkStats`` keeps only the newest samples (at least 512): when more writes happened
        between two scrapes, the kept ones stand in for the missing ones in proportion, so the
        count stays exact and the buckets are an estimate.
        """
        new = self.stats.batches - self.seen
        if new <= 0:
            return
        self.seen = self.stats.batches
        samples = self.stats.write_seconds[-new:]
        if not samples:
            return
        scale = new / len(samples)
        cumulative = [sum(1 for s in samples if s <= bound) for bound in LATENCY_BUCKETS]
        for i, count in enumerate(cumulative):
            self.counts[i] += int(count * scale)
        self.total += new
        self.sum += sum(samples) * scale

    def buckets(self) -> list[tuple[str, float]]:
        out = [(repr(bound), float(count)) for bound, count in zip(LATENCY_BUCKETS, self.counts, strict=True)]
        out.append(("+Inf", float(self.total)))
        return out


class DaemonCollector(Collector):
    """Reads a :class:`DaemonView` at every scrape."""

    def __init__(self, view: DaemonView) -> None:
        self.view = view
        self._histograms: dict[str, _Histogram] = {}

    def collect(self) -> Iterator[Metric]:
        yield from self._pipeline()
        yield from self._sources()
        yield from self._stages()
        yield from self._sinks()
        yield from self._alerts()

    # -- families ----------------------------------------------------------------------------

    def _pipeline(self) -> Iterator[Metric]:
        view = self.view
        info = GaugeMetricFamily("logflume_build_info", "Version of the running daemon.", labels=["version"])
        info.add_metric([__version__], 1)
        yield info
        ready = GaugeMetricFamily(
            "logflume_ready_state",
            "1 for what /readyz says: ready, degraded (working, nothing lost, but look) or not_ready.",
            labels=["state"],
        )
        current = ready_state(view)
        for value in READY_STATES:
            ready.add_metric([value.replace(" ", "_")], 1.0 if current == value else 0.0)
        yield ready
        queue = view.queue
        yield GaugeMetricFamily(
            "logflume_pipeline_queue_chunks", "Read chunks waiting for the processor.", value=queue.qsize()
        )
        yield GaugeMetricFamily(
            "logflume_pipeline_queue_capacity",
            "Chunks the processor queue holds at most.",
            value=queue.maxsize,
        )
        yield GaugeMetricFamily(
            "logflume_pipeline_seconds_since_progress",
            "Seconds since the processor last handed events on.",
            value=time.monotonic() - view.stats.last_progress,
        )
        dead = CounterMetricFamily(
            "logflume_dead_letters", "Records written to the dead-letter file, by reason.", labels=["reason"]
        )
        for reason, count in sorted(view.dead_letters.by_reason.items()):
            dead.add_metric([reason], count)
        yield dead
        yield GaugeMetricFamily(
            "logflume_dead_letters_held",
            "Dead letters the disk refused, held in memory (the pipeline waits for them).",
            value=view.dead_letters.held,
        )
        labels = ["kind", "component"]
        errors = CounterMetricFamily(
            "logflume_state_write_errors",
            "Failed writes of local state (checkpoint, dead_letter, disk_buffer, stage_state), "
            "e.g. a full state_dir; each is retried.",
            labels=labels,
        )
        failing = GaugeMetricFamily(
            "logflume_state_write_failing", "1 while the latest write of this state failed.", labels=labels
        )
        for kind, name, faults in view.write_faults():
            errors.add_metric([kind, name], faults.errors)
            failing.add_metric([kind, name], 1.0 if faults.failing else 0.0)
        yield from (errors, failing)
        reloads = CounterMetricFamily(
            "logflume_reloads", "Config reloads (SIGHUP), by result.", labels=["result"]
        )
        reloads.add_metric(["ok"], view.stats.reloads)
        reloads.add_metric(["failed"], view.stats.reload_failures)
        yield reloads
        tasks = CounterMetricFamily(
            "logflume_task_failures",
            "Internal tasks (processor, checkpointer, watchdog, source:NAME) that died; the daemon "
            "then exits 1.",
            labels=["task"],
        )
        for name, count in sorted(view.stats.task_failures.items()):
            tasks.add_metric([name], count)
        yield tasks

    def _sources(self) -> Iterator[Metric]:
        view = self.view
        yield from families("source", source_counts(view))
        label = ["source"]
        files_open = GaugeMetricFamily(
            "logflume_source_files_open", "Files followed right now.", labels=label
        )
        state = GaugeMetricFamily(
            "logflume_source_state",
            "1 for the source's state: following (a file matches), waiting (nothing matches yet), "
            "missing (nothing matches and a glob's directory does not exist), starting.",
            labels=["source", "state"],
        )
        unreadable = GaugeMetricFamily(
            "logflume_source_files_unreadable",
            "Matching files that could not be read at the last scan (permissions, I/O errors).",
            labels=label,
        )
        open_errors = CounterMetricFamily(
            "logflume_source_open_errors",
            "Failed attempts to read a matching file (each scan tries again).",
            labels=label,
        )
        in_flight = GaugeMetricFamily(
            "logflume_source_chunks_in_flight",
            "Chunks read but not yet accepted by every sink.",
            labels=label,
        )
        age = GaugeMetricFamily(
            "logflume_checkpoint_age_seconds",
            "Seconds since the source's saved checkpoint last matched its acknowledged offsets.",
            labels=label,
        )
        offset_labels = ["source", "file"]
        offset = GaugeMetricFamily(
            "logflume_file_read_offset_bytes",
            "Bytes of the file read so far; one series per file being read at its path, gone once "
            "the file is finished, deleted or rotated away.",
            labels=offset_labels,
        )
        lag = GaugeMetricFamily(
            "logflume_file_lag_bytes", "Bytes of the file not read yet (same series).", labels=offset_labels
        )
        now = time.time()
        for name, source in sorted(view.sources.items()):
            files_open.add_metric([name], source.stats.files_open)
            for value in SOURCE_STATES:
                state.add_metric([name, value], 1.0 if source.notices.state == value else 0.0)
            unreadable.add_metric([name], len(source.unreadable))
            open_errors.add_metric([name], source.stats.open_errors)
            in_flight.add_metric([name], source.in_flight())
            saved = view.checkpoint_times.get(name)
            if saved is not None:
                age.add_metric([name], max(0.0, now - saved))
            for live in source.live_files():
                offset.add_metric([name, live.path], live.read_offset)
            for path, behind in sorted(source.lag_bytes().items()):
                lag.add_metric([name, path], behind)
        yield from (files_open, state, unreadable, open_errors, in_flight, age, offset, lag)

    def _stages(self) -> Iterator[Metric]:
        yield from families("stage", stage_counts(self.view))

    def _sinks(self) -> Iterator[Metric]:
        label = ["sink"]
        counters = {
            "events_received": "Events handed to the sink.",
            "events_sent": "Events the backend accepted.",
            "events_failed": "Events given up on (dead-lettered after failures or refusal).",
            "events_retried": "Events sent again after a transient failure.",
            "events_dropped": "Events discarded by a full buffer (when_full: drop_oldest).",
            "events_dead_lettered": "Events written to the dead-letter file.",
            "batches": "Successful write requests.",
            "write_errors": "Failed write requests.",
        }
        families = {
            key: CounterMetricFamily(f"logflume_sink_{key}", doc, labels=label)
            for key, doc in counters.items()
        }
        latency = HistogramMetricFamily(
            "logflume_sink_batch_duration_seconds", "Duration of successful write requests.", labels=label
        )
        buffered_events = GaugeMetricFamily(
            "logflume_sink_buffer_events", "Events held in the buffer.", labels=["sink", "medium"]
        )
        buffered_bytes = GaugeMetricFamily(
            "logflume_sink_buffer_bytes", "Estimated bytes held in the buffer.", labels=["sink", "medium"]
        )
        fill = GaugeMetricFamily(
            "logflume_sink_buffer_fill_ratio",
            "The fullest of the buffer's limits, from 0 (empty) to 1 (full).",
            labels=label,
        )
        blocked = GaugeMetricFamily(
            "logflume_sink_buffer_blocked", "1 while a full disk buffer pauses input.", labels=label
        )
        healthy = GaugeMetricFamily(
            "logflume_sink_healthy", "0 from a failed write until the next success.", labels=label
        )
        state = GaugeMetricFamily(
            "logflume_sink_state",
            "1 for the sink's state: ok, buffering (backend failing, disk buffer taking events), "
            "unreachable (backend failing, memory buffer only), blocked (disk buffer full or refused).",
            labels=["sink", "state"],
        )
        errors = CounterMetricFamily(
            "logflume_sink_errors",
            "Errors of a sink, by type: request_failed (retried), delivery_failed (refused for good), "
            "encoder_failed (an event the disk buffer cannot encode).",
            labels=["sink", "error_type"],
        )
        runners = self.view.all_runners()
        for runner in runners:
            stats = runner.stats
            name = runner.name
            for key, family in families.items():
                family.add_metric([name], getattr(stats, key))
            histogram = self._histogram(runner)
            latency.add_metric([name], histogram.buckets(), histogram.sum)
            buffered_events.add_metric([name, "memory"], stats.memory_events)
            buffered_bytes.add_metric([name, "memory"], stats.memory_bytes)
            if runner.buffer_type == "disk":
                buffered_events.add_metric([name, "disk"], stats.disk_events)
                buffered_bytes.add_metric([name, "disk"], stats.disk_bytes)
            fill.add_metric([name], fill_ratio(runner))
            blocked.add_metric([name], 1.0 if stats.blocked else 0.0)
            healthy.add_metric([name], 1.0 if runner.healthy else 0.0)
            current = sink_state(runner)
            for value in SINK_STATES:
                state.add_metric([name, value], 1.0 if current == value else 0.0)
            for error_type, occurrences in sorted(stats.errors().items()):
                errors.add_metric([name, error_type], occurrences)
        names = {runner.name for runner in runners}
        for gone in set(self._histograms) - names:
            del self._histograms[gone]
        yield from families.values()
        yield from (latency, buffered_events, buffered_bytes, fill, blocked, healthy, state, errors)

    def _histogram(self, runner: SinkRunner) -> _Histogram:
        histogram = self._histograms.get(runner.name)
        if histogram is None or histogram.stats is not runner.stats:
            # A new runner (or one rebuilt by a reload): its counters start again from zero.
            histogram = self._histograms[runner.name] = _Histogram(runner.stats)
        histogram.update()
        return histogram

    def _alerts(self) -> Iterator[Metric]:
        view = self.view
        fired = CounterMetricFamily(
            "logflume_alerts_fired",
            "Alerts raised by the anomaly and audit stages, by rule.",
            labels=["rule"],
        )
        for rule, count in sorted(view.stats.alerts_fired.items()):
            fired.add_metric([rule], count)
        deliveries = CounterMetricFamily(
            "logflume_alert_deliveries",
            "Alert deliveries by rule, channel and outcome (sent, failed, dropped).",
            labels=["rule", "channel", "outcome"],
        )
        retries = CounterMetricFamily(
            "logflume_alert_retries", "Alert delivery attempts repeated.", labels=["rule", "channel"]
        )
        for rule, channels in sorted(view.alerts.snapshot().items()):
            for channel, counts in sorted(channels.items()):
                for outcome in ("sent", "failed", "dropped"):
                    deliveries.add_metric([rule, channel, outcome], counts[outcome])
                retries.add_metric([rule, channel], counts["retries"])
        unrouted = CounterMetricFamily(
            "logflume_alerts_unrouted",
            "Alerts that named no channel and had no default.",
            value=view.alerts.unrouted,
        )
        yield from (fired, deliveries, retries, unrouted)


def fill_ratio(runner: SinkRunner) -> float:
    """How full the runner's buffer is, by its fullest limit."""
    stats, buffer = runner.stats, runner.config.buffer
    ratios = [stats.memory_events / buffer.max_events, stats.memory_bytes / buffer.max_bytes]
    if runner.buffer_type == "disk":
        ratios.append(stats.disk_bytes / buffer.max_disk_bytes)
    return min(1.0, max(ratios))


class Metrics:
    """A registry of its own (the library's global one collects whatever else the interpreter
    registered): the daemon's collector and the process's CPU, memory and file descriptors."""

    def __init__(self, view: DaemonView) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(DaemonCollector(view))
        ProcessCollector(registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)
