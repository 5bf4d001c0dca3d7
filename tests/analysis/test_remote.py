"""``analyze`` and ``query`` on what the S3 and PostgreSQL sinks wrote, on real servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.analysis import corpus
from tests.analysis.checks import analyze_json, assert_report, run
from tests.analysis.conftest import BUCKET, TABLE, Corpus
from tests.fixtures.postgres import PostgresServer
from tests.fixtures.seaweedfs import READER, SeaweedServer


@pytest.fixture
def reader_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Read-only S3 credentials in the standard AWS variables, and no AWS config files."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", READER[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", READER[1])
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))


class TestS3:
    @pytest.mark.usefixtures("reader_env")
    def test_exact_statistics(
        self,
        analysis_corpus: Corpus,
        s3_corpus: str,
        seaweed_server: SeaweedServer,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """The S3 sink's gzip NDJSON objects give the corpus's exact statistics (read-only keys suffice)."""
        actual = analyze_json(capsys, "--by", "provider", "--s3-endpoint", seaweed_server.endpoint, s3_corpus)
        assert_report(corpus.expected(analysis_corpus.records, by="provider"), actual)
        assert actual["files"] > 1

    @pytest.mark.usefixtures("reader_env")
    def test_query(
        self,
        analysis_corpus: Corpus,
        s3_corpus: str,
        seaweed_server: SeaweedServer,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """query reads S3 objects too and finds the same events as in the files."""
        expression = 'status_code >= 500 and provider == "openai"'
        wanted = sorted(
            e["request_id"]
            for e in analysis_corpus.records
            if "type" not in e and (e.get("status_code") or 0) >= 500 and e.get("provider") == "openai"
        )
        code, out, err = run(
            capsys,
            "query",
            "--fields",
            "request_id",
            "--s3-endpoint",
            seaweed_server.endpoint,
            expression,
            s3_corpus,
        )
        assert (code, err) == (0, "")
        assert wanted == sorted(out.split()[1:])

    @pytest.mark.usefixtures("reader_env")
    def test_wrong_secret(
        self,
        s3_corpus: str,
        seaweed_server: SeaweedServer,
        monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        """Credentials S3 refuses fail with exit 1 and S3's reason."""
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
        code, out, err = run(capsys, "analyze", "--s3-endpoint", seaweed_server.endpoint, s3_corpus)
        assert (code, out) == (1, "")
        assert err.startswith(f"logflume analyze: {s3_corpus}: cannot read from S3:")
        assert "SignatureDoesNotMatch" in err

    @pytest.mark.usefixtures("reader_env")
    def test_empty_prefix(
        self, s3_corpus: str, seaweed_server: SeaweedServer, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A prefix without objects fails with exit 1 saying so."""
        url = f"s3://{BUCKET}/nothing-here/"
        code, _, err = run(capsys, "analyze", "--s3-endpoint", seaweed_server.endpoint, url)
        assert (1, f"logflume analyze: {url}: no objects under this prefix\n") == (code, err)


class TestPostgres:
    def test_exact_statistics(
        self, analysis_corpus: Corpus, pg_corpus: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The PostgreSQL sink's events table gives the corpus's exact statistics."""
        actual = analyze_json(capsys, "--by", "provider", "--table", TABLE, pg_corpus)
        assert_report(corpus.expected(analysis_corpus.records, by="provider"), actual)

    def test_window_pushed_down(
        self, analysis_corpus: Corpus, pg_corpus: str, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """--since/--until select the same events from PostgreSQL as from files."""
        since, until = datetime(2024, 1, 15, 8, 0, tzinfo=UTC), datetime(2024, 1, 15, 8, 45, tzinfo=UTC)
        actual = analyze_json(
            capsys, "--since", since.isoformat(), "--until", until.isoformat(), "--table", TABLE, pg_corpus
        )
        assert_report(corpus.expected(analysis_corpus.records, since=since, until=until), actual)

    def test_query(self, analysis_corpus: Corpus, pg_corpus: str, capsys: pytest.CaptureFixture[str]) -> None:
        """query prints the stored events (the jsonb) that match, as JSON lines."""
        code, out, err = run(
            capsys, "query", "--table", TABLE, 'message ~ "^Upstream" and level == "ERROR"', pg_corpus
        )
        wanted = sorted(
            e["request_id"]
            for e in analysis_corpus.records
            if "type" not in e
            and str(e.get("message", "")).startswith("Upstream")
            and e.get("level") == "ERROR"
        )
        assert (code, err) == (0, "")
        assert wanted == sorted(json.loads(line)["request_id"] for line in out.splitlines())

    def test_missing_table(self, pg_corpus: str, capsys: pytest.CaptureFixture[str]) -> None:
        """A table that does not exist fails with exit 1 and PostgreSQL's reason."""
        code, out, err = run(capsys, "analyze", "--table", "no_such_table", pg_corpus)
        assert (code, out) == (1, "")
        assert (
            'cannot read table no_such_table from PostgreSQL: relation "no_such_table" does not exist' in err
        )

    def test_refused_password(
        self, postgres_server: PostgresServer, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A password the server refuses fails with exit 1, without echoing the URL's secret."""
        url = postgres_server.dsn.replace(":logflume-test-password@", ":wrong-password@")
        code, _, err = run(capsys, "analyze", "--table", TABLE, url)
        assert code == 1
        assert "password authentication failed" in err
        assert "wrong-password" not in err


def test_default_table_is_the_sinks() -> None:
    """--table defaults to the PostgreSQL sink's default events table."""
    from logflume.analysis.commands import DEFAULT_TABLE
    from logflume.sinks.postgres.config import PostgresSinkConfig

    assert PostgresSinkConfig.model_fields["table"].default == DEFAULT_TABLE
