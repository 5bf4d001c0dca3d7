"""Which paths a file sink's template produces: for rendering, listing and, above all, retention.

Retention and leftover compression must only ever touch files this sink made. A glob is not
enough: for sink A's ``{source}-%Y-%m-%d.jsonl`` the glob ``proxy-*-*-*.jsonl*`` also matches sink
B's ``proxy-errors-2026-01-01.jsonl`` in the same directory, and A's retention would delete B's
open file. So the template is parsed once into literal text, ``{source}`` and strftime fields, and
a candidate must match the regular expression built from it (each field only where its
characters can be: ``%Y`` four digits, ``%m`` two, …), plus the suffixes the sink itself adds:
the rotation stamp and ``.gz``.
"""

from __future__ import annotations

import glob
import re
import time

# What each strftime field can produce (UTC, C locale). Anything else: a run of non-slashes.
_FIELDS = {
    "Y": r"\d{4}",
    "G": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "H": r"\d{2}",
    "I": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
    "U": r"\d{2}",
    "W": r"\d{2}",
    "V": r"\d{2}",
    "j": r"\d{3}",
    "u": r"\d",
    "w": r"\d",
    "s": r"\d+",
    "e": r"[ \d]\d",
    "a": r"[A-Za-z]+",
    "A": r"[A-Za-z]+",
    "b": r"[A-Za-z]+",
    "B": r"[A-Za-z]+",
    "h": r"[A-Za-z]+",
    "p": r"[A-Za-z]+",
    "Z": r"[A-Za-z]+",
    "z": r"[+-]\d{4}",
    "F": r"\d{4}-\d{2}-\d{2}",
    "T": r"\d{2}:\d{2}:\d{2}",
}
_ANY = r"[^/]+?"
_TOKEN = re.compile(r"\{source\}|%-?[a-zA-Z%]")

# Added by the sink: ``.<UTC stamp>.<ns>`` when a file is rotated, ``.gz`` once compressed.
ROTATION_SUFFIX = r"\.\d{8}T\d{6}\.\d{9}"
ROTATED = re.compile(ROTATION_SUFFIX + r"$")


class Template:
    """A parsed path template: renders paths and recognises the files it produced."""

    def __init__(self, template: str) -> None:
        self.template = template
        self._parts: list[tuple[str, str]] = []  # ("text", literal) | ("source", "") | ("field", "%Y")
        position = 0
        for match in _TOKEN.finditer(template):
            if match.start() > position:
                self._parts.append(("text", template[position : match.start()]))
            token = match.group()
            if token == "{source}":
                self._parts.append(("source", ""))
            elif token == "%%":
                self._parts.append(("text", "%"))
            else:
                self._parts.append(("field", token))
            position = match.end()
        if position < len(template):
            self._parts.append(("text", template[position:]))
        self._matchers: dict[str | None, re.Pattern[str]] = {}

    def render(self, source: str, now: float) -> str:
        return time.strftime(self.template.replace("{source}", source.replace("%", "%%")), time.gmtime(now))

    def glob(self, source: str | None) -> str:
        """A glob listing at least every file of ``source`` (None: of any source), rotated ones too."""
        out = []
        for kind, value in self._parts:
            if kind == "text":
                out.append(glob.escape(value))
            elif kind == "source" and source is not None:
                out.append(glob.escape(source))
            else:
                out.append("*")
        return "".join(out) + "*"

    def matcher(self, source: str | None) -> re.Pattern[str]:
        """A regex matching exactly the paths this template makes for ``source`` (None: any source):
        the file being written, its rotated names and their ``.gz``."""
        cached = self._matchers.get(source)
        if cached is not None:
            return cached
        out = []
        for kind, value in self._parts:
            if kind == "text":
                out.append(re.escape(value))
            elif kind == "source":
                out.append(_ANY if source is None else re.escape(source))
            elif value.startswith("%-"):
                out.append(r"\d+" if _FIELDS.get(value[2:], "").startswith(r"\d") else _ANY)
            else:
                out.append(_FIELDS.get(value[1:], _ANY))
        pattern = re.compile("".join(out) + f"(?:{ROTATION_SUFFIX})?(?:\\.gz)?")
        self._matchers[source] = pattern
        return pattern

    def owns(self, path: str, source: str | None) -> bool:
        """True when ``path`` (as listed by :meth:`glob`) is one of this template's files."""
        return self.matcher(source).fullmatch(path) is not None
