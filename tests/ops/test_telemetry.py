"""One telemetry contract: every source and stage reports through it, with the agreed labels.

The unit part calls ``telemetry()`` on each component built from a config that turns every
stage on; the daemon part reads the families /metrics serves after real input.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from mmdb_writer import MMDBWriter
from netaddr import IPSet
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from logflume.config import parse_config
from logflume.events import Ack, Batch, RawChunk
from logflume.pipeline.build import STAGE_ORDER, build_chain
from logflume.pipeline.isolate import StageCounters
from logflume.pipeline.parse import Parser
from logflume.sources.tail import FileSource
from logflume.telemetry import COUNTS, ERROR_TYPES, Count, Reporting
from tests.ops.helpers import free_port, http, metric, ops_config, running, wait_for, write_lines

LINES = 2_000
COMMON = ("events_in", "events_out", "events_dropped", "events_routed", "events_dead_lettered",
          "batch_failures", "errors")  # fmt: skip


@pytest.fixture(scope="module")
def geo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City", languages=["en"])
    writer.insert_network(IPSet(["81.2.69.0/24"]), {"country": {"iso_code": "GB"}})
    path = tmp_path_factory.mktemp("geo") / "city.mmdb"
    writer.to_db_file(str(path))
    return path


def every_stage(geo_db: Path) -> dict[str, object]:
    """A pipeline config with every stage doing something."""
    return {
        "enrich": {"geo": {"database": str(geo_db)}},
        "filter": {"rules": [{"name": "no-health", "when": 'endpoint == "/health"', "action": "drop"}]},
        "sample": {"rates": {"DEBUG": 0.0}},
        "aggregate": {"windows": ["1m"], "group_by": [["provider"]]},
        "anomaly": {"rules": [{"name": "errors", "condition": 'level == "ERROR"', "threshold": 1000}]},
    }


def check_counts(kind: str, counts: list[Count]) -> list[str]:
    """What is wrong with a component's counts: names not in the catalogue, wrong labels."""
    wrong = []
    for item in counts:
        spec = COUNTS.get(f"{kind}_{item.name}")
        labels = tuple(name for name, _ in item.labels)
        if spec is None:
            wrong.append(f"{kind} count {item.name} is not in the catalogue")
        elif labels != spec.labels:
            wrong.append(f"{kind} count {item.name} has labels {labels}, not {spec.labels}")
        elif "error_type" in labels and dict(item.labels)["error_type"] not in ERROR_TYPES:
            wrong.append(f"{kind} count {item.name} has error_type {dict(item.labels)['error_type']}")
    return wrong


async def _no_emit(chunk: RawChunk) -> None:
    raise AssertionError("the source is not run here")


class TestContract:
    def test_every_component_reports_catalogued_counts(self, geo_db: Path, tmp_path: Path) -> None:
        """Parser, every stage that keeps counts (after some events went through), the counts every
        stage has, and a source: each count is in the catalogue with its labels, and every stage
        that keeps counts of its own reports them through Reporting."""
        config = parse_config(
            yaml.safe_dump(
                {
                    "state_dir": str(tmp_path),
                    "sources": [{"name": "p", "include": [f"{tmp_path}/*.log"]}],
                    "sinks": [{"name": "f", "type": "file", "path": f"{tmp_path}/out.jsonl"}],
                    "pipeline": every_stage(geo_db),
                }
            )
        )
        chain = build_chain(config.pipeline, tmp_path)
        parser = Parser()
        data = b'{"level": "DEBUG", "ip_address": "81.2.69.1", "api_key": "sk-abcdefghijklmnopqrstuv"}\nno\n'
        ack = Ack("fp", len(data), lambda done: None)
        events, _ = parser(RawChunk("p", "fp", "/x.log", 0, data, ack, []), 0.0)
        chain(Batch(events), 0.0)
        source = FileSource(config.sources[0], tmp_path, _no_emit)

        wrong = check_counts("stage", parser.stats.telemetry())
        wrong += check_counts("source", parser.stats.source_telemetry() + source.telemetry())
        wrong += check_counts("stage", StageCounters().telemetry())
        reporting = [stage.name for stage in chain.stages if isinstance(stage, Reporting)]
        for stage in chain.stages:
            if isinstance(stage, Reporting):
                wrong += check_counts("stage", list(stage.telemetry()))
        stages = ["normalise", "redact", "enrich", "filter", "sample", "aggregate", "anomaly"]
        assert ([], stages) == (wrong, reporting)


def scrape(port: int) -> dict[str, list[Sample]]:
    """Every family of /metrics (name without _total) and its samples."""
    status, body = http(port, "/metrics")
    assert status == 200
    return {family.name: family.samples for family in text_string_to_metric_families(body.decode())}


def value(families: dict[str, list[Sample]], family: str, **labels: str) -> float:
    [found] = [s.value for s in families[family] if s.labels == labels]
    return found


class TestEndpoint:
    @pytest.mark.parametrize("workers", [1, 2])
    def test_every_stage_and_source_exports_with_agreed_labels(
        self, geo_db: Path, tmp_path: Path, workers: int
    ) -> None:
        """After real input through every stage: each stage (parse first) has every common family,
        each family of a kind carries that kind's label, the error families of each kind known
        error types only, counts agree across views (what parse put out is what the source read),
        and the stage-specific counts are there; the same when the stages run in worker processes
        (their counts come back with each chunk's result)."""
        port = free_port()
        config = ops_config(tmp_path, port, pipeline=every_stage(geo_db), workers=workers)
        with running(config, port) as proc:
            write_lines(tmp_path, LINES, seed=9)
            (tmp_path / "logs" / "bad.log").write_text("not json\n\n")
            parsed = lambda: metric(port, "logflume_stage_events_in_total", stage="parse")  # noqa: E731
            wait_for(lambda: parsed() == LINES + 1, 60, 0.2, "every line parsed")
            families = scrape(port)
            assert proc.stop() == 0
        missing = [
            (name, stage)
            for name in COMMON
            for stage in ["parse", *STAGE_ORDER]
            if not any(s.labels.get("stage") == stage for s in families[f"logflume_stage_{name}"])
        ]
        mislabelled = [
            name
            for name, samples in families.items()
            for kind in ("source", "stage", "sink")
            if name.startswith(f"logflume_{kind}_") and any(kind not in s.labels for s in samples)
        ]
        typed = [families[f"logflume_{kind}_errors"] for kind in ("source", "stage", "sink")]
        error_types = {s.labels["error_type"] for samples in typed for s in samples}
        assert ([], []) == (missing, mislabelled)
        assert error_types <= set(ERROR_TYPES)
        parse_errors = value(families, "logflume_stage_errors", stage="parse", error_type="parser_failed")
        assert (1, 1) == (parse_errors, value(families, "logflume_stage_blank_lines", stage="parse"))
        read = value(families, "logflume_source_events_read", source="proxy")
        assert read == value(families, "logflume_stage_events_out", stage="parse")
        assert LINES == value(families, "logflume_stage_events_in", stage="normalise")
        lookups = families["logflume_stage_lookups"]
        assert {"enrich"} == {s.labels["stage"] for s in lookups}
        assert sum(s.value for s in lookups) > 0
        outcomes = {s.labels["outcome"] for s in families["logflume_stage_window_events"]}
        assert {"counted", "late", "untimed", "future"} == outcomes
