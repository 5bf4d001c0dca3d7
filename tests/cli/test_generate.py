"""``logflume generate``: asks where to write, never appends by surprise, and writes logs of now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import orjson
import pytest

from logflume.cli import main


def timestamps(path: Path) -> list[datetime]:
    return [
        datetime.fromisoformat(orjson.loads(line)["timestamp"]) for line in path.read_bytes().splitlines()
    ]


class TestGenerate:
    def test_without_out_writes_nothing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """`logflume generate` alone is a usage error (exit 2 naming --out) and creates nothing."""
        monkeypatch.chdir(tmp_path)
        with pytest.raises(SystemExit) as exit_info:
            main(["generate"])
        assert 2 == exit_info.value.code
        assert "--out" in capsys.readouterr().err
        assert [] == list(tmp_path.iterdir())

    def test_timestamps_end_now(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """The last line is stamped with the time of the run, the others 20 ms apart before it."""
        before = datetime.now(UTC).replace(microsecond=0)
        assert 0 == main(["generate", "--out", str(tmp_path), "--lines", "1000", "--rotate-every", "0"])
        after = datetime.now(UTC)
        stamps = timestamps(tmp_path / "llm_proxy.log")
        assert 1000 == len(stamps)
        assert before <= stamps[-1] <= after
        assert {timedelta(milliseconds=20)} == {b - a for a, b in pairwise(stamps)}
        assert f"wrote 1000 lines to {tmp_path / 'llm_proxy.log'}" in capsys.readouterr().out

    def test_readme_since_example_finds_them(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """README's `analyze --since 1h` over freshly generated logs counts every request."""
        assert 0 == main(["generate", "--out", str(tmp_path), "--lines", "3000", "--rotate-every", "1000"])
        capsys.readouterr()
        assert 0 == main(["analyze", "--since", "1h", "--format", "json", str(tmp_path)])
        assert 3000 == json.loads(capsys.readouterr().out)["total_requests"]

    def test_end_places_the_last_line(self, tmp_path: Path) -> None:
        """--end stamps the last line exactly; the same seed writes the same lines."""
        argv = ["generate", "--lines", "50", "--end", "2024-01-15T10:00:00Z", "--seed", "7"]
        assert 0 == main([*argv, "--out", str(tmp_path / "a")])
        assert 0 == main([*argv, "--out", str(tmp_path / "b")])
        assert datetime(2024, 1, 15, 10, tzinfo=UTC) == timestamps(tmp_path / "a" / "llm_proxy.log")[-1]
        assert (tmp_path / "a" / "llm_proxy.log").read_bytes() == (
            tmp_path / "b" / "llm_proxy.log"
        ).read_bytes()

    def test_rate_spaces_timestamps_like_a_live_service(self, tmp_path: Path) -> None:
        """With --rate R, lines are 1/R s apart, so their times follow the writing."""
        assert 0 == main(["generate", "--out", str(tmp_path), "--lines", "400", "--rate", "500"])
        stamps = timestamps(tmp_path / "llm_proxy.log")
        assert {timedelta(milliseconds=2)} == {b - a for a, b in pairwise(stamps)}

    def test_refuses_to_append_unless_asked(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An existing log is left alone (exit 1, saying --append); with --append lines are added."""
        assert 0 == main(["generate", "--out", str(tmp_path), "--lines", "100"])
        log = tmp_path / "llm_proxy.log"
        original = log.read_bytes()
        capsys.readouterr()
        assert 1 == main(["generate", "--out", str(tmp_path), "--lines", "100"])
        assert "pass --append" in capsys.readouterr().err
        assert original == log.read_bytes()
        assert 0 == main(["generate", "--out", str(tmp_path), "--lines", "100", "--append"])
        assert 200 == len(log.read_bytes().splitlines())
