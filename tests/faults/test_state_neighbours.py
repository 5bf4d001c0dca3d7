"""State the daemon finds and neighbours it meets: impossible checkpoints, damaged disk-buffer
records, torn lines a crash left, unreadable log files, and a second daemon on the same state_dir."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import orjson

from logflume.generate import lines
from logflume.sinks.disk_buffer import encode_record
from tests.daemonproc import (
    DaemonProcess,
    Daemons,
    append_lines,
    read_jsonl,
    read_output,
    request_ids,
    write_config,
)
from tests.faults.helpers import (
    assert_whole_lines,
    delivered,
    ids,
    port_of,
    records,
)
from tests.faults.procs import UnprivilegedDaemon, require_setpriv
from tests.ops.helpers import log_records, metric
from tests.waiting import wait_for


def started(proc: DaemonProcess) -> bool:
    return any(r["message"] == "Daemon started" for r in log_records(proc))


class TestImpossibleCheckpoint:
    def test_negative_offset_refuses_start_with_exit_2_naming_the_file(
        self, tmp_path: Path, daemons: Daemons
    ) -> None:
        """A checkpoint with a negative offset stops the start at once (exit 2, the file and the
        entry named in one log line), reads nothing and never retries in a loop."""
        config = write_config(tmp_path)
        append_lines(tmp_path / "logs" / "app.log", b"".join(lines(20, 51)))
        checkpoint = tmp_path / "state" / "checkpoints" / "proxy.json"
        checkpoint.parent.mkdir(parents=True)
        entry = {"path": str(tmp_path / "logs" / "app.log"), "dev": 1, "ino": 2, "offset": -5, "updated": 1.0}
        checkpoint.write_bytes(orjson.dumps({"version": 1, "files": {"0123456789abcdef": entry}}))
        proc = daemons.start(config)
        assert proc.proc is not None
        assert 2 == proc.proc.wait(60)
        refusals = records(proc, "Cannot start")
        assert 1 == len(refusals)
        assert f"impossible checkpoint file {checkpoint}" in refusals[0]["error"]
        assert "files.0123456789abcdef.offset must be a non-negative integer, not -5" in refusals[0]["error"]
        assert set() == delivered(tmp_path)
        complaints = [r["message"] for r in log_records(proc) if r["level"] in ("WARNING", "ERROR")]
        assert ["Cannot start"] == complaints


def raw_record(payload: bytes, count: int) -> bytes:
    """A disk-buffer record with a valid checksum around any payload."""
    head = struct.pack("<II", len(payload), count)
    return head + struct.pack("<I", zlib.crc32(payload, zlib.crc32(head))) + payload


def buffered(start: int, count: int) -> list[dict[str, object]]:
    return [
        {"request_id": f"buf-{i}", "logflume": {"source": "proxy", "event_id": f"b-{i}"}}
        for i in range(start, start + count)
    ]


class TestDiskBufferRecord:
    def test_record_that_is_not_a_batch_is_dead_lettered_and_replay_goes_on(
        self, tmp_path: Path, daemons: Daemons
    ) -> None:
        """Records with valid checksums whose payloads are an object, not JSON, or an array of
        numbers go to the dead-letter file with the reason; the records around them are delivered,
        the buffer empties and new input flows."""
        config = write_config(tmp_path, sink={"buffer": {"type": "disk"}})
        port = port_of(config)
        segment = tmp_path / "state" / "buffers" / "local" / "00000000000000000001.seg"
        segment.parent.mkdir(parents=True)
        segment.write_bytes(
            encode_record(buffered(0, 5))
            + raw_record(b'{"not": "a batch"}', 1)
            + raw_record(b"\xff\xfe not json", 3)
            + raw_record(b"[1, 2, 3]", 3)
            + encode_record(buffered(5, 5))
        )
        proc = daemons.start(config)
        want = {f"buf-{i}" for i in range(10)}
        wait_for(lambda: want <= delivered(tmp_path), 60, 0.2, "the good records")
        dead_file = tmp_path / "state" / "dead-letter.jsonl"
        wait_for(lambda: len(list(read_jsonl(dead_file))) == 3, 60, 0.2, "the bad records dead-lettered")
        disk = {"sink": "local", "medium": "disk"}
        wait_for(lambda: 0 == metric(port, "logflume_sink_buffer_events", **disk), 60, 0.2, "an empty buffer")
        append_lines(tmp_path / "logs" / "app.log", b"".join(lines(20, 52)))
        wait_for(lambda: ids(52, 20) <= delivered(tmp_path), 60, 0.2, "new input")
        assert 0 == proc.stop()
        letters = list(read_jsonl(dead_file))
        assert [str(segment)] * 3 == [letter["file"] for letter in letters]
        expected = [
            "sink local: disk buffer record: payload is a JSON dict, not an array of events",
            "sink local: disk buffer record: payload is not JSON: ",
            "sink local: disk buffer record: payload holds something other than event objects",
        ]
        reasons = [letter["reason"] for letter in letters]
        assert expected == [reason[: len(want)] for reason, want in zip(reasons, expected, strict=True)]
        assert '{"not": "a batch"}' == letters[0]["raw"]
        assert 1 == max(request_ids(read_output(tmp_path / "out")).values())


class TestTornLines:
    def test_fragments_a_crash_left_are_cut_at_restart(self, tmp_path: Path, daemons: Daemons) -> None:
        """Half a line at the end of the output file and of the dead-letter file (as a power loss
        leaves them) is cut off when the daemon starts again; what follows is whole lines."""
        config = write_config(tmp_path, sink={"compression": "none"})
        log_file = tmp_path / "logs" / "app.log"
        append_lines(log_file, b"".join(lines(100, 53)) + b'{"broken\n')
        proc = daemons.start(config)
        wait_for(lambda: ids(53, 100) <= delivered(tmp_path), 60, 0.2, "the first lines")
        dead_file = tmp_path / "state" / "dead-letter.jsonl"
        wait_for(lambda: len(list(read_jsonl(dead_file))) == 1, 60, 0.2, "the dead letter")
        assert 0 == proc.stop()
        (output,) = (tmp_path / "out" / "proxy").glob("*.jsonl")
        append_lines(output, b'{"request_id": "req_torn", "lev')
        append_lines(dead_file, b'{"time": "2026-')
        proc = daemons.start(config)
        append_lines(log_file, b"".join(lines(100, 54)) + b"not json either\n")
        wait_for(lambda: ids(54, 100) <= delivered(tmp_path), 60, 0.2, "lines after the restart")
        wait_for(lambda: len(list(read_jsonl(dead_file))) >= 2, 60, 0.2, "the second dead letter")
        assert 0 == proc.stop()
        assert_whole_lines(tmp_path / "out")
        assert dead_file.read_bytes().endswith(b"\n")
        assert ["{\"broken", "not json either"] == [letter["raw"] for letter in read_jsonl(dead_file)]
        repaired = records(proc, "Removed a torn last line; its input is read again from the checkpoint")
        assert sorted([str(output), str(dead_file)]) == sorted(r["path"] for r in repaired)


class TestUnreadableFile:
    def test_unreadable_file_is_reported_once_retried_and_read_once_readable(
        self, tmp_path: Path, daemons: Daemons
    ) -> None:
        """A matching file without read permission (daemon without root's override) is logged once
        with path and EACCES, counted at every scan, and read in full once its mode allows it."""
        require_setpriv()
        config = write_config(tmp_path)
        port = port_of(config)
        append_lines(tmp_path / "logs" / "app.log", b"".join(lines(50, 55)))
        locked = tmp_path / "logs" / "locked.log"
        append_lines(locked, b"".join(lines(50, 56)))
        locked.chmod(0)
        proc = UnprivilegedDaemon(config).start()
        daemons.started.append(proc)
        wait_for(lambda: ids(55, 50) <= delivered(tmp_path), 60, 0.2, "the readable file")
        def failed_scans() -> float:
            return metric(port, "logflume_source_open_errors_total", source="proxy") or 0

        wait_for(lambda: failed_scans() >= 3, 60, 0.2, "several scans failing to read")
        assert 1.0 == metric(port, "logflume_source_files_unreadable", source="proxy")
        reports = records(proc, "Cannot read file; will retry at every scan")
        assert [(str(locked), "EACCES")] == [(r["path"], r["errno"]) for r in reports]
        assert not ids(56, 50) & delivered(tmp_path)

        locked.chmod(0o644)
        wait_for(lambda: ids(56, 50) <= delivered(tmp_path), 60, 0.2, "the file once readable")
        assert 0.0 == metric(port, "logflume_source_files_unreadable", source="proxy")
        assert [str(locked)] == [r["path"] for r in records(proc, "File can be read again")]
        assert 0 == proc.stop()
        assert 1 == max(request_ids(read_output(tmp_path / "out")).values())


class TestStateDirLock:
    def test_second_daemon_on_one_state_dir_refuses_to_start(self, tmp_path: Path, daemons: Daemons) -> None:
        """With the same config a second daemon exits non-zero naming the first one's pid, before
        touching anything; validate and check still work; once the first dies (even by kill -9)
        the lock is free."""
        config = write_config(tmp_path)
        first = daemons.start(config)
        wait_for(lambda: started(first), 60, 0.2, "the first daemon")
        twin = tmp_path / "twin" / "logflume.yaml"
        twin.parent.mkdir()
        shutil.copy(config, twin)
        second = daemons.start(twin)
        assert second.proc is not None
        assert 1 == second.proc.wait(60)
        (refusal,) = records(second, "Cannot start")
        lock = tmp_path / "state" / "lock"
        expected = f"state_dir {lock.parent} is in use by another logflume daemon (pid {first.pid})"
        assert refusal["error"].startswith(expected)
        assert first.alive()
        append_lines(tmp_path / "logs" / "app.log", b"".join(lines(20, 57)))
        wait_for(lambda: ids(57, 20) <= delivered(tmp_path), 60, 0.2, "the first daemon still working")
        for command in ("validate", "check"):
            argv = [sys.executable, "-m", "logflume", command, "-c", str(config)]
            result = subprocess.run(argv, capture_output=True, check=False)
            assert (command, 0) == (command, result.returncode), result.stdout + result.stderr
        first.kill9()
        third = daemons.start(twin)
        wait_for(lambda: started(third), 60, 0.2, "a daemon after the first was killed")
        assert f"{third.pid}\n" == lock.read_text()
        assert 0 == third.stop()
        assert os.path.exists(lock)
