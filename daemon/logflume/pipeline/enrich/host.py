"""The name of the host logflume runs on."""

from __future__ import annotations

import socket

from logflume.events import Event
from logflume.pipeline.enrich.config import HostConfig
from logflume.pipeline.paths import MISSING, make_getter, make_setter


class HostName:
    name = "host"

    def __init__(self, config: HostConfig) -> None:
        self.host = config.name or socket.gethostname()
        self.overwrite = config.overwrite
        self.get = make_getter(config.target)
        self.put = make_setter(config.target)

    def __call__(self, events: list[Event], now: float) -> None:
        host, get, put = self.host, self.get, self.put
        if self.overwrite:
            for event in events:
                put(event, host)
            return
        for event in events:
            if get(event) is MISSING:
                put(event, host)
