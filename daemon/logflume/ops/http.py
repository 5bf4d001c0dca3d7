"""The local HTTP endpoint, served by aiohttp inside the daemon's event loop.

    GET  /metrics    Prometheus text format (read from the daemon's counters at scrape time)
    GET  /healthz    200 while the process and its loop are alive; JSON says why not
    GET  /readyz     200 when sources follow their files and every sink writes or buffers; else 503
    GET  /loglevel   the levels of logflume's loggers
    POST /loglevel   {"level": "DEBUG", "logger": "logflume.sinks"} changes one at run time
    GET  /tap        ?stage=redact&limit=10: NDJSON stream of events after a stage (default redact;
                     stages before it only with http.tap_before_redact)

Handlers run on the loop: a scrape reads counters that only the loop writes, with no locking.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from logflume import selflog
from logflume.ops.config import HttpConfig
from logflume.ops.health import LoopMonitor, liveness, readiness
from logflume.ops.metrics import Metrics
from logflume.ops.tap import DEFAULT_STAGE, TapHub, tap_refusal
from logflume.ops.view import DaemonView

log = logging.getLogger("logflume.ops.http")

MAX_TAP_LIMIT = 100_000


class OpsServer:
    """The endpoint of one daemon; :meth:`start` binds, :meth:`stop` closes connections and taps."""

    def __init__(self, config: HttpConfig, view: DaemonView, tap: TapHub, monitor: LoopMonitor) -> None:
        self.config = config
        self.view = view
        self.tap = tap
        self.monitor = monitor
        self.metrics = Metrics(view)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self.handle_metrics)
        app.router.add_get("/healthz", self.handle_healthz)
        app.router.add_get("/readyz", self.handle_readyz)
        app.router.add_get("/loglevel", self.handle_get_loglevel)
        app.router.add_post("/loglevel", self.handle_post_loglevel)
        app.router.add_get("/tap", self.handle_tap)
        return app

    async def start(self) -> None:
        """Listen on ``http.address``; raises OSError when the address cannot be bound."""
        # handler_cancellation: a tap client that disconnects ends its handler (and its tap) at once.
        runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.config.host, self.config.port)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        # The bound socket tells the port when the config asked for port 0.
        self.port = int(runner.addresses[0][1]) if runner.addresses else self.config.port
        log.info("Listening", extra={"address": self.config.host, "port": self.port})

    async def stop(self) -> None:
        self.tap.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers ----------------------------------------------------------------------------

    async def handle_metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def handle_healthz(self, request: web.Request) -> web.Response:
        ok, body = liveness(self.view, self.monitor)
        return web.json_response(body, status=200 if ok else 503)

    async def handle_readyz(self, request: web.Request) -> web.Response:
        ok, body = readiness(self.view)
        return web.json_response(body, status=200 if ok else 503)

    async def handle_get_loglevel(self, request: web.Request) -> web.Response:
        return web.json_response({"levels": selflog.levels()})

    async def handle_post_loglevel(self, request: web.Request) -> web.Response:
        try:
            body: Any = await request.json()
        except ValueError:
            return _error(400, 'expected a JSON body like {"level": "DEBUG", "logger": "logflume.sinks"}')
        if not isinstance(body, dict):
            return _error(400, "expected a JSON object")
        level = body.get("level")
        logger = body.get("logger", selflog.ROOT)
        if not isinstance(level, str) or not isinstance(logger, str):
            return _error(400, "level and logger must be strings")
        try:
            previous = selflog.set_level(logger, level)
        except ValueError as exc:
            return _error(400, str(exc))
        extra = {"target": logger, "new_level": level.upper(), "previous": previous}
        log.warning("Log level changed", extra=extra)  # WARNING: shown whatever the new level is
        return web.json_response({"logger": logger, "level": level.upper(), "previous": previous})

    async def handle_tap(self, request: web.Request) -> web.StreamResponse:
        stages = list(self.view.stage_names())
        stage = request.query.get("stage", DEFAULT_STAGE)
        if stage not in stages:
            return _error(400, f"unknown stage {stage!r}; stages: {', '.join(stages)}")
        refusal = tap_refusal(stages, stage, self.config.tap_before_redact)
        if refusal is not None:
            log.warning("Tap refused", extra={"stage": stage, "peer": request.remote})
            return _error(403, refusal)
        try:
            limit = int(request.query.get("limit", "10"))
        except ValueError:
            return _error(400, "limit must be an integer")
        if not 1 <= limit <= MAX_TAP_LIMIT:
            return _error(400, f"limit must be between 1 and {MAX_TAP_LIMIT}")
        tapper = self.tap.subscribe(stage, limit)
        log.info("Tap started", extra={"stage": stage, "limit": limit, "peer": request.remote})
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        try:
            await response.prepare(request)
            while not tapper.finished:
                line = await tapper.next_line()
                if not line:
                    break
                await response.write(line)
            await response.write_eof()
        finally:
            self.tap.unsubscribe(tapper)
            extra = {"stage": stage, "taken": limit - max(0, tapper.remaining), "skipped": tapper.skipped}
            log.info("Tap ended", extra=extra)
        return response


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)
