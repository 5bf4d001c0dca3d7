"""pydantic's validation errors in plain words.

"Input should be a valid integer, unable to parse string as an integer [type=int_parsing, …]" becomes
"expected a whole number, got 'abc'"; an unknown key or value gets "did you mean `batch`?". The value
of a secret key is never repeated.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic_core import ErrorDetails

# Error type -> what the value should have been (type mismatches; unions list one per member).
_EXPECTED = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping of keys",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "path_type": "a path",
    "none_required": "null",
}
_BOUNDS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "at most"),
}
_PREFIXES = ("Value error, ", "Assertion failed, ")
_UNIT_EXAMPLES = {"Duration": "a duration such as '10s'", "ByteSize": "a size such as '100MB'"}


def got(value: Any, secret: bool = False) -> str:
    """How the offending value is shown: 'abc', 5, true, a list, a mapping, nothing."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if secret:
        return "a value (not shown: the key holds a secret)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    return str(value)


def suggest(word: Any, choices: Iterable[Any]) -> str:
    """ "; did you mean `batch`?" when one of ``choices`` is close to ``word``, else ""."""
    names = [str(choice) for choice in choices]
    close = difflib.get_close_matches(str(word), names, n=1, cutoff=0.6)
    return f"; did you mean `{close[0]}`?" if close else ""


def expected(error: ErrorDetails) -> str | None:
    """What a type mismatch expected ("a whole number"), or None when the error is not one."""
    return _EXPECTED.get(error["type"])


def plain(
    error: ErrorDetails,
    keys: Iterable[str] = (),
    choices: Iterable[Any] = (),
    secret: bool = False,
    unit: str | None = None,
) -> str:
    """``error`` in plain words; ``keys`` are the keys its mapping allows, ``choices`` the values,
    ``unit`` "Duration" or "ByteSize" when the value is one."""
    kind, ctx, value = error["type"], error.get("ctx", {}), error.get("input")
    if unit in _UNIT_EXAMPLES and (isinstance(value, bool) or not isinstance(value, str | int | float)):
        return f"expected {_UNIT_EXAMPLES[unit]}, got {got(value, secret)}"
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key" + suggest(error["loc"][-1], keys)
    wanted = expected(error)
    if wanted is not None:
        return f"expected {wanted}, got {got(value, secret)}"
    if kind in ("literal_error", "enum"):
        return f"expected {ctx.get('expected', 'another value')}, got {got(value, secret)}" + (
            "" if secret else suggest(value, choices)
        )
    if kind == "union_tag_invalid":
        tag, tags = ctx.get("tag"), ctx.get("expected_tags", "")
        return f"unknown type {got(tag)}: expected one of {tags}" + suggest(tag, choices)
    if kind == "union_tag_not_found":
        return f"required key is missing (one of {_tags(choices)})"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        return f"must be {words} {ctx.get(name)}, got {got(value, secret)}"
    if kind in ("too_short", "too_long"):
        count = ctx.get("min_length" if kind == "too_short" else "max_length")
        limit = "at least" if kind == "too_short" else "at most"
        return f"needs {limit} {count} item{'s' if count != 1 else ''}"
    if kind == "string_too_short":
        count = ctx.get("min_length")
        return "must not be empty" if count == 1 else f"must be at least {count} characters long"
    if kind == "string_too_long":
        return f"must be at most {ctx.get('max_length')} characters long"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx.get('pattern')}, got {got(value, secret)}"
    message = error["msg"]
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message[:1].lower() + message[1:]


def one_of(errors: list[ErrorDetails], secret: bool = False) -> str:
    """The errors of a value that matched none of a union's members, as one message."""
    wanted = [expected(error) for error in errors]
    if None in wanted:
        # The value had a member's type but broke one of its rules: that is the problem to tell.
        return plain(next(e for e, w in zip(errors, wanted, strict=True) if w is None), secret=secret)
    names = list(dict.fromkeys(w for w in wanted if w is not None))
    listed = ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]
    return f"expected {listed}, got {got(errors[0].get('input'), secret)}"


def _tags(choices: Iterable[Any]) -> str:
    names = [f"'{choice}'" for choice in choices]
    return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else "".join(names)
