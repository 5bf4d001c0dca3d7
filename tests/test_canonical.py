"""The canonical schema is the one set of names aggregate, anomaly, the sinks' typed columns,
analyze and the dashboards read."""

from __future__ import annotations

from logflume import canonical, digest
from logflume.pipeline.aggregate.config import AggregateConfig
from logflume.pipeline.anomaly.config import AnomalyConfig
from logflume.pipeline.enrich.config import CostConfig, PerformanceConfig
from logflume.sinks.elasticsearch.template import mappings
from logflume.sinks.postgres.schema import EVENT_COLUMNS

# Typed PostgreSQL columns that hold a canonical field under another name, and columns that are
# the daemon's own (not fields of the log).
PG_RENAMED = {"ts": "timestamp", "ip": "ip_address"}
PG_OWN = {"event_id", "source", "ingested_at", "event"}
ES_TYPES = {"timestamp": {"date"}, "string": {"keyword", "text", "ip"}, "int": {"integer", "long"},
            "float": {"double"}, "bool": {"boolean"}}  # fmt: skip


class TestSchema:
    def test_the_issue_field_list(self) -> None:
        """The canonical fields are the seed's names and types."""
        assert {
            "timestamp": "timestamp", "level": "string", "logger": "string", "message": "string",
            "request_id": "string", "user_id": "string", "provider": "string", "model": "string",
            "tokens": "int", "prompt_tokens": "int", "completion_tokens": "int", "response_time_ms": "float",
            "status_code": "int", "ip_address": "string", "user_agent": "string", "endpoint": "string",
            "method": "string", "cache_hit": "bool", "cost_usd": "float", "trace_id": "string",
            "span_id": "string",
        } == {field.name: field.type for field in canonical.FIELDS}  # fmt: skip

    def test_type_problems(self) -> None:
        """type_problems names fields of the wrong type; a bool is no int, an int is a float."""
        event = {"status_code": True, "response_time_ms": 5, "tokens": "12", "other": None}
        assert ["status_code: bool is not int", "tokens: str is not int"] == canonical.type_problems(event)


class TestReaders:
    def test_aggregate_and_enrich_read_canonical_names(self) -> None:
        """The aggregate stage's and enrichments' default fields are canonical fields."""
        aggregate = AggregateConfig()
        fields = {
            aggregate.latency_field, aggregate.tokens_field, aggregate.cost_field, aggregate.cache_field,
            aggregate.status_field, aggregate.level_field, PerformanceConfig().field,
            CostConfig.model_fields["model_field"].default, CostConfig.model_fields["target"].default,
            *(f for group in aggregate.group_by for f in group),
        }  # fmt: skip
        assert set() == fields - set(canonical.NAMES)

    def test_anomaly_detectors_group_by_canonical_names(self) -> None:
        """The statistical detectors' default groupings are canonical fields."""
        detectors = AnomalyConfig.model_validate({"statistical": {}}).statistical
        assert detectors is not None
        assert set() == {f for d in detectors.detectors for f in d.by} - set(canonical.NAMES)

    def test_postgres_typed_columns(self) -> None:
        """Every typed column of the PostgreSQL sink holds a canonical field (or the daemon's own data)."""
        columns = {PG_RENAMED.get(name, name) for name, _ in EVENT_COLUMNS} - PG_OWN
        assert set() == columns - set(canonical.NAMES)

    def test_elasticsearch_template_types(self) -> None:
        """The index template gives every canonical field a type of its kind."""
        properties = mappings()["properties"]
        wrong = {
            f.name: properties.get(f.name, {}).get("type")
            for f in canonical.FIELDS
            if properties.get(f.name, {}).get("type") not in ES_TYPES[f.type]
        }
        assert {} == wrong

    def test_analyze_reads_canonical_names(self) -> None:
        """analyze (and its digests) read canonical fields, plus the normalised @timestamp."""
        assert set() == set(digest.EVENT_FIELDS) - set(canonical.NAMES) - {"@timestamp"}
