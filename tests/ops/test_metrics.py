"""/metrics: the daemon's counters in Prometheus text format, read at scrape time."""

from __future__ import annotations

from pathlib import Path

from logflume.ops.metrics import LATENCY_BUCKETS, _Histogram
from logflume.sinks.stats import MAX_SAMPLES, SinkStats
from tests.daemonproc import read_output
from tests.ops.helpers import free_port, metric, metrics, ops_config, running, wait_for, write_lines

LINES = 5_000


class TestScrape:
    def test_counters_match_what_was_written(self, tmp_path: Path) -> None:
        """5,000 lines in: the source, every stage and the file sink each count exactly 5,000 events."""
        port = free_port()
        config = ops_config(tmp_path, port)
        with running(config, port) as proc:
            write_lines(tmp_path, LINES, seed=3)
            wait_for(
                lambda: metric(port, "logflume_sink_events_sent_total", sink="local") == LINES,
                60,
                0.2,
                "the sink to send every event",
            )
            samples = metrics(port)
            assert proc.stop() == 0
        assert samples[("logflume_source_events_read_total", (("source", "proxy"),))] == LINES
        assert samples[("logflume_source_events_dead_lettered_total", (("source", "proxy"),))] == 0
        for stage in ("parse", "audit", "normalise", "redact", "enrich", "filter", "sample"):
            assert samples[("logflume_stage_events_in_total", (("stage", stage),))] == LINES, stage
            assert samples[("logflume_stage_events_out_total", (("stage", stage),))] == LINES, stage
        assert samples[("logflume_sink_events_received_total", (("sink", "local"),))] == LINES
        assert samples[("logflume_sink_events_sent_total", (("sink", "local"),))] == LINES
        batches = samples[("logflume_sink_batches_total", (("sink", "local"),))]
        assert batches == samples[("logflume_sink_batch_duration_seconds_count", (("sink", "local"),))]
        size = (tmp_path / "logs" / "app.log").stat().st_size
        assert size == samples[("logflume_source_bytes_read_total", (("source", "proxy"),))]
        file_label = (("file", str(tmp_path / "logs" / "app.log")), ("source", "proxy"))
        assert samples[("logflume_file_lag_bytes", file_label)] == 0
        assert size == samples[("logflume_file_read_offset_bytes", file_label)]
        assert len(read_output(tmp_path / "out")) == LINES

    def test_invalid_lines_counted_as_dead_letters(self, tmp_path: Path) -> None:
        """Lines that are not JSON objects are counted per source and in the parse stage."""
        port = free_port()
        config = ops_config(tmp_path, port)
        with running(config, port) as proc:
            (tmp_path / "logs" / "app.log").write_bytes(b'{"a": 1}\nnot json\n[1, 2]\n{"b": 2}\n')
            wait_for(
                lambda: metric(port, "logflume_sink_events_sent_total", sink="local") == 2,
                60,
                0.2,
                "two events",
            )
            assert metric(port, "logflume_source_events_dead_lettered_total", source="proxy") == 2
            assert metric(port, "logflume_stage_events_dead_lettered_total", stage="parse") == 2
            assert (
                sum(
                    value
                    for (name, _), value in metrics(port).items()
                    if name == "logflume_dead_letters_total"
                )
                == 2
            )
            assert proc.stop() == 0


class TestLatencyHistogram:
    def test_counts_every_write_once(self) -> None:
        """Writes between scrapes land in the right buckets; a second scrape adds only new writes."""
        stats = SinkStats()
        histogram = _Histogram(stats)
        for seconds in (0.002, 0.02, 3.0):
            stats.batches += 1
            stats.sample_write(seconds)
        histogram.update()
        histogram.update()
        buckets = dict(histogram.buckets())
        assert buckets["+Inf"] == 3
        assert buckets[repr(0.005)] == 1
        assert buckets[repr(0.025)] == 2
        assert buckets[repr(5.0)] == 3
        assert abs(3.022 - histogram.sum) < 1e-9

    def test_count_exact_when_samples_were_trimmed(self) -> None:
        """More writes than kept samples between two scrapes: the count stays exact."""
        stats = SinkStats()
        histogram = _Histogram(stats)
        writes = MAX_SAMPLES * 3
        for _ in range(writes):
            stats.batches += 1
            stats.sample_write(0.01)
        histogram.update()
        buckets = dict(histogram.buckets())
        assert writes == buckets["+Inf"]
        assert writes == buckets[repr(LATENCY_BUCKETS[-1])]
        assert buckets[repr(0.005)] == 0
