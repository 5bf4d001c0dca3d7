"""Line splitting, fingerprints and the checkpoint store."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from logflume.errors import CheckpointError, StateFileError
from logflume.events import Ack
from logflume.sources.checkpoint import CheckpointStore, FileCheckpoint
from logflume.sources.fingerprint import fingerprint_bytes, fingerprint_path
from logflume.sources.reader import LineSplitter
from logflume.sources.state import FileState


class TestLineSplitter:
    def test_partial_line_waits_for_newline(self) -> None:
        """A line without its newline is held back until the newline arrives."""
        splitter = LineSplitter(0, 100, "s", "p")
        assert splitter.feed(b'{"a":1}\n{"b"')[:2] == (b'{"a":1}\n', 0)
        assert splitter.feed(b":2}\n") == (b'{"b":2}\n', 8, [])
        assert splitter.position == 16

    def test_long_line_in_one_piece_is_cut(self) -> None:
        """A complete line longer than the limit becomes a dead letter cut to the limit."""
        splitter = LineSplitter(0, 10, "s", "p")
        splitter.feed(b"ok\n" + b"x" * 5)
        lines, start, dead = splitter.feed(b"x" * 10 + b"\nnext\n")
        assert (lines, start) == (b"next\n", 19)
        assert [(d.offset, d.raw) for d in dead] == [(3, "x" * 10)]
        assert "exceeds max_line_bytes (10)" in dead[0].reason

    def test_long_line_across_reads_is_skipped_to_its_end(self) -> None:
        """A line still growing past the limit is dead-lettered once and skipped to its newline."""
        splitter = LineSplitter(0, 8, "s", "p")
        _, _, dead = splitter.feed(b"y" * 9)
        assert len(dead) == 1
        assert splitter.feed(b"y" * 8) == (b"", 17, [])
        assert splitter.feed(b"yy\nok\n") == (b"ok\n", 20, [])
        assert splitter.position == 23

    def test_flush_returns_the_unterminated_last_line(self) -> None:
        """At the final end of a file, a last line without newline is still delivered."""
        splitter = LineSplitter(5, 100, "s", "p")
        splitter.feed(b"tail")
        assert splitter.flush() == (b"tail\n", 5)
        assert splitter.position == 9


class _GeneralPathOnly(LineSplitter):
    """The splitter with its fast path (lines within the limit) turned off: the reference."""

    def _whole_lines(self, data: bytes | bytearray) -> None:
        return None


def _outcome(fed: tuple[bytes, int, list[Any]], splitter: LineSplitter) -> tuple[Any, ...]:
    lines, start, dead = fed
    letters = [(letter.offset, letter.reason, letter.raw) for letter in dead]
    return lines, start, letters, splitter.position, splitter.partial, splitter.skipping


_PIECES = st.lists(st.binary(max_size=24).map(lambda b: b.replace(b"\x00", b"\n")), max_size=12)


class TestSplitterFastPath:
    @given(pieces=_PIECES, max_line=st.integers(1, 12), as_bytearray=st.booleans())
    def test_gives_what_the_general_path_gives(
        self, pieces: list[bytes], max_line: int, as_bytearray: bool
    ) -> None:
        """Whatever the reads and the limit (reads as bytes or as the bytearray a file read
        gives), every feed and the final flush return what the general path returns, as bytes."""
        fast, general = LineSplitter(7, max_line, "s", "p"), _GeneralPathOnly(7, max_line, "s", "p")
        for piece in pieces:
            got = fast.feed(bytearray(piece) if as_bytearray else piece)
            assert _outcome(general.feed(bytes(piece)), general) == _outcome(got, fast)
            assert (bytes, bytes) == (type(got[0]), type(fast.partial))
        assert fast.flush() == general.flush()


class TestFingerprint:
    def test_needs_a_complete_first_line(self) -> None:
        """A file with no complete first line (and shorter than the limit) has no identity yet."""
        assert fingerprint_bytes(b'{"a":', 1024) is None
        assert fingerprint_bytes(b'{"a":1}\n{"b"', 1024) == fingerprint_bytes(b'{"a":1}\nother', 1024)

    def test_long_first_line_uses_the_limit(self) -> None:
        """Without a newline in the first N bytes, the first N bytes are the identity."""
        assert fingerprint_bytes(b"z" * 20, 16) == fingerprint_bytes(b"z" * 16 + b"different", 16)

    def test_gzip_copy_has_the_same_identity(self, tmp_path: Path) -> None:
        """A compressed copy is the same file: its fingerprint is of the decompressed bytes."""
        plain = tmp_path / "a.log"
        plain.write_bytes(b'{"first":1}\n{"second":2}\n')
        with gzip.open(tmp_path / "a.log.gz", "wb") as out:
            out.write(plain.read_bytes())
        assert fingerprint_path(str(plain), 1024, False) == fingerprint_path(
            str(tmp_path / "a.log.gz"), 1024, True
        )

    def test_incomplete_gzip_is_not_identifiable(self, tmp_path: Path) -> None:
        """A .gz still being written (truncated stream) gives no identity rather than an error."""
        data = gzip.compress(b"x" * 100)
        (tmp_path / "p.gz").write_bytes(data[:5])
        assert fingerprint_path(str(tmp_path / "p.gz"), 1024, True) is None


class TestCheckpointStore:
    def test_round_trip(self, tmp_path: Path) -> None:
        """Saved checkpoints load back equal, and the file is written with mode 0640."""
        store = CheckpointStore(tmp_path / "cp" / "s.json")
        files = {"abc": FileCheckpoint("/l/a.log", 1, 2, 300, 1.5)}
        store.save(files)
        assert store.load() == files
        assert os.stat(tmp_path / "cp" / "s.json").st_mode & 0o777 == 0o640

    def test_missing_is_empty(self, tmp_path: Path) -> None:
        """No checkpoint file means nothing was read yet."""
        assert CheckpointStore(tmp_path / "none.json").load() == {}

    def test_corrupt_is_an_error(self, tmp_path: Path) -> None:
        """A corrupt checkpoint file is reported, not silently ignored (that would re-read everything)."""
        (tmp_path / "s.json").write_text("{not json")
        with pytest.raises(StateFileError, match=r"s\.json: not JSON"):
            CheckpointStore(tmp_path / "s.json").load()

    @pytest.mark.parametrize(
        ("field", "value", "complaint"),
        [
            ("offset", -1, r"files\.fp\.offset must be a non-negative integer, not -1"),
            ("offset", "12", r"files\.fp\.offset must be a non-negative integer, not '12'"),
            ("offset", True, r"files\.fp\.offset must be a non-negative integer, not True"),
            ("offset", 1.5, r"files\.fp\.offset must be a non-negative integer, not 1\.5"),
            ("ino", None, r"files\.fp\.ino must be a non-negative integer, not None"),
            ("path", "", r"files\.fp\.path must be a non-empty string"),
            ("updated", "yesterday", r"files\.fp\.updated must be a non-negative number"),
        ],
    )
    def test_impossible_value_is_an_error_naming_file_and_entry(
        self, tmp_path: Path, field: str, value: object, complaint: str
    ) -> None:
        """An impossible value (negative or non-integer offset, missing path…) is refused with the
        file and the entry named, never used."""
        entry = {"path": "/l/a.log", "dev": 1, "ino": 2, "offset": 300, "updated": 1.5, field: value}
        (tmp_path / "s.json").write_bytes(orjson.dumps({"version": 1, "files": {"fp": entry}}))
        expected = rf"impossible checkpoint file {re.escape(str(tmp_path))}/s\.json: {complaint}"
        with pytest.raises(StateFileError, match=expected):
            CheckpointStore(tmp_path / "s.json").load()

    def test_missing_or_unknown_fields_are_errors(self, tmp_path: Path) -> None:
        """An entry without an offset, or with fields the store never writes, is refused."""
        (tmp_path / "s.json").write_bytes(
            orjson.dumps({"version": 1, "files": {"fp": {"path": "/l", "dev": 1, "ino": 2, "updated": 1}}})
        )
        with pytest.raises(StateFileError, match=r"files\.fp has fields"):
            CheckpointStore(tmp_path / "s.json").load()

    def test_unreadable_is_not_a_state_file_error(self, tmp_path: Path) -> None:
        """A checkpoint path that cannot be read (here: a directory) is an I/O error, not bad content."""
        (tmp_path / "s.json").mkdir()
        with pytest.raises(CheckpointError, match="cannot read checkpoints") as caught:
            CheckpointStore(tmp_path / "s.json").load()
        assert not isinstance(caught.value, StateFileError)

    def test_no_temp_file_left(self, tmp_path: Path) -> None:
        """The temp file of the atomic write is renamed away."""
        CheckpointStore(tmp_path / "s.json").save({})
        assert sorted(p.name for p in tmp_path.iterdir()) == ["s.json"]


class TestAckOrdering:
    def test_offset_advances_over_the_completed_prefix_only(self) -> None:
        """A later chunk acknowledged first does not move the checkpoint past an earlier open one."""
        state = FileState("fp", "/p", 1, 1, 0, 0)
        acks = [Ack("fp", end, lambda a: None) for end in (10, 20, 30)]
        state.pending.extend(acks)
        acks[1].done()
        assert (state.complete(acks[1]), state.acked_offset) == (False, 0)
        acks[0].done()
        assert (state.complete(acks[0]), state.acked_offset) == (True, 20)
