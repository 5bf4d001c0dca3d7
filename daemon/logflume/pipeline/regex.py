"""RE2 patterns from config: linear-time matching whatever the pattern or the input."""

from __future__ import annotations

from typing import Any

import re2


def compile_re2(pattern: str) -> Any:
    """A compiled RE2 pattern (``.search``, ``.sub``), or ValueError with RE2's reason."""
    options = re2.Options()
    # RE2 would otherwise print its own copy of the error to stderr.
    options.log_errors = False
    try:
        return re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else ""
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        raise ValueError(f"invalid regular expression {pattern!r}: {reason}") from exc
