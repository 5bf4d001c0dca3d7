"""Property: no event can stop the pipeline.

The chain is built with ``build_chain`` from ``config/logflume.example.yaml`` with every stage and
every enrichment on (a real geo database, a real user table), so a stage added to the example
later is covered too. Hypothesis puts hostile values (any JSON type, numbers past 64 bits and
floats' range, NaN, unicode digits, offsets crossing year 1 or 9999, very long strings, deep
nesting) in every field some stage reads, in batches of realistic events, and a chain lives
through many examples so its windows and rule state see them all. Asserted: the chain never
raises, and every input event comes out delivered (to every sink or routed) or is counted as
dropped by the filter or the sampler; none is lost, none duplicated.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from mmdb_writer import MMDBWriter
from netaddr import IPSet

from logflume.config import parse_config
from logflume.events import META_KEY, Batch, Event
from logflume.generate import lines
from logflume.pipeline.build import build_chain
from logflume.pipeline.filter.stage import FilterStage
from logflume.pipeline.sample import Sampler
from logflume.pipeline.stage import Chain
from tests.hostile import HOSTILE, values

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "logflume.example.yaml"

# Every field some stage reads by default or in the example config (grep the stages), plus the
# fields normalise renames and the enrichments' targets, which a log may already carry.
FIELDS = [
    "@timestamp", "timestamp", "time", "ts", "level", "message", "logger", "response_time_ms",
    "status_code", "tokens", "total_tokens", "tokens_used", "prompt_tokens", "completion_tokens",
    "input_tokens", "output_tokens", "usage", "provider", "model", "endpoint", "trace_id",
    "request_id", "user_id", "ip_address", "cache_hit", "cost_usd", "type", "geo", "user", "host",
    "business_unit", "performance_category", "password", "authorization", "api_key", "headers",
    "extra_data",
]  # fmt: skip


def full_pipeline_config(tmp: Path) -> Any:
    """The example config's pipeline with every optional part switched on, read like start-up does."""
    text = EXAMPLE.read_text()
    env = {name: "placeholder" for name in re.findall(r"\$\{(\w+)", text)}
    data = yaml.safe_load(text)
    pipeline = data["pipeline"]
    pipeline["redact"]["rules"] = ["bearer", "basic_auth", "jwt", "api_key", "email", "card"]
    enrich = pipeline.setdefault("enrich", {})
    enrich["geo"] = {"database": str(geo_database(tmp))}
    enrich["users"] = {"path": str(user_table(tmp))}
    enrich["host"] = {"name": "test-host"}
    data["state_dir"] = str(tmp / "state")
    return parse_config(yaml.safe_dump(data), env=env).pipeline


def geo_database(tmp: Path) -> Path:
    writer = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoIP2-City", languages=["en"])
    record = {"country": {"iso_code": "GB"}, "city": {"names": {"en": "London"}}}
    writer.insert_network(IPSet(["81.2.69.0/24"]), record)
    path = tmp / "geo.mmdb"
    writer.to_db_file(str(path))
    return path


def user_table(tmp: Path) -> Path:
    path = tmp / "users.csv"
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["user_id", "team", "plan"])
        out.writerows([[f"user_{n:06d}", "core", "pro"] for n in range(1000)])
    return path


class Pipeline:
    """A fresh chain (windows and rules empty) and the clock driving it: 10 s per batch."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        self.now = 1_795_000_000.0
        self.ids = itertools.count()
        self.filter = next(stage for stage in chain.stages if isinstance(stage, FilterStage))
        self.sampler = next(stage for stage in chain.stages if isinstance(stage, Sampler))

    def dropped(self) -> int:
        return sum(self.filter.stats.dropped.values()) + sum(self.sampler.dropped.values())


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return full_pipeline_config(tmp_path_factory.mktemp("pipeline"))


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("state")


BASE = [orjson.loads(line) for line in lines(50, seed=7)]

patches = st.dictionaries(st.sampled_from(FIELDS), values, min_size=1, max_size=6)
# What makes the example's rules fire (401s by ip_address, errors) and its windows fill up.
INCIDENT = {"status_code": 401, "level": "ERROR"}


@st.composite
def batches(draw: st.DrawFn) -> list[dict[str, Any]]:
    """1-40 events: realistic lines, most with hostile values in some fields. One patch may be
    shared by many events (with an incident's status and level), so that rules and windows keyed
    by a hostile value fill up and fire."""
    shared = draw(patches)
    if draw(st.booleans()):
        shared = {**INCIDENT, **shared}
    events = []
    for _ in range(draw(st.integers(1, 40))):
        event: dict[str, Any] = dict(BASE[draw(st.integers(0, len(BASE) - 1))])
        how = draw(st.sampled_from(["shared", "own", "both", "clean"]))
        if how in ("shared", "both"):
            event.update(shared)
        if how in ("own", "both"):
            event.update(draw(patches))
        events.append(event)
    return events


def with_metadata(pipeline: Pipeline, event: dict[str, Any]) -> Event:
    """``event`` as parse hands it on: the daemon's metadata replaces any ``logflume`` key."""
    number = next(pipeline.ids)
    event[META_KEY] = {
        "event_id": f"fp-{number:x}",
        "source": "proxy",
        "file": "/var/log/llm-proxy/app.log",
        "offset": number,
        "ingested_at": "2026-11-27T10:00:00.000Z",
    }
    return event


def made_here(event: Event) -> bool:
    meta = event.get(META_KEY)
    return type(meta) is dict and meta.get("source") == "logflume"


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # deep and long values, on failure
@settings(HOSTILE, max_examples=150)
@given(runs=st.lists(batches(), min_size=1, max_size=3))
def test_no_event_stops_the_chain_and_none_is_lost(
    config: Any, state_dir: Path, runs: list[list[dict[str, Any]]]
) -> None:
    """Hostile values in any field: the whole example chain never raises, and every event is
    delivered (once, to the main stream or to its routes) or counted as dropped; the windows and
    rules holding hostile values close and fire without raising either."""
    pipeline = Pipeline(build_chain(config, state_dir))
    for batch in runs:
        events = [with_metadata(pipeline, event) for event in batch]
        ids = [event[META_KEY]["event_id"] for event in events]
        dropped_before = pipeline.dropped()
        pipeline.now += 10.0
        out = pipeline.chain(Batch(list(events)), pipeline.now)
        tick = pipeline.chain(Batch([]), pipeline.now + 5.0)  # windows close on quiet ticks too
        delivered = Counter(e[META_KEY]["event_id"] for e in out.events if not made_here(e))
        routed = {e[META_KEY]["event_id"] for routes in (out.routes or {}).values() for e in routes}
        dropped = pipeline.dropped() - dropped_before
        assert ([], []) == (out.dead, tick.dead)
        assert [] == [event_id for event_id, count in delivered.items() if count > 1]
        assert [] == sorted(set(delivered) & routed)
        assert set(delivered) | routed <= set(ids)
        assert len(ids) == len(delivered) + len(routed) + dropped
    # Far in the future (an hour of idle wall time): every window left open closes.
    pipeline.chain(Batch([]), pipeline.now + 3600.0)
