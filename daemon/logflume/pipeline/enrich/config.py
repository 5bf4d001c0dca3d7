"""Config of the enrich stage (``pipeline.enrich``): each enrichment is off unless configured."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from logflume.models import StrictModel
from logflume.pipeline.paths import check_path
from logflume.units import Duration


def _path(value: str) -> str:
    return check_path(value)


class Threshold(StrictModel):
    below: float = Field(..., description="Response times under this many milliseconds…")
    category: str = Field(..., min_length=1, description="…get this category.")


class PerformanceConfig(StrictModel):
    """``performance_category`` from the response time (the seed's thresholds by default)."""

    field: str = Field("response_time_ms", description="Field with the response time in milliseconds.")
    target: str = Field("performance_category", description="Field the category is written to.")
    thresholds: list[Threshold] = Field(
        default_factory=lambda: [
            Threshold(below=100, category="excellent"),
            Threshold(below=500, category="good"),
            Threshold(below=1000, category="acceptable"),
            Threshold(below=5000, category="slow"),
        ],
        min_length=1,
        description="Ascending limits; the first one the response time is under wins.",
    )
    otherwise: str = Field("very_slow", min_length=1, description="Category at or above the last limit.")

    _check_paths = field_validator("field", "target")(_path)

    @field_validator("thresholds")
    @classmethod
    def _ascending(cls, value: list[Threshold]) -> list[Threshold]:
        limits = [t.below for t in value]
        if limits != sorted(set(limits)):
            raise ValueError(f"thresholds must be strictly ascending, got {limits}")
        return value


class GeoConfig(StrictModel):
    """Geo fields from a MaxMind-format database (GeoLite2/GeoIP2 City, Country or ASN)."""

    database: Path = Field(
        ..., description="Path of the .mmdb file.", examples=["/var/lib/GeoIP/GeoLite2-City.mmdb"]
    )
    field: str = Field("ip_address", description="Field with the client IP address.")
    target: str = Field("geo", description="Field the geo object is written to.")
    cache_size: int = Field(
        10_000, ge=0, description="Addresses whose result is remembered (logs repeat them)."
    )

    _check_paths = field_validator("field", "target")(_path)


class BusinessUnitConfig(StrictModel):
    """``business_unit`` from the endpoint: the longest matching prefix in the table wins."""

    field: str = Field("endpoint", description="Field with the request path.")
    target: str = Field("business_unit", description="Field the unit is written to.")
    prefixes: dict[str, str] = Field(
        ..., min_length=1, description="Endpoint prefix → unit, e.g. {/api/chat: conversational-ai}."
    )
    default: str | None = Field(None, description="Unit for endpoints no prefix matches; none: leave absent.")

    _check_paths = field_validator("field", "target")(_path)


class UserLookupConfig(StrictModel):
    """User attributes from a table file keyed by user id, reloaded when the file changes."""

    path: Path = Field(..., description="CSV (with a header row) or YAML (mapping user id → attributes).")
    format: Literal["auto", "csv", "yaml"] = Field("auto", description="auto: by the file extension.")
    key: str = Field("user_id", description="Event field with the user id.")
    column: str | None = Field(None, description="CSV column with the id; default: the last part of `key`.")
    target: str = Field("user", description="Field the attributes object is written to.")
    reload_interval: Duration = Field(
        5.0, gt=0, description="How often the file's modification time is checked."
    )

    _check_paths = field_validator("key", "target")(_path)


class ModelPrice(StrictModel):
    input: float = Field(..., ge=0, description="USD per 1K input (prompt) tokens.")
    output: float = Field(..., ge=0, description="USD per 1K output (completion) tokens.")
    total: float | None = Field(
        None, ge=0, description="USD per 1K tokens for events that give only a total; none: no cost then."
    )


class CostConfig(StrictModel):
    """``cost_usd`` from the model's price and the token counts."""

    prices: dict[str, ModelPrice] = Field(
        ...,
        min_length=1,
        description="Model name → prices; a name ending in '*' is a prefix (gpt-4o* matches "
        "gpt-4o-2024-08-06), the longest matching prefix wins; exact names win over prefixes.",
    )
    model_field: str = Field("model", description="Field with the model name.")
    target: str = Field("cost_usd", description="Field the cost is written to.")
    input_fields: list[str] = Field(
        default_factory=lambda: [
            "prompt_tokens", "input_tokens", "usage.prompt_tokens", "usage.input_tokens",
        ],
        description="Fields with input token counts; first present wins.",
    )  # fmt: skip
    output_fields: list[str] = Field(
        default_factory=lambda: [
            "completion_tokens", "output_tokens", "usage.completion_tokens", "usage.output_tokens",
        ],
        description="Fields with output token counts; first present wins.",
    )  # fmt: skip
    total_fields: list[str] = Field(
        default_factory=lambda: ["tokens", "total_tokens", "tokens_used", "usage.total_tokens"],
        description="Fields with a total token count, used when no input/output counts are present.",
    )

    _check_paths = field_validator("model_field", "target")(_path)

    @field_validator("input_fields", "output_fields", "total_fields")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        return [check_path(path) for path in value]

    @field_validator("prices")
    @classmethod
    def _names(cls, value: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        for name in value:
            if not name.rstrip("*") or "*" in name.rstrip("*"):
                raise ValueError(f"model name {name!r}: '*' may only end a non-empty prefix")
        return value


class HostConfig(StrictModel):
    """The name of the host logflume runs on."""

    target: str = Field("host", description="Field the host name is written to.")
    name: str | None = Field(None, description="Name to write; default: this machine's host name.")
    overwrite: bool = Field(False, description="Replace a host field the log already has.")

    _check_paths = field_validator("target")(_path)


class EnrichConfig(StrictModel):
    """Enrichments; only performance_category is on by default."""

    performance: PerformanceConfig | None = Field(
        default_factory=PerformanceConfig, description="Response-time category; null turns it off."
    )
    geo: GeoConfig | None = Field(None, description="Geo lookup of the client address.")
    business_unit: BusinessUnitConfig | None = Field(None, description="Business unit from the endpoint.")
    users: UserLookupConfig | None = Field(None, description="User attributes from a lookup table.")
    cost: CostConfig | None = Field(None, description="Request cost from a model price table.")
    host: HostConfig | None = Field(None, description="Host name of the machine running logflume.")

    @model_validator(mode="after")
    def _distinct_targets(self) -> EnrichConfig:
        targets = [
            part.target
            for part in (self.performance, self.geo, self.business_unit, self.users, self.cost, self.host)
            if part is not None
        ]
        dupes = sorted({t for t in targets if targets.count(t) > 1})
        if dupes:
            raise ValueError(f"two enrichments write the same field: {', '.join(dupes)}")
        return self
