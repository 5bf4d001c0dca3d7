"""Conditions on events: a spec (mapping, or one-line expression) compiled once into a closure.

The spec is the seed's ``LogFilter`` mapping, extended::

    {level: ERROR}                                      field equals value
    {response_time_ms: {operator: gt, value: 5000}}     eq ne gt gte lt lte contains regex in exists
    {extra_data.stream: false}                          dotted paths reach into nested objects
    {all: [cond, ...]}  {any: [cond, ...]}  {not: cond} groups; several keys in one mapping = all
    "level == 'ERROR' and response_time_ms > 5000"      a string is a one-line expression

A missing field matches nothing (``not`` then makes it match). Regular expressions use RE2, whose
run time is linear in the input, so neither a hostile pattern nor a hostile line stalls the
daemon. Every problem is reported with its location inside the condition.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from logflume.errors import ConditionError
from logflume.events import Event
from logflume.pipeline.filter.expression import GROUP_KEYS, MAX_NESTING, parse_expression
from logflume.pipeline.paths import MISSING, check_path, make_getter
from logflume.pipeline.regex import compile_re2

Condition = Callable[[Event], bool]

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "contains", "regex", "in", "exists")
# Groups in the mapping form may nest this deep (an expression string inside may add its own
# MAX_NESTING levels): some hundred frames, far from Python's recursion limit.
MAX_DEPTH = 2 * MAX_NESTING
_LEAF_KEYS = frozenset({"operator", "value"})
# Integers past this are never "contained" in text: str() refuses more than 4300 digits.
_HUGE = 10**4000
_KINDS: dict[type, int] = {int: 0, float: 0, bool: 1, str: 2, type(None): 3}
# A pattern made only of these characters is a plain substring: checked with ``in``, which is
# far cheaper per event than a call into RE2.
_PLAIN = re.compile(r"[A-Za-z0-9 _\-:/=,;'\"@#%&<>!]+")


def compile_condition(spec: Any) -> Condition:
    """A function telling whether an event matches ``spec`` (mapping or one-line expression).

    Raises :class:`~logflume.errors.ConditionError` naming where in the spec the problem is.
    """
    return _compile(spec, "", 0)


def compile_regex(pattern: str) -> Any:
    """An RE2 pattern (linear-time search), or ConditionError with RE2's reason."""
    try:
        return compile_re2(pattern)
    except ValueError as exc:
        raise ConditionError(str(exc)) from exc


def _where(loc: str, message: str) -> ConditionError:
    return ConditionError(f"{loc}: {message}" if loc else message)


def _join(loc: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{loc}[{key}]"
    return f"{loc}.{key}" if loc else key


def _compile(spec: Any, loc: str, depth: int) -> Condition:
    # Bounded: compiling recurses per level, and so does every match of the compiled closures.
    if depth > MAX_DEPTH:
        raise _where(loc, f"the condition nests deeper than {MAX_DEPTH} levels of all/any/not")
    if isinstance(spec, str):
        try:
            spec = parse_expression(spec)
        except ConditionError as exc:
            raise _where(loc, f"invalid expression: {exc}") from exc
    if not isinstance(spec, dict):
        raise _where(loc, f"a condition must be a mapping or an expression string, not {type(spec).__name__}")
    if not spec:
        raise _where(loc, "a condition cannot be empty")
    parts: list[Condition] = []
    for key, value in spec.items():
        if not isinstance(key, str):
            raise _where(loc, f"field names must be strings, not {key!r}")
        here = _join(loc, key)
        if key in ("all", "any"):
            if not isinstance(value, list) or not value:
                raise _where(here, f"'{key}' needs a non-empty list of conditions")
            items = [_compile(item, _join(here, i), depth + 1) for i, item in enumerate(value)]
            parts.append(_all(items) if key == "all" else _any(items))
        elif key == "not":
            parts.append(_not(_compile(value, here, depth + 1)))
        else:
            try:
                check_path(key)
            except ValueError as exc:
                raise _where(here, str(exc)) from exc
            parts.append(_field(key, value, here))
    return _all(parts)


def _field(path: str, value: Any, loc: str) -> Condition:
    if not isinstance(value, dict):
        return _leaf(path, "eq", value, loc)
    unknown = set(value) - _LEAF_KEYS
    if "operator" not in value:
        raise _where(
            loc,
            "a mapping here must be {operator: ..., value: ...}; "
            f"use a dotted path ('{path}.<key>') to reach into a nested object",
        )
    if unknown:
        raise _where(loc, f"unknown key(s) {', '.join(sorted(map(str, unknown)))} (expected operator, value)")
    op = value["operator"]
    if op not in OPERATORS:
        expected = ", ".join(OPERATORS)
        raise _where(_join(loc, "operator"), f"unknown operator {op!r} (expected one of: {expected})")
    if "value" not in value:
        if op != "exists":
            raise _where(loc, f"operator {op!r} needs a value")
        return _leaf(path, op, True, loc)
    return _leaf(path, op, value["value"], _join(loc, "value"))


def _leaf(path: str, op: str, target: Any, loc: str) -> Condition:
    get = make_getter(path)
    if op == "eq" or op == "ne":
        if isinstance(target, dict | list):
            raise _where(loc, f"'{op}' compares with a single value; use 'in' for a list of values")
        if target is None or isinstance(target, bool):
            # Identity: in Python True == 1, but a JSON true is not the number 1.
            def same(event: Event) -> bool:
                return get(event) is target
        else:

            def same(event: Event) -> bool:
                value = get(event)
                return value == target and type(value) is not bool

        if op == "eq":
            return same

        def differs(event: Event) -> bool:
            return get(event) is not MISSING and not same(event)

        return differs
    if op in ("gt", "gte", "lt", "lte"):
        if isinstance(target, bool) or not isinstance(target, int | float | str):
            raise _where(loc, f"'{op}' needs a number or a string, not {target!r}")
        return _ordered(get, op, target)
    if op == "contains":
        if not isinstance(target, str | int | float) or isinstance(target, bool):
            raise _where(loc, f"'contains' needs a string or a number, not {target!r}")
        text = str(target)

        def contains(event: Event) -> bool:
            value = get(event)
            kind = type(value)
            if kind is str:
                return text in value
            if kind is list:
                return target in value
            if kind is float or (kind is int and -_HUGE < value < _HUGE):
                return text in str(value)
            return False  # also an integer str() refuses (over 4300 digits)

        return contains
    if op == "regex":
        if not isinstance(target, str):
            raise _where(loc, f"'regex' needs a string pattern, not {target!r}")
        return _regex(get, target, loc)
    if op == "in":
        if not isinstance(target, list) or any(type(item) not in _KINDS for item in target):
            raise _where(loc, "'in' needs a list of strings, numbers, booleans or nulls")
        # Keyed by kind so that 1 and 1.0 are one choice but true and 1 are not.
        choices = frozenset((_KINDS[type(item)], item) for item in target)
        kinds = _KINDS

        def member(event: Event) -> bool:
            value = get(event)
            kind = kinds.get(type(value))
            return kind is not None and (kind, value) in choices

        return member
    if not isinstance(target, bool):
        raise _where(loc, "'exists' needs true or false")

    def exists(event: Event) -> bool:
        return (get(event) is not MISSING) is target

    return exists


def _ordered(get: Callable[[Event], Any], op: str, target: Any) -> Condition:
    # Comparing different types (a string with a number, a missing field) raises TypeError in
    # Python; that is "no match", and costs nothing on the path where types agree.
    if op == "gt":

        def check(event: Event) -> bool:
            try:
                return bool(get(event) > target)
            except TypeError:
                return False
    elif op == "gte":

        def check(event: Event) -> bool:
            try:
                return bool(get(event) >= target)
            except TypeError:
                return False
    elif op == "lt":

        def check(event: Event) -> bool:
            try:
                return bool(get(event) < target)
            except TypeError:
                return False
    else:

        def check(event: Event) -> bool:
            try:
                return bool(get(event) <= target)
            except TypeError:
                return False

    return check


def _regex(get: Callable[[Event], Any], pattern: str, loc: str) -> Condition:
    if _PLAIN.fullmatch(pattern):

        def search_plain(event: Event) -> bool:
            value = get(event)
            if type(value) is str:
                return pattern in value
            return type(value) in (int, float) and pattern in str(value)

        return search_plain
    try:
        search = compile_regex(pattern).search
    except ConditionError as exc:
        raise _where(loc, str(exc)) from exc

    def search_re2(event: Event) -> bool:
        value = get(event)
        if type(value) is str:
            return search(value) is not None
        return type(value) in (int, float) and search(str(value)) is not None

    return search_re2


def _all(items: list[Condition]) -> Condition:
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        first, second = items

        def both(event: Event) -> bool:
            return first(event) and second(event)

        return both

    def every(event: Event) -> bool:
        for item in items:  # noqa: SIM110 - a plain loop: all() would build a generator per event
            if not item(event):
                return False
        return True

    return every


def _any(items: list[Condition]) -> Condition:
    if len(items) == 1:
        return items[0]

    def some(event: Event) -> bool:
        for item in items:  # noqa: SIM110 - a plain loop: any() would build a generator per event
            if item(event):
                return True
        return False

    return some


def _not(item: Condition) -> Condition:
    def negated(event: Event) -> bool:
        return not item(event)

    return negated


__all__ = ["GROUP_KEYS", "OPERATORS", "Condition", "compile_condition", "compile_regex", "parse_expression"]
