"""The shipped examples work together: each example config is valid, its Elasticsearch sinks write
indices the Kibana data view reads, its PostgreSQL sinks write the table the Grafana dashboard
queries, and the Grafana dashboard declares the version its JSON needs.

The configs are found at test time — config/*.yaml, everything under config/examples/, and the
configs inside Kubernetes ConfigMaps under config/kubernetes/ — so a new example is checked
without editing this file.
"""

from __future__ import annotations

import fnmatch
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from logflume.config import Config, parse_config

CONFIG = Path(__file__).resolve().parents[1] / "config"
DASHBOARDS = CONFIG / "dashboards"
# Grafana renamed its PostgreSQL data source plugin from "postgres" to
# "grafana-postgresql-datasource" in 10.2.3 (grafana/grafana#77444, shipped in 10.2.3); a dashboard
# naming the new id does not load its panels' data source on an older Grafana.
DATASOURCE_SINCE = {"postgres": (8, 0, 0), "grafana-postgresql-datasource": (10, 2, 3)}
# The dashboard schema Grafana 10.0 to 10.2 write: a newer Grafana migrates it up, an older one
# cannot read a newer schema.
GRAFANA_10_SCHEMA = 38
# ${NAME} without a default: the secrets an example leaves to the environment.
_REQUIRED_VARIABLE = re.compile(r"\$\{([^}:]+)\}")


def example_texts() -> list[tuple[str, str]]:
    """(name, YAML text) of every example daemon config shipped under config/."""
    found: list[tuple[str, str]] = []
    files = [*sorted(CONFIG.glob("*.y*ml")), *sorted((CONFIG / "examples").rglob("*.y*ml"))]
    for path in files:
        found.append((str(path.relative_to(CONFIG)), path.read_text()))
    for path in sorted((CONFIG / "kubernetes").rglob("*.y*ml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "ConfigMap":
                for key, value in document.get("data", {}).items():
                    if key.endswith((".yaml", ".yml")):
                        found.append((f"{path.relative_to(CONFIG)}:{key}", value))
    return [(name, text) for name, text in found if "sinks" in (yaml.safe_load(text) or {})]


def load_example(name: str, text: str) -> Config:
    """The example validated as the daemon would, with a placeholder for every secret it references."""
    names = {match.group(1) for match in _REQUIRED_VARIABLE.finditer(text)}
    text = re.sub(r"\$\{file:[^}]+\}", "placeholder", text)
    return parse_config(text, name, env=dict.fromkeys(names, "placeholder"))


def sinks_of(kind: str) -> list[tuple[str, Any]]:
    sinks: list[tuple[str, Any]] = []
    for name, text in example_texts():
        config_sinks: list[Any] = load_example(name, text).sinks
        sinks += [(f"{name}: {sink.name}", sink) for sink in config_sinks if sink.type == kind]
    return sinks


def kibana_data_views() -> list[str]:
    objects = [json.loads(line) for line in (DASHBOARDS / "kibana-llm-proxy.ndjson").read_text().splitlines()]
    return [obj["attributes"]["title"] for obj in objects if obj["type"] == "index-pattern"]


def grafana() -> dict[str, Any]:
    result: dict[str, Any] = json.loads((DASHBOARDS / "grafana-postgres.json").read_text())
    return result


def datasource_types(node: Any) -> set[str]:
    """Every data source plugin id a dashboard names (panels, targets, inputs)."""
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("datasource"), dict) and "type" in node["datasource"]:
            found.add(node["datasource"]["type"])
        if node.get("type") == "datasource" and "pluginId" in node:
            found.add(node["pluginId"])
        for value in node.values():
            found |= datasource_types(value)
    elif isinstance(node, list):
        for value in node:
            found |= datasource_types(value)
    return found


class TestExamples:
    def test_examples_are_found_and_valid(self) -> None:
        """The default, the annotated example and the Kubernetes ConfigMap are among the valid examples."""
        names = [name for name, _ in example_texts()]
        assert {
            "default.yaml",
            "logflume.example.yaml",
            "kubernetes/logflume-sidecar.yaml:logflume.yaml",
        } <= set(names)
        for name, text in example_texts():
            load_example(name, text)

    def test_elasticsearch_indices_match_the_kibana_data_view(self) -> None:
        """Every example Elasticsearch sink writes index names the Kibana data view's pattern covers."""
        views = kibana_data_views()
        sinks = sinks_of("elasticsearch")
        assert len(sinks) >= 2, "the annotated example and the Kubernetes one have Elasticsearch sinks"
        day = datetime(2026, 1, 2, tzinfo=UTC)
        uncovered = {
            where: day.strftime(sink.index)
            for where, sink in sinks
            if not any(fnmatch.fnmatchcase(day.strftime(sink.index), view) for view in views)
        }
        assert {} == uncovered, f"data views: {views}"

    def test_postgres_tables_match_the_grafana_dashboard(self) -> None:
        """Every example PostgreSQL sink writes the table the Grafana dashboard's table variable names."""
        variable = next(v for v in grafana()["templating"]["list"] if v["name"] == "table")
        sinks = sinks_of("postgres")
        assert sinks, "the annotated example has a PostgreSQL sink"
        tables = {
            where: sink.table if sink.db_schema == "public" else f"{sink.db_schema}.{sink.table}"
            for where, sink in sinks
        }
        assert {where: variable["query"] for where in tables} == tables


class TestGrafanaVersion:
    def test_declares_the_version_its_data_source_needs(self) -> None:
        """__requires names the oldest Grafana that has every data source plugin id the JSON uses."""
        dashboard = grafana()
        (declared,) = [r["version"] for r in dashboard["__requires"] if r["type"] == "grafana"]
        needed = max(DATASOURCE_SINCE[kind] for kind in datasource_types(dashboard))
        assert ".".join(map(str, needed)) == declared

    def test_schema_is_readable_by_that_version(self) -> None:
        """The dashboard's schemaVersion is one Grafana 10 writes, not a newer one."""
        assert GRAFANA_10_SCHEMA >= grafana()["schemaVersion"]
