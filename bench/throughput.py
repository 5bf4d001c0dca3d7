"""End-to-end throughput of tail → parse → file sink, beside a plain-Python baseline in the same run.

    python bench/throughput.py [--lines 1000000] [--runs 3] [--config-extra pipeline.yaml]

Baseline: one loop that reads the corpus in large chunks, splits lines, ``orjson.loads`` each,
``orjson.dumps`` it back and writes the result — the unavoidable work, with none of the daemon's
machinery. The daemon runs as ``logflume run`` in a subprocess and is timed from start until its
checkpoint covers the whole corpus (every event written and acknowledged). The last line printed
is one JSON object.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import psutil
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "daemon"))
from logflume.generate import write_file

OUT = Path(__file__).resolve().parent / "out"
# Every stage off: the daemon's machinery alone (read, parse, checkpoint, file sink).
PASSTHROUGH: dict[str, Any] = {
    "audit": {"verify_hash": False},
    "normalise": {"enabled": False},
    "redact": {"enabled": False},
    "enrich": {"performance": None},
}


def corpus(lines: int) -> Path:
    path = OUT / f"corpus-{lines}.log"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        write_file(path, lines, seed=11)
    return path


def baseline(path: Path, workdir: Path) -> dict[str, float]:
    """The plain loop, in a child process so its CPU and RSS are its own."""
    code = f"""
import orjson, os, time, resource
loads, dumps, opt = orjson.loads, orjson.dumps, orjson.OPT_APPEND_NEWLINE
start = time.perf_counter(); n = 0; rest = b""
with open({str(path)!r}, "rb") as src, open({str(workdir / "baseline.jsonl")!r}, "wb") as dst:
    while True:
        chunk = src.read(4 << 20)
        if not chunk:
            break
        data = rest + chunk
        cut = data.rfind(b"\\n") + 1
        rest = data[cut:]
        out = [dumps(loads(line), option=opt) for line in data[:cut].split(b"\\n") if line]
        n += len(out)
        dst.write(b"".join(out))
elapsed = time.perf_counter() - start
ru = resource.getrusage(resource.RUSAGE_SELF)
print(n, elapsed, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024)
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    events, elapsed, cpu, rss = result.stdout.split()
    return {
        "events": int(events),
        "seconds": float(elapsed),
        "cpu_seconds": float(cpu),
        "peak_rss_mb": float(rss),
    }


def daemon(
    path: Path,
    workdir: Path,
    extra: dict[str, Any],
    sinks: list[dict[str, Any]] | None = None,
    watch: list[int] | None = None,
) -> dict[str, float]:
    """Run the daemon until its checkpoint covers ``path``; ``watch``: other pids whose CPU to count."""
    state = workdir / "state"
    file_sink = {
        "name": "out",
        "type": "file",
        "path": str(workdir / "out" / "{source}.jsonl"),
        "rotation": {"max_size": "100GB"},
    }
    config = {
        "state_dir": str(state),
        "sources": [{"name": "bench", "include": [str(path)]}],
        "sinks": sinks or [file_sink],
        "log": {"level": "WARNING", "format": "json"},
        "http": {"enabled": False},  # measured without the endpoint, and free of port clashes
    }
    config.update(extra)
    cfg = workdir / "bench.yaml"
    cfg.write_text(yaml.safe_dump(config))
    size = path.stat().st_size
    checkpoint = state / "checkpoints" / "bench.json"
    others = [psutil.Process(pid) for pid in watch or []]
    others_before = sum(_tree_cpu(p) for p in others)
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "logflume", "run", "-c", str(cfg)], stderr=subprocess.PIPE)
    ps = psutil.Process(proc.pid)
    done = False
    while not done:
        time.sleep(0.02)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "daemon exited")
        try:
            files = orjson.loads(checkpoint.read_bytes())["files"]
            done = sum(f["offset"] for f in files.values()) >= size
        except (FileNotFoundError, orjson.JSONDecodeError):
            pass
    elapsed = time.perf_counter() - start
    cpu = ps.cpu_times()
    with open(f"/proc/{proc.pid}/status") as status:
        hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    others_cpu = sum(_tree_cpu(p) for p in others) - others_before
    proc.terminate()
    proc.wait(60)
    out = workdir / "out" / "bench.jsonl"
    lines = -1
    if out.exists():
        with open(out, "rb") as handle:
            lines = sum(1 for _ in handle)
    return {
        "events": lines,
        "seconds": elapsed,
        "cpu_seconds": cpu.user + cpu.system,
        "peak_rss_mb": hwm / 1024,
        "backend_cpu_seconds": others_cpu,
    }


def _tree_cpu(process: psutil.Process) -> float:
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--config-extra", help="YAML merged into the daemon config (e.g. a pipeline: section)"
    )
    parser.add_argument(
        "--stages",
        action="store_true",
        help="run the default config (all default stages on) and compare it with the pass-through figure",
    )
    args = parser.parse_args()
    extra = (
        yaml.safe_load(Path(args.config_extra).read_text())
        if args.config_extra
        else {"pipeline": PASSTHROUGH}
    )
    path = corpus(args.lines)
    mb = path.stat().st_size / 1e6
    base_runs, daemon_runs = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            base_runs.append(baseline(path, Path(tmp)))
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            daemon_runs.append(daemon(path, Path(tmp), extra))
        b, d = base_runs[-1], daemon_runs[-1]
        print(
            f"run {run + 1}: baseline {b['events'] / b['seconds']:,.0f} ev/s, "
            f"daemon {d['events'] / d['seconds']:,.0f} ev/s "
            f"({d['events']} events, {d['cpu_seconds']:.1f} cpu-s)"
        )
    stage_runs = []
    if args.stages:
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory(dir=OUT) as tmp:
                stage_runs.append(daemon(path, Path(tmp), {}))
    assert all(d["events"] == args.lines for d in daemon_runs + stage_runs), (
        "daemon lost or duplicated events"
    )
    base_eps = statistics.median(r["events"] / r["seconds"] for r in base_runs)
    eps = statistics.median(r["events"] / r["seconds"] for r in daemon_runs)
    secs = statistics.median(r["seconds"] for r in daemon_runs)
    result = {
        "lines": args.lines,
        "corpus_mb": round(mb, 1),
        "events_per_s": round(eps),
        "mb_per_s": round(mb / secs, 1),
        "cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in daemon_runs), 2),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in daemon_runs), 1),
        "baseline_events_per_s": round(base_eps),
        "baseline_cpu_seconds": round(statistics.median(r["cpu_seconds"] for r in base_runs), 2),
        "ratio": round(eps / base_eps, 3),
    }
    print(
        f"daemon   : {eps:,.0f} events/s, {result['mb_per_s']} MB/s, {result['cpu_seconds']} cpu-s, "
        f"peak RSS {result['peak_rss_mb']} MB"
    )
    print(f"baseline : {base_eps:,.0f} events/s, {result['baseline_cpu_seconds']} cpu-s")
    print(f"ratio    : {result['ratio']:.2f} of baseline")
    if stage_runs:
        stages_eps = statistics.median(r["events"] / r["seconds"] for r in stage_runs)
        result["stages_events_per_s"] = round(stages_eps)
        result["stages_ratio"] = round(stages_eps / eps, 3)
        print(
            f"stages   : {stages_eps:,.0f} events/s with the default stages, "
            f"{result['stages_ratio']:.2f} of pass-through"
        )
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    main()
