"""Analysis digests: ``analyze`` reads them instead of decoding archives, with the same answers."""

from __future__ import annotations

import gzip
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from logflume import digest
from logflume.analysis.inputs import local_paths
from logflume.errors import AnalysisError
from tests.analysis import corpus
from tests.analysis.checks import analyze_json, assert_report, run
from tests.analysis.conftest import Corpus


def _objects(data: bytes) -> list[dict[str, Any]]:
    """The JSON objects among ``data``'s lines (the corpus mixes junk in)."""
    out = []
    for line in data.splitlines():
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            out.append(value)
    return out


@pytest.fixture
def digested(analysis_corpus: Corpus, tmp_path: Path) -> Path:
    """A copy of the file-sink corpus with a digest beside every compressed file."""
    directory = tmp_path / "sink"
    shutil.copytree(analysis_corpus.sink_dir, directory)
    for archive in sorted(directory.glob("proxy.*.gz")):
        fingerprint = digest.Fingerprint.of_gzip(archive)
        assert fingerprint is not None
        digest.build_in_child(archive, archive, fingerprint)
    return directory


class TestDigestAnswers:
    def test_same_statistics_as_decoding(
        self, analysis_corpus: Corpus, digested: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """With digests, analyze reads them for every archive and gives the exact statistics."""
        actual = analyze_json(capsys, str(digested))
        assert_report(corpus.expected(analysis_corpus.records), actual)
        assert (actual["files"], actual["digests"]) == (5, 4)

    def test_groups_and_window_from_digests(
        self, analysis_corpus: Corpus, digested: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Groups and a time window come out of digests exactly as from the lines."""
        since = datetime(2024, 1, 15, 7, 0, tzinfo=UTC)
        until = datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
        for by in ("provider", "level"):
            actual = analyze_json(
                capsys, "--by", by, "--since", since.isoformat(), "--until", until.isoformat(), str(digested)
            )
            assert actual["digests"] == 4
            assert_report(corpus.expected(analysis_corpus.records, since, until, by=by), actual)

    def test_no_digest_flag_decodes(self, digested: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """--no-digest decodes every archive and agrees with the digest-read report."""
        with_digests = analyze_json(capsys, "--by", "model", str(digested))
        decoded = analyze_json(capsys, "--no-digest", "--by", "model", str(digested))
        assert decoded["digests"] == 0
        assert_report({k: v for k, v in decoded.items() if k != "digests"}, with_digests)


class TestDigestTrust:
    def test_rewritten_archive_is_decoded(self, digested: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """An archive rewritten after its digest was made is decoded, not answered from the digest."""
        archive = sorted(digested.glob("proxy.*.gz"))[0]
        kept = gzip.decompress(archive.read_bytes()).splitlines()[: 100]
        archive.write_bytes(gzip.compress(b"\n".join(kept) + b"\n"))
        assert digest.find(archive) is None
        records = [
            record
            for path in sorted(digested.iterdir())
            if not digest.is_sidecar(path)
            for record in _objects(
                gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            )
        ]
        actual = analyze_json(capsys, str(digested))
        assert actual["digests"] == 3
        assert_report(corpus.expected(records), actual)

    def test_digest_of_another_version_is_ignored(self, digested: Path) -> None:
        """A digest whose name carries another format version does not match its archive."""
        archive = sorted(digested.glob("proxy.*.gz"))[0]
        found = digest.find(archive)
        assert found is not None
        found.rename(found.with_name(found.name.replace(f"digest-v{digest.VERSION}", "digest-v0")))
        assert digest.find(archive) is None

    def test_plain_fingerprint_is_the_gzip_trailer(self, tmp_path: Path) -> None:
        """The fingerprint taken of a file before compression is the one its archive's trailer holds."""
        plain = tmp_path / "a.jsonl"
        plain.write_bytes(b'{"level":"INFO"}\n' * 5000)
        archive = tmp_path / "a.jsonl.gz"
        archive.write_bytes(gzip.compress(plain.read_bytes()))
        assert digest.Fingerprint.of_plain(plain) == digest.Fingerprint.of_gzip(archive)

    def test_inputs_skip_digests(self, digested: Path) -> None:
        """A directory or a glob never hands a digest to the scan as a log file of its own."""
        assert len(list(digested.glob(".*.parquet"))) == 4
        logs = sorted(p for p in digested.iterdir() if not p.name.startswith("."))
        assert local_paths(str(digested)) == logs
        assert local_paths(str(digested / "**")) == logs
        with pytest.raises(AnalysisError, match="matches no files"):
            local_paths(str(digested / ".*.parquet"))

    def test_damaged_digest_falls_back_to_the_archives(
        self, analysis_corpus: Corpus, digested: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A digest damaged in place (its name still matches) is reported, and the archives answer."""
        archive = sorted(digested.glob("proxy.*.gz"))[1]
        found = digest.find(archive)
        assert found is not None
        found.write_bytes(b"PAR1 this is not a parquet file")
        code, out, err = run(capsys, "analyze", "--format", "json", str(digested))
        assert code == 0
        assert "a digest is unreadable" in err
        actual = json.loads(out)
        assert actual["digests"] == 0
        assert_report(corpus.expected(analysis_corpus.records), actual)
