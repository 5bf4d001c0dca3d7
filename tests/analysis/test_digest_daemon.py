"""The daemon itself writes digests as its file sink closes files, and analyze answers from them."""

from __future__ import annotations

from pathlib import Path

import pytest

from logflume import digest
from logflume.generate import lines
from tests.analysis.checks import analyze_json, assert_report
from tests.daemonproc import Daemons, append_lines, read_output, request_ids, write_config
from tests.waiting import wait_for


def test_daemon_output_is_analysed_from_its_digests(
    tmp_path: Path, daemons: Daemons, capsys: pytest.CaptureFixture[str]
) -> None:
    """20k lines through `logflume run` with 1 MB rotation: every closed file has its digest, and
    analyze gives the same report from the digests as from decoding every archive."""
    config = write_config(
        tmp_path, sink={"rotation": {"max_size": "1MB"}, "digest_min_size": 0, "compression_level": 1}
    )
    append_lines(tmp_path / "logs" / "app.log", b"".join(lines(20_000, 5)))
    proc = daemons.start(config)
    wait_for(lambda: len(request_ids(read_output(tmp_path / "out"))) >= 20_000, 120, 0.5, "all lines")
    assert proc.stop() == 0
    out = tmp_path / "out" / "proxy"
    archives = sorted(path for path in out.glob("[!.]*.gz"))
    assert len(archives) >= 3
    assert all(digest.find(archive) is not None for archive in archives)
    from_digests = analyze_json(capsys, "--by", "provider", str(out))
    decoded = analyze_json(capsys, "--no-digest", "--by", "provider", str(out))
    assert (from_digests["digests"], decoded["digests"]) == (len(archives), 0)
    assert from_digests["total_events"] >= 20_000
    assert_report({k: v for k, v in decoded.items() if k != "digests"}, from_digests)
