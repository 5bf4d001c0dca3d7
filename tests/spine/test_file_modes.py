"""Every file a daemon run leaves behind has the permissions it should, whatever the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from logflume import digest
from logflume.generate import lines
from tests.daemonproc import Daemons, append_lines, read_output, request_ids, write_config
from tests.waiting import wait_for

FILE_MODE = 0o600  # not the default (0640): the sink's setting, not a default, must show


def regular_files(root: Path) -> dict[str, int]:
    return {
        str(path.relative_to(root)): stat.S_IMODE(path.stat().st_mode)
        for path in root.rglob("*")
        if path.is_file()
    }


def test_every_file_written_has_its_mode(tmp_path: Path, daemons: Daemons) -> None:
    """Under umask 000, a run that rotates, compresses and digests output, dead-letters a line and
    saves checkpoints and detector state leaves output files (logs, archives, digests) with the
    sink's file_mode and state files readable by no one but the owner and group."""
    config = write_config(
        tmp_path,
        sink={
            "file_mode": FILE_MODE,
            "rotation": {"max_size": "300KB"},
            "digest_min_size": 0,
            "compression_level": 1,
            "buffer": {"type": "disk"},
        },
        pipeline={
            "anomaly": {"rules": [{"name": "errors", "condition": 'level == "ERROR"', "threshold": 5}]}
        },
    )
    append_lines(tmp_path / "logs" / "app.log", b"".join(lines(3_000, 6)) + b'{"broken": \n')
    previous = os.umask(0)  # a permissive umask (some containers run with one): modes must be explicit
    try:
        proc = daemons.start(config)
    finally:
        os.umask(previous)
    wait_for(lambda: len(request_ids(read_output(tmp_path / "out"))) >= 3_000, 120, 0.3, "every line")
    wait_for(lambda: (tmp_path / "state" / "dead-letter.jsonl").exists(), 60, 0.1, "the dead letter")
    assert proc.stop() == 0
    output = regular_files(tmp_path / "out")
    state = regular_files(tmp_path / "state")
    digests = [name for name in output if digest.is_sidecar(Path(name))]
    archives = [name for name in output if name.endswith(".gz")]
    assert (True, True) == (len(archives) >= 2, len(digests) >= 2), output
    assert {name: FILE_MODE for name in output} == output
    # Owner read/write, group read at most: nothing for others, nothing executable.
    assert {name: mode for name, mode in state.items() if mode & ~0o640} == {}
    assert {"dead-letter.jsonl", "checkpoints/proxy.json", "anomaly-state.json"} <= set(state)
