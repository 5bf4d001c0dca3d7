"""Known object shapes: the cheap proof that an event holds nothing to redact.

Logs repeat the same objects line after line: the same keys, each holding the same kind of value.
An object whose keys were all judged clean before (by the full walk in ``stage.py``) is remembered
as a *shape*: which keys hold strings, which hold scalars (numbers, booleans, null) and which hold
anything else (objects and lists, looked at one by one). Fitting an object to its shape takes a few C-level calls — ``itemgetter`` for the
values, ``str.join`` (which raises TypeError unless every value is a string), a set test over the
types of the scalars — instead of a Python loop over every value. Shapes are found by the object's
size; an object fits one only when every key of the shape is present, so its keys are exactly the
shape's keys and all known clean.

An event is clean when every object in it fits a shape and the text of all its strings holds none
of the rules' hints. Anything else (a new or secret-named key, a value of another type, a hint)
answers False, and the stage takes its full walk, so the fast path never decides what to replace.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from logflume.events import META_KEY, Event

_JOIN = "\x00".join  # as in stage.py: no hint can match across two strings
_NONE: tuple[()] = ()
_PER_SIZE = 4  # shapes tried for one object size (a log line with an optional field has two)
_MAX_SHAPES = 256  # all shapes are forgotten beyond this, so a stream of odd objects cannot grow memory


Getter = Callable[[dict[Any, Any]], tuple[Any, ...]]
# A shape: (strings, numbers, rest, meta). ``strings`` and ``numbers`` are None or a C-level getter
# returning those keys' values as a tuple; ``rest`` names the keys whose values are looked at one
# by one (objects, lists, nulls); ``meta`` says a top-level object carried the daemon's metadata key
# when learnt (never scanned, but it must be there for the sizes to agree). A plain tuple, because
# unpacking one is the cheapest way to reach four fields in the hot loop.
Shape = tuple[Getter | None, Getter | None, tuple[str, ...], bool]


def _getter(keys: list[str]) -> Getter | None:
    if not keys:
        return None
    # itemgetter of one key returns the bare value, of several a tuple: a lone key is asked for
    # twice so the result is always a tuple (str.join of a bare string would join its characters,
    # and no hint would be found in them).
    return itemgetter(*keys, *keys) if len(keys) == 1 else itemgetter(*keys)


class ShapeCheck:
    """``check(event)`` is True when the event certainly holds no secret and no secret-named key.

    ``clean_keys`` is the stage's set of keys judged clean (shared, never copied); ``hint`` is the
    search for the rules' hints, or None when there are no text rules at all.
    """

    def __init__(self, clean_keys: set[str], hint: Callable[[str], Any] | None) -> None:
        self._clean_keys = clean_keys
        self._hint = hint
        self._top: dict[int, tuple[Shape, ...]] = {}
        self._inner: dict[int, tuple[Shape, ...]] = {}
        self._count = 0

    def __call__(self, event: Event) -> bool:
        # One loop over the event's objects and lists, with no call per object: this runs for
        # every event. An explicit stack, as in the full walk, so deep nesting cannot recurse.
        texts: list[str] = []
        pending: list[Any] = []
        node: Any = event
        shapes = self._top
        learnt = False
        while True:
            if type(node) is dict:
                for strings, numbers, rest, meta in shapes.get(len(node), _NONE):
                    if meta and META_KEY not in node:
                        continue
                    try:
                        # The getters raise KeyError when a key is missing (the sizes being equal,
                        # the object then has a key the shape lacks). str.join raises TypeError
                        # unless every value is a string, and sum unless every value is a number
                        # or a boolean: a string, object or list where the shape had a number
                        # fails the shape instead of going unscanned.
                        if strings is not None:
                            texts.append(_JOIN(strings(node)))
                        if numbers is not None:
                            sum(numbers(node))
                        for key in rest:
                            child = node[key]
                            kind = type(child)
                            if kind is str:
                                texts.append(child)
                            elif kind is dict or kind is list:
                                pending.append(child)
                    except (KeyError, TypeError, OverflowError):
                        # What was collected before is only scanned in vain: never less than needed.
                        continue
                    break
                else:
                    if learnt or not self._learn(node, shapes, shapes is self._top):
                        return False
                    learnt = True
                    continue  # the same object again, with the shape just learnt
            else:
                for item in node:
                    kind = type(item)
                    if kind is str:
                        texts.append(item)
                    elif kind is dict or kind is list:
                        pending.append(item)
            if not pending:
                break
            node = pending.pop()
            shapes = self._inner
            learnt = False
        hint = self._hint
        return hint is None or not hint(_JOIN(texts))

    def _learn(self, node: dict[Any, Any], shapes: dict[int, tuple[Shape, ...]], top: bool) -> bool:
        """Remembers the shape of ``node`` if every key of it is known clean."""
        clean = self._clean_keys
        strings: list[str] = []
        numbers: list[str] = []
        rest: list[str] = []
        meta = False
        for key, value in node.items():
            if top and key == META_KEY:
                meta = True
                continue
            if type(key) is not str or key not in clean:
                return False
            kind = type(value)
            if kind is str:
                strings.append(key)
            elif kind is int or kind is float or kind is bool:
                numbers.append(key)
            else:
                rest.append(key)
        if self._count >= _MAX_SHAPES:
            self._top.clear()
            self._inner.clear()
            self._count = 0
        shape: Shape = (_getter(strings), _getter(numbers), tuple(rest), meta)
        size = len(node)
        shapes[size] = (*shapes.get(size, _NONE)[: _PER_SIZE - 1], shape)
        self._count += 1
        return True
