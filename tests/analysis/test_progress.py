"""The stderr progress bar: drawn for long statements on a terminal, never on a pipe or stdout."""

from __future__ import annotations

import io
import threading

import pytest

from logflume.analysis import progress


class FakeTerminal(io.StringIO):
    """A stderr that says it is a terminal and signals its first write."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        result = super().write(text)
        self.written.set()
        return result


class FakeConnection:
    def query_progress(self) -> float:
        return 42.0


class TestProgressBar:
    def test_draws_percentage_then_clears(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A statement still running after the delay gets a bar with its percentage, erased at the end."""
        monkeypatch.setattr(progress, "DELAY", 0.0)
        stream = FakeTerminal()
        with progress.progress_bar(FakeConnection(), True, stream):
            assert stream.written.wait(30)
        text = stream.getvalue()
        assert "\r 42.0% [################........................]" in text
        assert text.endswith("\r" + " " * (progress.WIDTH + 9) + "\r")

    def test_disabled_draws_nothing(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the bar disabled nothing is written."""
        monkeypatch.setattr(progress, "DELAY", 0.0)
        stream = FakeTerminal()
        with progress.progress_bar(FakeConnection(), False, stream):
            pass
        assert stream.getvalue() == ""

    def test_only_terminals_want_a_bar(self) -> None:
        """A pipe or file on stderr gets no bar; a terminal does."""
        assert (progress.wanted(io.StringIO()), progress.wanted(FakeTerminal())) == (False, True)
