"""A :class:`~logflume.pipeline.mapping.config.MappingConfig` compiled once into a function of an event.

Every rule becomes one closure (paths split, conversions chosen, expressions compiled when
built); applying a mapping is a loop over them. Rules write into the event itself, so the
source's other fields stay where they were; a source field a rule replaces with a different
value is kept under ``logflume.original`` (``{"logflume": {"original": {"level": "info"}}}``).

A value that does not convert raises :class:`~logflume.errors.MappingError` naming the target,
unless its rule says ``on_error: omit``; the parser turns the error into a dead letter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from logflume.errors import MappingError
from logflume.events import META_KEY, Event
from logflume.pipeline.filter.arithmetic import compile_arithmetic
from logflume.pipeline.mapping.config import FieldRule, MappingConfig
from logflume.pipeline.mapping.convert import converter, to_number
from logflume.pipeline.paths import MISSING, Getter, make_getter, make_popper, make_setter

ORIGINAL_KEY = "original"
_INDEX = re.compile(r"^(.*)\[(\d+)\]$")

Apply = Callable[[Event], None]


def source_getter(path: str) -> Getter:
    """A getter for a source path; ``name[0]`` takes an item of a list (Caddy's header lists)."""
    match = _INDEX.match(path)
    if match is None:
        return make_getter(path)
    inner, index = source_getter(match.group(1)), int(match.group(2))

    def get_item(event: Event) -> Any:
        value = inner(event)
        if type(value) is list and index < len(value):
            return value[index]
        return MISSING

    return get_item


class Mapper:
    """Applies a mapping to events in place; built once per source."""

    def __init__(self, config: MappingConfig) -> None:
        self.absent = frozenset(config.absent)
        self.rules: list[Apply] = [self._rule(target, rule) for target, rule in config.fields.items()]
        self.drops = [make_popper(path) for path in config.drop]

    def __call__(self, event: Event) -> None:
        """Map ``event`` in place; raises MappingError (with the target's name) when a value does
        not convert."""
        for apply in self.rules:
            apply(event)
        for pop in self.drops:
            pop(event)

    def _rule(self, target: str, rule: FieldRule) -> Apply:
        sources = rule.sources()
        plain = "." not in target and len(sources) == 1 and "." not in sources[0] and "[" not in sources[0]
        if plain and rule.map is None and not rule.keep_existing:
            return self._plain_rule(target, sources[0], rule)
        read = self._reader(rule)
        table = rule.map
        convert = converter(rule.type, rule.unit)
        get_target, set_target, pop_target = make_getter(target), make_setter(target), make_popper(target)
        absent, keep_existing, omit = self.absent, rule.keep_existing, rule.on_error == "omit"

        def apply(event: Event) -> None:
            if keep_existing:
                current = get_target(event)
                present = current is not MISSING and current is not None
                if present and (type(current) is not str or current not in absent):
                    return
            try:
                value = read(event)
                if value is not MISSING:
                    if table is not None:
                        value = _lookup(table, value)
                    if convert is not None:
                        value = convert(value)
            except MappingError as exc:
                if not omit:
                    raise MappingError(f"{target}: {exc}") from None
                value = MISSING
            if value is MISSING:
                # The rule defines the target: a same-named source field it did not produce (a
                # null, an empty string, a value that did not convert) leaves the canonical
                # field, and is kept as an original.
                old = pop_target(event)
                if old is not MISSING:
                    _keep_original(event, target, old)
                return
            old = get_target(event)
            if old is not MISSING and (old != value or type(old) is not type(value)):
                _keep_original(event, target, old)
            set_target(event, value)

        return apply

    def _plain_rule(self, target: str, source: str, rule: FieldRule) -> Apply:
        """The common rule (one top-level source key into a top-level target): what
        :meth:`_rule` does, with the dict operations inline (this is per event and rule)."""
        convert = converter(rule.type, rule.unit)
        absent, omit = self.absent, rule.on_error == "omit"

        def apply_plain(event: Event) -> None:
            value = event.get(source)
            if value is not None and (type(value) is not str or value not in absent):
                if convert is not None:
                    try:
                        value = convert(value)
                    except MappingError as exc:
                        if not omit:
                            raise MappingError(f"{target}: {exc}") from None
                        value = None
                if value is not None:
                    old = event.get(target, MISSING)
                    if old is not MISSING and (old != value or type(old) is not type(value)):
                        _keep_original(event, target, old)
                    event[target] = value
                    return
            old = event.pop(target, MISSING)
            if old is not MISSING:
                _keep_original(event, target, old)

        return apply_plain

    def _reader(self, rule: FieldRule) -> Callable[[Event], Any]:
        absent = self.absent
        if rule.value is not None:
            constant = rule.value
            return lambda event: constant
        if rule.compute is not None:
            evaluate, _ = compile_arithmetic(rule.compute, to_number)
            return evaluate
        getters = [source_getter(path) for path in rule.sources()]

        def first_present(event: Event) -> Any:
            for get in getters:
                value = get(event)
                if value is MISSING or value is None:
                    continue
                if type(value) is str and value in absent:
                    continue
                return value
            return MISSING

        return first_present


def _lookup(table: dict[str, Any], value: Any) -> Any:
    key = value if type(value) is str else _key(value)
    if key not in table:
        shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
        raise MappingError(f"{shown} is not one of the mapped values ({', '.join(map(str, table))})")
    return table[key]


def _key(value: Any) -> str:
    # YAML keys are strings: a JSON true, 1 or null is looked up by its JSON spelling.
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _keep_original(event: Event, target: str, old: Any) -> None:
    meta = event.get(META_KEY)
    if type(meta) is not dict:
        meta = event[META_KEY] = {}
    originals = meta.get(ORIGINAL_KEY)
    if type(originals) is not dict:
        originals = meta[ORIGINAL_KEY] = {}
    originals.setdefault(target, old)  # the value as logged, not one an earlier rule wrote
