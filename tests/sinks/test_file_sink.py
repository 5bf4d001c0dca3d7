"""The file sink: template, rotation by size, gzip of closed files, retention, modes."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path

import orjson
import pytest

from logflume import digest
from logflume.sinks.file.config import FileSinkConfig
from logflume.sinks.file.sink import FileSink
from logflume.sinks.registry import SinkContext


def make(tmp_path: Path, **extra: object) -> FileSink:
    config = FileSinkConfig.model_validate(
        {"name": "f", "type": "file", "path": str(tmp_path / "{source}" / "%Y.jsonl"), **extra}
    )
    return FileSink(config, SinkContext(tmp_path, "host"))


def events(n: int, source: str = "proxy") -> list[dict[str, object]]:
    return [{"i": i, "logflume": {"source": source, "event_id": f"e{i}"}} for i in range(n)]


def read_all(directory: Path) -> list[dict[str, object]]:
    out = []
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not digest.is_sidecar(path):
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as handle:
                out.extend(orjson.loads(line) for line in handle)
    return out


class TestFileSink:
    async def test_template_and_mode(self, tmp_path: Path) -> None:
        """Events land under {source} and the strftime path, one JSON line each, mode 0640."""
        sink = make(tmp_path)
        await sink.open()
        await sink.write(events(3) + events(2, "audit"))
        await sink.close()
        year = time.strftime("%Y", time.gmtime())
        proxy = tmp_path / "proxy" / f"{year}.jsonl"
        assert [e["i"] for e in read_all(tmp_path / "proxy")] == [0, 1, 2]
        assert [e["i"] for e in read_all(tmp_path / "audit")] == [0, 1]
        assert os.stat(proxy).st_mode & 0o777 == 0o640

    async def test_size_rotation_compresses_closed_files(self, tmp_path: Path) -> None:
        """Past max_size the file is rotated and gzipped; nothing is lost or doubled."""
        sink = make(tmp_path, rotation={"max_size": 200})
        await sink.open()
        for start in range(0, 50, 5):
            await sink.write([{"i": start + k, "logflume": {"source": "proxy"}} for k in range(5)])
        await sink.close()
        names = sorted(p.name for p in (tmp_path / "proxy").iterdir())
        assert any(n.endswith(".gz") for n in names)
        assert sorted(e["i"] for e in read_all(tmp_path / "proxy")) == list(range(50))

    async def test_retention_by_count(self, tmp_path: Path) -> None:
        """Only max_files closed files are kept beside the active one."""
        sink = make(tmp_path, rotation={"max_size": 50}, retention={"max_files": 2})
        await sink.open()
        for i in range(10):
            await sink.write([{"i": i, "pad": "x" * 60, "logflume": {"source": "proxy"}}])
        await sink.close()
        closed = [p for p in (tmp_path / "proxy").iterdir() if p.name.endswith(".gz")]
        assert len(closed) == 2

    async def test_unwritable_path_is_retryable(self, tmp_path: Path) -> None:
        """A path that cannot be created raises a retryable error naming it."""
        import pytest

        from logflume.errors import RetryableSinkError

        (tmp_path / "proxy").write_text("a file, not a directory")
        sink = make(tmp_path)
        with pytest.raises(RetryableSinkError, match="cannot write"):
            await sink.write(events(1))

    async def test_leftover_rotated_file_is_compressed_on_open(self, tmp_path: Path) -> None:
        """A rotated file a crash left uncompressed is compressed at the next start."""
        (tmp_path / "proxy").mkdir()
        leftover = tmp_path / "proxy" / "2026.jsonl.20261127T101010.000000001"
        leftover.write_bytes(b'{"i":1}\n')
        sink = make(tmp_path)
        await sink.open()
        await sink.close()
        assert not leftover.exists()
        assert read_all(tmp_path / "proxy") == [{"i": 1}]


def request(i: int) -> dict[str, object]:
    return {
        "timestamp": f"2024-01-15T10:00:{i % 60:02d}Z",
        "level": "ERROR" if i % 10 == 0 else "INFO",
        "message": "Provider timeout" if i % 10 == 0 else "ok",
        "provider": "openai",
        "response_time_ms": float(i),
        "logflume": {"source": "proxy", "event_id": f"e{i}"},
    }


class TestDigests:
    async def test_closed_files_get_a_matching_digest(self, tmp_path: Path) -> None:
        """Each compressed file gets a digest whose rows are the file's events, found by its trailer."""
        import duckdb

        sink = make(tmp_path, rotation={"max_size": 4000}, digest_min_size=0)
        await sink.open()
        for start in range(0, 200, 20):
            await sink.write([request(i) for i in range(start, start + 20)])
        await sink.close()
        archives = sorted((tmp_path / "proxy").glob("[!.]*.gz"))
        assert len(archives) >= 2
        total = 0
        for archive in archives:
            found = digest.find(archive)
            assert found is not None
            lines = gzip.decompress(archive.read_bytes()).splitlines()
            expected = sorted(orjson.loads(line)["response_time_ms"] for line in lines)
            rows = duckdb.sql(f"SELECT rt, is_error FROM read_parquet('{found}') ORDER BY rt").fetchall()
            assert [rt for rt, _ in rows] == expected
            assert [is_error for rt, is_error in rows] == [rt % 10 == 0 for rt in expected]
            total += len(rows)
        active = [p for p in (tmp_path / "proxy").iterdir() if p.suffix == ".jsonl"]
        in_active = sum(len(p.read_bytes().splitlines()) for p in active)
        assert total + in_active == 200

    async def test_small_files_get_none(self, tmp_path: Path) -> None:
        """Files under digest_min_size are compressed without a digest."""
        sink = make(tmp_path, rotation={"max_size": 4000})
        await sink.open()
        for start in range(0, 100, 20):
            await sink.write([request(i) for i in range(start, start + 20)])
        await sink.close()
        assert list((tmp_path / "proxy").glob("[!.]*.gz"))
        assert list((tmp_path / "proxy").glob(".*")) == []

    async def test_retention_deletes_the_digest_with_its_file(self, tmp_path: Path) -> None:
        """Retention removes a deleted file's digest too: no digest outlives its archive."""
        sink = make(tmp_path, rotation={"max_size": 3000}, retention={"max_files": 1}, digest_min_size=0)
        await sink.open()
        for start in range(0, 200, 20):
            await sink.write([request(i) for i in range(start, start + 20)])
        await sink.close()
        archives = list((tmp_path / "proxy").glob("[!.]*.gz"))
        sidecars = [p for p in (tmp_path / "proxy").iterdir() if digest.is_sidecar(p)]
        assert len(archives) == 1
        assert sidecars == [digest.find(archives[0])]

    async def test_failing_digest_still_compresses(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When the digest process cannot run, the file is compressed anyway and nothing is lost."""
        monkeypatch.setattr(digest.sys, "executable", str(tmp_path / "no-such-python"))
        sink = make(tmp_path, rotation={"max_size": 3000}, digest_min_size=0)
        await sink.open()
        for start in range(0, 200, 20):
            await sink.write([request(i) for i in range(start, start + 20)])
        await sink.close()
        assert list((tmp_path / "proxy").glob("[!.]*.gz"))
        assert [p for p in (tmp_path / "proxy").iterdir() if digest.is_sidecar(p)] == []
        assert sorted(e["logflume"]["event_id"] for e in read_all(tmp_path / "proxy")) == sorted(
            f"e{i}" for i in range(200)
        )
