"""The one-line condition syntax (``level == "ERROR" and response_time_ms > 5000``) → a condition spec.

The parser produces the same mapping structure that config files use, so there is one condition
language with one compiler (:func:`logflume.pipeline.filter.language.compile_condition`)::

    expr       := or
    or         := and ("or" and)*
    and        := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | comparison
    comparison := FIELD ("==" | "!=" | ">" | ">=" | "<" | "<=") VALUE
                | FIELD ("~" | "!~") STRING            regular expression (RE2 syntax), search
                | FIELD "contains" VALUE               substring of a string, member of a list
                | FIELD ["not"] "in" "[" VALUE, ... "]"
                | FIELD "exists"
    VALUE      := "string" | 'string' | number | true | false | null
    FIELD      := dotted.path | `any field name`

Keywords are case-insensitive. Strings use JSON escapes; an unknown escape such as ``\\d`` is kept
as written so regular expressions need no double escaping. ``not`` and parentheses nest at most
:data:`MAX_NESTING` levels deep: deeper is an error, so a hostile condition is a config error
rather than a RecursionError.
"""

from __future__ import annotations

import re
from typing import Any

from logflume.errors import ConditionError

GROUP_KEYS = frozenset({"all", "any", "not"})
MAX_NESTING = 50

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?![A-Za-z0-9_.@$-])
      | (?P<op>==|!=|>=|<=|!~|>|<|~|\(|\)|\[|\]|,)
      | (?P<name>`[^`]+`|[A-Za-z_@$][A-Za-z0-9_.@$-]*)
    )""",
    re.VERBOSE | re.DOTALL,
)
_COMPARE = {"==": "eq", "!=": "ne", ">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "~": "regex"}
_KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "exists", "true", "false", "null"})
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/", "\\": "\\", '"': '"', "'": "'"}


def _unquote(token: str) -> str:
    body = token[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2 : i + 6]):
            out.append(chr(int(body[i + 2 : i + 6], 16)))
            i += 6
        else:
            # Kept as written: "\d" stays a regex class instead of being an error.
            out.append(char + nxt)
            i += 2
    return "".join(out)


class _Token:
    __slots__ = ("kind", "pos", "text")

    def __init__(self, kind: str, text: str, pos: int) -> None:
        self.kind = kind
        self.text = text
        self.pos = pos

    def keyword(self) -> str | None:
        if self.kind == "name" and self.text.lower() in _KEYWORDS:
            return self.text.lower()
        return None


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    end = len(text.rstrip())
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None or match.lastgroup is None:
            rest = text[pos:]
            column = pos + len(rest) - len(rest.lstrip()) + 1
            raise ConditionError(f"unexpected character {rest.lstrip()[:1]!r} at column {column}")
        kind = match.lastgroup
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def next(self, expected: str) -> _Token:
        token = self.peek()
        if token is None:
            raise ConditionError(f"expected {expected} at the end of the expression")
        self.index += 1
        return token

    def fail(self, token: _Token, expected: str) -> ConditionError:
        return ConditionError(f"expected {expected} at column {token.pos + 1}, found {token.text!r}")

    def parse(self) -> dict[str, Any]:
        if not self.tokens:
            raise ConditionError("the expression is empty")
        spec = self.parse_or()
        token = self.peek()
        if token is not None:
            raise self.fail(token, "'and', 'or' or the end of the expression")
        return spec

    def parse_or(self) -> dict[str, Any]:
        items = [self.parse_and()]
        while (token := self.peek()) is not None and token.keyword() == "or":
            self.index += 1
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else {"any": _flatten("any", items)}

    def parse_and(self) -> dict[str, Any]:
        items = [self.parse_unary()]
        while (token := self.peek()) is not None and token.keyword() == "and":
            self.index += 1
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else {"all": _flatten("all", items)}

    def parse_unary(self) -> dict[str, Any]:
        token = self.next("a condition")
        if token.keyword() == "not":
            self.enter(token)
            inner = {"not": self.parse_unary()}
            self.depth -= 1
            return inner
        if token.text == "(" and token.kind == "op":
            self.enter(token)
            inner = self.parse_or()
            close = self.next("')'")
            if close.text != ")" or close.kind != "op":
                raise self.fail(close, "')'")
            self.depth -= 1
            return inner
        if token.kind != "name" or token.keyword() is not None:
            raise self.fail(token, "a field name")
        return self.parse_comparison(token)

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ConditionError(
                f"the expression nests deeper than {MAX_NESTING} levels of 'not' and parentheses "
                f"(column {token.pos + 1})"
            )

    def parse_comparison(self, field_token: _Token) -> dict[str, Any]:
        field = field_token.text[1:-1] if field_token.text.startswith("`") else field_token.text
        if field in GROUP_KEYS:
            column = field_token.pos + 1
            raise ConditionError(f"field name {field!r} at column {column} is reserved in conditions")
        token = self.next(f"an operator after {field!r}")
        keyword = token.keyword()
        if token.kind == "op" and token.text in _COMPARE:
            op = _COMPARE[token.text]
            value = self.parse_value()
            if op == "regex" and not isinstance(value, str):
                raise ConditionError(f"'~' needs a quoted regular expression (column {token.pos + 1})")
            return {field: {"operator": op, "value": value}}
        if token.kind == "op" and token.text == "!~":
            value = self.parse_value()
            if not isinstance(value, str):
                raise ConditionError(f"'!~' needs a quoted regular expression (column {token.pos + 1})")
            return {"not": {field: {"operator": "regex", "value": value}}}
        if keyword == "contains":
            return {field: {"operator": "contains", "value": self.parse_value()}}
        if keyword == "exists":
            return {field: {"operator": "exists", "value": True}}
        if keyword == "in":
            return {field: {"operator": "in", "value": self.parse_list()}}
        if keyword == "not":
            nxt = self.next("'in' after 'not'")
            if nxt.keyword() != "in":
                raise self.fail(nxt, "'in' after 'not'")
            return {"not": {field: {"operator": "in", "value": self.parse_list()}}}
        raise self.fail(token, "an operator (==, !=, >, >=, <, <=, ~, !~, contains, in, not in, exists)")

    def parse_value(self) -> Any:
        token = self.next("a value")
        if token.kind == "str":
            return _unquote(token.text)
        if token.kind == "num":
            number = float(token.text)
            return int(token.text) if number.is_integer() and re.fullmatch(r"-?\d+", token.text) else number
        keyword = token.keyword()
        if keyword in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[keyword]
        if token.kind == "name":
            raise ConditionError(
                f"expected a value at column {token.pos + 1}, found {token.text!r}: "
                f'quote strings, e.g. "{token.text}"'
            )
        raise self.fail(token, "a value")

    def parse_list(self) -> list[Any]:
        token = self.next("'['")
        if token.text != "[" or token.kind != "op":
            raise self.fail(token, "'[' starting a list")
        values: list[Any] = []
        nxt = self.peek()
        if nxt is not None and nxt.text == "]" and nxt.kind == "op":
            self.index += 1
            return values
        while True:
            values.append(self.parse_value())
            sep = self.next("',' or ']'")
            if sep.kind == "op" and sep.text == "]":
                return values
            if sep.kind != "op" or sep.text != ",":
                raise self.fail(sep, "',' or ']'")


def _flatten(group: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # "a and (b and c)" is one group of three, which keeps specs readable when shown back.
    out: list[dict[str, Any]] = []
    for item in items:
        if len(item) == 1 and group in item:
            out.extend(item[group])
        else:
            out.append(item)
    return out


def parse_expression(text: str) -> dict[str, Any]:
    """The condition spec (the mapping form used in config files) of a one-line expression.

    Raises :class:`~logflume.errors.ConditionError` with the column of the problem.
    """
    return _Parser(text).parse()
