"""Config of the PostgreSQL sink."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from logflume.sinks.config import BatchConfig, SinkCommonConfig
from logflume.units import Duration

# Leaves room for the longest derived name (``<table>_migrations``, ``<table>_p20240115``)
# within PostgreSQL's 63-byte identifier limit.
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
# COPY is cheapest in big batches: up to 5,000 events per transaction by default.
BATCH_DEFAULTS: dict[str, Any] = {"max_events": 5_000}


class PostgresSinkConfig(SinkCommonConfig):
    batch_defaults: ClassVar[dict[str, Any]] = BATCH_DEFAULTS

    type: Literal["postgres"] = Field(description="A PostgreSQL table, daily partitions, written with COPY.")
    dsn: str = Field(
        ...,
        min_length=1,
        description="URI, e.g. postgresql://logflume@db:5432/logs; the password goes in `password`.",
    )
    password: SecretStr | None = Field(
        None, description="Password, usually '${PGPASSWORD}' or '${file:/run/secrets/pg}'; never logged."
    )
    db_schema: str = Field("public", description="PostgreSQL schema holding the tables (must exist).")
    table: str = Field(
        "logflume_events",
        description="Events table; metrics and alerts go to <table>_metrics and <table>_alerts.",
    )
    sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] | None = Field(
        None, description="TLS mode as in libpq; null leaves it to the DSN (asyncpg's default: prefer)."
    )
    ssl_ca_file: str | None = Field(
        None, description="CA bundle to verify the server with (sslmode verify-ca or verify-full)."
    )
    pool_size: int = Field(4, gt=0, le=100, description="Most connections the sink keeps open.")
    parallel_parts: int = Field(
        2,
        ge=1,
        le=16,
        description=(
            "A batch of at least 2,000 events is split into this many parts written in parallel "
            "transactions, so PostgreSQL stores one part while the next is encoded."
        ),
    )
    connect_timeout: Duration = Field(10.0, gt=0, description="Give up connecting after this long (retried).")
    command_timeout: Duration = Field(
        60.0, gt=0, description="Give up on one statement after this long (retried)."
    )
    partitions_ahead: int = Field(
        1, ge=0, le=31, description="Daily partitions created ahead of today (1: today and tomorrow)."
    )
    partitions_max_past_days: int = Field(
        400,
        ge=0,
        description="Events older than this many days go to the DEFAULT partition instead of their own.",
    )
    partitions_max_future_days: int = Field(
        7,
        ge=0,
        description="Events dated more than this many days ahead go to the DEFAULT partition.",
    )
    fallback_dedup_window: Duration = Field(
        86400.0,
        ge=0,
        description=(
            "Events without their own timestamp are stored at ingest time, which a replay changes: "
            "such an event is skipped if its event_id is already stored within this window."
        ),
    )
    batch: BatchConfig = Field(
        default_factory=lambda: BatchConfig(**BATCH_DEFAULTS),
        description="COPY is cheapest in big batches: up to 5,000 events per transaction by default "
        "(keys left out keep these defaults).",
    )
    concurrency: int = Field(
        2,
        gt=0,
        le=64,
        description="Writes in flight (each split into parallel_parts transactions): two keep the "
        "client and the server busy at once, about a quarter more events/s than one "
        "(bench/sink_postgres.py); each holds one batch in memory, and while the server is down "
        "only one write is tried at a time.",
    )

    @field_validator("table", "db_schema")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not _IDENTIFIER.match(name):
            raise ValueError("use lower-case letters, digits and _ (at most 40, not starting with a digit)")
        return name

    @model_validator(mode="after")
    def _tls(self) -> PostgresSinkConfig:
        if self.ssl_ca_file is not None and self.sslmode not in ("verify-ca", "verify-full"):
            raise ValueError("ssl_ca_file needs sslmode verify-ca or verify-full")
        return self
