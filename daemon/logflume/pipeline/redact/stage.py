"""The redact stage: secrets in values, in keys and under secret-named fields, replaced in place.

Walks every event with an explicit stack (no recursion, so a hostile, deeply nested line cannot
raise RecursionError) and touches only what it must:

- a key whose name says "secret" (``password``, ``X-Api-Key``, ``access_token``…) gets its whole
  value replaced, whatever the value is;
- the event's other strings (those at least as long as the shortest secret) are joined and
  searched once for the rules' hints (``k-``, ``yJ``, ``Bearer``…); only when one is found
  are the strings scrubbed one by one, which keeps the common, clean event cheap;
- keys are treated like strings, and clean keys are remembered, because logs repeat their keys.

Before any of that, the whole batch is checked at once, column by column (``columns.py``): only
events with a key not yet known clean, or with a string that the rules would change, get the walk
above. The usual event holds no secret and costs a few C-level operations on its batch's columns.
(Not when the card rule or a rule without literals is on: every string and number is then looked
at anyway, and every event is walked.)
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

from logflume import jsontext
from logflume.events import META_KEY, Batch, Event
from logflume.pipeline.redact.columns import BatchCheck
from logflume.pipeline.redact.config import RedactConfig
from logflume.pipeline.redact.rules import BUILTIN_RULES, Rule, first_character, inside_marker
from logflume.pipeline.regex import compile_re2
from logflume.telemetry import Count, count

FIELD_RULE = "secret_field"
_KEY_CACHE_SIZE = 4096
# Key verdicts: an ordinary name, a name whose value is secret, or else a tuple
# (the key with its secrets replaced, whether the name is also a secret name).
_CLEAN: Any = object()
_SECRET_NAME: Any = object()
_COMPACT = str.maketrans("", "", "-_. ")
_JOIN = "\x00".join  # no literal contains NUL, so no match can span two strings
_MISSING: Any = object()


def _always(text: str) -> bool:
    return True


def _custom_rules(config: RedactConfig) -> list[Rule]:
    # An empty literal is in every text: such a rule has no hint, as one without literals.
    return [
        Rule(
            rule.name,
            compile_re2(rule.pattern),
            tuple(map(re.escape, rule.literals)) if rule.literals and all(rule.literals) else None,
            rule.min_length,
        )
        for rule in config.custom
    ]


def _hint_search(branches: list[str]) -> Callable[..., Any]:
    return re.compile("|".join(branches)).search


class Redactor:
    """The redact stage; ``stats`` counts replacements per rule (``secret_field`` for named fields)."""

    name = "redact"

    def __init__(self, config: RedactConfig) -> None:
        self.stats: Counter[str] = Counter()
        self.marker = self._marker_for(config)
        self._clean_keys: set[str] = set()
        self._secret_keys: set[str] = set()
        # Built-in rules in their own order (see rules.py), custom ones after them.
        rules = [rule for name, rule in BUILTIN_RULES.items() if name in config.rules]
        rules += _custom_rules(config)
        self._rules = [
            (rule, _hint_search(list(rule.hint)) if rule.hint else _always, self._make_replacer(rule))
            for rule in rules
        ]
        # The one test a clean event pays: always true when a rule has no hint; unreachable (by
        # length) when there are no rules at all. Joined without wrapping groups: each branch must
        # start with a literal for ``re`` to scan for first characters.
        branches = [branch for rule in rules for branch in rule.hint or ()]
        unhinted = any(not rule.hint for rule in rules)
        self._hint: Callable[[str], Any] = _always if unhinted or not branches else _hint_search(branches)
        self._min_length = min((rule.min_length for rule in rules), default=1 << 62)
        names = "|".join(f"(?:{pattern})" for pattern in config.field_names)
        self._field_names = compile_re2(names) if names else None
        self._cards = "card" in config.rules
        # The batch check only pays when a clean event can be told from its strings alone: not
        # when numbers must be checked (cards) or a rule without a hint must run on every string.
        self._batch_check: BatchCheck | None = None
        if not self._cards and not unhinted:
            # The hints by first character: a string lacking the character skips the branches.
            by_first: dict[str, list[str]] = {}
            for branch in branches:
                by_first.setdefault(first_character(branch), []).append(branch)
            searches = [(first, _hint_search(group)) for first, group in by_first.items()]
            self._batch_check = BatchCheck(self._clean_keys, searches, self.changes)

    @property
    def field_names(self) -> Any:
        """The compiled pattern of secret field names (matched against compacted, lower-case
        names), or None when there are none."""
        return self._field_names

    def telemetry(self) -> list[Count]:
        """Values replaced, by rule (read at scrape time)."""
        return [count("redactions", n, rule=rule) for rule, n in sorted(self.stats.items())]

    # -- build-time helpers -------------------------------------------------------------------

    def _marker_for(self, config: RedactConfig) -> Callable[[str, str], str]:
        if config.mode == "mask":
            return lambda rule, secret: f"[REDACTED:{rule}]"
        assert config.hash_key is not None
        key = config.hash_key.get_secret_value().encode()
        length = config.hash_length

        def hashed(rule: str, secret: str) -> str:
            digest = hmac.new(key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
            return f"[REDACTED:{rule}:{digest[:length]}]"

        return hashed

    def _make_replacer(self, rule: Rule) -> Callable[[Any], str]:
        stats, name, check = self.stats, rule.name, rule.check
        grouped, span, in_markers = rule.secret_group is not None, rule.secret_span, rule.in_markers

        def replace(match: Any) -> str:
            whole = match.group(0)
            if not in_markers and inside_marker(match.string, match.start()):
                return str(whole)
            if not grouped:
                if check is not None and not check(whole):
                    return str(whole)
                stats[name] += 1
                return self.marker(name, whole)
            start, end = span(match)
            offset = match.start()
            secret = whole[start - offset : end - offset]
            if check is not None and not check(secret):
                return str(whole)
            stats[name] += 1
            return f"{whole[: start - offset]}{self.marker(name, secret)}{whole[end - offset :]}"

        return replace

    # -- per string ---------------------------------------------------------------------------

    def scrub(self, text: str) -> str:
        """``text`` with every secret the rules find replaced (the same object when none)."""
        out = text
        for rule, hint, replace in self._rules:
            if len(out) >= rule.min_length and hint(out):
                out = rule.pattern.sub(replace, out)
        return out if out != text else text

    def changes(self, text: str) -> bool:
        """Whether the full walk would replace anything in ``text``; counts and marks nothing.

        Follows :meth:`scrub` and ``_scrub_strings``: the first rule that would replace a match
        decides (until then the text each rule sees is ``text`` itself), and ``sub`` visits the
        same matches as ``finditer``.
        """
        if len(text) < self._min_length:
            return False
        for rule, hint, _ in self._rules:
            if len(text) >= rule.min_length and hint(text):
                check, span = rule.check, rule.secret_span
                for match in rule.pattern.finditer(text):
                    if not rule.in_markers and inside_marker(text, match.start()):
                        continue
                    if check is None:
                        return True
                    start, end = span(match)
                    if check(text[start:end]):
                        return True
        return False

    def _key_verdict(self, key: Any) -> Any:
        """_CLEAN, _SECRET_NAME, or (key with its secrets replaced, whether the name is secret).

        Clean and secret names are remembered; keys holding a secret are not (the cache would
        keep the secret, and such keys are rare).
        """
        if type(key) is not str:
            return _CLEAN
        if key in self._secret_keys:
            return _SECRET_NAME
        secret_name = self._field_names is not None and bool(
            self._field_names.search(key.lower().translate(_COMPACT))
        )
        if len(key) >= self._min_length and self._hint(key):
            new = self.scrub(key)
            if new is not key:
                return (new, secret_name)
        cache = self._secret_keys if secret_name else self._clean_keys
        if len(cache) < _KEY_CACHE_SIZE:
            cache.add(key)
        return _SECRET_NAME if secret_name else _CLEAN

    def _field_value(self, value: Any) -> Any:
        if value is None or value == "" or type(value) is bool:
            return value
        self.stats[FIELD_RULE] += 1
        try:
            text = value if type(value) is str else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
        except TypeError:  # deeper than orjson writes, or an integer beyond 64 bits inside
            text = jsontext.write(value)
        return self.marker(FIELD_RULE, text)

    def _number(self, value: int) -> Any:
        if not -(10**19) < value < 10**19:  # no card number; and str() refuses 4300+ digits
            return value
        text = str(value)
        if 13 <= len(text) <= 19:
            new = self.scrub(text)
            if new is not text:
                return new
        return value

    # -- per event ----------------------------------------------------------------------------

    def _keys_and_texts(self, event: Event) -> list[str]:
        """Handles secret-named and secret-looking keys; returns the strings worth searching."""
        all_clean = self._clean_keys.issuperset
        min_length, cards = self._min_length, self._cards
        texts: list[str] = []
        add = texts.append
        stack: list[Any] = [event]
        while stack:
            node = stack.pop()
            if type(node) is dict:
                # One C-level check for the usual case, an object whose keys are all known clean.
                if cards or not all_clean(node):
                    self._keyed(node, texts, stack)
                    continue
                values: Any = node.values()
            elif cards:
                self._indexed(node, texts, stack)
                continue
            else:
                values = node
            for value in values:
                kind = type(value)
                if kind is str:
                    if len(value) >= min_length:
                        add(value)
                elif kind is dict or kind is list:
                    stack.append(value)
        return texts

    def _keyed(self, node: dict[str, Any], texts: list[str], stack: list[Any]) -> None:
        """An object with keys to check (new, secret-named or secret-looking), or numbers to check."""
        clean, verdict_of, field_value = self._clean_keys, self._key_verdict, self._field_value
        min_length, cards = self._min_length, self._cards
        renames = None
        for key, value in node.items():
            if key not in clean:
                verdict = verdict_of(key)
                if verdict is _SECRET_NAME:
                    node[key] = field_value(value)
                    continue
                if verdict is not _CLEAN:
                    renames = renames or []
                    renames.append((key, verdict[0]))
                    if verdict[1]:
                        node[key] = field_value(value)
                        continue
            kind = type(value)
            if kind is str:
                if len(value) >= min_length:
                    texts.append(value)
            elif kind is dict or kind is list:
                stack.append(value)
            elif cards and kind is int:
                node[key] = self._number(value)
        if renames:
            for old, new in renames:
                node[new] = node.pop(old)

    def _indexed(self, node: list[Any], texts: list[str], stack: list[Any]) -> None:
        """A list whose numbers may be card numbers."""
        min_length = self._min_length
        for index, value in enumerate(node):
            kind = type(value)
            if kind is str:
                if len(value) >= min_length:
                    texts.append(value)
            elif kind is dict or kind is list:
                stack.append(value)
            elif kind is int:
                node[index] = self._number(value)

    def _scrub_strings(self, event: Event) -> None:
        """The slow path, for events whose strings hold a rule's literal: each string scrubbed."""
        scrub, min_length = self.scrub, self._min_length
        stack: list[Any] = [event]
        while stack:
            node = stack.pop()
            pairs = node.items() if type(node) is dict else enumerate(node)
            for key, value in pairs:
                kind = type(value)
                if kind is str:
                    if len(value) >= min_length:
                        node[key] = scrub(value)
                elif kind is dict or kind is list:
                    stack.append(value)

    def _redact(self, event: Event) -> None:
        """The full walk: secret-named and secret-looking keys, then the strings if a hint is found."""
        # The daemon's own metadata is set aside so the walk need not test every key for it:
        # its value only, so that its key keeps its place (an event keeps its key order whether
        # it was walked or not, and the batch need not be reordered to match).
        meta = event.get(META_KEY, _MISSING)
        if meta is not _MISSING:
            event[META_KEY] = None
        texts = self._keys_and_texts(event)
        if texts and self._hint(_JOIN(texts)):
            self._scrub_strings(event)
        if meta is not _MISSING:
            event[META_KEY] = meta

    def __call__(self, batch: Batch, now: float) -> Batch:
        events, redact = batch.events, self._redact
        if self._batch_check is None:
            for event in events:
                redact(event)
            return batch
        for index in self._batch_check(events):
            redact(events[index])
        return batch
