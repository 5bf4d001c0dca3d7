"""The counts of every source and stage, gathered through the one telemetry contract.

Each component reports :class:`~logflume.telemetry.Count` s (:mod:`logflume.telemetry`); this
sums what several reporters say about one component (a source's reader counts and its parser's;
the parse stage of every source's parser) and turns them into one Prometheus family per catalogue
name, labelled by the component under its kind (``source``, ``stage``) plus the count's labels.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from prometheus_client.core import CounterMetricFamily

from logflume.ops.view import DaemonView
from logflume.telemetry import COUNTS, Count, Reporting, family_name

log = logging.getLogger("logflume.ops")

Totals = dict[tuple[str, tuple[tuple[str, str], ...]], float]  # (count name, labels) -> value
_unknown: set[str] = set()  # catalogue misses already logged


def _sum(counts: Iterable[Count], into: Totals) -> None:
    for item in counts:
        key = (item.name, item.labels)
        into[key] = into.get(key, 0.0) + item.value


def source_counts(view: DaemonView) -> dict[str, Totals]:
    """Per source: what its reader counted plus what its parser counted."""
    out: dict[str, Totals] = {}
    for name, source in sorted(view.sources.items()):
        totals: Totals = {}
        _sum(source.telemetry(), totals)
        parsed = view.parse_stats.get(name)
        if parsed is not None:
            _sum(parsed.source_telemetry(), totals)
        out[name] = totals
    return out


def stage_counts(view: DaemonView) -> dict[str, Totals]:
    """Per stage, in order: parse (every source's parser), then each stage's common counts and,
    for a stage that counts more (:class:`~logflume.telemetry.Reporting`), its own."""
    out: dict[str, Totals] = {"parse": {}}
    for parsed in view.parse_stats.values():
        _sum(parsed.telemetry(), out["parse"])
    for stage in view.stages():
        totals = out.setdefault(stage.name, {})
        counters = view.stage_stats.get(stage.name)
        if counters is not None:
            _sum(counters.telemetry(), totals)
        if isinstance(stage, Reporting):
            _sum(stage.telemetry(), totals)
    return out


def families(kind: str, components: dict[str, Totals]) -> Iterator[CounterMetricFamily]:
    """One counter family per catalogue name of ``kind``, every family of the kind present (empty
    when no component reports it), labelled ``<kind>`` plus the name's own labels."""
    prefix = f"{kind}_"
    built: dict[str, CounterMetricFamily] = {}
    for key, spec in COUNTS.items():
        if key.startswith(prefix):
            built[key] = CounterMetricFamily(
                family_name(kind, key[len(prefix) :]), spec.help, labels=[kind, *spec.labels]
            )
    for component, totals in components.items():
        for (name, labels), value in totals.items():
            key = prefix + name
            family = built.get(key)
            if family is None:
                if key not in _unknown:  # a bug: say so once, keep serving the rest
                    _unknown.add(key)
                    log.error("Count not in the telemetry catalogue", extra={"count": key})
                continue
            given = dict(labels)
            family.add_metric([component, *(given.get(label, "") for label in COUNTS[key].labels)], value)
    yield from built.values()
