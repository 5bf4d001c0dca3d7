"""The ``_bulk`` request body and the classification of its per-item results.

Every action is ``create`` with ``_id`` = the event's ``event_id``: a replay of an event already
stored answers 409 for that item, which counts as delivered, so each event is stored exactly once
however often it is sent. (``index`` would also leave one copy, but it rewrites the document on
every replay, and data streams accept only ``create``.) Events without an ``event_id`` get an id
from the server and are not protected against replays.

Item outcomes: 2xx and 409 are delivered; 429 and 5xx are retried (the node is busy or a shard is
moving); anything else (a mapping conflict, a value the field cannot take) is rejected for good
with the node's reason, and the runner dead-letters it.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from logflume.errors import RetryableSinkError
from logflume.events import META_KEY, Event
from logflume.lines import Encoded, Lines, decode_line, encode_line
from logflume.sinks.base import LinesResult, WriteResult
from logflume.sinks.elasticsearch.naming import IndexNamer

# Only what classification needs; a 1000-item answer shrinks from ~250 KB to ~30 KB.
FILTER_PATH = "errors,items.*.status,items.*.error"


@dataclass(slots=True)
class BulkRequest:
    """One ``_bulk`` body and the events it carries, in the order of its items."""

    body: bytes
    events: list[Event] = field(default_factory=list)
    indices: set[str] = field(default_factory=set)  # every index (or data stream) it writes to
    # Events that could not be encoded as JSON: rejected without being sent.
    unencodable: list[tuple[Event, str]] = field(default_factory=list)


ENCODING = "elasticsearch-bulk:"


def encoding_key(index_template: str) -> str:
    """The :class:`~logflume.lines.BlockEncoder` key of the ``_bulk`` items for ``index_template``."""
    return ENCODING + index_template


class BulkEncoder:
    """Builds ``_bulk`` bodies for one sink (index naming decided once, at construction).

    Also a :class:`~logflume.lines.BlockEncoder` (``key``, ``__call__``): run where a block is
    encoded (a worker process), it makes each event's ``_bulk`` item from the event and its
    JSON line, so the sink only joins them (:meth:`ElasticsearchSink.write_lines`).
    """

    def __init__(self, namer: IndexNamer) -> None:
        self._namer = namer
        self._action_heads: dict[str, bytes] = {}
        self.key = encoding_key(namer.template)

    def _head(self, index: str) -> bytes:
        head = self._action_heads.get(index)
        if head is None:
            if len(self._action_heads) > 4096:
                self._action_heads.clear()  # an index per hour for years: keep the cache small
            head = b'{"create":{"_index":' + orjson.dumps(index)
            self._action_heads[index] = head
        return head

    def encode(self, events: list[Event], now: datetime) -> BulkRequest:
        request = BulkRequest(b"")
        parts: list[bytes] = []
        indices = request.indices
        for event in events:
            index, added = self._namer.resolve(event, now)
            indices.add(index)
            try:
                if added is not None and "@timestamp" in event:
                    # An own @timestamp the node would read otherwise: replaced in a copy (the
                    # event is shared with other sinks). Rare: normalise writes canonical ones.
                    source = orjson.dumps({**event, "@timestamp": added})
                    added = None
                else:
                    source = orjson.dumps(event)
            except TypeError as exc:
                request.unencodable.append((event, f"cannot encode as JSON: {exc}"))
                continue
            if added is not None:
                # Spliced into the JSON rather than set on the event, which other sinks share
                # (and cheaper than copying the dict). orjson writes a dict as "{" + members + "}".
                stamp = b'{"@timestamp":' + orjson.dumps(added)
                source = stamp + b"}" if source == b"{}" else stamp + b"," + source[1:]
            meta = event.get(META_KEY)
            event_id = meta.get("event_id") if isinstance(meta, dict) else None
            head = self._head(index)
            if event_id is None:
                parts.append(head + b"}}\n")
            else:
                parts.append(head + b',"_id":' + orjson.dumps(str(event_id)) + b"}}\n")
            parts.append(source + b"\n")
            request.events.append(event)
        request.body = b"".join(parts)
        return request


    def __call__(self, events: Sequence[Event], block: Lines, now: float) -> Encoded:
        """The ``_bulk`` items (action and document) of ``block``'s events, end to end.

        The document is the event's line as it is: the same bytes :meth:`encode` would send, but
        for events :meth:`encode` cannot encode (orjson refuses them), which the line writes in
        the fallback form (:mod:`logflume.jsontext`) and the node then judges.
        """
        moment = datetime.fromtimestamp(now, UTC)
        out = bytearray()
        ends: array[int] = array("q")
        names: set[str] = set()
        data, line_ends = block.data, block.ends
        resolve, head_of, dumps = self._namer.resolve, self._head, orjson.dumps
        start = 0
        for event, end in zip(events, line_ends, strict=True):
            index, added = resolve(event, moment)
            names.add(index)
            meta = event.get(META_KEY)
            event_id = meta.get("event_id") if type(meta) is dict else None
            head = head_of(index)
            if event_id is None:
                out += head
                out += b"}}\n"
            else:
                out += head
                out += b',"_id":'
                out += dumps(str(event_id))
                out += b"}}\n"
            if added is None:
                out += data[start:end]
            elif "@timestamp" in event:  # rare: see encode()
                out += encode_line({**event, "@timestamp": added})
            else:
                stamp = b'{"@timestamp":' + dumps(added)
                out += stamp + (b"}\n" if end - start == 3 else b"," + data[start + 1 : end])
            ends.append(len(out))
            start = end
        return Encoded(out, ends, frozenset(names))


def item_reason(status: int, error: Any) -> str:
    """The node's reason for refusing one item, e.g. ``400 document_parsing_exception: …``."""
    if not isinstance(error, Mapping):
        return f"{status} {error}" if error else f"HTTP {status}"
    reason = f"{status} {error.get('type', 'error')}: {error.get('reason', '')}"
    cause = error.get("caused_by")
    if isinstance(cause, Mapping) and cause.get("reason"):
        reason += f" (caused by {cause.get('type', 'error')}: {cause['reason']})"
    return reason


def classify_lines(response: Mapping[str, Any], blocks: list[Lines]) -> LinesResult:
    """:func:`classify` for a body joined from ``blocks``' encoded items: the parts of the blocks
    to send again, and the events refused (decoded from their lines) with reasons."""
    result = LinesResult()
    if not response.get("errors"):
        return result
    items = response.get("items")
    total = sum(len(block) for block in blocks)
    if not isinstance(items, list) or len(items) != total:
        count = len(items) if isinstance(items, list) else "no"
        raise RetryableSinkError(f"bulk answer has {count} items for {total} actions")
    offset = 0
    for block in blocks:
        retry: list[int] = []
        for index, item in enumerate(items[offset : offset + len(block)]):
            outcome: Mapping[str, Any] = next(iter(item.values()), {}) if isinstance(item, Mapping) else {}
            status = int(outcome.get("status", 0))
            if 200 <= status < 300 or status == 409:
                continue
            if status == 429 or status >= 500:
                retry.append(index)
            else:
                reason = item_reason(status, outcome.get("error"))
                result.rejected.append((decode_line(block.line(index)), reason))
        if retry:
            result.retry.append(block.pick(retry))
        offset += len(block)
    return result


def classify(response: Mapping[str, Any], request: BulkRequest) -> WriteResult:
    """Split a ``_bulk`` answer into delivered, to retry and rejected (with reasons)."""
    result = WriteResult(rejected=list(request.unencodable))
    if not response.get("errors"):
        return result
    items = response.get("items")
    if not isinstance(items, list) or len(items) != len(request.events):
        # Cannot tell which items failed: sending all again is safe, ``create`` keeps them once.
        count = len(items) if isinstance(items, list) else "no"
        raise RetryableSinkError(f"bulk answer has {count} items for {len(request.events)} actions")
    for event, item in zip(request.events, items, strict=True):
        outcome: Mapping[str, Any] = next(iter(item.values()), {}) if isinstance(item, Mapping) else {}
        status = int(outcome.get("status", 0))
        if 200 <= status < 300 or status == 409:
            continue
        if status == 429 or status >= 500:
            result.retry.append(event)
        else:
            result.rejected.append((event, item_reason(status, outcome.get("error"))))
    return result
