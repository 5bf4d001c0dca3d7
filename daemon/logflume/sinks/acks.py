"""Completes a sink's acknowledgements in the order their batches were handed over.

A source checkpoints past a chunk as soon as its ack completes, so a later chunk must never
complete before an earlier one: with several writes in flight, or with part of the input on disk
and part in memory, batches are accepted out of order. Every handed-over batch takes a sequence
number; its acks are released only once it and every earlier batch are accepted.
"""

from __future__ import annotations

from logflume.events import Ack


class AckSequencer:
    """Releases acks in sequence order, whatever order the sequence numbers are accepted in."""

    __slots__ = ("_accepted", "_next", "_pending", "_release")

    def __init__(self) -> None:
        self._next = 0
        self._release = 0
        self._pending: dict[int, list[Ack]] = {}
        self._accepted: set[int] = set()

    def add(self, acks: list[Ack]) -> int:
        """Register the acks of the next batch and return its sequence number."""
        seq = self._next
        self._next += 1
        self._pending[seq] = acks
        return seq

    def accept(self, seq: int) -> None:
        """Mark ``seq`` accepted (delivered, durably buffered or dead-lettered)."""
        self._accepted.add(seq)
        while self._release in self._accepted:
            self._accepted.discard(self._release)
            for ack in self._pending.pop(self._release):
                ack.done()
            self._release += 1

    @property
    def waiting(self) -> int:
        """Batches handed over whose acks have not been released yet."""
        return self._next - self._release
