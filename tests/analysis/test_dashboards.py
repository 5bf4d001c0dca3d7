"""The shipped dashboards parse and use only tables and fields the sinks really write.

Grafana: every panel's SQL runs on a real PostgreSQL against the table the PostgreSQL sink
created and filled, so a misspelt column or table fails here. Kibana: every field a saved object
names exists in the Elasticsearch sink's index template (or is a runtime field of the data view
built from such fields), and terms aggregations only use aggregatable (keyword) fields.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from logflume.sinks.elasticsearch.config import ElasticsearchSinkConfig
from logflume.sinks.elasticsearch.template import mappings
from logflume.sinks.postgres.config import PostgresSinkConfig
from tests.analysis import corpus
from tests.analysis.conftest import TABLE, Corpus

DASHBOARDS = Path(__file__).resolve().parents[2] / "config" / "dashboards"
GRAFANA = DASHBOARDS / "grafana-postgres.json"
KIBANA = DASHBOARDS / "kibana-llm-proxy.ndjson"
# Grafana's macros, expanded the way its PostgreSQL data source does for a fixed range.
_MACROS = [
    (re.compile(r"\$__timeGroupAlias\((\w+),\s*[^)]+\)"), r"date_trunc('minute', \1) AS time"),
    (re.compile(r"\$__timeFilter\((\w+)\)"), r"\1 BETWEEN '2024-01-15T00:00:00Z' AND '2024-01-15T23:59:59Z'"),
]
_KQL_FIELD = re.compile(r"([A-Za-z_@][\w.@]*)\s*(?::|>=|<=|>|<)")
_SOURCE_FIELD = re.compile(r"params\['_source'\]\['([^']+)'\]")


def _grafana() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(GRAFANA.read_text())
    return result


def _kibana() -> list[dict[str, Any]]:
    return [json.loads(line) for line in KIBANA.read_text().splitlines() if line.strip()]


def _expand(sql: str, table: str) -> str:
    for pattern, replacement in _MACROS:
        sql = pattern.sub(replacement, sql)
    return sql.replace("${table}", table)


class TestGrafana:
    def test_table_variable_defaults_to_the_sink_table(self) -> None:
        """The dashboard's table variable defaults to the PostgreSQL sink's default table."""
        variable = next(v for v in _grafana()["templating"]["list"] if v["name"] == "table")
        assert PostgresSinkConfig.model_fields["table"].default == variable["query"]

    def test_every_panel_has_sql_on_the_table_variable(self) -> None:
        """The five recommended panels each query ${table} and nothing else."""
        panels = _grafana()["panels"]
        titles = [panel["title"] for panel in panels]
        assert titles == [
            "Log volume",
            "Error rate",
            "Response time percentiles",
            "Top error messages",
            "Provider performance",
        ]
        for panel in panels:
            for target in panel["targets"]:
                tables = re.findall(r"\bFROM\s+(\S+)", target["rawSql"], re.IGNORECASE)
                assert tables == ["${table}"], panel["title"]

    def test_sql_runs_on_the_sink_table(self, analysis_corpus: Corpus, pg_corpus: str) -> None:
        """Every panel's SQL runs on the sink-written table and returns rows; top errors match analyze."""

        async def run_all() -> dict[str, list[Any]]:
            connection = await asyncpg.connect(pg_corpus)
            try:
                results = {}
                for panel in _grafana()["panels"]:
                    for target in panel["targets"]:
                        rows = await connection.fetch(_expand(target["rawSql"], TABLE))
                        results[panel["title"]] = [tuple(row) for row in rows]
                return results
            finally:
                await connection.close()

        results = asyncio.run(run_all())
        assert [title for title, rows in results.items() if not rows] == []
        day = datetime(2024, 1, 15, tzinfo=UTC)
        expected = corpus.expected(
            analysis_corpus.records, since=day, until=day + timedelta(hours=23, minutes=59, seconds=59)
        )
        assert list(expected["top_errors"].items()) == results["Top error messages"]


class TestKibana:
    def test_objects_parse_and_references_resolve(self) -> None:
        """Every NDJSON line is a saved object and every reference names an object in the file."""
        objects = _kibana()
        ids = {(obj["type"], obj["id"]) for obj in objects}
        assert [obj["type"] for obj in objects] == [
            "index-pattern",
            "visualization",
            "visualization",
            "visualization",
            "visualization",
            "visualization",
            "dashboard",
        ]
        for obj in objects:
            for ref in obj["references"]:
                assert (ref["type"], ref["id"]) in ids

    def test_data_view_matches_the_sink_indices(self) -> None:
        """The data view covers the Elasticsearch sink's default indices and its @timestamp."""
        view = _kibana()[0]["attributes"]
        default_index = ElasticsearchSinkConfig.model_fields["index"].default
        assert (default_index.split("%")[0] + "*", "@timestamp") == (view["title"], view["timeFieldName"])

    def test_fields_exist_in_the_sink_template(self) -> None:
        """Every field named by an aggregation, query or runtime script is mapped by the sink."""
        properties = mappings()["properties"]
        mapped = set(properties)
        runtime = json.loads(_kibana()[0]["attributes"]["runtimeFieldMap"])
        used: dict[str, str] = {}  # field -> where
        for name, spec in runtime.items():
            for field in _SOURCE_FIELD.findall(spec["script"]["source"]):
                used[field] = f"runtime field {name}"
        for obj in _kibana()[1:]:
            attributes = obj["attributes"]
            source = json.loads(attributes["kibanaSavedObjectMeta"]["searchSourceJSON"])
            for field in _KQL_FIELD.findall(source["query"]["query"]):
                used[field] = attributes["title"]
            if obj["type"] != "visualization":
                continue
            state = json.loads(attributes["visState"])
            for agg in state["aggs"]:
                if "field" in agg["params"]:
                    field = agg["params"]["field"]
                    if field not in runtime:
                        used[field] = attributes["title"]
                    if agg["type"] == "terms":
                        kind = runtime[field]["type"] if field in runtime else properties[field]["type"]
                        assert kind == "keyword", f"{attributes['title']}: terms on {field} ({kind})"
                    if agg["type"] == "date_histogram":
                        assert properties[field]["type"] == "date"
            params = state["params"]
            if state["type"] == "metrics":
                used[params["time_field"]] = attributes["title"]
                for series in params["series"]:
                    for metric in series["metrics"]:
                        for side in ("numerator", "denominator"):
                            if side in metric:
                                for field in _KQL_FIELD.findall(metric[side]["query"]):
                                    used[field] = attributes["title"]
        assert {field: where for field, where in used.items() if field not in mapped} == {}
        assert {"@timestamp", "level", "message", "provider", "response_time_ms", "status_code"} == set(used)

    def test_dashboard_shows_all_visualisations(self) -> None:
        """The dashboard places each of the five visualisations once."""
        objects = _kibana()
        dashboard = objects[-1]
        panels = json.loads(dashboard["attributes"]["panelsJSON"])
        visualisations = [obj["id"] for obj in objects if obj["type"] == "visualization"]
        assert len(visualisations) == len(panels)
        assert sorted(visualisations) == sorted(ref["id"] for ref in dashboard["references"])


@pytest.mark.parametrize("path", [GRAFANA, KIBANA], ids=lambda p: p.name)
def test_files_are_utf8_text(path: Path) -> None:
    """The shipped files are UTF-8 text ending in a newline (importers are strict)."""
    data = path.read_bytes()
    data.decode("utf-8")
    assert data.endswith(b"\n")
