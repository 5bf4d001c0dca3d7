"""The shared rings chunks and results travel through: regions in order, never overwritten before
the other side took them, and nothing that does not fit."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from logflume.workers.ring import Ring, RingReader


@pytest.fixture
def ring() -> Iterator[tuple[Ring, RingReader]]:
    made = Ring(100)
    yield made, RingReader(made.size, os.dup(made.fd))
    made.close()


def test_regions_come_back_as_written(ring: tuple[Ring, RingReader]) -> None:
    """What is put is what is taken, region by region, in order."""
    producer, reader = ring
    regions = [producer.put(bytes([n]) * 30) for n in range(3)]
    assert [bytes([n]) * 30 for n in range(3)] == [reader.take(region) for region in regions if region]


def test_a_full_ring_refuses_until_the_worker_takes(ring: tuple[Ring, RingReader]) -> None:
    """With 90 of 100 bytes not yet taken, 20 more do not fit; once the first 30 are taken they do,
    at the start of the ring (a region never wraps)."""
    producer, reader = ring
    first, second, third = (producer.put(b"x" * 30) for _ in range(3))
    assert producer.put(b"y" * 20) is None
    assert first is not None
    reader.take(first)
    fourth = producer.put(b"y" * 20)
    assert fourth is not None
    assert (b"x" * 30, b"x" * 30, b"y" * 20) == tuple(reader.take(r) for r in (second, third, fourth) if r)


def test_more_than_the_ring_holds_goes_another_way(ring: tuple[Ring, RingReader]) -> None:
    """A chunk larger than the ring is refused (it goes through the pipe instead)."""
    producer, _ = ring
    assert producer.put(b"z" * 101) is None


def test_a_result_ring_made_by_the_reader_carries_parts_end_to_end() -> None:
    """The daemon makes a result ring and hands its descriptor over; the worker writes a result's
    blocks into one region; the daemon takes each block back as its own object, and the space."""
    reader = RingReader(100)
    writer = Ring(reader.size, os.dup(reader.fd))
    reader.handed_over()
    try:
        first = writer.put_all([b"a" * 10, b"", b"b" * 50])
        assert first is not None
        assert writer.put_all([b"c" * 30, b"d" * 20]) is None  # 60 + 50 > 100: not yet
        assert [b"a" * 10, b"", b"b" * 50] == reader.take_parts(first, [10, 0, 50])
        second = writer.put_all([b"c" * 30, b"d" * 20])
        assert second is not None
        with pytest.raises(ValueError, match="parts of 40 bytes in a region of 50"):
            reader.take_parts(second, [30, 10])
    finally:
        writer.close()
        reader.close()
