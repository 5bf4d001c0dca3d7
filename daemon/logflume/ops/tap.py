"""Tap: a live sample of the events after a stage, streamed from the running daemon (like ``vector tap``).

The daemon asks :attr:`TapHub.active` once per batch; only while someone taps does the pipeline
encode each tapped stage's output, at most what the tappers still want (:meth:`TapHub.wanted`),
right after that stage (later stages change the events in place), and hand the lines to
:meth:`TapHub.offer_lines`. A tapper that reads
slower than events arrive misses events rather than slowing the pipeline: its queue is bounded.

A tap is a way out of the daemon for event contents, so it follows the redact stage unless asked
otherwise, and the stages before redaction (whose events still hold secrets in clear) can only be
tapped when the config allows it (``http.tap_before_redact``): :func:`tap_refusal`.
"""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from typing import TextIO

import orjson

from logflume.events import Event

# Encoded events waiting for one tapper; more are skipped (and counted), never waited for.
QUEUE_LINES = 1000
# The stage a tap follows when none is named: the first whose events are redacted.
DEFAULT_STAGE = "redact"


def tap_refusal(stages: Sequence[str], stage: str, before_redact_allowed: bool) -> str | None:
    """Why tapping ``stage`` (one of ``stages``, in order) is refused, or None when it is allowed."""
    if before_redact_allowed or DEFAULT_STAGE not in stages:
        return None
    if stages.index(stage) >= stages.index(DEFAULT_STAGE):
        return None
    return (
        f"stage {stage!r} comes before redaction, so its events hold secrets in clear; "
        f"tap {DEFAULT_STAGE!r} or a later stage, or set http.tap_before_redact: true"
    )


class Tapper:
    """One client of ``GET /tap``: the stage it follows and how many events it still wants."""

    def __init__(self, stage: str, limit: int) -> None:
        self.stage = stage
        self.remaining = limit
        self.skipped = 0
        self.closed = False
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_LINES)

    @property
    def finished(self) -> bool:
        return self.closed or (self.remaining <= 0 and self.queue.empty())

    async def next_line(self) -> bytes:
        """The next encoded event (b"" once the tap is closed)."""
        return await self.queue.get()


class TapHub:
    """The tappers of one daemon, by stage."""

    def __init__(self) -> None:
        self.active = False  # read once per batch by the daemon: keep it a plain attribute
        self._tappers: dict[str, list[Tapper]] = {}

    def subscribe(self, stage: str, limit: int) -> Tapper:
        tapper = Tapper(stage, limit)
        self._tappers.setdefault(stage, []).append(tapper)
        self.active = True
        return tapper

    def unsubscribe(self, tapper: Tapper) -> None:
        tappers = self._tappers.get(tapper.stage, [])
        if tapper in tappers:
            tappers.remove(tapper)
        if not tappers:
            self._tappers.pop(tapper.stage, None)
        self.active = bool(self._tappers)

    def wanted(self) -> dict[str, int]:
        """The stages tapped now, each with how many events its tappers may still take."""
        return {
            stage: min(QUEUE_LINES, max(tapper.remaining for tapper in tappers))
            for stage, tappers in self._tappers.items()
            if tappers and max(tapper.remaining for tapper in tappers) > 0
        }

    def offer(self, stage: str, events: list[Event]) -> None:
        """Encode what each tapper of ``stage`` still wants from ``events``."""
        tappers = self._tappers.get(stage)
        if tappers and events:
            wanted = min(QUEUE_LINES, max(tapper.remaining for tapper in tappers))
            # Right-sized copies: orjson's own result sits in an ~8 KiB block, too much to keep
            # a queue of.
            encoded = [
                bytes(memoryview(orjson.dumps(event, default=str, option=orjson.OPT_APPEND_NEWLINE)))
                for event in events[: max(0, wanted)]
            ]
            self.offer_lines(stage, encoded, len(events))

    def offer_lines(self, stage: str, lines: list[bytes], events: int | None = None) -> None:
        """Hand each tapper of ``stage`` what it still wants of ``lines``: the first of the
        ``events`` (default: as many as lines) the stage put out, encoded right after it by the
        pipeline. What a tapper wants beyond its room is skipped and counted."""
        tappers = self._tappers.get(stage)
        total = len(lines) if events is None else events
        if not tappers or not total:
            return
        for tapper in tappers:
            if tapper.remaining <= 0:
                continue
            queue = tapper.queue
            wanted = min(tapper.remaining, total)
            taken = min(wanted, queue.maxsize - queue.qsize(), len(lines))
            tapper.skipped += wanted - taken
            for line in lines[:taken]:
                queue.put_nowait(line)
            tapper.remaining -= taken

    def close(self) -> None:
        """End every tap (the daemon is stopping)."""
        for tappers in self._tappers.values():
            for tapper in tappers:
                tapper.closed = True
                if not tapper.queue.full():
                    tapper.queue.put_nowait(b"")
        self._tappers.clear()
        self.active = False


# -- the client side (``logflume tap``) ---------------------------------------------------------


def tap_url(host: str, port: int, stage: str | None, limit: int) -> str:
    """The URL of the tap endpoint (no stage: the daemon's default); a wildcard listen address is
    reached over loopback."""
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    params: dict[str, str | int] = {"limit": limit}
    if stage is not None:
        params["stage"] = stage
    query = urllib.parse.urlencode(params)
    return f"http://{host}:{port}/tap?{query}"


def run_tap(url: str, out: TextIO, timeout: float | None) -> int:
    """Print the NDJSON stream at ``url`` to ``out``; 0 when it ended normally, 1 otherwise.

    ``timeout`` bounds the wait for each line (None: wait as long as it takes).
    """
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            for line in response:
                if line.strip():
                    out.write(line.decode("utf-8", "replace"))
                    out.flush()
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        try:
            message = json.loads(body).get("error", body)
        except ValueError:
            message = body
        print(f"tap refused ({exc.code}): {message}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(
            f"cannot reach the daemon at {url}: {exc.reason} (is it running, with http.enabled?)",
            file=sys.stderr,
        )
        return 1
    except TimeoutError:
        print(f"no event within {timeout:g}s", file=sys.stderr)
        return 1
    return 0
