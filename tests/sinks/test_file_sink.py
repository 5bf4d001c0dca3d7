"""The file sink: template, rotation by size, gzip of closed files, retention, modes."""

from __future__ import annotations

import errno
import glob
import gzip
import os
import time
from pathlib import Path

import orjson
import pytest

from logflume import digest
from logflume.errors import RetryableSinkError
from logflume.sinks.file.config import FileSinkConfig
from logflume.sinks.file.naming import Template
from logflume.sinks.file.sink import FileSink
from logflume.sinks.registry import SinkContext
from tests.sinks.ready import ready


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
        await ready(sink)
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
        await ready(sink)
        for start in range(0, 50, 5):
            await sink.write([{"i": start + k, "logflume": {"source": "proxy"}} for k in range(5)])
        await sink.close()
        names = sorted(p.name for p in (tmp_path / "proxy").iterdir())
        assert any(n.endswith(".gz") for n in names)
        assert sorted(e["i"] for e in read_all(tmp_path / "proxy")) == list(range(50))

    async def test_retention_by_count(self, tmp_path: Path) -> None:
        """Only max_files closed files are kept beside the active one."""
        sink = make(tmp_path, rotation={"max_size": 50}, retention={"max_files": 2})
        await ready(sink)
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
        """A rotated file a crash left uncompressed is compressed at the next start, and the
        half-written archive of its interrupted compression is deleted."""
        (tmp_path / "proxy").mkdir()
        leftover = tmp_path / "proxy" / "2026.jsonl.20261127T101010.000000001"
        leftover.write_bytes(b'{"i":1}\n')
        half = tmp_path / "proxy" / "2026.jsonl.20261127T101010.000000002.gz.tmp"
        half.write_bytes(b"\x1f\x8b")
        sink = make(tmp_path)
        await ready(sink)
        await sink.close()
        assert (False, False) == (leftover.exists(), half.exists())
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
        await ready(sink)
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
        await ready(sink)
        for start in range(0, 100, 20):
            await sink.write([request(i) for i in range(start, start + 20)])
        await sink.close()
        assert list((tmp_path / "proxy").glob("[!.]*.gz"))
        assert list((tmp_path / "proxy").glob(".*")) == []

    async def test_retention_deletes_the_digest_with_its_file(self, tmp_path: Path) -> None:
        """Retention removes a deleted file's digest too: no digest outlives its archive."""
        sink = make(tmp_path, rotation={"max_size": 3000}, retention={"max_files": 1}, digest_min_size=0)
        await ready(sink)
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
        await ready(sink)
        for start in range(0, 200, 20):
            await sink.write([request(i) for i in range(start, start + 20)])
        await sink.close()
        assert list((tmp_path / "proxy").glob("[!.]*.gz"))
        assert [p for p in (tmp_path / "proxy").iterdir() if digest.is_sidecar(p)] == []
        assert sorted(e["logflume"]["event_id"] for e in read_all(tmp_path / "proxy")) == sorted(
            f"e{i}" for i in range(200)
        )


class TestOwnFilesOnly:
    async def test_retention_never_deletes_a_neighbour_sinks_files(self, tmp_path: Path) -> None:
        """Sink A ({source}-%Y-%m-%d.jsonl, max_files 1) rotating beside sink B
        ({source}-errors-%Y-%m-%d.jsonl) in one directory deletes only its own rotated files:
        B's open file and B's rotated files keep every event."""
        directory = tmp_path / "out"
        a = FileSink(
            FileSinkConfig.model_validate(
                {
                    "name": "a",
                    "type": "file",
                    "path": str(directory / "{source}-%Y-%m-%d.jsonl"),
                    "rotation": {"max_size": 300},
                    "retention": {"max_files": 1},
                }
            ),
            SinkContext(tmp_path, "host"),
        )
        b = FileSink(
            FileSinkConfig.model_validate(
                {
                    "name": "b",
                    "type": "file",
                    "path": str(directory / "{source}-errors-%Y-%m-%d.jsonl"),
                    "rotation": {"max_size": 300},
                }
            ),
            SinkContext(tmp_path, "host"),
        )
        await ready(a)
        await ready(b)
        for i in range(0, 40, 2):
            await b.write([{"i": i, "pad": "b" * 100, "logflume": {"source": "proxy"}}])
            await a.write([{"i": i + 1, "pad": "a" * 100, "logflume": {"source": "proxy"}}])
        await a.close()
        await b.close()
        b_files = [p for p in directory.iterdir() if p.name.startswith("proxy-errors-")]
        b_events = []
        for path in b_files:
            opener = gzip.open if path.name.endswith(".gz") else open
            with opener(path, "rb") as handle:
                b_events.extend(orjson.loads(line)["i"] for line in handle)
        assert list(range(0, 40, 2)) == sorted(b_events)
        a_rotated = [p for p in directory.glob("proxy-*.gz") if not p.name.startswith("proxy-errors-")]
        assert 1 == len(a_rotated)

    async def test_torn_last_line_is_cut_when_the_file_is_reopened(self, tmp_path: Path) -> None:
        """A file a crash left ending in half a line is cut back to its last newline, both when the
        sink starts and when it appends, so readers never see the fragment and new lines stay whole."""
        year = time.strftime("%Y", time.gmtime())
        (tmp_path / "proxy").mkdir()
        path = tmp_path / "proxy" / f"{year}.jsonl"
        path.write_bytes(b'{"i": 0}\n{"i": 1}\n{"i": 2, "tor')
        sink = make(tmp_path, compression="none")
        await ready(sink)
        assert b'{"i": 0}\n{"i": 1}\n' == path.read_bytes()
        path.write_bytes(path.read_bytes() + b'{"i": 3, "tor')  # torn again while running
        sink2 = make(tmp_path, compression="none")
        await sink2.write(events(2))
        await sink2.close()
        assert [0, 1, 0, 1] == [orjson.loads(line)["i"] for line in path.read_bytes().splitlines()]
        await sink.close()


STAMP = ".20261127T101010.000000001"  # what rotation appends


class TestTemplate:
    @pytest.mark.parametrize(
        ("template", "source", "path", "owned"),
        [
            ("o/{source}-%Y-%m-%d.jsonl", "proxy", "o/proxy-2026-11-27.jsonl", True),
            ("o/{source}-%Y-%m-%d.jsonl", "proxy", f"o/proxy-2026-11-27.jsonl{STAMP}", True),
            ("o/{source}-%Y-%m-%d.jsonl", "proxy", f"o/proxy-2026-11-27.jsonl{STAMP}.gz", True),
            ("o/{source}-%Y-%m-%d.jsonl", "proxy", "o/proxy-errors-2026-11-27.jsonl", False),
            ("o/{source}-%Y-%m-%d.jsonl", "proxy", "o/proxy-2026-11-27.jsonl.gz.tmp", False),
            ("o/{source}-%Y-%m-%d.jsonl", "proxy", "o/proxy-2026-11-27.jsonl.bak", False),
            ("o/{source}-%Y-%m-%d.jsonl", "proxy", "o/other-2026-11-27.jsonl", False),
            ("o/{source}/%Y-%m-%d.jsonl", None, "o/audit/2026-11-27.jsonl", True),
            ("o/{source}/%Y-%m-%d.jsonl", None, "o/audit/sub/2026-11-27.jsonl", False),
            ("o/[x]{source}.%H%%.log", "a.b", "o/[x]a.b.07%.log", True),
            ("o/[x]{source}.%H%%.log", "a.b", "o/[x]aXb.07%.log", False),
        ],
    )
    def test_owns_exactly_what_the_template_makes(
        self, template: str, source: str | None, path: str, owned: bool
    ) -> None:
        """A path belongs to a template only if the template (plus rotation stamp and .gz) makes it."""
        assert owned == Template(template).owns(path, source)

    def test_rendered_paths_are_owned_and_listed(self, tmp_path: Path) -> None:
        """Whatever the template renders is matched by its own glob and recognised as its own."""
        template = Template(str(tmp_path / "[a]" / "{source}-%Y%m%dT%H-%j-%b.jsonl"))
        rendered = template.render("we[ir]d*", time.time())
        Path(rendered).parent.mkdir(parents=True)
        Path(rendered).write_bytes(b"")
        assert [rendered] == glob.glob(template.glob("we[ir]d*"))
        assert (True, True) == (template.owns(rendered, "we[ir]d*"), template.owns(rendered, None))


class TestFsyncFailure:
    async def test_sync_fails_for_good_after_one_failed_fsync(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """After one fsync fails (EIO), sync keeps failing even once fsync works, so no checkpoint
        passes data the kernel may have dropped; a restarted sink syncs normally. (A real EIO at
        fsync needs a failing block device; os.fsync is replaced here.)"""
        sink = make(tmp_path, compression="none")
        await sink.write(events(2))
        real_fsync = os.fsync

        def failing_fsync(fd: int) -> None:
            raise OSError(errno.EIO, "Input/output error")

        monkeypatch.setattr(os, "fsync", failing_fsync)
        with pytest.raises(RetryableSinkError, match=r"Input/output error \(EIO\)"):
            await sink.sync()
        monkeypatch.setattr(os, "fsync", real_fsync)
        await sink.write(events(1))
        with pytest.raises(RetryableSinkError, match="a restart writes it again"):
            await sink.sync()
        await sink.close()
        restarted = make(tmp_path, compression="none")
        await restarted.write(events(1))
        await restarted.sync()
        await restarted.close()
