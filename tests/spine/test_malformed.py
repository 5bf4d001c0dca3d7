"""Bad input goes to the dead-letter file with its reason; the daemon keeps running."""

from __future__ import annotations

from pathlib import Path

from logflume.generate import lines
from tests.daemonproc import Daemons, append_lines, read_jsonl, read_output, request_ids, write_config
from tests.waiting import wait_for


def test_malformed_lines_are_dead_lettered(tmp_path: Path, daemons: Daemons) -> None:
    """Invalid JSON, invalid UTF-8, a 5 MiB line, blank lines, NUL bytes and non-objects mixed
    into valid lines: every valid line delivered, every bad one dead-lettered with its reason."""
    config = write_config(tmp_path)
    good = list(lines(400, 3))
    bad = [
        (b'{"level": "INFO", "message": "unterminated\n', "invalid JSON"),
        (b'{"message": "caf\xe9 latin-1"}\n', "invalid UTF-8"),
        (b'{"a": 1}\x00{"b": 2}\n', "NUL byte"),
        (b"[1, 2, 3]\n", "not a JSON object"),
        (b'"just a string"\n', "not a JSON object"),
        (b'{"x": "' + b"y" * (5 * 1024 * 1024) + b'"}\n', "exceeds max_line_bytes"),
    ]
    data = b""
    for i, line in enumerate(good):
        data += line
        if i % 60 == 0 and i // 60 < len(bad):
            data += bad[i // 60][0]
        if i % 50 == 0:
            data += b"\n   \n"
    append_lines(tmp_path / "logs" / "app.log", data)
    proc = daemons.start(config)
    want = {f"req_3_{seq:010d}" for seq in range(400)}
    dead_path = tmp_path / "state" / "dead-letter.jsonl"
    wait_for(lambda: want <= set(request_ids(read_output(tmp_path / "out"))), 60, 0.3, "valid lines")
    wait_for(lambda: len(list(read_jsonl(dead_path))) >= len(bad), 30, 0.3, "dead letters")
    assert proc.alive()
    # still running: more valid lines still arrive
    append_lines(tmp_path / "logs" / "app.log", b"".join(lines(10, 4)))
    more = {f"req_4_{seq:010d}" for seq in range(10)}
    wait_for(lambda: more <= set(request_ids(read_output(tmp_path / "out"))), 30, 0.3, "later lines")
    assert proc.stop() == 0
    counts = request_ids(read_output(tmp_path / "out"))
    assert set(counts) == want | more
    assert max(counts.values()) == 1
    dead = list(read_jsonl(tmp_path / "state" / "dead-letter.jsonl"))
    assert len(dead) == len(bad)
    for (raw, reason), letter in zip(bad, dead, strict=True):
        assert reason in letter["reason"]
        assert set(letter) == {"time", "source", "file", "offset", "reason", "raw"}
        assert letter["source"] == "proxy"
        assert data[letter["offset"] : letter["offset"] + 10] == raw[:10]
    latin = dead[1]
    # Stored as text, so that redaction sees it (dead_letter.raw: keep stores base64 instead).
    assert "raw is lossy UTF-8 text" in latin["reason"]
    assert bad[1][0].rstrip(b"\n").decode("utf-8", "replace") == latin["raw"]
    assert len(dead[5]["raw"]) == 1024 * 1024
