"""Arithmetic over event fields, for computed fields: ``(endTime - startTime) * 1000``.

The same safe, small language as conditions (no names but fields, no calls, nothing evaluated
from the config but this grammar)::

    expr    := term (("+" | "-") term)*
    term    := unary (("*" | "/") unary)*
    unary   := ("-" | "+") unary | "(" expr ")" | NUMBER | FIELD
    NUMBER  := 12 | 0.5 | 1e3
    FIELD   := dotted.path | `any field name`

Field names here cannot contain ``-`` (``endTime-startTime`` is a subtraction); write such names
in backticks. An expression is compiled once into a function of an event; chains of ``+``/``-``
and ``*``/``/`` are evaluated in a loop, so only parentheses and signs nest, and nesting is
bounded (:data:`MAX_NESTING`) so a hostile expression is a config error, not a RecursionError.

What a field's value is as a number is the caller's decision (``to_number``): the mapping stage
reads numbers, numeric strings and timestamps (epoch seconds). A field that is absent (or null)
makes the whole result absent (:data:`~logflume.pipeline.paths.MISSING`): nothing is made up.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from logflume.errors import ConditionError, MappingError
from logflume.events import Event
from logflume.pipeline.paths import MISSING, check_path, make_getter

MAX_NESTING = 50

Number = int | float
# Converts a present, non-null field value to a number; raises MappingError when it is not one.
ToNumber = Callable[[str, Any], Number]
Evaluator = Callable[[Event], Any]  # a number, or MISSING

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(?![A-Za-z_@$])
      | (?P<op>[-+*/()])
      | (?P<name>`[^`]+`|[A-Za-z_@$][A-Za-z0-9_.@$]*)
    )""",
    re.VERBOSE,
)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens: list[tuple[str, str, int]] = []
    pos, end = 0, len(text.rstrip())
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            column = pos + len(text[pos:]) - len(text[pos:].lstrip()) + 1
            raise ConditionError(f"unexpected character {text[pos:].lstrip()[:1]!r} at column {column}")
        kind = match.lastgroup
        tokens.append((kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, to_number: ToNumber) -> None:
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0
        self.to_number = to_number
        self.fields: list[str] = []

    def peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self, expected: str) -> tuple[str, str, int]:
        token = self.peek()
        if token is None:
            raise ConditionError(f"expected {expected} at the end of the expression")
        self.index += 1
        return token

    def parse(self) -> Evaluator:
        if not self.tokens:
            raise ConditionError("the expression is empty")
        result = self.expr()
        token = self.peek()
        if token is not None:
            raise ConditionError(f"expected an operator at column {token[2] + 1}, found {token[1]!r}")
        return result

    def expr(self) -> Evaluator:
        return self.chain(self.term, "+-")

    def term(self) -> Evaluator:
        return self.chain(self.unary, "*/")

    def chain(self, operand: Callable[[], Evaluator], ops: str) -> Evaluator:
        first = operand()
        rest: list[tuple[str, Evaluator]] = []
        while (token := self.peek()) is not None and token[0] == "op" and token[1] in ops:
            self.index += 1
            rest.append((token[1], operand()))
        return first if not rest else _chain(first, rest)

    def unary(self) -> Evaluator:
        kind, text, pos = self.take("a number, a field or '('")
        if kind == "op" and text in "-+(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise ConditionError(
                    f"the expression nests deeper than {MAX_NESTING} levels (column {pos + 1})"
                )
            if text == "(":
                inner = self.expr()
                close = self.take("')'")
                if close[1] != ")":
                    raise ConditionError(f"expected ')' at column {close[2] + 1}, found {close[1]!r}")
            else:
                operand = self.unary()
                inner = _negate(operand) if text == "-" else operand
            self.depth -= 1
            return inner
        if kind == "num":
            value: Number = float(text) if re.search(r"[.eE]", text) else int(text)
            return lambda event: value
        if kind == "name":
            return self.field(text[1:-1] if text.startswith("`") else text, pos)
        raise ConditionError(f"expected a number, a field or '(' at column {pos + 1}, found {text!r}")

    def field(self, path: str, pos: int) -> Evaluator:
        try:
            check_path(path)
        except ValueError as exc:
            raise ConditionError(f"{exc} (column {pos + 1})") from exc
        self.fields.append(path)
        get, to_number = make_getter(path), self.to_number

        def value(event: Event) -> Any:
            raw = get(event)
            if raw is MISSING or raw is None:
                return MISSING
            return to_number(path, raw)

        return value


def _negate(operand: Evaluator) -> Evaluator:
    def negated(event: Event) -> Any:
        value = operand(event)
        return value if value is MISSING else -value

    return negated


def _chain(first: Evaluator, rest: list[tuple[str, Evaluator]]) -> Evaluator:
    def evaluate(event: Event) -> Any:
        total = first(event)
        if total is MISSING:
            return MISSING
        for op, operand in rest:
            value = operand(event)
            if value is MISSING:
                return MISSING
            if op == "+":
                total += value
            elif op == "-":
                total -= value
            elif op == "*":
                total *= value
            elif value == 0:
                raise MappingError("division by zero")
            else:
                total /= value
        return total

    return evaluate


def compile_arithmetic(text: str, to_number: ToNumber) -> tuple[Evaluator, list[str]]:
    """The function computing ``text`` on an event, and the fields it reads.

    Raises :class:`~logflume.errors.ConditionError` (with the column) when ``text`` is not an
    arithmetic expression. The function returns a number or MISSING, and raises MappingError when
    a field is not a number or a divisor is zero.
    """
    parser = _Parser(text, to_number)
    return parser.parse(), parser.fields
