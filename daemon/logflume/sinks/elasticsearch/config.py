"""Config of the Elasticsearch / OpenSearch sink (checked without I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from logflume.models import StrictModel
from logflume.sinks.config import SinkCommonConfig
from logflume.units import Duration

Flavor = Literal["elasticsearch", "opensearch"]


class TlsConfig(StrictModel):
    verify: bool = Field(True, description="Verify the server's certificate and host name (https only).")
    ca_file: str | None = Field(None, description="PEM bundle of CAs to trust instead of the system's.")


class TemplateConfig(StrictModel):
    install: bool = Field(
        True, description="Install (overwrite) the index template at start-up; false leaves mappings alone."
    )
    name: str | None = Field(None, description="Template name; default: the sink's name.")
    pattern: str | None = Field(
        None,
        description=(
            "Index pattern the template applies to; default: the index name up to its first strftime "
            "field, plus '*' (llm-proxy-logs-*)."
        ),
    )
    priority: int = Field(
        200, ge=0, description="Composable template priority; above the built-in 'logs' template's 100."
    )
    shards: int | None = Field(None, gt=0, description="index.number_of_shards; null: the cluster default.")
    replicas: int | None = Field(
        None, ge=0, description="index.number_of_replicas; null: the cluster default (1, yellow on one node)."
    )


class ElasticsearchSinkConfig(SinkCommonConfig):
    type: Literal["elasticsearch"] = Field(
        description="An Elasticsearch or OpenSearch cluster (see `flavor`), through the bulk API."
    )
    flavor: Flavor = Field(
        "elasticsearch",
        description="elasticsearch: Elasticsearch 8/9 through the official client; opensearch: OpenSearch 2.",
    )
    hosts: list[str] = Field(
        ..., min_length=1, description="Node URLs, e.g. [https://es1:9200, https://es2:9200]."
    )
    index: str = Field(
        "llm-proxy-logs-%Y-%m-%d",
        min_length=1,
        description=(
            "Index name; strftime fields take the event's @timestamp (else timestamp, else ingest "
            "time) in UTC. With data_stream: the data stream's name."
        ),
    )
    data_stream: bool = Field(
        False, description="Write to a data stream (the template declares it) instead of dated indices."
    )
    username: str | None = Field(None, description="Basic auth user.")
    password: SecretStr | None = Field(
        None, description="Basic auth password, usually '${ES_PASSWORD}'; never logged."
    )
    api_key: SecretStr | None = Field(
        None, description="API key (the base64 'id:key' form), usually '${ES_API_KEY}'; never logged."
    )
    bearer_token: SecretStr | None = Field(None, description="Bearer token (e.g. a JWT); never logged.")
    tls: TlsConfig = Field(default_factory=TlsConfig, description="Certificate checks for https hosts.")
    request_timeout: Duration = Field(
        30.0, gt=0, description="Give up on one request after this long (the batch is retried)."
    )
    shard_timeout: Duration | None = Field(
        None,
        gt=0,
        description=(
            "How long the node waits for an unavailable shard before answering the item 503 (retried): "
            "the bulk 'timeout' parameter; null: the node's default (1m)."
        ),
    )
    compression: bool = Field(False, description="gzip request bodies (saves bandwidth, costs CPU).")
    template: TemplateConfig = Field(
        default_factory=TemplateConfig, description="The index template holding the mappings."
    )

    @field_validator("hosts")
    @classmethod
    def _urls(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            parts = urlsplit(host)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{host!r}: use a URL such as https://es1:9200")
        return hosts

    @field_validator("index")
    @classmethod
    def _index(cls, index: str) -> str:
        sample = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
        try:
            name = sample.strftime(index)
            # The C library leaves unknown fields (%Q) as they are: a '%' left over is one.
            leftover = "%" in sample.strftime(index.replace("%%", ""))
        except ValueError as exc:
            raise ValueError(f"invalid strftime template: {exc}") from exc
        if leftover:
            raise ValueError("index has an unknown strftime field (use %Y, %m, %d, %H, …)")
        forbidden = ' "*\\<|,>/?#:'
        if name != name.lower() or name.startswith(("_", "-", "+")) or any(c in name for c in forbidden):
            raise ValueError("an index name is lower-case, does not start with _, - or + and has no spaces "
                             'or any of " * \\ < | , > / ? # :')
        return index

    @model_validator(mode="after")
    def _auth(self) -> ElasticsearchSinkConfig:
        schemes = [self.username is not None, self.api_key is not None, self.bearer_token is not None]
        if sum(schemes) > 1:
            raise ValueError("use one of username/password, api_key or bearer_token")
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self

    def template_name(self) -> str:
        return self.template.name or self.name

    def template_pattern(self) -> str:
        if self.template.pattern:
            return self.template.pattern
        literal = self.index.split("%", 1)[0]
        # A data stream named without strftime fields is matched exactly.
        return self.index if self.data_stream and literal == self.index else literal + "*"
