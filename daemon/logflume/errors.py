"""The exception tree of logflume.

    LogflumeError
    ├── ConfigError            a config file that cannot be loaded or validated
    ├── ConditionError         a filter condition or expression that cannot compile (also a ValueError)
    ├── MappingError           a source mapping that cannot compile, or one event it cannot convert
    ├── SourceError            a source cannot open or read what it was given
    ├── CheckpointError        the checkpoint store cannot be read or written
    │   └── StateFileError         a state file holds something impossible (corrupt, negative offset)
    ├── StateLockedError       another daemon holds the state_dir's lock
    ├── SinkError              a sink failed to deliver
    │   ├── RetryableSinkError     transient: connection, timeout, 429, 5xx — retried with backoff
    │   │   └── SinkSetupLostError     what ``prepare`` made is gone (a dropped table): prepare again
    │   └── FatalSinkError         permanent: auth, bad request — the runner stops retrying
    ├── AlertError             an alert channel failed to deliver
    │   └── FatalAlertError        permanent (4xx, auth refused): not retried
    ├── AnalysisError          `analyze`/`query` cannot read an input or evaluate the request
    ├── DigestError            an analysis digest could not be built
    ├── WorkerError            a worker process could not start, or a chunk killed worker after worker
    └── MissingExtraError      what was asked needs an optional part (`logflume[postgres]`) not installed

Library errors are converted at the boundary with ``raise ... from exc``; what a failure means for
the next attempt is :class:`logflume.retry.Outcome`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Exit codes of every command.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2  # the config file is invalid, or a state file (checkpoint) is impossible


class LogflumeError(Exception):
    """Base of every error logflume raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file: where (YAML key path and line) and what."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        line = f"line {self.line}" if self.line is not None else ""
        where = f"{self.path} ({line})" if self.path and line else self.path or line
        return f"{where}: {self.message}" if where else self.message


@dataclass
class ConfigError(LogflumeError):
    """A config file failed to load or validate; carries every issue found."""

    issues: list[ConfigIssue] = field(default_factory=list)
    file: str | None = None
    warnings: list[ConfigIssue] = field(default_factory=list)  # non-fatal: a literal secret

    def __str__(self) -> str:
        head = f"invalid config {self.file}" if self.file else "invalid config"
        count = len(self.issues)
        head += f": {count} problem{'s' if count != 1 else ''}" if count > 1 else ""
        return head + "\n" + "\n".join(f"  {issue}" for issue in self.issues)


class ConditionError(LogflumeError, ValueError):
    """A filter condition (mapping or one-line expression) that cannot be compiled.

    A ValueError too, so a config model validator that compiles a condition reports it as an
    ordinary validation error at the condition's key path.
    """


class MappingError(LogflumeError, ValueError):
    """A source mapping (or preset) that cannot compile, or an event it cannot convert.

    A ValueError too, so config validation reports a bad mapping at its key path. Raised per event
    only inside the parser, which turns it into a dead letter with this error as the reason.
    """


class SourceError(LogflumeError):
    """A source could not open or read a file."""


class CheckpointError(LogflumeError):
    """The checkpoint store could not be read or written."""


class StateFileError(CheckpointError):
    """A checkpoint file that cannot be right (not JSON, another version, a negative offset…).

    The daemon refuses to start rather than guess: starting over could skip data (``read_from:
    end``) or send everything again. The message names the file and the value.
    """


class StateLockedError(LogflumeError):
    """The state_dir is locked by another running daemon (two would corrupt each other's state)."""


class SinkError(LogflumeError):
    """A sink failed to deliver a batch."""


class RetryableSinkError(SinkError):
    """A transient failure: the same request may succeed later."""


class SinkSetupLostError(RetryableSinkError):
    """What the sink's ``prepare`` made is gone (a dropped table, a deleted bucket): the runner
    prepares the sink again, then retries the write."""


class FatalSinkError(SinkError):
    """A permanent failure: retrying the same request cannot succeed."""


class AlertError(LogflumeError):
    """An alert channel failed to deliver."""


class FatalAlertError(AlertError):
    """An alert channel refused an alert for good (bad request, auth): retrying cannot help."""


class AnalysisError(LogflumeError):
    """``logflume analyze`` or ``query`` cannot resolve or read an input, or cannot run the request."""


class DigestError(LogflumeError):
    """An analysis digest (the Parquet file beside a compressed log file) could not be built."""


class WorkerError(LogflumeError):
    """A worker process could not start (or start again), or one chunk killed several in a row."""


class MissingExtraError(LogflumeError):
    """What was asked needs an optional part of logflume (an extra) that is not installed."""

    def __init__(self, extra: str, needed_by: str) -> None:
        self.extra = extra
        self.needed_by = needed_by
        super().__init__(
            f"{needed_by} needs logflume[{extra}], which is not installed: pip install 'logflume[{extra}]'"
        )
