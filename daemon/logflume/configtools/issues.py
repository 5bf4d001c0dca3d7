"""Every problem of a config file in one run, each with its key path, YAML line and plain words.

pydantic reports in layers: a model's own checks (``model_validator(mode="after")``: duplicate names,
routes to unknown sinks, "username and password go together") run only once all its fields are
valid, so a file with a typo deep inside and a duplicate name would take several runs to fix. Here
the data is validated again after *setting aside* what was wrong: an unknown key, a bad value whose
key may be left out (its default takes its place), else the nearest enclosing list item, table
entry or optional key. Each round reports the problems at places not reported yet, with list
indexes as in the file, until a round sets nothing aside.

A problem of a section found only after one of the section's own values was set aside is not
reported: it may be about the default that replaced the user's value ("a rule needs one of from,
compute, value" after a bad ``from`` was removed). Setting aside something deeper (a sink's
``template.shards``) does not hide the sink's own checks ("username and password go together"). The
root's checks compare names across sections (a route names a sink, a rule an alert channel), and
setting aside a sink or a channel could make such a check complain about a name the file does have:
a problem at the root that mentions a name set aside from one of the places those names are read
from (``root_reads``) is not reported.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from logflume.configtools.places import Path, format_path, node_line
from logflume.configtools.secrets import is_secret
from logflume.configtools.walk import Location, locate
from logflume.configtools.wording import one_of, plain
from logflume.errors import ConfigIssue

MAX_ROUNDS = 12  # deeper than any nesting of sections, which is what each round peels off


def collect(
    model: type[BaseModel],
    schema: dict[str, Any],
    data: Any,
    yaml_root: yaml.Node | None,
    earlier: list[tuple[Path, str]],
    root_reads: tuple[Path, ...] = (),
) -> tuple[BaseModel | None, list[ConfigIssue]]:
    """Validate ``data``; the model when it and ``earlier`` (path, message) hold no problem, else
    None and every problem found, in file order. ``root_reads``: where the root model's own checks
    read names from (see the module docstring)."""
    found: dict[Path, str] = dict(earlier)
    work = _Work(copy.deepcopy(data), root_reads)
    for round_number in range(MAX_ROUNDS):
        try:
            validated = model.model_validate(work.data)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
        else:
            if not found:
                return validated, []
            break
        described = _describe(schema, work, errors)
        for path, (_, text) in described.items():
            if path not in found and not (round_number and work.hides(path, text)):
                found[path] = text
        # Everything wrong is set aside, reported or not (a value whose interpolation failed, too).
        if not work.set_aside(schema, [current for current, _ in described.values()]):
            break
    # The root's own problems compare sections: no one line is theirs, and they come last.
    issues = [
        ConfigIssue(format_path(path), text, node_line(yaml_root, path) if path else None)
        for path, text in found.items()
    ]
    return None, sorted(issues, key=lambda issue: (issue.line is None, issue.line or 0, issue.path))


def _describe(
    schema: dict[str, Any], work: _Work, errors: list[ErrorDetails]
) -> dict[Path, tuple[Path, str]]:
    """Per place in the file: its place in the data now, and one message (the errors of a union's
    members at one place make one message)."""
    members: dict[Path, tuple[Location, list[ErrorDetails]]] = {}
    messages: dict[Path, str] = {}
    for error in errors:
        where = locate(schema, work.data, tuple(error["loc"]))
        path = where.path
        if where.union_member:
            members.setdefault(path, (where, []))[1].append(error)
            continue
        if error["type"] in ("union_tag_invalid", "union_tag_not_found") and where.node is not None:
            path = (*path, where.node["discriminator"]["propertyName"])
        unit = where.node.get("title") if where.node is not None else None
        messages.setdefault(path, plain(error, _keys(where), _choices(where), is_secret(where), unit))
    for path, (where, group) in members.items():
        messages.setdefault(path, one_of(group, is_secret(where)))
    return {work.original(path): (path, text) for path, text in messages.items()}


def _keys(where: Location) -> list[str]:
    return list(where.parent.get("properties", {})) if where.parent is not None else []


def _choices(where: Location) -> list[Any]:
    node = where.node or {}
    if "discriminator" in node:
        tags = {ref: tag for tag, ref in node["discriminator"]["mapping"].items()}
        return [tags[member["$ref"]] for member in node["oneOf"]]  # declaration order
    for candidate in [node, *node.get("anyOf", [])]:
        if "enum" in candidate:
            return list(candidate["enum"])
    return []


class _Work:
    """The data being validated, with what was set aside so far (as places in the file)."""

    def __init__(self, data: Any, root_reads: tuple[Path, ...]) -> None:
        self.data = data
        self.root_reads = root_reads
        self.removed: list[tuple[Path, bool]] = []  # places set aside; whether an item of a list/table
        self.names: set[str] = set()  # names set aside from the places in root_reads
        self._items: dict[Path, list[int]] = {}  # list place -> original indexes removed from it

    def hides(self, path: Path, message: str) -> bool:
        """Whether a problem found after setting things aside may be caused by that (module docstring)."""
        if not path:
            return any(re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message) for name in self.names)
        # A value of the section's own: one of its keys, or an item of one of its lists or tables.
        return any(
            gone[: len(path)] == path
            and (len(gone) == len(path) + 1 or (item and len(gone) == len(path) + 2))
            for gone, item in self.removed
        )

    def original(self, path: Path) -> Path:
        """The place in the file of ``path`` in the data now (list items removed shift indexes)."""
        out: list[Any] = []
        node = self.data
        for part in path:
            if isinstance(node, list) and isinstance(part, int):
                gone = self._items.get(tuple(out), [])
                index = part
                for removed in gone:  # ascending: each one removed at or before shifts the rest
                    if removed <= index:
                        index += 1
                out.append(index)
            else:
                out.append(part)
            node = _child(node, part)
        return tuple(out)

    def set_aside(self, schema: dict[str, Any], paths: list[Path]) -> bool:
        """Remove the value at each path, or the nearest enclosing one that can go; False if none."""
        targets = [t for t in (self._target(schema, path) for path in paths) if t is not None]
        # Positions are found first and removed last, highest list index first, so none shifts another.
        for holder_path, key, counts in sorted(set(targets), key=_removal_order, reverse=True):
            holder = _get(self.data, holder_path)
            place = self.original((*holder_path, key))
            self.names.update(self._names(place, holder[key]))
            del holder[key]
            if isinstance(holder, list):
                gone = self._items.setdefault(self.original(holder_path), [])
                gone.append(place[-1])
                gone.sort()
            if counts:
                self.removed.append((place, isinstance(holder, list) or self._is_table(schema, holder_path)))
        return bool(targets)

    def _is_table(self, schema: dict[str, Any], path: Path) -> bool:
        node = locate(schema, self.data, path).node or {}
        return "properties" not in node

    def _names(self, place: Path, value: Any) -> list[str]:
        """The names in root_reads that setting aside ``value`` at ``place`` removes."""
        names: list[Any] = []
        for read in self.root_reads:
            if read[: len(place)] == place:  # the place read, or a section holding it
                held = _get(value, read[len(place) :])
                if isinstance(held, dict):
                    names += list(held)
                elif isinstance(held, list):
                    names += [_name(item) for item in held]
            elif place[: len(read)] == read and len(place) == len(read) + 1:  # one item or entry of it
                names.append(place[-1] if isinstance(place[-1], str) else _name(value))
        return [str(name) for name in names if name is not None]

    def _target(self, schema: dict[str, Any], path: Path) -> tuple[Path, Any, bool] | None:
        """(holder's path, key or index, whether the models read it) of what to remove for ``path``."""
        for end in range(len(path), 0, -1):
            key, holder_path = path[end - 1], path[: end - 1]
            holder = _get(self.data, holder_path)
            if isinstance(holder, list) and isinstance(key, int) and 0 <= key < len(holder):
                return holder_path, key, True
            if not isinstance(holder, dict) or key not in holder:
                continue
            parent = locate(schema, self.data, holder_path).node or {}
            properties = parent.get("properties")
            if properties is None:
                return holder_path, key, True  # an entry of a table keyed by name
            if key not in properties:
                return holder_path, key, False  # an unknown key: the models never saw it
            if key not in parent.get("required", ()):
                return holder_path, key, True
        return None


def _removal_order(target: tuple[Path, Any, bool]) -> tuple[int, int]:
    # Deepest first (a removal shifts only the list it is in), then a list's highest index first.
    holder_path, key, _ = target
    return (len(holder_path), key if isinstance(key, int) else -1)


def _name(item: Any) -> Any:
    return item.get("name") if isinstance(item, dict) else None


def _child(data: Any, part: Any) -> Any:
    if isinstance(data, dict):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return None


def _get(data: Any, path: Path) -> Any:
    for part in path:
        data = _child(data, part)
    return data
