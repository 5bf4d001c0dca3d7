"""A running daemon whose output directory or state_dir fills up for real (a small tmpfs), then frees:
it stays alive, backs up instead of losing, says so once, and resumes with no torn or repeated line."""

from __future__ import annotations

from pathlib import Path

import orjson

from logflume.generate import lines
from tests.daemonproc import (
    Daemons,
    append_lines,
    read_jsonl,
    read_output,
    request_ids,
    write_config,
)
from tests.faults.disks import Mount, fill, free
from tests.faults.helpers import assert_whole_lines, checkpoint_offset, delivered, ids, port_of, records
from tests.ops.helpers import metric
from tests.waiting import wait_for

FAST_RETRY = {"initial_backoff": "50ms", "max_backoff": "500ms"}


def test_full_output_directory_backs_up_and_resumes_without_torn_or_repeated_lines(
    tmp_path: Path, daemons: Daemons, small_disk: Mount
) -> None:
    """The file sink's directory fills mid-run: one warning naming the file and ENOSPC, failures
    counted, the checkpoint stays within what was written, the daemon stays up; once the filler
    is deleted every line arrives exactly once and no file holds half a line."""
    small_disk(tmp_path / "out", 4 * 1024 * 1024)
    config = write_config(tmp_path, sink={"retry": FAST_RETRY, "compression": "none"})
    port = port_of(config)
    log_file = tmp_path / "logs" / "app.log"
    append_lines(log_file, b"".join(lines(1000, 21)))
    proc = daemons.start(config)
    wait_for(lambda: ids(21, 1000) <= delivered(tmp_path), 60, 0.2, "the first lines")

    filler = fill(tmp_path / "out")
    append_lines(log_file, b"".join(lines(3000, 22)))
    wait_for(lambda: (metric(port, "logflume_sink_write_errors_total", sink="local") or 0) >= 3, 60, 0.2,
             "repeated failed writes")
    assert proc.alive()
    warnings = records(proc, "Sink write failed", sink="local")
    assert 1 == len(warnings)
    assert "No space left on device (ENOSPC)" in warnings[0]["error"]
    assert str(tmp_path / "out" / "proxy") in warnings[0]["error"]
    assert_whole_lines(tmp_path / "out")
    # Every line the checkpoint covers is in the output: it never passes what was written.
    covered = log_file.read_bytes()[: checkpoint_offset(tmp_path)].splitlines()
    assert {orjson.loads(line)["request_id"] for line in covered} <= delivered(tmp_path)
    assert checkpoint_offset(tmp_path) < log_file.stat().st_size

    free(filler)
    wait_for(lambda: ids(21, 1000) | ids(22, 3000) <= delivered(tmp_path), 60, 0.2, "every line")
    assert 0 == proc.stop()
    counts = request_ids(read_output(tmp_path / "out"))
    assert (ids(21, 1000) | ids(22, 3000), 1) == (set(counts), max(counts.values()))
    assert_whole_lines(tmp_path / "out")
    assert 1 == len(records(proc, "Sink recovered", sink="local"))


def bad_line(n: int) -> bytes:
    return b'{"broken": "bad-%06d ' % n + b"z" * 300 + b"\n"


def test_full_state_dir_backs_up_and_loses_no_event_nor_dead_letter(
    tmp_path: Path, daemons: Daemons, small_disk: Mount
) -> None:
    """state_dir fills mid-run: checkpoint saves fail (logged once, counted) while delivery goes
    on; then dead letters are refused, so the pipeline holds the batch and waits instead of dying;
    once space returns every event and every dead letter is written exactly once and the
    checkpoint catches up."""
    small_disk(tmp_path / "state", 1024 * 1024)
    config = write_config(tmp_path)
    port = port_of(config)
    log_file = tmp_path / "logs" / "app.log"
    dead_file = tmp_path / "state" / "dead-letter.jsonl"
    append_lines(log_file, b"".join(lines(500, 31)) + b"".join(bad_line(n) for n in range(5)))
    proc = daemons.start(config)
    wait_for(lambda: ids(31, 500) <= delivered(tmp_path), 60, 0.2, "the first lines")
    wait_for(lambda: len(list(read_jsonl(dead_file))) == 5, 60, 0.2, "the first dead letters")
    wait_for(lambda: checkpoint_offset(tmp_path) == log_file.stat().st_size, 60, 0.2, "a checkpoint")

    filler = fill(tmp_path / "state")
    # Valid lines only: delivered, though no checkpoint can be saved.
    append_lines(log_file, b"".join(lines(1000, 32)))
    wait_for(lambda: ids(32, 1000) <= delivered(tmp_path), 60, 0.2, "lines while checkpoints fail")
    checkpoint_errors = {"kind": "checkpoint", "component": "proxy"}
    wait_for(lambda: (metric(port, "logflume_state_write_errors_total", **checkpoint_errors) or 0) >= 2, 60,
             0.2, "repeated failed checkpoint saves")
    assert 1.0 == metric(port, "logflume_state_write_failing", **checkpoint_errors)
    saved_before = checkpoint_offset(tmp_path)
    # Now a bad line first, and many: the dead-letter file must grow, and cannot.
    append_lines(log_file, b"".join(bad_line(n) + next(iter(lines(1, 1000 + n))) for n in range(5, 65))
                 + b"".join(lines(1000, 33)))
    dead_errors = {"kind": "dead_letter", "component": ""}
    wait_for(lambda: (metric(port, "logflume_state_write_errors_total", **dead_errors) or 0) >= 2, 60, 0.2,
             "repeated failed dead-letter writes")
    assert (metric(port, "logflume_dead_letters_held") or 0) > 0
    assert proc.alive()
    # The batch holding the refused dead letters, and everything read after it, waits.
    assert not ids(33, 1000) & delivered(tmp_path)
    assert saved_before == checkpoint_offset(tmp_path)
    refused = records(proc, "Cannot write state; holding it and retrying")
    expected = [("checkpoints", "ENOSPC"), ("dead letters", "ENOSPC")]
    assert expected == [(r["what"], r["errno"]) for r in refused]

    free(filler)
    wait_for(lambda: ids(33, 1000) <= delivered(tmp_path), 60, 0.2, "the lines held back")
    wait_for(lambda: checkpoint_offset(tmp_path) == log_file.stat().st_size, 60, 0.2, "the checkpoint")
    assert 0.0 == metric(port, "logflume_state_write_failing", **dead_errors)
    assert 0 == proc.stop()
    counts = request_ids(read_output(tmp_path / "out"))
    assert 1 == max(counts.values())
    interleaved = {f"req_{1000 + n}_{0:010d}" for n in range(5, 65)}
    assert ids(31, 500) | ids(32, 1000) | ids(33, 1000) | interleaved == set(counts)
    assert dead_file.read_bytes().endswith(b"\n")
    letters = [letter["raw"][12:22] for letter in read_jsonl(dead_file)]
    assert [f"bad-{n:06d}" for n in range(65)] == letters
    assert 2 == len(records(proc, "State written again"))
