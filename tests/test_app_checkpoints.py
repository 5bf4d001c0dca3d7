"""The daemon's checkpoint saves: a save that does not complete leaves its sources due for the next."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from logflume.app import Daemon
from logflume.config import Config
from tests.waiting import until


def daemon_for(tmp_path: Path) -> Daemon:
    return Daemon(
        Config.model_validate(
            {
                "state_dir": str(tmp_path / "state"),
                "sources": [{"name": "proxy", "include": [str(tmp_path / "*.log")]}],
                "sinks": [{"name": "local", "type": "file", "path": str(tmp_path / "out.jsonl")}],
            }
        )
    )


class TestSaveCheckpoints:
    async def test_save_cancelled_while_sinks_sync_leaves_the_source_due(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A save cut off after its snapshot (a shutdown cancels the checkpointer while sinks sync)
        leaves the source due, so the final save still records its offsets instead of skipping it."""
        daemon = daemon_for(tmp_path)
        source = daemon.sources["proxy"]
        source.mark_dirty()
        syncing = asyncio.Event()

        async def slow_sync() -> None:
            syncing.set()
            await asyncio.Event().wait()  # never returns: only the cancellation ends it

        monkeypatch.setattr(daemon.runners[0], "sync", slow_sync)
        save = asyncio.create_task(daemon.save_checkpoints())
        await until(syncing.is_set, "the save to reach the sink sync")
        assert False is source.checkpoint_due()  # the snapshot was taken
        save.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await save
        assert True is source.checkpoint_due()

    async def test_failed_sink_sync_saves_nothing_and_keeps_the_source_due(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When a sink cannot make its data durable, no checkpoint file is written and the source
        stays due."""
        daemon = daemon_for(tmp_path)
        source = daemon.sources["proxy"]
        source.mark_dirty()

        async def failing_sync() -> None:
            raise OSError("Input/output error")

        monkeypatch.setattr(daemon.runners[0], "sync", failing_sync)
        await daemon.save_checkpoints()
        assert (True, False) == (source.checkpoint_due(), (tmp_path / "state" / "checkpoints").exists())
