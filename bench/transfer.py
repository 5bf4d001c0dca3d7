"""What moving work to another process costs, beside what the work itself costs, per event.

    python bench/transfer.py [--lines 200000] [--rounds 5]

Measured on the throughput corpus (the seed's LLM-proxy lines, ~600 bytes each) in 1 MiB chunks,
each figure the median over ``--rounds`` rounds, in CPU microseconds per event:

* the work, in one process: parse (``orjson.loads`` + metadata), the default stages (audit,
  normalise, redact, enrich), NDJSON encoding for the file sink;
* moving a raw chunk to another process: through a pipe (``send_bytes``/``recv_bytes``), or
  through shared memory (the sender copies it into a slot, the receiver copies it out);
* moving the result back: the events as pickled dicts (``pickle`` protocol 5), or pre-encoded
  NDJSON bytes through a pipe or shared memory, plus what the receiver then has to do with it
  (for dicts: encode them for the file sink).

Transfers are timed on both sides (sender + receiver CPU), with the receiver a real process.
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import fcntl
import multiprocessing as mp
import pickle
import statistics
import sys
import time
from multiprocessing.connection import Connection
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "daemon"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from logflume.events import Ack, Batch, RawChunk
from logflume.gctune import tune_gc
from logflume.lines import Lines
from logflume.pipeline.build import build_chain
from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.parse import Parser
from throughput import corpus

CHUNK = 1 << 20
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ, named in the module from Python 3.10 on some builds only


def chunks(path: Path, lines: int) -> list[bytes]:
    """The first ``lines`` lines of the corpus, cut into chunks of whole lines of about 1 MiB."""
    out: list[bytes] = []
    with open(path, "rb") as handle:
        data = b"".join(handle.readline() for _ in range(lines))
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + CHUNK) + 1 or len(data)
        out.append(data[start:end])
        start = end
    return out


def raw_chunk(data: bytes) -> RawChunk:
    return RawChunk("bench", "f" * 16, "/logs/app.log", 0, data, Ack("k", len(data), lambda _: None))


# -- the receiving process ----------------------------------------------------------------------


def _receiver(conn: Connection, shm_name: str | None, back: Connection | None = None) -> None:
    """Receive until b"" (or a None message); report this process's CPU seconds."""
    tune_gc()
    reply = back or conn
    shm = SharedMemory(shm_name) if shm_name else None
    start = time.process_time()
    while True:
        if shm is None:
            data = conn.recv_bytes()
            if not data:
                break
        else:
            message = conn.recv()
            if message is None:
                break
            offset, size = message
            data = bytes(shm.buf[offset : offset + size])
        reply.send_bytes(b"k")  # the slot is free again
    reply.send(time.process_time() - start)
    if shm is not None:
        shm.close()


def _unpickler(conn: Connection) -> None:
    tune_gc()
    start = time.process_time()
    while True:
        data = conn.recv_bytes()
        if not data:
            break
        pickle.loads(data)
        conn.send_bytes(b"k")
    conn.send(time.process_time() - start)


def transfer(payloads: list[bytes], how: str, events: int) -> float:
    """Sender + receiver CPU µs per event to move ``payloads`` to another process."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    replies = parent
    shm = SharedMemory(create=True, size=max(map(len, payloads))) if how == "shm" else None
    target: Any = _unpickler if how == "pickle" else _receiver
    args: tuple[Any, ...] = (child,) if how == "pickle" else (child, shm.name if shm else None)
    if how == "big pipe":
        # One-way pipes with the largest buffer Linux allows (1 MiB): a chunk in one write.
        child, parent = ctx.Pipe(duplex=False)
        replies, back = ctx.Pipe(duplex=False)
        for conn in (child, back):
            fcntl.fcntl(conn.fileno(), F_SETPIPE_SZ, 1 << 20)
        args = (child, None, back)
    proc = ctx.Process(target=target, args=args)
    proc.start()
    child.close()
    start = time.process_time()
    for payload in payloads:
        if shm is not None:
            shm.buf[: len(payload)] = payload
            parent.send((0, len(payload)))
        else:
            parent.send_bytes(payload)
        replies.recv_bytes()
    sender = time.process_time() - start
    if shm is not None:
        parent.send(None)
    else:
        parent.send_bytes(b"")
    receiver = replies.recv()
    proc.join()
    if shm is not None:
        shm.close()
        shm.unlink()
    return (sender + receiver) * 1e6 / events


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    raw = chunks(corpus(1_000_000), args.lines)
    tune_gc()  # as the daemon does: the default thresholds make every figure a GC figure
    n = args.lines
    chain = build_chain(PipelineConfig(), Path("/nonexistent"))
    parse = Parser()
    now = time.time()
    figures: dict[str, list[float]] = {}

    def record(name: str, value: float) -> None:
        figures.setdefault(name, []).append(value)

    for _ in range(args.rounds):
        # Chunk by chunk, each result dropped before the next chunk, as in the daemon: holding a
        # whole corpus of dicts would measure page faults instead of the work.
        names = ("parse", "stages", "encode", "pickle.dumps", "pickle.loads", "decode NDJSON")
        steps = dict.fromkeys(names, 0.0)
        encoded: list[bytes] = []
        pickled: list[bytes] = []
        for data in raw:
            clock = time.process_time()
            events = parse(raw_chunk(data), now)[0]
            steps["parse"] -= clock - (clock := time.process_time())
            events = chain(Batch(events), now).events
            steps["stages"] -= clock - (clock := time.process_time())
            lines = Lines.of("bench", events).data
            steps["encode"] -= clock - (clock := time.process_time())
            dumped = pickle.dumps(events, 5)
            steps["pickle.dumps"] -= clock - (clock := time.process_time())
            del events
            clock = time.process_time()
            pickle.loads(dumped)
            steps["pickle.loads"] -= clock - (clock := time.process_time())
            [orjson.loads(line) for line in lines.splitlines()]
            steps["decode NDJSON"] -= clock - (clock := time.process_time())
            encoded.append(lines)
            pickled.append(dumped)
        for name, seconds in steps.items():
            record(name, seconds * 1e6 / n)
        record("raw via pipe", transfer(raw, "pipe", n))
        record("raw via shm", transfer(raw, "shm", n))
        record("raw via 1 MiB pipe", transfer(raw, "big pipe", n))
        record("NDJSON via pipe", transfer(encoded, "pipe", n))
        record("NDJSON via shm", transfer(encoded, "shm", n))
        record("NDJSON via 1 MiB pipe", transfer(encoded, "big pipe", n))
        record("dicts via pipe (pickled)", transfer(pickled, "pickle", n))
    medians = {name: round(statistics.median(values), 3) for name, values in figures.items()}
    work = medians["parse"] + medians["stages"] + medians["encode"]
    medians["work (parse + stages + encode)"] = round(work, 3)
    size_raw = sum(map(len, raw)) / n
    size_out = sum(map(len, encoded)) / n
    print(f"{n} events, {size_raw:.0f} bytes in and {size_out:.0f} bytes out per event, 1 MiB chunks")
    for name, value in medians.items():
        print(f"  {name:34s} {value:7.3f} µs/event  ({value / work:6.1%} of the work)")
    print(orjson.dumps({"events": n, "us_per_event": medians}).decode())


if __name__ == "__main__":
    main()
