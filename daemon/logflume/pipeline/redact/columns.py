"""The batch check: which events of a batch may hold something to redact, found column by column.

Events of one log share their keys, so objects with the same keys are taken together and turned
into columns, one tuple of values per key (``itemgetter`` and ``zip``, all in C):

- a column of strings is joined with one ``str.join``, which also proves every value is a string;
- a column of numbers is summed, which proves none is a string, object or list;
- any other column is sorted by type: its objects and lists are taken apart the same way, level by
  level (an explicit stack: deep nesting cannot raise RecursionError), its strings are kept.

Then each column's text is searched for the rules' hints: first, for each hint's first character,
whether the text holds it at all (``memchr``, so a column of ids, times or addresses usually
costs a few microseconds for the whole batch), and only then for the hints starting with it. A
hint is traced back to its string, which the rules themselves then judge (without replacing or
counting anything): clean text that merely holds a hint (``task-runner`` has the ``k-`` of
``sk-``) is remembered, so a column repeating it costs one lookup per event.

An event whose objects all have keys known to be clean and whose strings the rules would leave
alone needs nothing; every other event gets the stage's full walk. So the check only ever spares
work: what to replace is always decided by the full walk.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from operator import itemgetter
from typing import Any

from logflume.events import META_KEY, Event

_JOIN = "\x00".join  # as in stage.py: no hint can match across two strings
_SCALARS = frozenset((int, float, bool, type(None)))
_PLUS_ONE = (1).__add__  # each string is followed by one separator in a joined column
# Clean strings holding a hint that are remembered, and the longest remembered: a bound on memory.
_HINTED_CACHE_SIZE = 1024
_HINTED_MAX_LENGTH = 256

# Objects (or lists) to check, with the index of the event each belongs to.
Group = tuple[Sequence[Any], Sequence[int]]
# A string column: its joined text, its strings and their events' indices.
Strings = tuple[str, Sequence[str], Sequence[int]]
# A hint search: the first character of its matches, and the compiled pattern's search.
HintSearch = tuple[str, Callable[..., Any]]


class BatchCheck:
    """``check(events)`` is the sorted indices of the events that need the full walk.

    ``clean_keys`` is the stage's set of keys judged clean (shared, never copied; it only grows);
    ``searches`` are the rules' hints grouped by first character (none without text rules);
    ``changes`` says whether the rules would replace anything in a string.
    """

    def __init__(
        self, clean_keys: set[str], searches: list[HintSearch], changes: Callable[[str], bool]
    ) -> None:
        self._clean = clean_keys
        self._searches = searches
        self._changes = changes
        self._hinted_clean: set[str] = set()

    def __call__(self, events: list[Event]) -> list[int]:
        dirty: set[int] = set()
        strings: list[Strings] = []
        # (objects, their events, top level?): the metadata key is exempt at the top level only.
        objects: list[tuple[Sequence[dict[Any, Any]], Sequence[int], bool]] = []
        lists: list[Group] = []
        if events:
            objects.append((events, range(len(events)), True))
        # An explicit stack, level by level: deep nesting cannot raise RecursionError.
        while objects or lists:
            if lists:
                _flatten(lists.pop(), strings, objects, lists)
                continue
            nodes, owners, top = objects.pop()
            for same, same_owners in _by_size(nodes, owners):
                clean = self._columns(same, same_owners, top, strings, objects, lists)
                if clean is None:  # same size, other keys: rarer, sorted out in Python
                    for keyed, keyed_owners in _by_keys(same, same_owners):
                        if not self._columns(keyed, keyed_owners, top, strings, objects, lists):
                            dirty.update(keyed_owners)
                elif not clean:
                    dirty.update(same_owners)
        if self._searches:
            for column in strings:
                self._trace_hints(column, dirty)
        return sorted(dirty)

    def _columns(
        self,
        nodes: Sequence[dict[Any, Any]],
        owners: Sequence[int],
        top: bool,
        strings: list[Strings],
        objects: list[tuple[Sequence[dict[Any, Any]], Sequence[int], bool]],
        lists: list[Group],
    ) -> bool | None:
        """Sorts the columns of objects of one size: False when a key is not known clean, None
        when the objects do not all have the keys of the first (nothing is collected then)."""
        keys = list(nodes[0])
        if not keys:
            return True
        names = [key for key in keys if key != META_KEY] if top else keys
        if not all(type(key) is str for key in names) or not self._clean.issuperset(names):
            return False
        # itemgetter raises KeyError for an object without one of the keys; the sizes being
        # equal, the objects then have different keys. The metadata key is asked for too, so an
        # object cannot pass with another key in its place.
        try:
            if len(keys) == 1:
                columns: list[Sequence[Any]] = [list(map(itemgetter(keys[0]), nodes))]
            else:
                columns = list(zip(*map(itemgetter(*keys), nodes), strict=True))
        except KeyError:
            return None
        for key, column in zip(keys, columns, strict=True):
            if top and key == META_KEY:
                continue
            try:
                strings.append((_JOIN(column), column, owners))  # TypeError: not all strings
                continue
            except TypeError:
                pass
            try:
                sum(column)  # TypeError: not all numbers
                continue
            except (TypeError, ArithmeticError):
                pass
            kinds = set(map(type, column))
            if kinds <= _SCALARS:
                continue
            if kinds == {dict}:
                objects.append((column, owners, False))
                continue
            _sort_values(column, owners, strings, objects, lists)
        return True

    def _trace_hints(self, column: Strings, dirty: set[int]) -> None:
        """Marks the events with a string of ``column`` that the rules would change, judging only
        the strings that hold a hint."""
        text, values, owners = column
        changes, hinted_clean = self._changes, self._hinted_clean
        ends: list[int] | None = None
        for first, search in self._searches:
            if first not in text:
                continue
            match = search(text)
            while match is not None:
                if ends is None:
                    ends = list(accumulate(map(_PLUS_ONE, map(len, values))))
                item = bisect_right(ends, match.start())
                value = values[item]
                if value not in hinted_clean:
                    if changes(value):
                        dirty.add(owners[item])
                    elif len(hinted_clean) < _HINTED_CACHE_SIZE and len(value) <= _HINTED_MAX_LENGTH:
                        hinted_clean.add(value)  # never a string holding a secret
                # On from the next string: this one is judged, whatever else it holds.
                match = search(text, ends[item])


def _by_size(nodes: Sequence[dict[Any, Any]], owners: Sequence[int]) -> list[Group]:
    """The objects in groups of one size (usually a single group, found in C)."""
    sizes = list(map(len, nodes))
    if sizes.count(sizes[0]) == len(sizes):
        return [(nodes, owners)]
    groups: dict[int, tuple[list[dict[Any, Any]], list[int]]] = {}
    for node, size, owner in zip(nodes, sizes, owners, strict=True):
        same, same_owners = groups.setdefault(size, ([], []))
        same.append(node)
        same_owners.append(owner)
    return list(groups.values())


def _by_keys(nodes: Sequence[dict[Any, Any]], owners: Sequence[int]) -> list[Group]:
    """The objects in groups with the same keys."""
    groups: dict[frozenset[Any], tuple[list[dict[Any, Any]], list[int]]] = {}
    for node, owner in zip(nodes, owners, strict=True):
        same, same_owners = groups.setdefault(frozenset(node), ([], []))
        same.append(node)
        same_owners.append(owner)
    return list(groups.values())


def _sort_values(
    values: Iterable[Any],
    owners: Iterable[int],
    strings: list[Strings],
    objects: list[tuple[Sequence[dict[Any, Any]], Sequence[int], bool]],
    lists: list[Group],
) -> None:
    """The strings, objects and lists among values of mixed types, each with its event."""
    texts: list[str] = []
    text_owners: list[int] = []
    nodes: list[dict[Any, Any]] = []
    node_owners: list[int] = []
    inner: list[list[Any]] = []
    inner_owners: list[int] = []
    for value, owner in zip(values, owners, strict=True):
        kind = type(value)
        if kind is str:
            texts.append(value)
            text_owners.append(owner)
        elif kind is dict:
            nodes.append(value)
            node_owners.append(owner)
        elif kind is list:
            inner.append(value)
            inner_owners.append(owner)
    if texts:
        strings.append((_JOIN(texts), texts, text_owners))
    if nodes:
        objects.append((nodes, node_owners, False))
    if inner:
        lists.append((inner, inner_owners))


def _flatten(
    group: Group,
    strings: list[Strings],
    objects: list[tuple[Sequence[dict[Any, Any]], Sequence[int], bool]],
    lists: list[Group],
) -> None:
    """The items of lists, each with the event of its list."""
    values: list[Any] = []
    owners: list[int] = []
    for items, owner in zip(*group, strict=True):
        values.extend(items)
        owners.extend([owner] * len(items))
    _sort_values(values, owners, strings, objects, lists)
