"""Parse: lines → events with metadata; every bad line a dead letter with its reason."""

from __future__ import annotations

from logflume.events import META_KEY, Ack, RawChunk
from logflume.pipeline.parse import Parser


def chunk(data: bytes, start: int = 100) -> RawChunk:
    return RawChunk(
        "proxy", "f00d", "/logs/app.log", start, data, Ack("f00d", start + len(data), lambda a: None)
    )


class TestParser:
    def test_events_keep_fields_and_get_metadata(self) -> None:
        """Original fields are unchanged; metadata carries id, source, file, offset, ingest time."""
        events, dead = Parser()(chunk(b'{"level":"INFO","n":1.5}\n{"b":[1]}\n'), 0.0)
        assert dead == []
        assert events[0]["level"] == "INFO"
        assert events[0]["n"] == 1.5
        assert events[0][META_KEY] == {
            "event_id": "f00d-64",
            "source": "proxy",
            "file": "/logs/app.log",
            "offset": 100,
            "ingested_at": "1970-01-01T00:00:00.000Z",
        }
        assert events[1][META_KEY]["offset"] == 100 + len(b'{"level":"INFO","n":1.5}\n')

    def test_event_ids_are_stable(self) -> None:
        """The same bytes at the same offset of the same file get the same id (replays dedupe)."""
        first, _ = Parser()(chunk(b'{"a":1}\n'), 1.0)
        again, _ = Parser()(chunk(b'{"a":1}\n'), 99.0)
        assert first[0][META_KEY]["event_id"] == again[0][META_KEY]["event_id"]

    def test_blank_lines_are_skipped_and_counted(self) -> None:
        """Empty and whitespace-only lines are counted, not dead-lettered."""
        parser = Parser()
        events, dead = parser(chunk(b'\n  \n{"a":1}\n\t\n'), 0.0)
        assert (len(events), dead, parser.stats.blank) == (1, [], 3)
        assert events[0][META_KEY]["offset"] == 104

    def test_reasons(self) -> None:
        """Each kind of bad line has its own reason; raw is the line's bytes as read (the
        dead-letter file decides how to store them)."""
        data = b'{"a":\n[1]\n{"x":"\xff"}\n{"a":1}\x00\n'
        events, dead = Parser()(chunk(data, 0), 0.0)
        assert events == []
        reasons = [d.reason.split(":")[0] for d in dead]
        assert reasons == [
            "invalid JSON",
            "not a JSON object",
            "invalid UTF-8 at byte 6",
            "line contains a NUL byte",
        ]
        assert [d.offset for d in dead] == [0, 6, 10, 20]
        assert data.split(b"\n")[:4] == [d.raw for d in dead]

    def test_wrap_invalid(self) -> None:
        """With wrap, a non-JSON text line becomes {message: line}; invalid UTF-8 still dead-letters."""
        events, dead = Parser(wrap_invalid=True)(chunk(b"plain text\n\xff\xfe\n"), 0.0)
        assert [e["message"] for e in events] == ["plain text"]
        assert len(dead) == 1
