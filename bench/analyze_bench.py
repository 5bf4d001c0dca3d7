"""``logflume analyze`` beside the seed's ``zcat | grep | jq | awk`` recipe, on the same files.

    .venv/bin/python bench/analyze_bench.py [--size-gb 1.0] [--skip-jq]

Generates (once, cached under bench/out/analyze-<size>gb/) gzip-compressed file-sink output of
about ``--size-gb`` GB compressed: JSON lines in the seed's log shape, each with the file sink's
``logflume`` metadata object, in files rotated at the file sink's default 100 MB (uncompressed)
and closed by the file sink's own ``archive_file`` (gzip level 6 and the analysis digest beside
each file, as the sink does at rotation). A cached corpus from before digests gets them built from
its archives (the same rows: the same SQL over the same lines). Then, in the same run, times

* ``logflume analyze --format json FILES`` (a new process: start-up included), which reads the
  digests the file sink wrote,
* ``logflume analyze --no-digest --format json FILES``, which decodes every archive, and
* the seed's average-response-time recipe:
  ``zcat FILES | grep '"response_time_ms"' | jq -r '.response_time_ms' | awk '{s+=$1; n++} ...'``

after reading every file once so all start from the page cache. It checks that all computed
the same average, and prints wall and CPU times (user + system of the command and its
children: on a shared machine the CPU time is the steadier measure) and the ratios. The bar:
analyze under 5 s for 1 GB, and at least 10x faster than jq. The last line printed is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from logflume import digest
from logflume.sinks.file.sink import archive_file

ROOT = Path(__file__).resolve().parent
ROTATE_BYTES = 100 * 1000**2  # the file sink's default rotation size
LEVEL = 6  # the file sink's default gzip level
PROVIDERS = {
    "openai": ["gpt-4", "gpt-4o", "gpt-4o-mini"],
    "anthropic": ["claude-3-5-sonnet", "claude-3-haiku"],
    "google": ["gemini-1.5-pro", "gemini-1.5-flash"],
    "mistral": ["mistral-large"],
}
ENDPOINTS = ["/api/chat/completions", "/api/completions", "/api/embeddings"]
ERRORS = ["Provider timeout", "Upstream returned 502", "Rate limit exceeded", "Invalid API key"]
TEMPLATE = (
    '{"timestamp":"2024-01-15T%02d:%02d:%02d.%03dZ","level":"%s","logger":"llm_proxy.api",'
    '"module":"src.api.endpoints","function":"chat_completion","line":45,"message":"%s",'
    '"request_id":"req_%010d","user_id":"user_%06d","provider":"%s","model":"%s","endpoint":"%s",'
    '"tokens":%d,"response_time_ms":%.2f,"status_code":%d,"cache_hit":%s,"ip_address":"10.%d.%d.%d",'
    '"user_agent":"LLM-Client/1.0","trace_id":"trace_%012x","span_id":"span_%09x",'
    '"extra_data":{"temperature":0.7,"max_tokens":%d,"stream":%s},'
    '"logflume":{"event_id":"%016x-%x","source":"proxy","file":"/var/log/llm_proxy/app.log",'
    '"offset":%d,"ingested_at":"2024-01-15T%02d:%02d:%02d.%03dZ"}}\n'
)


def _write_file(args: tuple[Path, int]) -> int:
    """One rotated file: ROTATE_BYTES of lines, gzip-compressed; returns its compressed size."""
    path, index = args
    rnd = random.Random(index)
    providers = list(PROVIDERS)
    fingerprint = rnd.getrandbits(64)
    lines: list[str] = []
    size = offset = 0
    seq = index * 1_000_000
    while size < ROTATE_BYTES:
        seq += 1
        provider = rnd.choice(providers)
        failed = rnd.random() < 0.03
        second = (seq // 100) % 86400
        ms = seq % 1000
        hh, mm, ss = second // 3600, second // 60 % 60, second % 60
        line = TEMPLATE % (
            hh,
            mm,
            ss,
            ms,
            "ERROR" if failed else "INFO",
            rnd.choice(ERRORS) if failed else "Chat completion request processed",
            seq,
            rnd.randrange(100_000),
            provider,
            rnd.choice(PROVIDERS[provider]),
            rnd.choice(ENDPOINTS),
            rnd.randrange(10, 4000),
            rnd.lognormvariate(6, 1),
            502 if failed else 200,
            "true" if rnd.random() < 0.3 else "false",
            rnd.randrange(256),
            rnd.randrange(256),
            rnd.randrange(256),
            rnd.getrandbits(48),
            rnd.getrandbits(36),
            rnd.randrange(50, 2000),
            "true" if rnd.random() < 0.5 else "false",
            fingerprint,
            offset,
            offset,
            hh,
            mm,
            ss,
            ms,
        )
        lines.append(line)
        size += len(line)
        offset += len(line)
    plain = path.with_suffix("")  # proxy-N.jsonl: archive_file makes proxy-N.jsonl.gz of it
    plain.write_text("".join(lines))
    archive_file(str(plain), LEVEL, with_digest=True)
    return path.stat().st_size


def corpus(size_gb: float) -> list[Path]:
    """The cached corpus of about ``size_gb`` GB compressed, generated when missing."""
    directory = ROOT / "out" / f"analyze-{size_gb:g}gb"
    done = directory / "COMPLETE"
    if done.exists():
        return sorted(directory.glob("proxy-*.jsonl.gz"))
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    target = size_gb * 1000**3
    # Files compress alike: size one file, then make as many as the target needs.
    first = directory / "proxy-00000.jsonl.gz"
    per_file = _write_file((first, 0))
    count = max(1, round(target / per_file))
    print(f"generating {count} files of ~{per_file / 1e6:.0f} MB in {directory}", file=sys.stderr)
    jobs = [(directory / f"proxy-{i:05d}.jsonl.gz", i) for i in range(1, count)]
    with multiprocessing.Pool(os.cpu_count() or 1) as pool:
        pool.map(_write_file, jobs)
    done.write_text("")
    return sorted(directory.glob("proxy-*.jsonl.gz"))


def _digest_job(archive: Path) -> None:
    fingerprint = digest.Fingerprint.of_gzip(archive)
    assert fingerprint is not None
    digest.build_in_child(archive, archive, fingerprint)


def ensure_digests(files: list[Path]) -> None:
    """Digests for archives of a corpus cached before digests existed."""
    missing = [path for path in files if digest.find(path) is None]
    if missing:
        print(f"building digests of {len(missing)} cached archives", file=sys.stderr)
        with multiprocessing.Pool(os.cpu_count() or 1) as pool:
            pool.map(_digest_job, missing)


def _same_report(a: dict[str, object], b: dict[str, object]) -> bool:
    """Equal reports, floats to 1e-9 relative (parallel sums add in a different order)."""
    keys = (set(a) | set(b)) - {"digests"}
    for key in keys:
        x, y = a.get(key), b.get(key)
        if isinstance(x, float) and isinstance(y, float):
            if abs(x - y) > 1e-9 * max(abs(x), abs(y)):
                return False
        elif x != y:
            return False
    return True


def timed(command: list[str], shell: bool = False) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (user + system, the command and all its children) and stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(
        " ".join(command) if shell else command,
        shell=shell,
        capture_output=True,
        text=True,
        check=False,
        executable="/bin/bash" if shell else None,
    )
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({result.returncode}): {result.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, result.stdout


def _ensure_jq() -> None:
    """Install jq from Debian's packages when it is missing (the benchmark runs as root in CI)."""
    if shutil.which("jq") is not None:
        return
    if os.geteuid() != 0:
        raise SystemExit("jq is not installed: apt-get install -y jq")
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "jq"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--size-gb", type=float, default=1.0, help="compressed size of the corpus (default 1)"
    )
    parser.add_argument("--skip-jq", action="store_true", help="time analyze alone")
    parser.add_argument("--skip-decode", action="store_true", help="do not time analyze --no-digest")
    args = parser.parse_args()
    files = corpus(args.size_gb)
    ensure_digests(files)
    digest_bytes = sum(path.stat().st_size for path in map(digest.find, files) if path is not None)
    compressed = sum(path.stat().st_size for path in files)
    for path in files:  # warm the page cache so neither side pays for the disk
        with path.open("rb") as handle:
            while handle.read(1 << 24):
                pass

    load = os.getloadavg()[0]
    analyze = [sys.executable, "-m", "logflume.analysis", "analyze", "--format", "json", *map(str, files)]
    analyze_s, analyze_cpu, out = timed(analyze)
    report = json.loads(out)
    result: dict[str, object] = {
        "files": len(files),
        "compressed_bytes": compressed,
        "digest_bytes": digest_bytes,
        "requests": report["total_requests"],
        "load_average": load,
        "analyze_s": round(analyze_s, 3),
        "analyze_cpu_s": round(analyze_cpu, 3),
        "analyze_digests": report["digests"],
        "analyze_avg_ms": report["avg_response_time_ms"],
    }
    print(f"load average at start: {load:.1f} on {os.cpu_count()} cores (wall times need an idle machine)")
    print(
        f"analyze: {analyze_s:.2f} s wall, {analyze_cpu:.2f} s CPU for {compressed / 1e9:.2f} GB compressed "
        f"({report['digests']} of {len(files)} files read from their digests, "
        f"{digest_bytes / 1e6:.0f} MB), {report['total_requests']:,} requests, "
        f"avg {report['avg_response_time_ms']:.6f} ms"
    )
    if not args.skip_decode:
        decode_s, decode_cpu, decode_out = timed([*analyze[:4], "--no-digest", *analyze[4:]])
        decoded = json.loads(decode_out)
        same = _same_report(decoded, report)
        result.update(decode_s=round(decode_s, 3), decode_cpu_s=round(decode_cpu, 3), decode_same=same)
        print(
            f"analyze --no-digest: {decode_s:.2f} s wall, {decode_cpu:.2f} s CPU (decoding every archive; "
            f"{'same' if same else 'DIFFERENT'} report)"
        )
    if not args.skip_jq:
        _ensure_jq()
        quoted = " ".join(f"'{path}'" for path in files)
        recipe = (
            f"set -o pipefail; zcat {quoted} | grep '\"response_time_ms\"' | jq -r '.response_time_ms' | "
            "awk '{ sum += $1; count++ } END { if (count > 0) printf \"%.6f %d\\n\", sum / count, count }'"
        )
        jq_s, jq_cpu, jq_out = timed([recipe], shell=True)
        jq_avg, jq_count = jq_out.split()
        agree = (
            abs(float(jq_avg) - report["avg_response_time_ms"]) < 1e-3
            and int(jq_count) == report["total_requests"]
        )
        ratio, cpu_ratio = jq_s / analyze_s, jq_cpu / analyze_cpu
        result.update(
            jq_s=round(jq_s, 3),
            jq_cpu_s=round(jq_cpu, 3),
            jq_avg_ms=float(jq_avg),
            same_result=agree,
            ratio=round(ratio, 1),
            cpu_ratio=round(cpu_ratio, 1),
        )
        print(
            f"zcat|grep|jq|awk: {jq_s:.2f} s wall, {jq_cpu:.2f} s CPU, avg {float(jq_avg):.6f} ms over "
            f"{int(jq_count):,} lines ({'same' if agree else 'DIFFERENT'} result)"
        )
        print(
            f"ratio: analyze is {ratio:.1f}x faster in wall time, {cpu_ratio:.1f}x in CPU time (bar: >= 10x)"
        )
        result["ratio_ok"] = ratio >= 10
    per_gb = analyze_s / (compressed / 1e9)
    result["analyze_s_per_gb"] = round(per_gb, 3)
    result["time_ok"] = per_gb < 5
    print(f"time: {per_gb:.2f} s per GB compressed (bar: < 5 s)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
