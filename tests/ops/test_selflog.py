"""Own logs: the seed's JSON schema, and levels changed at run time."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from logflume import selflog
from logflume.selflog import JsonFormatter


@pytest.fixture
def restore_levels() -> Iterator[None]:
    """Put every logflume logger's level back after the test."""
    loggers = [
        logging.getLogger(name)
        for name in list(logging.root.manager.loggerDict)
        if name.startswith("logflume")
    ]
    loggers.append(logging.getLogger("logflume"))
    saved = {logger: logger.level for logger in loggers}
    yield
    for logger, level in saved.items():
        logger.setLevel(level)
    for name in ("logflume.test_a", "logflume.test_b"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def record(message: str, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("logflume.sinks.runner")
    rec = logger.makeRecord(logger.name, logging.WARNING, __file__, 42, message, (), None, "deliver", extra)
    rec.pathname = "/usr/lib/python3/site-packages/logflume/sinks/runner.py"
    return rec


class TestJsonFormatter:
    def test_seed_schema(self) -> None:
        """timestamp, level, logger, module, function, line, message, then the context fields."""
        doc = json.loads(JsonFormatter().format(record("Sink write failed", sink="es", events=12)))
        assert list(doc) == [
            "timestamp",
            "level",
            "logger",
            "module",
            "function",
            "line",
            "message",
            "sink",
            "events",
        ]
        assert (doc["level"], doc["logger"], doc["module"], doc["function"], doc["line"]) == (
            "WARNING",
            "logflume.sinks.runner",
            "logflume.sinks.runner",
            "deliver",
            42,
        )
        assert doc["timestamp"].endswith("Z")
        assert len(doc["timestamp"]) == len("2024-01-15T10:30:15.123Z")

    def test_context_never_hides_a_schema_field(self) -> None:
        """A context field named like a schema field is kept under extra_<name>."""
        doc = json.loads(JsonFormatter().format(record("Changed", level="DEBUG")))
        assert (doc["level"], doc["extra_level"]) == ("WARNING", "DEBUG")


@pytest.mark.usefixtures("restore_levels")
class TestLevels:
    def test_set_level_returns_the_previous_effective_level(self) -> None:
        """A child logger without its own level reports its parent's as the previous one."""
        selflog.apply_levels("INFO", {})
        previous = selflog.set_level("logflume.test_a", "debug")
        assert (previous, selflog.levels()["logflume.test_a"]) == ("INFO", "DEBUG")

    def test_set_level_refuses_foreign_loggers_and_unknown_levels(self) -> None:
        """Only logflume's loggers and the five standard levels."""
        with pytest.raises(ValueError, match="not one of logflume's"):
            selflog.set_level("asyncio", "DEBUG")
        with pytest.raises(ValueError, match="unknown level"):
            selflog.set_level("logflume", "TRACE")

    def test_step_moves_every_set_level_and_stops_at_the_ends(self) -> None:
        """+1 makes every explicitly set level one step more verbose; DEBUG stays DEBUG."""
        selflog.apply_levels("INFO", {"logflume.test_a": "DEBUG", "logflume.test_b": "ERROR"})
        up = selflog.step(1)
        down = selflog.step(-2)
        assert (up["logflume"], up["logflume.test_a"], up["logflume.test_b"]) == ("DEBUG", "DEBUG", "WARNING")
        assert (down["logflume"], down["logflume.test_a"], down["logflume.test_b"]) == (
            "WARNING",
            "WARNING",
            "CRITICAL",
        )
