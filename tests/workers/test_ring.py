"""The shared ring a worker's chunks travel through: regions in order, never overwritten before
the worker took them, and nothing that does not fit."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from logflume.workers.ring import Ring, RingReader


@pytest.fixture
def ring() -> Iterator[tuple[Ring, RingReader]]:
    made = Ring(100)
    yield made, RingReader(os.dup(made.fd), made.size)
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
