"""Worker processes for real: jobs run in ``python -m logflume.workers.process`` children, results come
back in order and equal to the same job run in process; a worker that is killed is replaced and
its chunks run again; a worker that cannot start fails the pool visibly."""

from __future__ import annotations

import dataclasses
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from logflume.errors import WorkerError
from logflume.generate import lines as sample_lines
from logflume.pipeline.config import PipelineConfig
from logflume.pipeline.job import ChunkResult, ChunkWork, Job, ParseSettings, StageSet
from logflume.sinks.elasticsearch.bulk import encoding_key
from logflume.sinks.encoders import make_encoder
from logflume.workers import pool as pool_module
from logflume.workers.pool import ProcessPool
from logflume.workers.wire import LogSettings
from tests.waiting import until

LOGS = LogSettings("WARNING", "json", {})
NOW = 1_800_000_000.0


def chunks(count: int, lines_each: int = 300) -> list[bytes]:
    """Chunks of whole lines, ~180 KB each."""
    data = list(sample_lines(count * lines_each, seed=8))
    return [b"".join(data[i * lines_each : (i + 1) * lines_each]) for i in range(count)]


def work(data: bytes, start: int = 0) -> ChunkWork:
    return ChunkWork("proxy", "f" * 16, "/logs/app.log", start, data, NOW, {})


def blocks(result: ChunkResult) -> list[tuple[str, bytes]]:
    return [(block.source, bytes(block.data)) for block in result.lines]


@pytest.fixture
async def pool() -> AsyncIterator[ProcessPool]:
    started = ProcessPool(2, PipelineConfig(), [ParseSettings("proxy")], LOGS)
    await started.start()
    yield started
    await started.stop()


async def test_results_come_back_in_order_and_as_in_process(pool: ProcessPool) -> None:
    """Eight chunks over two workers: every result equals the in-process job's, in submission order."""
    local = Job(PipelineConfig(), [ParseSettings("proxy")])
    data = chunks(8)
    futures = [await pool.submit(work(chunk, index)) for index, chunk in enumerate(data)]
    results = [await future for future in futures]
    expected = [blocks(local.run(work(chunk, index))) for index, chunk in enumerate(data)]
    assert expected == [blocks(result) for result in results]


async def test_results_larger_than_the_result_ring_come_through_the_pipe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a result ring of 300 KB, results of ~90 KB go through it and results of ~550 KB
    through the pipe, mixed: every result arrives in order, equal to the in-process job's."""
    monkeypatch.setattr(pool_module, "RESULT_RING_BYTES", 300_000)
    started = ProcessPool(1, PipelineConfig(), [ParseSettings("proxy")], LOGS)
    await started.start()
    try:
        local = Job(PipelineConfig(), [ParseSettings("proxy")])
        data = [chunks(1, 100)[0], chunks(1, 600)[0], chunks(1, 100)[0], chunks(1, 100)[0], chunks(1, 600)[0]]
        futures = [await started.submit(work(chunk, index)) for index, chunk in enumerate(data)]
        results = [await future for future in futures]
        expected = [blocks(local.run(work(chunk, index))) for index, chunk in enumerate(data)]
        assert expected == [blocks(result) for result in results]
        sizes = [len(result.lines[0].data) for result in results]
        assert min(sizes) < 300_000 // 2 < 300_000 < max(sizes)  # both ways were taken
    finally:
        await started.stop()


@pytest.mark.parametrize("result_ring", [pool_module.RESULT_RING_BYTES, 1000])
async def test_sinks_encodings_come_back_with_their_blocks(
    monkeypatch: pytest.MonkeyPatch, result_ring: int
) -> None:
    """Asked for a sink's encoding (an Elasticsearch bulk body), a worker returns it beside every
    block's lines, equal to the in-process job's: through the result ring, and through the pipe
    (a ring too small for any result)."""
    monkeypatch.setattr(pool_module, "RESULT_RING_BYTES", result_ring)
    key = encoding_key("logs-%Y.%m.%d")
    started = ProcessPool(1, PipelineConfig(), [ParseSettings("proxy")], LOGS)
    await started.start()
    try:
        local = Job(PipelineConfig(), [ParseSettings("proxy")], make_encoder)
        data = chunks(3)
        asks = [dataclasses.replace(work(chunk, index), encodings=(key,)) for index, chunk in enumerate(data)]
        results = [await future for future in [await started.submit(ask) for ask in asks]]
        expected = [local.run(ask) for ask in asks]
    finally:
        await started.stop()

    def encodings(result: ChunkResult) -> list[tuple[bytes, list[int], frozenset[str]]]:
        out = []
        for block in result.lines:
            assert block.encoded is not None
            enc = block.encoded[key]
            out.append((bytes(enc.data), list(enc.ends), enc.names))
        return out

    assert [encodings(result) for result in expected] == [encodings(result) for result in results]
    assert [blocks(result) for result in expected] == [blocks(result) for result in results]
    assert all(len(enc[1]) == 300 for result in results for enc in encodings(result))


async def test_a_killed_worker_is_replaced_and_its_chunks_run_again(pool: ProcessPool) -> None:
    """SIGKILL of a worker holding chunks (stopped first, so it holds them): a new worker starts,
    every chunk's result arrives once, in order, equal to the in-process job's."""
    local = Job(PipelineConfig(), [ParseSettings("proxy")])
    victim = pool.pids()[0]
    os.kill(victim, signal.SIGSTOP)
    data = chunks(6)
    futures = [await pool.submit(work(chunk, index)) for index, chunk in enumerate(data)]
    os.kill(victim, signal.SIGKILL)
    results = [await future for future in futures]
    expected = [blocks(local.run(work(chunk, index))) for index, chunk in enumerate(data)]
    assert expected == [blocks(result) for result in results]
    assert (1, False) == (pool.restarts, victim in pool.pids())
    assert 2 == len(pool.pids())


async def test_a_worker_that_cannot_start_again_fails_the_pool(tmp_path: Path) -> None:
    """The lookup table a worker reads at start is gone when a worker must be replaced: the chunks it
    held, and every later submit, fail with WorkerError (the daemon then stops, exit 1)."""
    table = tmp_path / "users.csv"
    table.write_text("user_id,team\nu1,core\n")
    config = PipelineConfig.model_validate({"enrich": {"users": {"path": str(table)}}})
    started = ProcessPool(1, config, [ParseSettings("proxy")], LOGS)
    await started.start()
    try:
        [victim] = started.pids()
        os.kill(victim, signal.SIGSTOP)
        future = await started.submit(work(chunks(1)[0]))
        table.unlink()
        os.kill(victim, signal.SIGKILL)
        with pytest.raises(WorkerError, match="did not start"):
            await future
        with pytest.raises(WorkerError):
            await started.submit(work(chunks(1)[0]))
    finally:
        await started.stop()


async def test_new_stages_reach_every_worker(pool: ProcessPool) -> None:
    """After :meth:`ProcessPool.use`, chunks submitted later run through the new stages."""
    rules = [{"when": "level == 'DEBUG'", "action": "drop"}]
    dropping = PipelineConfig.model_validate({"filter": {"rules": rules}})
    pool.use(dropping, StageSet.build(dropping))
    futures = [await pool.submit(work(chunk)) for chunk in chunks(4)]
    results = [await future for future in futures]
    levels = {event["level"] for result in results for block in result.lines for event in block.events()}
    assert "DEBUG" not in levels
    assert {"INFO", "ERROR"} <= levels


async def test_stop_ends_every_worker(pool: ProcessPool) -> None:
    """After stop() no worker process is left."""
    pids = pool.pids()
    await pool.stop()

    def gone() -> bool:
        return not any(os.path.exists(f"/proc/{pid}") for pid in pids)

    await until(gone, "the workers to exit")
    assert [] == pool.pids()
