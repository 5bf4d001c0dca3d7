"""The corpus every analysis test reads, written once per session in each input shape."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.analysis import corpus


@dataclass(frozen=True)
class Corpus:
    records: list[dict[str, Any]]  # everything written, the daemon's own events included
    raw_dir: Path  # the proxy's own log files (no metadata), plain text
    sink_dir: Path  # file-sink output: metadata on every line, rotated files gzip-compressed


@pytest.fixture(scope="session")
def analysis_corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    events = corpus.make_events(12_000)
    root = tmp_path_factory.mktemp("analysis-corpus")
    corpus.write_split(root / "raw", events, 3, "llm_proxy", gzip_all_but_last=False)
    records = corpus.with_metadata(events + corpus.own_events(40))
    corpus.write_split(root / "sink", records, 5, "proxy", gzip_all_but_last=True)
    return Corpus(records, root / "raw", root / "sink")
