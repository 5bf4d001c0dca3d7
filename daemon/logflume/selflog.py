"""logflume's own logs: JSON lines on stderr in the seed's schema, plain text on a terminal.

Data goes in fields (``log.info("File finished", extra={"path": p})``), never into the message.
Levels are per logger (``log.levels`` in the config) and change at run time: :func:`step`
(SIGUSR1/SIGUSR2) and :func:`set_level` (``POST /loglevel``).
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from pathlib import Path
from typing import Any

import orjson

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "taskName"}

ROOT = "logflume"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@functools.lru_cache(maxsize=256)
def _dotted_module(pathname: str, module: str) -> str:
    """``logflume.sinks.runner`` for .../logflume/sinks/runner.py, as the seed's schema shows modules."""
    parts = Path(pathname).with_suffix("").parts
    if ROOT in parts:
        start = len(parts) - 1 - parts[::-1].index(ROOT)
        return ".".join(parts[start:])
    return module


def _context(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        created = record.created
        doc: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
            + f".{int(created * 1000) % 1000:03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "module": _dotted_module(record.pathname, record.module),
            "function": record.funcName,
            "line": record.lineno,
            "message": record.getMessage(),
        }
        for key, value in _context(record).items():
            # A context field never hides a schema field (extra={"level": ...} is easy to write).
            doc[f"extra_{key}" if key in doc else key] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%H:%M:%S", time.localtime(record.created))
        fields = " ".join(f"{k}={v}" for k, v in _context(record).items())
        text = f"{stamp} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            text += f"  {fields}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup_logging(level: str = "INFO", fmt: str = "auto", levels: dict[str, str] | None = None) -> None:
    """Route the ``logflume`` loggers to stderr in the chosen format."""
    use_text = fmt == "text" or (fmt == "auto" and sys.stderr.isatty())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(TextFormatter() if use_text else JsonFormatter())
    root = logging.getLogger(ROOT)
    root.handlers[:] = [handler]
    root.propagate = False
    apply_levels(level, levels or {})


def apply_levels(level: str, levels: dict[str, str]) -> None:
    """Set the root level and the per-logger levels of the config (others keep theirs)."""
    logging.getLogger(ROOT).setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def _ours(name: str) -> bool:
    return name == ROOT or name.startswith(ROOT + ".")


def levels() -> dict[str, str]:
    """The explicitly set level of each of our loggers (the others inherit)."""
    out = {ROOT: logging.getLevelName(logging.getLogger(ROOT).level)}
    for name, logger in sorted(logging.root.manager.loggerDict.items()):
        if _ours(name) and isinstance(logger, logging.Logger) and logger.level != logging.NOTSET:
            out[name] = logging.getLevelName(logger.level)
    return out


def set_level(name: str, level: str) -> str:
    """Set one of our loggers' level; returns its previous effective level. ValueError when the
    logger is not ours or the level is unknown."""
    level = level.upper()
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; one of {', '.join(LEVELS)}")
    if not _ours(name):
        raise ValueError(f"logger {name!r} is not one of logflume's (they start with {ROOT!r})")
    logger = logging.getLogger(name)
    previous = logging.getLevelName(logger.getEffectiveLevel())
    logger.setLevel(level)
    return str(previous)


def step(steps: int) -> dict[str, str]:
    """Move every explicitly set level of ours ``steps`` towards more verbose (positive: INFO →
    DEBUG) or less verbose (negative); returns the new levels."""
    changed: dict[str, str] = {}
    for name, current in levels().items():
        index = LEVELS.index(current) if current in LEVELS else LEVELS.index("INFO")
        new = LEVELS[min(len(LEVELS) - 1, max(0, index - steps))]
        logging.getLogger(name).setLevel(new)
        changed[name] = new
    return changed
