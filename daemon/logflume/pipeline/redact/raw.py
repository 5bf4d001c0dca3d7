"""Redaction of raw text that never became an event: a dead letter's line.

A line is dead-lettered because it is not a JSON object (a syntax error, a cut-off line, bytes
that are not UTF-8), so the stage's walk over keys and values cannot run on it. Its text gets
what a message string gets, the text rules (``password=…``, tokens, keys, URL userinfo), and,
because such a line is usually JSON all the same, the values of its secret-named keys
(``"cookie": "…"``, ``\\"authorization\\": \\"…\\"`` when the JSON is itself inside a string)
are replaced as the stage replaces the values of secret-named fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from logflume.pipeline.redact.config import RedactConfig
from logflume.pipeline.redact.stage import FIELD_RULE, Redactor

_COMPACT = str.maketrans("", "", "-_. ")
# A JSON key (its quotes possibly escaped, as in JSON inside a string) and its scalar value: a
# string, whose closing quote may be cut off, or anything up to the next delimiter. Objects and
# lists are left to their own keys. Every repetition before the value is bounded: a run of
# backslashes or spaces must not make the search quadratic.
_JSON_PAIR = re.compile(
    r"(?P<q>\\{0,3})\"(?P<key>[^\"\\\n]{1,200})(?P=q)\"[ \t]{0,8}:[ \t]{0,8}"
    r"(?:(?P=q)\"(?P<string>(?:[^\"\\\n]|\\[^\"\n])*)|(?P<scalar>[^\s\"{}\[\],]+))"
)


def text_scrubber(config: RedactConfig) -> Callable[[str], str]:
    """A function replacing the secrets in a raw line as ``config`` would in an event.

    Uses the config's rules and field names even when the stage itself is off.
    """
    redactor = Redactor(config.model_copy(update={"enabled": True}))
    field_names = redactor.field_names

    def scrub_pair(match: Any) -> str:
        value = match.group("string")
        if value is None:
            value = match.group("scalar")
        name = match.group("key").lower().translate(_COMPACT)
        if field_names is None or not value or value == "null" or not field_names.search(name):
            return str(match.group(0))
        start, end = match.span("string") if match.group("string") is not None else match.span("scalar")
        offset = match.start()
        whole = match.group(0)
        return f"{whole[: start - offset]}{redactor.marker(FIELD_RULE, value)}{whole[end - offset :]}"

    def scrub(text: str) -> str:
        if '"' in text:
            text = _JSON_PAIR.sub(scrub_pair, text)
        return redactor.scrub(text)

    return scrub
