"""End-to-end throughput of tail → parse → (stages) → file sink, against a plain-Python baseline
measured in the same run.

    python bench/throughput.py [--lines 1000000] [--runs 3] [--workers 1,2,N] [--stages both]

Baseline: one loop on one core that reads the corpus in large chunks, splits lines,
``orjson.loads`` each, ``orjson.dumps`` it back and writes the result — the unavoidable work, with
none of the daemon's machinery. The daemon runs as ``logflume run`` in a subprocess and is timed
until its checkpoint covers the whole corpus (every event written and acknowledged): from its
first event written out (``events_per_s``; the start-up, ~1 s of imports, config and worker
processes paid once, left out as the baseline's is) and from its start (``…_with_start``),
once per worker count (``N``: the default, one per core up to 4) with the default stages
(normalise, redact, enrich; ``--stages on``) and with every stage off (``off``), the rounds
interleaved so that each configuration meets the same machine. CPU and peak RSS count the daemon
and its worker processes. The last line printed is one JSON object.

``--reference REV`` also runs the daemon of an earlier commit of this repository (its ``daemon/``
tree, taken with ``git archive``) in every round, with the same config less the keys it reports as
unknown, and gives each configuration's CPU per event as a ratio to it: the median of the rounds'
ratios, each measured on the same machine minutes apart (what "CPU per event within 10 % of
today's" is checked with; the reference's absolute figures move with the machine as much as ours).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
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
from logflume.workers.pool import default_workers

OUT = Path(__file__).resolve().parent / "out"
CHILDREN_EVERY = 0.25  # seconds between looks for the daemon's worker processes
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
    source_root: Path | None = None,
    leave_out: frozenset[str] = frozenset(),
) -> dict[str, float]:
    """Run the daemon until its checkpoint covers ``path``; ``watch``: other pids whose CPU to count;
    ``source_root``: another tree's ``daemon/`` directory to run instead of this one, with the keys
    at the YAML paths ``leave_out`` left out of its config.

    CPU and peak RSS are the daemon's plus its worker processes' (each process's own peak, summed).
    """
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
        # The end is seen when the checkpoint covers the corpus: saved often, so that the time
        # measured is not rounded up by half a second.
        "checkpoint_interval": "100ms",
    }
    config.update(extra)
    for dotted in leave_out:
        _leave_out(config, dotted.split("."))
    cfg = workdir / "bench.yaml"
    cfg.write_text(yaml.safe_dump(config))
    size = path.stat().st_size
    checkpoint = state / "checkpoints" / "bench.json"
    others = [psutil.Process(pid) for pid in watch or []]
    others_before = sum(_tree_cpu(p) for p in others)
    start = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=str(source_root)) if source_root is not None else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "logflume", "run", "-c", str(cfg)], stderr=subprocess.PIPE, env=env
    )
    ps = psutil.Process(proc.pid)
    workers: dict[int, psutil.Process] = {}
    done = False
    first_output: float | None = None
    start_cpu = 0.0
    out_dir = workdir / "out"
    scanned = 0.0
    while not done:
        time.sleep(0.01)
        if proc.poll() is not None:
            raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "daemon exited")
        # Listing children walks /proc: at every poll that took ~14 % of a core from the daemon
        # being measured (the baseline runs with no poller beside it). Workers live for the whole
        # run, so a look every CHILDREN_EVERY seconds finds them.
        if time.perf_counter() - scanned >= CHILDREN_EVERY:
            scanned = time.perf_counter()
            for child in ps.children():
                workers.setdefault(child.pid, child)
        if first_output is None and _output_started(out_dir):
            first_output = time.perf_counter()
            # CPU spent on starting (imports, config, worker processes) is not per event.
            start_cpu = sum(_cpu(p) for p in [ps, *workers.values()])
        try:
            files = orjson.loads(checkpoint.read_bytes())["files"]
            done = sum(f["offset"] for f in files.values()) >= size
        except (FileNotFoundError, orjson.JSONDecodeError):
            pass
    elapsed = time.perf_counter() - start
    steady = time.perf_counter() - (first_output or start)
    cpu = sum(_cpu(p) for p in [ps, *workers.values()])
    main_cpu = _cpu(ps)
    hwm = sum(_peak_rss_kb(p.pid) for p in [ps, *workers.values()])
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
        # From the first event written out: the daemon's start-up (imports, config, worker
        # processes: ~1 s, paid once) left out, as the baseline's is.
        "steady_seconds": steady,
        "cpu_seconds": cpu,
        "main_cpu_seconds": main_cpu,  # the daemon's own process, without its workers
        "steady_cpu_seconds": cpu - start_cpu,
        "peak_rss_mb": hwm / 1024,
        "processes": 1 + len(workers),
        "backend_cpu_seconds": others_cpu,
    }


def _leave_out(config: dict[str, Any], keys: list[str]) -> None:
    parent = config
    for key in keys[:-1]:
        parent = parent.get(key, {})
        if not isinstance(parent, dict):
            return
    parent.pop(keys[-1], None)


# How the daemon's config errors name a key it does not know: its YAML path, then the line.
_UNKNOWN_KEY = re.compile(r"^\s*([\w.-]+) \(line \d+\): unknown key", re.MULTILINE)


class Reference:
    """An earlier commit's daemon (its ``daemon/`` tree), and the config keys it does not know."""

    def __init__(self, rev: str, workdir: Path) -> None:
        repo = Path(__file__).resolve().parent.parent
        archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "daemon"], capture_output=True)
        if archive.returncode:
            raise SystemExit(f"--reference {rev}: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(workdir)], input=archive.stdout, check=True)
        self.rev = rev
        self.root = workdir / "daemon"
        self.left_out: frozenset[str] = frozenset()

    def run(self, path: Path, workdir: Path, extra: dict[str, Any], **more: Any) -> dict[str, float]:
        """:func:`daemon` with this commit's code; keys it reports as unknown are left out and the
        run started again (a key added since, such as ``workers``)."""
        while True:
            try:
                return daemon(path, workdir, extra, source_root=self.root, leave_out=self.left_out, **more)
            except RuntimeError as exc:
                unknown = frozenset(_UNKNOWN_KEY.findall(str(exc))) - self.left_out
                if not unknown:
                    raise
                self.left_out |= unknown
                print(f"  reference {self.rev}: left out {', '.join(sorted(unknown))} (unknown to it)")
                shutil.rmtree(workdir / "state", ignore_errors=True)


def _output_started(out_dir: Path) -> bool:
    try:
        return any(path.stat().st_size > 0 for path in out_dir.rglob("*") if path.is_file())
    except OSError:
        return False


def _cpu(process: psutil.Process) -> float:
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def _peak_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
    except (OSError, StopIteration):
        return 0


def _tree_cpu(process: psutil.Process) -> float:
    total = 0.0
    for p in [process, *process.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def _worker_counts(spec: str) -> list[int]:
    counts: list[int] = []
    for item in spec.split(","):
        count = default_workers() if item.strip().upper() == "N" else int(item)
        if count not in counts:
            counts.append(count)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="rounds; each runs every configuration once")
    parser.add_argument("--workers", default="1,2,N", help="worker counts to run (N: the default)")
    parser.add_argument("--stages", choices=["on", "off", "both"], default="both", help="default stages")
    parser.add_argument(
        "--config-extra", help="YAML merged into the daemon config (e.g. a pipeline: section)"
    )
    parser.add_argument(
        "--reference", metavar="REV", help="also run this commit's daemon; CPU per event as a ratio to it"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tree:
        reference = Reference(args.reference, Path(tree)) if args.reference else None
        _run(args, reference)


REFERENCE = 0  # in place of a worker count: the reference commit's daemon


def _name(mode: str, workers: int, reference: Reference | None) -> str:
    who = f"reference {reference.rev}" if workers == REFERENCE and reference else f"workers {workers}"
    return f"stages {mode:3s} {who}"


def _run(args: argparse.Namespace, reference: Reference | None) -> None:
    extra_base = yaml.safe_load(Path(args.config_extra).read_text()) if args.config_extra else {}
    path = corpus(args.lines)
    mb = path.stat().st_size / 1e6
    modes = ["on", "off"] if args.stages == "both" else [args.stages]
    counts = ([REFERENCE] if reference else []) + _worker_counts(args.workers)
    configs = [(mode, workers) for mode in modes for workers in counts]
    base_runs: list[dict[str, float]] = []
    runs: dict[tuple[str, int], list[dict[str, float]]] = {config: [] for config in configs}
    print(f"load before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores; {mb:.0f} MB, {args.lines} lines")
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            base_runs.append(baseline(path, Path(tmp)))
        b = base_runs[-1]
        print(
            f"round {run + 1}: baseline {b['events'] / b['seconds']:,.0f} ev/s ({b['cpu_seconds']:.1f} cpu-s)"
        )
        for mode, workers in configs:
            extra = {**extra_base, "workers": workers}
            if mode == "off":
                extra["pipeline"] = PASSTHROUGH
            with tempfile.TemporaryDirectory(dir=OUT) as tmp:
                if workers == REFERENCE and reference is not None:
                    del extra["workers"]  # the reference runs as it would by default
                    d = reference.run(path, Path(tmp), extra)
                else:
                    d = daemon(path, Path(tmp), extra)
            runs[(mode, workers)].append(d)
            print(
                f"  {_name(mode, workers, reference)}: {d['events'] / d['steady_seconds']:,.0f} ev/s, "
                f"{d['cpu_seconds']:.1f} cpu-s, peak RSS {d['peak_rss_mb']:.0f} MB "
                f"({d['processes']} processes)"
            )
    for d in [r for rs in runs.values() for r in rs]:
        assert d["events"] == args.lines, "daemon lost or duplicated events"
    base_eps = statistics.median(r["events"] / r["seconds"] for r in base_runs)
    base_cpu = statistics.median(r["cpu_seconds"] for r in base_runs)
    result: dict[str, Any] = {
        "lines": args.lines,
        "corpus_mb": round(mb, 1),
        "load_after": round(os.getloadavg()[0], 2),
        "baseline_events_per_s": round(base_eps),
        "baseline_cpu_us_per_event": round(base_cpu * 1e6 / args.lines, 2),
        "daemon": [],
    }
    if reference is not None:
        result["reference"] = {"rev": reference.rev, "left_out": sorted(reference.left_out)}
    print(f"baseline          : {base_eps:,.0f} events/s, {base_cpu * 1e6 / args.lines:.2f} µs CPU per event")
    for (mode, workers), rs in runs.items():
        eps = statistics.median(r["events"] / r["seconds"] for r in rs)
        steady = statistics.median(r["events"] / r["steady_seconds"] for r in rs)
        cpu = statistics.median(r["cpu_seconds"] for r in rs)
        steady_cpu = statistics.median(r["steady_cpu_seconds"] / r["events"] for r in rs)
        row: dict[str, Any] = {
            "stages": mode,
            "workers": workers if workers != REFERENCE else "reference",
            "events_per_s": round(steady),
            "ratio": round(steady / base_eps, 3),
            "events_per_s_with_start": round(eps),
            "ratio_with_start": round(eps / base_eps, 3),
            "cpu_us_per_event": round(steady_cpu * 1e6, 2),
            "cpu_us_per_event_with_start": round(cpu * 1e6 / args.lines, 2),
            "peak_rss_mb": round(max(r["peak_rss_mb"] for r in rs), 1),
        }
        versus = ""
        if reference is not None and workers != REFERENCE:
            # Round by round: each configuration against the reference run minutes before it.
            pairs = list(zip(rs, runs[(mode, REFERENCE)], strict=True))
            row["cpu_vs_reference"] = round(
                statistics.median(r["steady_cpu_seconds"] / ref["steady_cpu_seconds"] for r, ref in pairs), 3
            )
            row["cpu_vs_reference_with_start"] = round(
                statistics.median(r["cpu_seconds"] / ref["cpu_seconds"] for r, ref in pairs), 3
            )
            versus = f", {row['cpu_vs_reference']:.2f} x the reference's CPU per event"
        result["daemon"].append(row)
        print(
            f"{_name(mode, workers, reference)}: {steady:,.0f} events/s = {row['ratio']:.2f} x baseline "
            f"({eps:,.0f} = {row['ratio_with_start']:.2f} x with start-up), "
            f"{row['cpu_us_per_event']:.2f} µs CPU per event "
            f"({row['cpu_us_per_event_with_start']:.2f} with start-up){versus}, "
            f"peak RSS {row['peak_rss_mb']:.0f} MB"
        )
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    main()
