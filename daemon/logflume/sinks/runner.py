"""Runs one sink: bounded buffer in, batching, concurrent writes with retries, acknowledgement out.

The runner owns everything that is the same for every backend (Vector's "shared layer"): the sink
itself only writes and classifies outcomes (see :mod:`logflume.sinks.base`).

Flow. ``put`` takes events already encoded as JSON lines (:class:`~logflume.lines.Lines`), splits
them into items no larger than a batch and appends them to the memory buffer (waiting while it is
full: backpressure). The dispatcher forms a batch from the
front once it reaches ``batch.max_events`` / ``batch.max_bytes`` or its oldest item waited
``batch.timeout``, and hands it to one of ``concurrency`` workers. An ack completes once its
events are accepted — written, durably on disk, or dead-lettered — and never before the acks
handed over earlier (:class:`~logflume.sinks.acks.AckSequencer`).

Memory. The events the runner holds are bounded by ``buffer.max_events``/``max_bytes`` (batches
in flight from memory stay counted there until accepted; a hand-over may overshoot the limits
once), plus at most ``concurrency`` batches read back from the disk buffer. Once a write has
failed, only one write at a time probes the backend until one succeeds: more would each hold a
batch while they all fail, and hammer a backend that is down.

With a disk buffer, the first failed write or a full memory buffer switches the runner to
*spilling*: the failed batch and everything in memory go to the disk buffer (fsync'd, then acked),
and the workers replay the disk buffer, oldest first, with backoff until it is empty; then batches
go straight from memory again. While the backend is healthy nothing touches the disk.

When the disk refuses an append (state_dir full), the events stay in memory, unacknowledged, and
the append is retried with backoff: memory fills, ``put`` waits and the readers pause. A record
read back that is not a batch goes to the dead-letter file and the replay moves on.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from logflume import lines
from logflume.errors import RetryableSinkError
from logflume.events import Ack, DeadLetter, Event
from logflume.fsutil import WriteFaults
from logflume.lines import Lines
from logflume.retry import Backoff
from logflume.sinks.acks import AckSequencer
from logflume.sinks.base import Sink
from logflume.sinks.buffer import Item, MemoryBuffer, Signal
from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.disk_buffer import DiskBuffer, ReadBatch, encode_lines_record
from logflume.sinks.stats import SinkStats
from logflume.sinks.writer import DeadLetterFn, Writer, dead_letter_for

__all__ = ["DeadLetterFn", "SinkRunner", "SinkStats", "dead_letter_for"]

log = logging.getLogger("logflume.sinks")

# Largest disk-buffer segment: small enough that delivered data is deleted soon, large enough
# that a busy spill does not create thousands of files.
_MAX_SEGMENT_BYTES = 32 * 1024**2
# Longest wait between attempts to append to a disk buffer the disk refused: space that returns
# is used within seconds.
_MAX_SPILL_BACKOFF = 5.0


class SinkRunner:
    """Feeds one sink from its own bounded buffer, so a slow or dead backend never stalls the others.

    ``state_dir`` is where a disk buffer lives (``<state_dir>/buffers/<name>/``). Without it a sink
    whose buffer type is only defaulted to disk runs with a memory buffer; an explicit
    ``buffer.type: disk`` without a state dir is an error.
    """

    def __init__(
        self,
        sink: Sink,
        config: SinkCommonConfig,
        dead_letter: DeadLetterFn,
        *,
        state_dir: Path | None = None,
    ) -> None:
        self.sink = sink
        self._encoding: str | None = getattr(sink, "encoding", None)
        self.name = config.name
        self.config = config
        self.stats = SinkStats()
        self._dead_letter = dead_letter
        self._writer = Writer(sink, self.name, config.retry, self.stats, dead_letter)
        buffer = config.buffer
        self._disk: DiskBuffer | None = None
        if config.buffer_type() == "disk":
            if state_dir is not None:
                segment_bytes = max(1, min(_MAX_SEGMENT_BYTES, buffer.max_disk_bytes // 8))
                self._disk = DiskBuffer(state_dir / "buffers" / self.name, segment_bytes)
            elif buffer.type == "disk":
                raise ValueError(f"sink {self.name}: a disk buffer needs the daemon's state_dir")
        self.buffer_type = "disk" if self._disk is not None else "memory"
        self._spill_backoff = Backoff(config.retry.initial_backoff, _MAX_SPILL_BACKOFF)
        self._memory = MemoryBuffer(buffer.max_events, buffer.max_bytes, config.queue_batches)
        self._acks = AckSequencer()
        self._slots = asyncio.Semaphore(config.concurrency)
        self._changed = Signal()  # memory, disk or worker state changed
        self._disk_lock = asyncio.Lock()
        self._spilling = False
        # Set once a batch from disk was written since spilling began: only a backend that has
        # just taken a write may get batches straight from memory again.
        self._replayed = False
        self._spill_busy = False
        self._writing = 0  # writes started and not finished (a worker task may not run yet)
        self._closing = False
        self._dispatcher: asyncio.Task[None] | None = None
        self._spiller: asyncio.Task[None] | None = None
        self._workers: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the disk buffer (replaying what it holds first) and the sink, then start working.

        A backend that is down (RetryableSinkError) does not fail the start: writes keep trying to
        open it, and with a disk buffer the input is buffered meanwhile. FatalSinkError propagates.
        """
        if self._disk is not None:
            async with self._disk_lock:
                await asyncio.to_thread(self._disk.open)
            if self._disk.stored_events:
                self._spilling = True
                extra = {"sink": self.name, "events": self._disk.stored_events}
                log.info("Replaying the disk buffer", extra=extra)
            self._update_gauges()
        try:
            await self._writer.open()
        except RetryableSinkError as exc:
            self._writer.record_error(exc, 0, "Sink is unreachable; will retry")
        self._dispatcher = asyncio.create_task(self._dispatch(), name=f"sink:{self.name}")
        if self._disk is not None:
            self._spiller = asyncio.create_task(self._spill_loop(), name=f"sink:{self.name}:spill")

    async def put(self, events: Sequence[Lines] | Sequence[Event], acks: list[Ack]) -> None:
        """Hand over a batch (JSON lines, or events, which are encoded first); waits while the
        buffer is full (this is the backpressure)."""
        if self._closing:
            raise RuntimeError(f"sink {self.name} is stopping")
        blocks: list[Lines] = _as_lines(events)
        # Only this sink's own encoding of the blocks is kept (and counted against its buffer).
        key = self._encoding
        blocks = [block.only(key) for block in blocks]
        count = lines.count(blocks)
        if not count:
            self._acks.accept(self._acks.add(list(acks)))
            return
        self.stats.events_received += count
        parts = self._split(blocks, count)
        last = len(parts) - 1
        for index, (part, nbytes) in enumerate(parts):
            while self._memory.full:
                if self._disk is not None and len(self._memory) and not self._spilling:
                    # A busy but healthy backend frees memory soon: give it spill_after before
                    # moving the hot path to disk.
                    freed = await self._memory.freed.wait(self.config.buffer.spill_after)
                    if not freed and self._memory.full and len(self._memory):
                        self._start_spilling("memory buffer full")
                    continue
                await self._memory.freed.wait()
            seq = self._acks.add(list(acks) if index == last else [])
            self._memory.append(Item(part, (seq,), nbytes, time.monotonic()))
            self._changed.notify()
        self._update_gauges()
        # Let the dispatcher start a write now, so it overlaps with the caller's next batch.
        await asyncio.sleep(0)

    async def sync(self) -> None:
        """Make everything acknowledged so far durable; called before checkpoints are written.

        Disk-buffer appends are fsync'd before their events are acknowledged, so only the sink
        has something left to flush.
        """
        if self._writer.opened:
            await self.sink.sync()

    async def stop(self) -> None:
        """Deliver what is in memory (or, with a disk buffer, spill what cannot be delivered), then close.

        With a memory buffer and a dead backend this waits until the backend returns: the caller
        bounds it with its shutdown deadline and then calls :meth:`abort`. What the disk buffer
        holds stays there and is replayed on the next start.
        """
        if self._dispatcher is not None:
            self._closing = True
            self._writer.stopping.set()
            self._changed.notify()
            await self._dispatcher
            while self._workers:
                await asyncio.wait(list(self._workers))
            self._changed.notify()
            if self._spiller is not None:
                await self._spiller
            self._dispatcher = self._spiller = None
        if self._disk is not None:
            async with self._disk_lock:
                await asyncio.to_thread(self._disk.close)
        await self._writer.close()
        self._update_gauges()

    @property
    def disk_faults(self) -> WriteFaults | None:
        """Failed writes to the disk buffer (None without one)."""
        return self._disk.faults if self._disk is not None else None

    @property
    def spilling(self) -> bool:
        """True while events go to the disk buffer (the backend failed, or memory stayed full)."""
        return self._spilling

    @property
    def healthy(self) -> bool:
        """False from a failed write (or open) until the next successful write."""
        return self._writer.healthy

    def abort(self) -> None:
        """Stop at once; unacknowledged events are read again from the sources after a restart."""
        for task in (self._dispatcher, self._spiller, *self._workers):
            if task is not None:
                task.cancel()

    # -- dispatching -------------------------------------------------------------------------

    def _split(self, blocks: list[Lines], count: int) -> list[tuple[list[Lines], int]]:
        """Cut a hand-over into items no larger than one batch, so batches keep their limits."""
        nbytes = lines.nbytes(blocks)
        batch = self.config.batch
        if count <= batch.max_events and nbytes <= batch.max_bytes:
            return [(blocks, nbytes)]
        size = max(1, min(batch.max_events, batch.max_bytes // max(1, nbytes // count)))
        parts: list[tuple[list[Lines], int]] = []
        current: list[Lines] = []
        room = size
        for block in blocks:
            start = 0
            while start < len(block):
                piece = block.cut(start, start + room)
                current.append(piece)
                start += len(piece)
                room -= len(piece)
                if not room:
                    parts.append((current, lines.nbytes(current)))
                    current, room = [], size
        if current:
            parts.append((current, lines.nbytes(current)))
        return parts

    async def _dispatch(self) -> None:
        while True:
            await self._slots.acquire()
            try:
                work = await self._next_work()
            except BaseException:
                self._slots.release()
                raise
            if work is None:
                self._slots.release()
                return
            task = asyncio.create_task(work)
            self._workers.add(task)
            task.add_done_callback(self._workers.discard)

    async def _next_work(self) -> Coroutine[Any, Any, None] | None:
        """The next write to start (holding a slot), or None when stopping and nothing is left."""
        batch = self.config.batch
        while True:
            if self._spilling:
                if self._closing:
                    # The spiller moves what is left in memory; the disk keeps it for the next start.
                    return None
                if self._probing():
                    await self._changed.wait()
                    continue
                read = await self._read_disk()
                if read is not None:
                    self._writing += 1
                    return self._deliver_disk(read)
                if self._replayed and self._disk_drained():
                    self._spilling = False
                    log.info("Disk buffer delivered; sending directly again", extra={"sink": self.name})
                    continue
                await self._changed.wait()
                continue
            due = self._memory.due_at(batch.max_events, batch.max_bytes, batch.timeout, self._closing)
            now = time.monotonic()
            if due is not None and due <= now:
                if self._probing():
                    await self._changed.wait()
                    continue
                self._writing += 1
                return self._deliver_memory(self._memory.take(batch.max_events, batch.max_bytes))
            if due is None and self._closing:
                return None
            await self._changed.wait(None if due is None else due - now)

    def _probing(self) -> bool:
        """A write failed and another is already testing the backend: start no more until it is back."""
        return not self._writer.healthy and self._writing > 0

    async def _deliver_memory(self, items: list[Item]) -> None:
        blocks = items[0].events if len(items) == 1 else [block for item in items for block in item.events]
        try:
            left = await self._writer.deliver(blocks, fail_fast=self._disk is not None, interruptible=False)
            if left:
                # Transient failure with a disk buffer: the rest goes to disk ahead of newer input.
                seqs = tuple(seq for item in items for seq in item.seqs)
                self._memory.push_back(Item(left, seqs, lines.nbytes(left), items[0].arrived))
                self._start_spilling("write failed")
            else:
                for item in items:
                    for seq in item.seqs:
                        self._acks.accept(seq)
            self._memory.release(items)
        finally:
            self._writing -= 1
            self._slots.release()
            self._update_gauges()
            self._changed.notify()

    async def _deliver_disk(self, read: ReadBatch) -> None:
        assert self._disk is not None
        try:
            if read.bad:
                self._reject_records(read)
            # Read back as events: encoded again (a replay, not the hot path).
            left = await self._writer.deliver(lines.encode(read.events), fail_fast=False, interruptible=True)
            if not left:
                async with self._disk_lock:
                    await asyncio.to_thread(self._disk.complete, read)
                self._replayed = self._replayed or self.healthy
            # Otherwise the runner is stopping: the batch stays on disk for the next start.
        finally:
            self._writing -= 1
            self._slots.release()
            self._update_gauges()
            self._changed.notify()

    def _reject_records(self, read: ReadBatch) -> None:
        """Dead-letter disk-buffer records that are not batches, whole (nothing else can use them)."""
        reason = f"sink {self.name}: disk buffer record"
        letters = [
            DeadLetter("", bad.path, bad.offset, f"{reason}: {bad.reason}", bad.payload) for bad in read.bad
        ]
        self._dead_letter(letters)
        self.stats.events_dead_lettered += len(letters)
        read.bad = []

    async def _read_disk(self) -> ReadBatch | None:
        assert self._disk is not None
        if not (self._disk.unread_events or self._disk.unread_bytes):
            return None
        batch = self.config.batch
        async with self._disk_lock:
            return await asyncio.to_thread(self._disk.read, batch.max_events, batch.max_bytes)

    def _disk_drained(self) -> bool:
        disk = self._disk
        assert disk is not None
        return not (disk.unread_events or disk.unread_bytes or disk.inflight or self._spill_busy)

    # -- spilling to disk --------------------------------------------------------------------

    def _start_spilling(self, reason: str) -> None:
        if self._disk is not None and not self._spilling:
            self._spilling = True
            self._replayed = False
            # A full memory buffer under load is routine; a failing backend deserves a warning.
            level = logging.INFO if self.healthy else logging.WARNING
            log.log(level, "Buffering to disk", extra={"sink": self.name, "reason": reason})
            self._changed.notify()

    async def _spill_loop(self) -> None:
        """Move memory to disk while spilling; ends after :meth:`stop` once nothing is left to move."""
        while True:
            if self._spilling and len(self._memory):
                if not await self._spill_once():
                    return
            elif self._closing and self._dispatched_all():
                return
            else:
                await self._changed.wait()

    def _dispatched_all(self) -> bool:
        """Stopping, and no write can hand anything back to memory any more."""
        return self._dispatcher is not None and self._dispatcher.done() and not self._workers

    async def _spill_once(self) -> bool:
        """Append everything in memory to disk and ack it; False when it must give up (stopping)."""
        disk = self._disk
        assert disk is not None
        self._spill_busy = True
        items = self._memory.take(sys.maxsize, sys.maxsize)
        settled: list[Item] = []  # accepted: on disk
        try:
            # The events' lines make the records as they are (no encoding, nothing to refuse).
            records = await asyncio.to_thread(_records, items)
            if not await self._make_room(sum(len(record) for record, _ in records)):
                return False  # stopping while full: unacked, so the sources read these again
            try:
                async with self._disk_lock:
                    await asyncio.to_thread(disk.append, records)
            except OSError:
                # Logged once by the buffer's faults. Held in memory, unacknowledged: memory
                # fills up, put() waits and the readers pause until the disk takes them.
                for item in items:
                    self._memory.push_back(item)
                await asyncio.sleep(self._spill_backoff.next_delay())
                return not self._closing
            self._spill_backoff.reset()
            settled.extend(items)
            return True
        finally:
            for item in sorted(settled, key=lambda item: item.seqs[0]):
                for seq in item.seqs:
                    self._acks.accept(seq)
            self._memory.release(items)
            self._spill_busy = False
            self._update_gauges()
            self._changed.notify()

    async def _make_room(self, nbytes: int) -> bool:
        """Apply ``buffer.when_full`` until ``nbytes`` more fit on disk; False if stopping first."""
        disk = self._disk
        assert disk is not None
        limit = self.config.buffer.max_disk_bytes
        if disk.stored_bytes + nbytes <= limit or not disk.stored_bytes:
            return True
        if self.config.buffer.when_full == "drop_oldest":
            async with self._disk_lock:
                dropped = await asyncio.to_thread(disk.drop_oldest, disk.stored_bytes + nbytes - limit)
            if dropped:
                self.stats.events_dropped += dropped
                extra = {"sink": self.name, "events": dropped}
                log.warning("Disk buffer full; dropped the oldest events", extra=extra)
            return True
        self.stats.blocked = True
        log.warning("Disk buffer full; pausing input", extra={"sink": self.name, "bytes": disk.stored_bytes})
        try:
            while disk.stored_bytes and disk.stored_bytes + nbytes > limit:
                if self._closing and not self._workers:
                    return False
                await self._changed.wait()
        finally:
            self.stats.blocked = False
        log.info("Disk buffer has room again; resuming input", extra={"sink": self.name})
        return True

    def _update_gauges(self) -> None:
        stats = self.stats
        stats.memory_events = self._memory.events
        stats.memory_bytes = self._memory.nbytes
        if self._disk is not None:
            stats.disk_events = self._disk.stored_events
            stats.disk_bytes = self._disk.stored_bytes


def _records(items: list[Item]) -> list[tuple[bytes, int]]:
    """Disk records for ``items`` (run in a worker thread: joining the lines copies them)."""
    return [(encode_lines_record(item.events), lines.count(item.events)) for item in items]


def _as_lines(events: Sequence[Lines] | Sequence[Event]) -> list[Lines]:
    """What ``put`` was given, as blocks of lines (events are encoded: a caller other than the
    processor, such as a test or a tool)."""
    if not events or isinstance(events[0], Lines):
        return list(events)  # type: ignore[arg-type]  # a list of Lines, checked on its first
    return lines.encode(events)  # type: ignore[arg-type]  # a list of events
