"""Analysis digests: a small Parquet file beside each compressed log file, read by ``analyze``.

Decompressing is what bounds ``logflume analyze`` over archives: gzip inflates at roughly half a
gigabyte of lines per second per core, so a gigabyte of compressed file-sink output (about eleven
of lines) cannot be decoded in seconds on two cores. The file sink therefore writes, when it
closes a file, the few typed columns ``analyze`` needs (timestamp, level, provider, model,
endpoint, latency, status, cache hit, the message of error events) as a zstd Parquet file of
about 1 % of the lines' size. ``analyze`` reads it instead of the archive when it matches.

A digest is only trusted for the exact archive it was made from: its name carries the archive's
gzip trailer (CRC-32 and length of the uncompressed data) and the digest format version, so a
rewritten, truncated or re-compressed archive, or a digest of an older format, is ignored and the
archive decoded instead. Digests are dotfiles (``.NAME.<crc><size>.digest-v1.parquet``), which
shell globs, ``glob.glob`` and the sink's retention patterns skip.

The rows are the *same SQL* over the same ``read_json`` scan that ``analyze`` runs on files
without a digest (:func:`rows_sql`), so a digest changes how fast the answer comes, never the
answer. Building one runs DuckDB in a short-lived, low-priority child process
(``python -m logflume.digest``), so the daemon neither loads DuckDB (~60 MB) nor competes with
its hot path for the interpreter.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from logflume import eventtime
from logflume.errors import DigestError

# 2: times read by logflume.eventtime's rule (epoch numbers by magnitude; @timestamp first).
VERSION = 2
ERROR_LEVELS = ("ERROR", "CRITICAL", "FATAL")
# Fields read from each line and their types. "logflume" is read only to drop the daemon's own
# metric and alert events.
RAW_COLUMNS: dict[str, str] = {
    "timestamp": "VARCHAR",
    "@timestamp": "VARCHAR",
    "level": "VARCHAR",
    "message": "VARCHAR",
    "provider": "VARCHAR",
    "model": "VARCHAR",
    "endpoint": "VARCHAR",
    "response_time_ms": "DOUBLE",
    "status_code": "BIGINT",
    "cache_hit": "BOOLEAN",
    "logflume": "STRUCT(type VARCHAR)",
}
# A row is an event when one of these is present (a line that is not an object gives all NULLs).
EVENT_FIELDS = tuple(name for name in RAW_COLUMNS if name != "logflume")
# The digest's columns, in order: what :func:`rows_sql` selects.
DIGEST_COLUMNS = (
    "ts",
    "level",
    "provider",
    "model",
    "endpoint",
    "rt",
    "status_code",
    "cache_hit",
    "is_request",
    "is_error",
    "error_message",
)

_SIDECAR = re.compile(r"^\..+\.[0-9a-f]{16}\.digest-v\d+\.parquet(\.tmp)?$")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_json_sql(files_param: str, compression: str) -> str:
    """DuckDB's scan of the JSON-lines files in the list parameter ``files_param``.

    The query's parameters must also bind ``columns`` to :data:`RAW_COLUMNS`.

    Lines with different keys, missing keys and values of the wrong type all load: a value that
    does not convert becomes NULL, and a line that is not an object becomes a row of NULLs.
    """
    return (
        f"SELECT * FROM read_json(${files_param}, format = 'newline_delimited', "
        f"columns = $columns, compression = '{compression}', ignore_errors = true)"
    )


def event_time_sql(column: str) -> str:
    """DuckDB SQL for the event time in the VARCHAR ``column``, by :mod:`logflume.eventtime`'s rule.

    ISO text is read by DuckDB's own cast (the same forms, barring rarities such as week dates);
    a JSON number, or text holding one, is epoch time in the unit its magnitude tells; text over
    ``MAX_TEXT`` characters and times outside the years 1 to 9999 are NULL, as in Python. DuckDB
    reads a JSON number into a VARCHAR column as its text, so one rule covers both.
    """
    value = quote(column)
    iso = f"try_cast({value} AS TIMESTAMPTZ)"
    number = f"try_cast({value} AS DOUBLE)"
    size = f"abs({number})"
    epoch_seconds = (
        f"CASE WHEN {size} < {eventtime.MILLIS_FROM!r} THEN {number} "
        f"WHEN {size} < {eventtime.MICROS_FROM!r} THEN {number} / 1e3 "
        f"WHEN {size} < {eventtime.NANOS_FROM!r} THEN {number} / 1e6 "
        f"ELSE {number} / 1e9 END"
    )
    lowest, highest = eventtime.MIN_SECONDS, eventtime.MAX_SECONDS + 1
    return (
        f"CASE WHEN length({value}) <= {eventtime.MAX_TEXT} THEN coalesce("
        f"CASE WHEN epoch({iso}) >= {lowest!r} AND epoch({iso}) < {highest!r} THEN {iso} END, "
        f"CASE WHEN regexp_full_match({value}, '{eventtime.NUMBER_PATTERN}') "
        f"AND ({epoch_seconds}) >= {lowest!r} AND ({epoch_seconds}) < {highest!r} "
        f"THEN to_timestamp({epoch_seconds}) END) END"
    )


def rows_sql(raw: str) -> str:
    """The digest rows of the raw rows ``raw`` selects (see :mod:`logflume.analysis.results`).

    A request is an outcome line (it carries a response time or a status); an error has an error
    level or a 5xx status; the message is kept for error events only. The time is the first of
    ``eventtime.EVENT_TIME_FIELDS`` that reads as one (:func:`event_time_sql`), like the sinks';
    timestamps without an offset are UTC: the session's time zone must be UTC.
    """
    times = ", ".join(event_time_sql(field) for field in eventtime.EVENT_TIME_FIELDS)
    levels = ", ".join(f"'{level}'" for level in ERROR_LEVELS)
    present = " OR ".join(f"{quote(field)} IS NOT NULL" for field in EVENT_FIELDS)
    return f"""
        SELECT ts, level, provider, model, endpoint, rt, status_code, cache_hit, is_request, is_error,
            CASE WHEN is_error THEN message END AS error_message
        FROM (
            SELECT *,
                coalesce({times}) AS ts,
                response_time_ms AS rt,
                (response_time_ms IS NOT NULL OR status_code IS NOT NULL) AS is_request,
                (coalesce(upper(level) IN ({levels}), false)
                 OR coalesce(status_code >= 500, false)) AS is_error
            FROM ({raw})
            WHERE logflume.type IS NULL AND ({present})
        )"""


@dataclass(frozen=True)
class Fingerprint:
    """What a gzip archive's trailer says of its content: CRC-32 and length (mod 2**32)."""

    crc: int
    size: int

    def hex(self) -> str:
        return f"{self.crc:08x}{self.size:08x}"

    @classmethod
    def of_gzip(cls, path: Path) -> Fingerprint | None:
        """The trailer of a gzip file (its last member's), or None when it has none."""
        try:
            with path.open("rb") as handle:
                if handle.read(2) != b"\x1f\x8b":
                    return None
                handle.seek(-8, os.SEEK_END)
                trailer = handle.read(8)
        except OSError:
            return None
        if len(trailer) != 8:
            return None
        return cls(int.from_bytes(trailer[:4], "little"), int.from_bytes(trailer[4:], "little"))

    @classmethod
    def of_plain(cls, path: Path) -> Fingerprint:
        """What the trailer of ``path`` compressed will be."""
        crc = size = 0
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
        return cls(crc, size & 0xFFFFFFFF)


def sidecar_path(archive: Path, fingerprint: Fingerprint) -> Path:
    return archive.parent / f".{archive.name}.{fingerprint.hex()}.digest-v{VERSION}.parquet"


def is_sidecar(path: Path) -> bool:
    return _SIDECAR.match(path.name) is not None


def sidecars_of(archive: Path) -> list[Path]:
    """Every digest (any fingerprint or version, finished or not) of ``archive``'s name."""
    prefix = f".{archive.name}."
    try:
        names = os.listdir(archive.parent)
    except OSError:
        return []
    return [archive.parent / n for n in names if n.startswith(prefix) and _SIDECAR.match(n)]


def find(archive: Path) -> Path | None:
    """The digest matching ``archive`` as it is now, or None (then the archive must be decoded)."""
    fingerprint = Fingerprint.of_gzip(archive)
    if fingerprint is None:
        return None
    path = sidecar_path(archive, fingerprint)
    return path if path.is_file() else None


def build(source: Path, archive: Path, fingerprint: Fingerprint, threads: int = 1) -> Path:
    """Write the digest of the JSON lines in ``source`` (plain or gzip) for ``archive``.

    Runs in this process (imports DuckDB); :func:`build_in_child` is what the daemon uses.
    Written to a temporary name and renamed, so a reader never sees half a digest. The digest
    gets the permissions of ``source`` (the file sink's ``file_mode``): it holds columns of the
    same lines, messages included.
    """
    import duckdb

    target = sidecar_path(archive, fingerprint)
    tmp = target.with_name(target.name + ".tmp")
    compression = "gzip" if Fingerprint.of_gzip(source) is not None else "none"
    try:
        mode = os.stat(source).st_mode & 0o777
        with duckdb.connect(":memory:", config={"threads": threads}) as db:
            db.execute("SET TimeZone = 'UTC'")
            db.execute("SET preserve_insertion_order = false")
            db.execute(
                f"COPY ({rows_sql(read_json_sql('files', compression))}) TO $target "
                "(FORMAT parquet, COMPRESSION zstd)",
                {"files": [str(source)], "target": str(tmp), "columns": RAW_COLUMNS},
            )
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except (duckdb.Error, OSError) as exc:
        tmp.unlink(missing_ok=True)
        raise DigestError(f"cannot build the digest of {archive}: {exc}") from exc
    return target


def build_in_child(source: Path, archive: Path, fingerprint: Fingerprint, timeout: float = 600.0) -> None:
    """:func:`build` in a low-priority child process; raises DigestError when it fails."""
    command = [
        sys.executable,
        "-m",
        "logflume.digest",
        str(source),
        str(archive),
        str(fingerprint.crc),
        str(fingerprint.size),
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DigestError(f"cannot build the digest of {archive}: {exc}") from exc
    if result.returncode < 0:
        # Killed: a seccomp filter (SIGSYS), the OOM killer (SIGKILL); it could not say why itself.
        raise DigestError(f"digest child killed by {signal.Signals(-result.returncode).name}")
    if result.returncode != 0:
        raise DigestError(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed")


def main(argv: list[str] | None = None) -> int:
    """``python -m logflume.digest SOURCE ARCHIVE CRC SIZE``: build one digest, quietly."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 4:
        print("usage: python -m logflume.digest SOURCE ARCHIVE CRC SIZE", file=sys.stderr)
        return 2
    # Digests are background work: leave the CPU to the daemon's hot path.
    os.nice(10)
    # DuckDB creates the file with the umask's permissions: none for others until build() sets
    # the source's, so a digest is never readable by more users than its log file.
    os.umask(0o077)
    try:
        build(Path(args[0]), Path(args[1]), Fingerprint(int(args[2]), int(args[3])))
    except DigestError as exc:
        print(f"logflume digest: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
