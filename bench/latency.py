"""Delivery latency: how long a line takes from being written to the log to being in the sink's output.

    python bench/latency.py [--rate 5000] [--seconds 60] [--workers N] [--load] [--stages off]

A writer process appends lines in the seed's shape at a steady rate (each line its own write, as
a service logging line by line), each stamped with the time it was written (``sent_at``). The
daemon (``logflume run``, default stages, file sink) follows the file from its end; a reader
process follows the sink's output file (ignoring a half-written last line) and takes, for every
line, the time it found it minus ``sent_at``. Reported: p50, p95, p99 and max over every line
after a warm-up of ``--warmup`` seconds, lines lost (must be 0), the daemon's CPU (with its
workers). ``--load`` starts one busy process per core beside it (plain Python loops at normal
priority), so the daemon competes for both cores; the writer and reader run at a higher priority
where allowed, so that they measure the daemon and not their own waits. The last line printed is
one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import yaml

from throughput import OUT, PASSTHROUGH  # bench/ is the script's directory: on sys.path

WRITER = r"""
import os, sys, time, orjson
sys.path.insert(0, {daemon!r})
from logflume.generate import lines
path, rate, seconds = {path!r}, {rate}, {seconds}
template = [orjson.loads(line) for line in lines(1000, seed=5)]
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
total = int(rate * seconds)
start = time.time() + 0.2
for i in range(total):
    target = start + i / rate
    delay = target - time.time()
    if delay > 0:
        time.sleep(delay)
    event = template[i % 1000]
    event["request_id"] = f"lat_{{i:09d}}"
    event["sent_at"] = time.time()
    os.write(fd, orjson.dumps(event) + b"\n")
os.close(fd)
print(total)
"""

READER = r"""
import os, sys, time, orjson
path, expected, deadline = {path!r}, {expected}, time.time() + {limit}
while not os.path.exists(path):
    time.sleep(0.001)
fd = os.open(path, os.O_RDONLY)
rest = b""
seen = 0
out = open({result!r}, "w")
while seen < expected and time.time() < deadline:
    data = os.read(fd, 1 << 20)
    if not data:
        time.sleep(0.0005)
        continue
    now = time.time()
    data = rest + data
    cut = data.rfind(b"\n") + 1
    rest = data[cut:]
    for line in data[:cut].split(b"\n")[:-1]:
        event = orjson.loads(line)
        if "sent_at" in event:
            seen += 1
            out.write(f"{{event['request_id']}} {{event['sent_at']!r}} {{now - event['sent_at']!r}}\n")
out.close()
print(seen)
"""

LOAD = "while True:\n    pass\n"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _raise_priority() -> None:
    # Not allowed (not root): measured at normal priority.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, -10)


def run(args: argparse.Namespace) -> dict[str, Any]:
    daemon_dir = str(Path(__file__).resolve().parent.parent / "daemon")
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        work = Path(tmp)
        (work / "logs").mkdir()
        log_path = work / "logs" / "app.log"
        log_path.touch()
        out_path = work / "out" / "lat.jsonl"
        config: dict[str, Any] = {
            "state_dir": str(work / "state"),
            "sources": [
                {"name": "lat", "include": [str(work / "logs" / "*.log")], "read_from": "end"}
            ],
            "sinks": [
                {"name": "out", "type": "file", "path": str(out_path), "rotation": {"max_size": "100GB"}}
            ],
            # The one INFO line wanted: "Daemon started".
            "log": {"level": "WARNING", "format": "json", "levels": {"logflume.app": "INFO"}},
            "http": {"address": f"127.0.0.1:{_free_port()}"},
        }
        if args.workers is not None:
            config["workers"] = args.workers
        if args.stages == "off":
            config["pipeline"] = PASSTHROUGH
        (work / "c.yaml").write_text(yaml.safe_dump(config))
        loads = [
            subprocess.Popen([sys.executable, "-c", LOAD]) for _ in range(os.cpu_count() or 2)
        ] if args.load else []
        launcher = os.environ.get("LATENCY_LAUNCHER")  # e.g. a profiling wrapper (development only)
        program = [launcher] if launcher else ["-m", "logflume"]
        daemon = subprocess.Popen(
            [sys.executable, *program, "run", "-c", str(work / "c.yaml")],
            stderr=open(work / "daemon.log", "wb"),  # noqa: SIM115 - the child's; closed with it
        )
        try:
            deadline = time.time() + 60
            while b"Daemon started" not in (work / "daemon.log").read_bytes() and time.time() < deadline:
                if daemon.poll() is not None:
                    raise RuntimeError((work / "daemon.log").read_text())
                time.sleep(0.05)
            time.sleep(1.0)
            ps = psutil.Process(daemon.pid)
            processes = [ps, *ps.children()]
            cpu_before = sum(_cpu(p) for p in processes)
            expected = int(args.rate * args.seconds)
            result_file = work / "delays.txt"
            reader = subprocess.Popen(
                [sys.executable, "-c", READER.format(
                    path=str(out_path), expected=expected, limit=args.seconds + 60, result=str(result_file)
                )],
                stdout=subprocess.PIPE, text=True, preexec_fn=_raise_priority,
            )
            writer = subprocess.Popen(
                [sys.executable, "-c", WRITER.format(
                    daemon=daemon_dir, path=str(log_path), rate=args.rate, seconds=args.seconds
                )],
                stdout=subprocess.PIPE, text=True, preexec_fn=_raise_priority,
            )
            written = int((writer.communicate()[0] or "0").strip())
            seen = int((reader.communicate()[0] or "0").strip())
            cpu = sum(_cpu(p) for p in processes) - cpu_before
            chunks = _chunks(config["http"]["address"])
        finally:
            for proc in loads:
                proc.kill()
            daemon.terminate()
            daemon.wait(60)
        delays: list[float] = []
        for line in result_file.read_text().splitlines():
            _, sent, delay = line.split()
            if float(sent) >= start_of(result_file, args.warmup):
                delays.append(float(delay) * 1000)
    return {
        "rate": args.rate,
        "seconds": args.seconds,
        "workers": args.workers,
        "stages": args.stages,
        "load": args.load,
        "written": written,
        "lost": written - seen,
        "p50_ms": round(statistics.median(delays), 2),
        "p95_ms": round(percentile(delays, 0.95), 2),
        "p99_ms": round(percentile(delays, 0.99), 2),
        "max_ms": round(max(delays), 2),
        "daemon_cpu_cores": round(cpu / args.seconds, 2),
        "chunks": chunks,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _chunks(address: str) -> int:
    """Chunks the daemon read (from its metrics): how many lines each batch held on average."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        text = response.read().decode()
    samples = [line for line in text.splitlines() if line.startswith("logflume_source_chunks_total")]
    return sum(int(float(line.split()[-1])) for line in samples)


def start_of(result_file: Path, warmup: float) -> float:
    """The write time from which lines count: ``warmup`` seconds after the first line."""
    with open(result_file) as handle:
        first = handle.readline().split()
    return float(first[1]) + warmup if first else 0.0


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=5000.0, help="lines per second written")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the writer writes")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of lines not counted")
    parser.add_argument("--workers", type=int, default=None, help="the daemon's workers (default: its own)")
    parser.add_argument("--stages", choices=["on", "off"], default="on", help="the default stages")
    parser.add_argument("--load", action="store_true", help="keep every core busy beside the daemon")
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()[0]:.2f}")
    result = run(args)
    print(
        f"{result['written']} lines at {args.rate:g}/s, workers {args.workers or 'default'}, "
        f"stages {args.stages}{', under load' if args.load else ''}: p50 {result['p50_ms']} ms, "
        f"p95 {result['p95_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms, "
        f"lost {result['lost']}, daemon {result['daemon_cpu_cores']} cores, "
        f"{result['written'] / max(1, result['chunks']):.1f} lines per chunk"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
