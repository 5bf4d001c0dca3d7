"""One telemetry contract: how every source and stage reports the counts it keeps.

A component that counts something implements :class:`Reporting`: ``telemetry()`` returns its
counts as :class:`Count` s, read at scrape time (never on the hot path). The metrics endpoint
turns each into the family ``logflume_<kind>_<name>_total`` labelled by the component's own name
under its kind (``source``, ``stage``, ``sink``) plus the count's labels; :data:`COUNTS` is the
catalogue of every name a component may report, with its help text and labels, so a family is
the same whoever reports it. Counts live once, in the component that makes them: the metrics,
the health checks and the tap read them there.

Errors are one family per kind (``logflume_stage_errors_total{stage,error_type}``, …), with a
small fixed set of types (:data:`ERROR_TYPES`, after Vector's) so dashboards can sum them.

Neutral ground: imports nothing of ours, so sources, pipeline and sinks all may use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

# error_type values: what went wrong, not where (the component label says where).
PARSER_FAILED = "parser_failed"  # a line that is not a JSON object
CONVERSION_FAILED = "conversion_failed"  # a value that does not convert (a mapping rule, a time)
READER_FAILED = "reader_failed"  # a matching file that cannot be read; a line cut at max_line_bytes
STAGE_FAILED = "stage_failed"  # a stage raised on an event (the event is dead-lettered)
REQUEST_FAILED = "request_failed"  # a write request failed transiently (retried)
DELIVERY_FAILED = "delivery_failed"  # a backend refused a request for good (its events dead-lettered)
ENCODER_FAILED = "encoder_failed"  # an event that cannot be encoded for a backend or the disk buffer
ERROR_TYPES = (
    PARSER_FAILED, CONVERSION_FAILED, READER_FAILED, STAGE_FAILED, REQUEST_FAILED, DELIVERY_FAILED,
    ENCODER_FAILED,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Count:
    """One counter value of a component: a catalogue name, its value and its own labels."""

    name: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


def count(name: str, value: float, **labels: str) -> Count:
    return Count(name, value, tuple(labels.items()))


@runtime_checkable
class Reporting(Protocol):
    """A component that keeps counts of its own."""

    def telemetry(self) -> Iterable[Count]:
        """Its counts now (totals since it was built; they only grow)."""


@dataclass(frozen=True)
class Spec:
    """What a count means, and the labels it carries besides the component's own."""

    help: str
    labels: tuple[str, ...] = ()


# "<kind>_<name>" -> spec; the family is logflume_<kind>_<name>_total.
COUNTS: dict[str, Spec] = {
    # sources
    "source_chunks": Spec("Chunks of whole lines read."),
    "source_bytes_read": Spec("Bytes of whole lines read (lines cut at max_line_bytes included)."),
    "source_events_read": Spec("Events parsed from the lines read."),
    "source_events_dead_lettered": Spec(
        "Lines that could not become events (invalid, too long, unmappable)."
    ),
    "source_files_finished": Spec("Files read to their end after they were rotated away or deleted."),
    "source_errors": Spec("Errors of a source, by type.", ("error_type",)),
    # every stage (counted around each call by the processor)
    "stage_events_in": Spec("Events into the stage (for parse: non-blank lines)."),
    "stage_events_out": Spec("Events out of the stage."),
    "stage_events_dropped": Spec("Events the stage dropped (filtered, sampled out)."),
    "stage_events_routed": Spec("Events the stage routed to named sinks only."),
    "stage_events_dead_lettered": Spec("Inputs the stage sent to the dead-letter file."),
    "stage_batch_failures": Spec(
        "Batches the stage raised on; it was then run event by event, and the events it still "
        "raised on were dead-lettered."
    ),
    "stage_errors": Spec("Errors of a stage, by type.", ("error_type",)),
    # what only some stages count
    "stage_blank_lines": Spec("Blank lines skipped (parse)."),
    "stage_redactions": Spec("Values replaced, by rule (redact).", ("rule",)),
    "stage_lookups": Spec("Enrichment lookups by result (enrich).", ("enrichment", "result")),
    "stage_rule_events_dropped": Spec("Events dropped, by the rule that dropped them (filter).", ("rule",)),
    "stage_rule_events_routed": Spec("Events routed, by target sink (filter).", ("sink",)),
    "stage_sampled_out": Spec("Events sampled out, by level (sample).", ("level",)),
    "stage_window_events": Spec(
        "Events offered to the windows, by outcome: counted, late, untimed, future (aggregate).",
        ("outcome",),
    ),
    "stage_window_overflow": Spec(
        "Events counted under the _other group: their window had too many groups (aggregate)."
    ),
    "stage_windows_closed": Spec("Windows closed (aggregate)."),
    "stage_metrics_emitted": Spec("Metric events emitted for closed windows (aggregate)."),
    "stage_detector_windows": Spec(
        "Windows each statistical detector took in, by outcome: judged, filled (a silence), warmup, "
        "thin (too few events to judge), resumed (anomaly).",
        ("detector", "outcome"),
    ),
}


def family_name(kind: str, name: str) -> str:
    """The Prometheus family (without ``_total``) of count ``name`` of a component of ``kind``."""
    return f"logflume_{kind}_{name}"
