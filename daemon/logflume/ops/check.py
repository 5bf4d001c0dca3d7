"""``logflume check``: can this config run here? Sources readable, state dir writable, sinks reachable.

Each sink is built exactly as the daemon builds it and asked to :meth:`~logflume.sinks.base.Sink.check`
itself (connectivity, auth, write permission) without writing events. Nothing is left behind:
directories that do not exist yet are not created, a writable place is probed with a file that is
removed at once (:func:`logflume.fsutil.probe_directory`).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from logflume.fsutil import probe_directory
from logflume.sinks.config import SinkCommonConfig
from logflume.sinks.registry import SinkContext, build_sink
from logflume.sources.config import SourceConfig
from logflume.sources.discovery import expand, glob_directory


@dataclass(frozen=True)
class CheckResult:
    """One line of the report."""

    item: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'ok  ' if self.ok else 'FAIL'}  {self.item}: {self.detail}"


def _unreadable(paths: list[str]) -> list[str]:
    # Opening is the only sure test: access() answers for the real uid, and root passes it anyway.
    bad = []
    for path in paths:
        try:
            with open(path, "rb"):
                pass
        except OSError:
            bad.append(path)
    return bad


def check_source(config: SourceConfig) -> list[CheckResult]:
    """Each include glob matches readable files, or at least its directory exists (files may come later)."""
    results = []
    for pattern in config.include:
        item = f"source {config.name} {pattern}"
        matches = expand([pattern], config.exclude)
        if matches:
            bad = _unreadable(matches)
            if bad:
                results.append(
                    CheckResult(item, False, f"cannot read {len(bad)} of {len(matches)} files: {bad[0]}")
                )
            else:
                results.append(CheckResult(item, True, f"{len(matches)} files match, all readable"))
            continue
        directory = glob_directory(pattern)
        if directory.is_dir():
            results.append(CheckResult(item, True, f"no file matches yet; directory {directory} exists"))
        else:
            results.append(
                CheckResult(item, False, f"no file matches and directory {directory} does not exist")
            )
    return results


def check_state_dir(state_dir: Path) -> CheckResult:
    """The state directory is writable, or can be created (it is not created here)."""
    item = f"state_dir {state_dir}"
    try:
        existing = probe_directory(state_dir)
    except NotADirectoryError as exc:
        return CheckResult(item, False, f"{exc.filename} is not a directory")
    except OSError as exc:
        return CheckResult(item, False, f"cannot write in {exc.filename or state_dir}: {exc.strerror}")
    return CheckResult(item, True, "writable" if existing == state_dir else f"will be created in {existing}")


async def check_sink(config: SinkCommonConfig, state_dir: Path, answer_within: float) -> CheckResult:
    """Build the sink as the daemon would and let it probe its backend."""
    item = f"sink {config.name}"
    context = SinkContext(state_dir=state_dir, host=socket.gethostname())
    try:
        sink = build_sink(config, context)
    except Exception as exc:  # any construction failure is this sink's problem, reported as such
        return CheckResult(item, False, f"cannot build: {exc}")
    try:
        async with asyncio.timeout(answer_within):
            detail = await sink.check()
    except TimeoutError:
        return CheckResult(item, False, f"no answer within {answer_within:g}s")
    except Exception as exc:  # SinkError normally; a client library's own error all the same
        return CheckResult(item, False, str(exc) or type(exc).__name__)
    finally:
        with contextlib.suppress(Exception):
            await sink.close()
    return CheckResult(item, True, detail)


async def run_checks(
    state_dir: Path, sources: list[SourceConfig], sinks: list[Any], answer_within: float
) -> list[CheckResult]:
    """Every check of a config, in report order (sinks probed concurrently)."""
    results = [check_state_dir(state_dir)]
    for source in sources:
        results.extend(check_source(source))
    results.extend(await asyncio.gather(*(check_sink(sink, state_dir, answer_within) for sink in sinks)))
    return results
