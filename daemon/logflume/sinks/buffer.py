"""The memory part of a sink's buffer: handed-over batches waiting for a write, bounded by events and bytes.

Events arrive encoded (:class:`~logflume.lines.Lines`), so sizes are exact: the JSON bytes the
items hold. Items taken out for a write or for the disk stay *reserved* (counted against the
bounds) until they are accepted, so the memory the runner holds is bounded, not just its queue.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from logflume.lines import Lines, count


@dataclass(eq=False, slots=True)
class Item:
    """Events handed over together, as JSON lines; ``seqs`` are the ack sequence numbers they settle."""

    events: list[Lines]
    seqs: tuple[int, ...]
    nbytes: int
    arrived: float


class Signal:
    """Wakes every task waiting right now (an Event pulsed set → clear)."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event.clear()

    async def wait(self, at_most: float | None = None) -> bool:
        """Return True on the next notify, or False after ``at_most`` seconds."""
        if at_most is None:
            await self._event.wait()
            return True
        try:
            async with asyncio.timeout(max(at_most, 0.0)):
                await self._event.wait()
        except TimeoutError:
            return False
        return True


class MemoryBuffer:
    """A FIFO of items plus the count of items taken out but not yet accepted."""

    def __init__(self, max_events: int, max_bytes: int, max_items: int) -> None:
        self.max_events = max_events
        self.max_bytes = max_bytes
        self.max_items = max_items
        self.items: deque[Item] = deque()
        self.queued_events = 0
        self.queued_bytes = 0
        self.reserved_events = 0
        self.reserved_bytes = 0
        self.reserved_items = 0
        self.freed = Signal()

    def __len__(self) -> int:
        return len(self.items)

    @property
    def events(self) -> int:
        return self.queued_events + self.reserved_events

    @property
    def nbytes(self) -> int:
        return self.queued_bytes + self.reserved_bytes

    @property
    def full(self) -> bool:
        return (
            self.events >= self.max_events
            or self.nbytes >= self.max_bytes
            or len(self.items) + self.reserved_items >= self.max_items
        )

    def append(self, item: Item) -> None:
        self.items.append(item)
        self.queued_events += count(item.events)
        self.queued_bytes += item.nbytes

    def push_back(self, item: Item) -> None:
        """Return an item (e.g. a failed write's leftovers) in front of everything handed over later."""
        index = len(self.items)
        while index > 0 and self.items[index - 1].seqs[0] > item.seqs[0]:
            index -= 1
        self.items.insert(index, item)
        self.queued_events += count(item.events)
        self.queued_bytes += item.nbytes

    def take(self, max_events: int, max_bytes: int) -> list[Item]:
        """Reserve items from the front up to the limits (at least one item if any is queued)."""
        taken: list[Item] = []
        events = nbytes = 0
        while self.items:
            head = self.items[0]
            size = count(head.events)
            if taken and (events + size > max_events or nbytes + head.nbytes > max_bytes):
                break
            self.items.popleft()
            taken.append(head)
            events += size
            nbytes += head.nbytes
        self.queued_events -= events
        self.queued_bytes -= nbytes
        self.reserved_events += events
        self.reserved_bytes += nbytes
        self.reserved_items += len(taken)
        return taken

    def release(self, items: list[Item]) -> None:
        """Forget reserved items (accepted, or pushed back as a new item)."""
        self.reserved_events -= sum(count(item.events) for item in items)
        self.reserved_bytes -= sum(item.nbytes for item in items)
        self.reserved_items -= len(items)
        self.freed.notify()

    def due_at(self, max_events: int, max_bytes: int, timeout: float, flush: bool) -> float | None:
        """Monotonic time at which the queued items make a batch; None when nothing is queued."""
        if not self.items:
            return None
        if flush or self.full or self.queued_events >= max_events or self.queued_bytes >= max_bytes:
            return 0.0
        return self.items[0].arrived + timeout
