"""DiskBuffer: checksummed segments, the atomically replaced reader pointer, torn tails, dropping."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import orjson

from logflume.events import Event
from logflume.lines import encode
from logflume.sinks.buffer import MemoryBuffer
from logflume.sinks.disk_buffer import HEADER, POINTER_FILE, DiskBuffer, encode_record
from tests.sinks.runner_fakes import make_events, numbers


def _records(*batches: list[Event]) -> list[tuple[bytes, int]]:
    return [(encode_record(batch), len(batch)) for batch in batches]


def _opened(directory: Path, segment_bytes: int = 1 << 20) -> DiskBuffer:
    disk = DiskBuffer(directory, segment_bytes)
    disk.open()
    return disk


def _read_all(disk: DiskBuffer) -> list[int]:
    out: list[int] = []
    while (batch := disk.read(1000, 1 << 30)) is not None:
        out.extend(numbers(batch.events))
        disk.complete(batch)
    return out


class TestRecords:
    def test_record_layout_is_length_count_crc_payload(self) -> None:
        """A record is a 12-byte header (length, event count, CRC-32) and an orjson array."""
        events = make_events(0, 2)
        record = encode_record(events)
        length, count, _ = HEADER.unpack(record[: HEADER.size])
        assert (len(record) - HEADER.size, 2) == (length, count)
        assert events == orjson.loads(record[HEADER.size :])


class TestDiskBuffer:
    def test_appended_batches_are_read_back_in_order(self, tmp_path: Path) -> None:
        """Batches come back oldest first, across reads, with the counts kept up to date."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 3), make_events(3, 2)))
        disk.append(_records(make_events(5, 4)))
        assert (disk.stored_events, disk.unread_events) == (9, 9)
        first = disk.read(max_events=5, max_bytes=1 << 20)
        assert first is not None
        assert numbers(first.events) == [0, 1, 2, 3, 4]
        assert (disk.stored_events, disk.unread_events, disk.inflight) == (9, 4, 1)
        disk.complete(first)
        assert _read_all(disk) == [5, 6, 7, 8]
        assert (disk.stored_events, disk.stored_bytes, disk.unread_events) == (0, 0, 0)
        disk.close()

    def test_delivered_records_are_not_replayed_after_reopen(self, tmp_path: Path) -> None:
        """The pointer survives a reopen: only what was not completed is read again."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 2), make_events(2, 2), make_events(4, 2)))
        first = disk.read(2, 1 << 20)
        second = disk.read(2, 1 << 20)
        assert first is not None
        assert second is not None
        disk.complete(first)  # the second was read but never delivered
        disk.close()
        pointer = orjson.loads((tmp_path / POINTER_FILE).read_bytes())
        assert pointer["version"] == 1
        reopened = _opened(tmp_path)
        assert reopened.stored_events == 4
        assert _read_all(reopened) == [2, 3, 4, 5]

    def test_out_of_order_completion_moves_the_pointer_over_a_delivered_prefix(self, tmp_path: Path) -> None:
        """With batches delivered concurrently, the pointer never passes an undelivered batch."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 1), make_events(1, 1), make_events(2, 1)))
        batches = [disk.read(1, 1 << 20) for _ in range(3)]
        assert all(batch is not None for batch in batches)
        disk.complete(batches[1])  # type: ignore[arg-type]
        disk.complete(batches[2])  # type: ignore[arg-type]
        assert disk.stored_events == 3
        disk.close()
        assert _read_all(_opened(tmp_path)) == [0, 1, 2]

    def test_a_completed_batch_lets_go_of_its_events_while_an_earlier_one_is_undelivered(
        self, tmp_path: Path
    ) -> None:
        """A batch delivered out of order waits for the pointer without its events: only the
        undelivered batch is still held, and the counts still drop once both are complete."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 3), make_events(3, 3), make_events(6, 3)))
        first, second, third = (disk.read(3, 1 << 20) for _ in range(3))
        assert first is not None
        assert second is not None
        assert third is not None
        disk.complete(second)
        disk.complete(third)
        held = (numbers(first.events), second.events, third.events, disk.stored_events)
        assert ([0, 1, 2], [], [], 9) == held
        disk.complete(first)
        assert (0, 0, 0) == (disk.stored_events, disk.stored_bytes, disk.inflight)
        disk.close()

    def test_segments_roll_over_and_are_deleted_once_delivered(self, tmp_path: Path) -> None:
        """Small segments fill up and a new one starts; delivered segments are deleted."""
        disk = _opened(tmp_path, segment_bytes=200)
        for n in range(0, 12, 2):
            disk.append(_records(make_events(n, 2)))
        assert len(disk.segment_files()) >= 3
        assert list(range(12)) == _read_all(disk)
        assert disk.segment_files() == []
        disk.append(_records(make_events(12, 1)))
        assert _read_all(disk) == [12]
        disk.close()

    def test_torn_last_record_is_skipped_keeping_the_ones_before(self, tmp_path: Path) -> None:
        """A crash mid-append leaves half a record: reopening keeps every earlier record, skips the
        torn tail and appends after it in a new segment."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 2), make_events(2, 2)))
        disk.close()
        [segment] = disk.segment_files()
        torn = encode_record(make_events(4, 2))
        with segment.open("ab") as file:
            file.write(torn[: len(torn) // 2])
        reopened = _opened(tmp_path)
        assert len(torn) // 2 == reopened.skipped_bytes
        assert reopened.stored_events == 4
        reopened.append(_records(make_events(10, 1)))
        assert _read_all(reopened) == [0, 1, 2, 3, 10]
        reopened.close()

    def test_corrupt_checksum_in_the_last_record_is_skipped(self, tmp_path: Path) -> None:
        """A last record whose bytes do not match its checksum is skipped; earlier ones survive."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 2), make_events(2, 2)))
        disk.close()
        [segment] = disk.segment_files()
        data = bytearray(segment.read_bytes())
        data[-3] ^= 0xFF
        segment.write_bytes(bytes(data))
        assert _read_all(_opened(tmp_path)) == [0, 1]

    def test_torn_header_is_skipped(self, tmp_path: Path) -> None:
        """Even a few bytes of a header at the end are recognised as a torn record."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 1)))
        disk.close()
        [segment] = disk.segment_files()
        with segment.open("ab") as file:
            file.write(b"\x07\x00")
        assert _read_all(_opened(tmp_path)) == [0]

    def test_unreadable_pointer_replays_from_the_oldest_segment(self, tmp_path: Path) -> None:
        """A damaged pointer means duplicates, never loss."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 1), make_events(1, 1)))
        batch = disk.read(1, 1 << 20)
        assert batch is not None
        disk.complete(batch)
        disk.close()
        (tmp_path / POINTER_FILE).write_bytes(b"{not json")
        assert _read_all(_opened(tmp_path)) == [0, 1]

    def test_impossible_pointer_replays_from_the_oldest_segment(self, tmp_path: Path) -> None:
        """A pointer with a negative or non-integer position is treated as unreadable, never used."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 1), make_events(1, 1)))
        disk.close()
        for pointer in ({"segment": 1, "offset": -40}, {"segment": "1", "offset": 0}):
            (tmp_path / POINTER_FILE).write_bytes(orjson.dumps({"version": 1, **pointer}))
            reopened = _opened(tmp_path)
            [segment] = reopened.segment_files()[:1]
            assert (2, segment.stat().st_size) == (reopened.stored_events, reopened.stored_bytes)
            reopened.close()

    def test_record_that_is_not_a_batch_is_handed_out_as_bad_and_passed(self, tmp_path: Path) -> None:
        """A record with a valid checksum whose payload is no array of events comes back as a bad
        record (path, offset, payload, reason) beside the good events, and completing the batch
        moves past it like any other record."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 2)))
        payload = b'{"not": "a batch"}'
        head = struct.pack("<II", len(payload), 1)
        bad_record = head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload
        disk.append([(bad_record, 1), *_records(make_events(2, 2))])
        batch = disk.read(1000, 1 << 20)
        assert batch is not None
        [segment] = disk.segment_files()
        bad = [(b.path, b.offset, b.payload, b.reason) for b in batch.bad]
        offset = len(encode_record(make_events(0, 2)))
        reason = "payload is a JSON dict, not an array of events"
        assert ([0, 1, 2, 3], [(str(segment), offset, payload, reason)]) == (numbers(batch.events), bad)
        disk.complete(batch)
        assert (0, 0, None) == (disk.stored_events, disk.stored_bytes, disk.read(1000, 1 << 20))
        disk.close()
        assert [] == _read_all(_opened(tmp_path))

    def test_pointer_is_replaced_atomically(self, tmp_path: Path) -> None:
        """The pointer is written through a temp file that never remains, and names a record boundary."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 1), make_events(1, 1)))
        batch = disk.read(1, 1 << 20)
        assert batch is not None
        disk.complete(batch)
        assert not (tmp_path / (POINTER_FILE + ".tmp")).exists()
        pointer = orjson.loads((tmp_path / POINTER_FILE).read_bytes())
        [segment] = disk.segment_files()
        assert (int(segment.name.split(".")[0]), batch.nbytes) == (pointer["segment"], pointer["offset"])
        disk.close()

    def test_drop_oldest_discards_whole_oldest_segments_and_counts_events(self, tmp_path: Path) -> None:
        """drop_oldest frees space from the oldest unread data and reports the events dropped."""
        disk = _opened(tmp_path, segment_bytes=1)  # one record per segment
        for n in range(5):
            disk.append(_records(make_events(n * 2, 2)))
        size = disk.stored_bytes // 5
        dropped = disk.drop_oldest(size + 1)
        assert dropped == 4
        assert (disk.stored_events, len(disk.segment_files())) == (6, 3)
        assert _read_all(disk) == [4, 5, 6, 7, 8, 9]
        disk.close()

    def test_drop_oldest_can_drop_the_segment_being_written(self, tmp_path: Path) -> None:
        """When everything sits in the open segment it is sealed and dropped; appends continue."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 3)))
        assert disk.drop_oldest(1) == 3
        disk.append(_records(make_events(3, 1)))
        assert _read_all(disk) == [3]
        disk.close()
        assert _read_all(_opened(tmp_path)) == []

    def test_segment_files_are_private(self, tmp_path: Path) -> None:
        """Buffered events may hold sensitive data: segments are readable by the owner only."""
        disk = _opened(tmp_path)
        disk.append(_records(make_events(0, 1)))
        [segment] = disk.segment_files()
        assert os.stat(segment).st_mode & 0o777 == 0o600
        disk.close()


class TestMemoryBuffer:
    def test_pushed_back_items_go_before_newer_ones(self) -> None:
        """An item handed back after a failed write is queued ahead of later hand-overs."""
        from logflume.sinks.buffer import Item

        memory = MemoryBuffer(100, 1 << 20, 100)
        for seq in range(3):
            memory.append(Item(encode(make_events(seq, 1)), (seq,), 10, 0.0))
        taken = memory.take(1, 1 << 20)
        memory.append(Item(encode(make_events(3, 1)), (3,), 10, 0.0))
        memory.push_back(Item(taken[0].events, taken[0].seqs, 10, 0.0))
        memory.release(taken)
        assert [item.seqs for item in memory.items] == [(0,), (1,), (2,), (3,)]
        assert (memory.events, memory.nbytes, memory.reserved_items) == (4, 40, 0)
