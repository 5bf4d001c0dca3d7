"""Cost of a source's mapping in the parse step: parse alone against parse + preset, single core.

    .venv/bin/python bench/mapping_throughput.py [events]

For each preset, the gateway's sample lines (tests/fixtures/gateways) are repeated to ``events``
lines and parsed twice in the same run: without a mapping (the baseline: what every source without
one does) and with the preset. Prints events per CPU-second (process time) of both and their ratio,
then one JSON line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import orjson

from logflume.events import Ack, RawChunk
from logflume.pipeline.mapping import build_mapper, preset_names
from logflume.pipeline.parse import Parser

SAMPLES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "gateways"
CHUNK_LINES = 2000


def chunks(preset: str, count: int) -> list[RawChunk]:
    lines = (SAMPLES / f"{preset}.jsonl").read_bytes().splitlines()
    data = [lines[i % len(lines)] for i in range(count)]
    out = []
    for start in range(0, count, CHUNK_LINES):
        blob = b"\n".join(data[start : start + CHUNK_LINES]) + b"\n"
        out.append(RawChunk(preset, "bench", "bench.log", 0, blob, Ack("bench", len(blob), lambda a: None)))
    return out


def rate(parser: Parser, work: list[RawChunk], count: int) -> float:
    started = time.process_time()
    for chunk in work:
        _events, dead = parser(chunk, 0.0)
        assert not dead
    return count / (time.process_time() - started)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    results = {}
    for preset in preset_names():
        baseline = rate(Parser(), chunks(preset, count), count)
        mapped = rate(Parser(mapper=build_mapper(preset, None)), chunks(preset, count), count)
        results[preset] = {
            "parse": round(baseline),
            "parse_and_map": round(mapped),
            "ratio": round(mapped / baseline, 2),
        }
        ratio = mapped / baseline
        print(f"{preset:8} parse {baseline:>10,.0f}/s   parse+map {mapped:>10,.0f}/s   ratio {ratio:.2f}")
    print(orjson.dumps(results).decode())


if __name__ == "__main__":
    main()
