"""Events as JSON lines: encoded once, cut and joined without decoding, decoded back unchanged."""

from __future__ import annotations

from array import array
from typing import Any

import orjson
import pytest

from logflume import lines
from logflume.events import META_KEY, Event
from logflume.lines import Lines
from tests.hostile import nested


def event(n: int, source: str = "proxy", **fields: Any) -> Event:
    return {"n": n, **fields, META_KEY: {"event_id": f"fp-{n:x}", "source": source, "offset": n}}


class TestEncode:
    def test_one_block_per_run_of_a_source(self) -> None:
        """Consecutive events of one source share a block; a change of source starts the next."""
        blocks = lines.encode([event(0, "a"), event(1, "a"), event(2, "b"), event(3, "a")])
        expected = [("a", [0, 1]), ("b", [2]), ("a", [3])]
        assert expected == [(block.source, [e["n"] for e in block.events()]) for block in blocks]

    def test_lines_are_orjson_lines_and_ends_mark_them(self) -> None:
        """A block's bytes are each event's compact JSON and a newline; ``ends`` is where each ends."""
        events = [event(n, pad="x" * n) for n in range(4)]
        [block] = lines.encode(events)
        encoded = [orjson.dumps(e) + b"\n" for e in events]
        expected = (b"".join(encoded), [sum(map(len, encoded[: i + 1])) for i in range(4)])
        assert expected == (block.data, list(block.ends))

    def test_events_without_metadata_belong_to_the_daemon(self) -> None:
        """An event that names no source (a window metric made without one) is filed as logflume's."""
        [block] = lines.encode([{"type": "metric"}])
        assert "logflume" == block.source

    @pytest.mark.parametrize(
        "value",
        [nested(300), 10**400, float("nan"), "\ud800", {1: 2}],
        ids=["nested-300", "int-400-digits", "nan", "lone-surrogate", "int-key"],
    )
    def test_values_orjson_refuses_still_make_one_valid_line(self, value: Any) -> None:
        """What orjson will not write is written by the slow encoder: one line, valid JSON."""
        [block] = lines.encode([event(1, value=value)])
        assert (1, 1) == (len(block), block.data.count(b"\n"))
        assert 1 == orjson.loads(block.data)["n"]

    def test_keys_that_are_not_strings_are_written_as_orjson_writes_them(self) -> None:
        """A key a stage made (a number, None, a bool) becomes its JSON text, at any depth: the
        same bytes orjson's non-string-key option writes, although the fast path runs without it."""
        events = [event(1, counts={404: 2, None: 1, True: {2.5: "x"}}), event(2, pad="y")]
        [block] = lines.encode(events)
        option = orjson.OPT_NON_STR_KEYS | orjson.OPT_APPEND_NEWLINE
        expected = b"".join(orjson.dumps(e, option=option) for e in events)
        assert expected == block.data
        assert b'{"404":2,"null":1,"true":{"2.5":"x"}}' in lines.encode_line(events[0])

    def test_decode_gives_the_events_back(self) -> None:
        """Decoding the lines gives events equal to the ones encoded."""
        events = [event(n, level="INFO", tokens=n * 10) for n in range(5)]
        assert events == lines.decode(lines.encode(events))


class TestCut:
    def test_cut_keeps_whole_lines(self) -> None:
        """A cut is events start to stop, its ends counted from its own start."""
        [block] = lines.encode([event(n) for n in range(6)])
        part = block.cut(2, 5)
        base = block.ends[1]
        expected = ([2, 3, 4], block.data[base : block.ends[4]], [end - base for end in block.ends[2:5]])
        assert expected == ([e["n"] for e in part.events()], part.data, list(part.ends))

    def test_split_covers_every_event_once_in_order(self) -> None:
        """Parts of at most ``size`` events, every event once, in order."""
        [block] = lines.encode([event(n) for n in range(10)])
        parts = block.split(4)
        expected = ([4, 4, 2], list(range(10)))
        assert expected == ([len(p) for p in parts], [e["n"] for p in parts for e in p.events()])

    def test_join_is_the_concatenation(self) -> None:
        """Blocks of one source joined are one block of all their events."""
        a, b = lines.encode([event(0), event(1)])[0], lines.encode([event(2)])[0]
        joined = lines.join("proxy", [a, b])
        expected = ([0, 1, 2], a.data + b.data)
        assert expected == ([e["n"] for e in joined.events()], joined.data)

    def test_json_array_is_what_encoding_the_list_gives(self) -> None:
        """The array made from lines is byte for byte the array of the decoded events."""
        events = [event(n, s="a,b\n") for n in range(3)]
        blocks = lines.encode(events)
        assert orjson.dumps(events) == lines.to_json_array(blocks)

    def test_a_line_too_deep_to_decode_comes_back_as_text(self) -> None:
        """A line nested deeper than orjson reads (which no parsed line is) is still an event."""
        deep = b'{"x":' * 1100 + b"1" + b"}" * 1100 + b"\n"
        block = Lines("proxy", deep, array("q", [len(deep)]))
        [decoded] = block.events()
        assert deep[:-1].decode() == decoded["undecodable_line"]


def with_encoding(block: Lines, key: str = "k") -> Lines:
    """``block`` with an encoding whose item ``i`` is ``<i>|`` + event i's line (easy to check)."""
    data = bytearray()
    ends: array[int] = array("q")
    for index in range(len(block)):
        data += f"{index}|".encode() + bytes(block.line(index))
        ends.append(len(data))
    block.encoded = {key: lines.Encoded(data, ends, frozenset({f"name-{len(block)}"}))}
    return block


def items(block: Lines, key: str = "k") -> list[bytes]:
    assert block.encoded is not None
    enc = block.encoded[key]
    return [bytes(enc.data[enc.ends[i - 1] if i else 0 : enc.ends[i]]) for i in range(len(enc.ends))]


class TestEncodings:
    """A sink's encoding of a block follows its events through every cut, pick and join."""

    def test_cut_keeps_each_events_item_with_its_line(self) -> None:
        block = with_encoding(Lines.of("proxy", [event(n) for n in range(10)]))
        part = block.cut(3, 7)
        assert [item.split(b"|", 1)[1] for item in items(part)] == [bytes(part.line(i)) for i in range(4)]
        assert [item.split(b"|", 1)[0] for item in items(part)] == [b"3", b"4", b"5", b"6"]
        assert part.encoded is not None
        assert part.encoded["k"].names == frozenset({"name-10"})

    def test_pick_takes_the_chosen_events_and_their_items(self) -> None:
        block = with_encoding(Lines.of("proxy", [event(n) for n in range(10)]))
        picked = block.pick([0, 4, 9])
        assert [e["n"] for e in picked.events()] == [0, 4, 9]
        assert [item.split(b"|", 1)[0] for item in items(picked)] == [b"0", b"4", b"9"]

    def test_join_keeps_an_encoding_only_when_every_block_has_it(self) -> None:
        a = with_encoding(Lines.of("proxy", [event(n) for n in range(3)]))
        b = with_encoding(Lines.of("proxy", [event(n) for n in range(3, 5)]))
        joined = lines.join("proxy", [a, b])
        assert items(joined) == items(a) + items(b)
        assert joined.encoded is not None
        assert joined.encoded["k"].names == frozenset({"name-3", "name-2"})
        bare = Lines.of("proxy", [event(9)])
        assert lines.join("proxy", [a, bare]).encoded is None

    def test_a_sink_holds_only_its_own_encoding_and_counts_its_bytes(self) -> None:
        block = with_encoding(Lines.of("proxy", [event(n) for n in range(4)]))
        assert block.encoded is not None
        block.encoded["other"] = block.encoded["k"]
        mine = block.only("k")
        assert mine.encoded is not None
        assert set(mine.encoded) == {"k"}
        assert mine.data is block.data  # the lines are shared, not copied
        assert block.only(None).encoded is None
        assert block.only("unknown").encoded is None
        assert lines.nbytes([mine]) == len(block.data) + len(block.encoded["k"].data)
        assert lines.nbytes([block.only(None)]) == len(block.data)
