"""HTTP channels (webhook, Slack, PagerDuty): one aiohttp session each, JSON POST, outcome classified."""

from __future__ import annotations

from typing import Any

import aiohttp

from logflume.errors import AlertError, FatalAlertError
from logflume.events import META_KEY, Event
from logflume.retry import Outcome, http_outcome


def strip_meta(alert: Event) -> dict[str, Any]:
    return {key: value for key, value in alert.items() if key != META_KEY}


class HttpChannel:
    """POSTs a JSON body; 2xx is success, 429/5xx/connection errors retry, other 4xx are fatal."""

    def __init__(self, name: str, url: str, headers: dict[str, str] | None = None) -> None:
        self.name = name
        self.url = url
        self.headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    async def open(self) -> None:
        if self._session is None:
            # Timeouts are applied per attempt by the dispatcher (asyncio.timeout).
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    def body(self, alert: Event) -> dict[str, Any]:
        return strip_meta(alert)

    async def send(self, alert: Event) -> None:
        if self._session is None:
            await self.open()
        assert self._session is not None
        try:
            async with self._session.post(self.url, json=self.body(alert), headers=self.headers) as response:
                text = await response.text()
                status = response.status
        except aiohttp.ClientError as exc:
            raise AlertError(f"{self.name}: request failed: {exc}") from exc
        if 200 <= status < 300:
            return
        reason = f"{self.name}: HTTP {status}: {text[:200]}"
        if http_outcome(status) is Outcome.RETRY:
            raise AlertError(reason)
        raise FatalAlertError(reason)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
