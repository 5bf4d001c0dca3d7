"""Following the config's JSON Schema: every key it documents, and where an error location points.

Key paths are written as users read them: ``sinks[].batch.max_events`` (``[]`` any item of a list,
``<name>`` any key of a table). A discriminated union (sinks by ``type``, alert channels by ``type``)
is a *variant*: its keys are listed once per type.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from logflume.configtools.schema import resolve

NO_DEFAULT: Any = type("NoDefault", (), {"__repr__": lambda self: "NO_DEFAULT"})()
ANY_NAME = "<name>"

Variant = tuple[str, str]  # (path of the union, type tag): ("sinks[]", "s3")


@dataclass(frozen=True)
class Key:
    """One documented key."""

    path: str  # sinks[].batch.max_events
    owner: str  # the model declaring it: BatchConfig ("" for the top level)
    name: str  # max_events
    node: dict[str, Any]  # its property schema (description, default, type)
    required: bool
    default: Any  # NO_DEFAULT when required; a section's own default can override its model's
    variants: tuple[Variant, ...] = ()


def iter_keys(root: dict[str, Any]) -> Iterator[Key]:
    """Every key of the config, depth first in declaration order."""
    yield from _object_keys(root, root, "", None, ())


def _object_keys(
    root: dict[str, Any],
    obj: dict[str, Any],
    prefix: str,
    inherited: dict[str, Any] | None,
    variants: tuple[Variant, ...],
) -> Iterator[Key]:
    required = set(obj.get("required", ()))
    for name, prop in obj.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        default = prop.get("default", NO_DEFAULT)
        if inherited is not None and name in inherited:
            default = inherited[name]
        owner = obj.get("title", "") if obj is not root else ""
        yield Key(path, owner, name, prop, name in required, default, variants)
        nested = default if isinstance(default, dict) else None
        yield from _value_keys(root, prop, path, nested, variants)


def _value_keys(
    root: dict[str, Any],
    node: dict[str, Any],
    path: str,
    inherited: dict[str, Any] | None,
    variants: tuple[Variant, ...],
) -> Iterator[Key]:
    node = resolve(node, root)
    discriminator = node.get("discriminator")
    if discriminator is not None:
        tags = {ref: tag for tag, ref in discriminator["mapping"].items()}
        for member in node["oneOf"]:  # declaration order (the mapping is sorted)
            variant = resolve(member, root)
            tag = tags[member["$ref"]]
            yield from _object_keys(root, variant, path, inherited, (*variants, (path, tag)))
    elif "anyOf" in node:
        for member in node["anyOf"]:
            yield from _value_keys(root, member, path, inherited, variants)
    elif "properties" in node:
        yield from _object_keys(root, node, path, inherited, variants)
    elif isinstance(node.get("items"), dict):
        yield from _value_keys(root, node["items"], f"{path}[]", None, variants)
    elif isinstance(node.get("additionalProperties"), dict):
        yield from _value_keys(root, node["additionalProperties"], f"{path}.{ANY_NAME}", None, variants)


@dataclass
class Location:
    """Where a pydantic error location points, in the user's terms."""

    path: tuple[Any, ...]  # union tags removed: ("sinks", 0, "batch")
    node: dict[str, Any] | None  # schema of the value there; None for a key the schema does not have
    parent: dict[str, Any] | None  # schema of the mapping holding the last key
    union_member: bool  # the error is about one alternative of a union, not the value as a whole


def locate(root: dict[str, Any], data: Any, loc: tuple[Any, ...]) -> Location:
    """Follow ``loc`` through the schema and the data, dropping the union tags pydantic adds."""
    here = Location((), root, None, False)
    for part in loc:
        step, node = _choose(root, here.node, data, part) if here.node is not None else (_STEP, None)
        if step is _VARIANT:  # a discriminated union's tag: now in that variant, at the same place
            here.node = node
            continue
        if step is _MEMBER:
            here.union_member = True
            continue
        if node is not None and "properties" in node and isinstance(part, str):
            here.parent, here.node = node, node["properties"].get(part)
        elif node is not None and isinstance(node.get("additionalProperties"), dict):
            here.parent, here.node = node, node["additionalProperties"]
        elif node is not None and isinstance(node.get("items"), dict) and isinstance(part, int):
            here.node = node["items"]
        else:
            here.node = None
        data = _child(data, part)
        here.path = (*here.path, part)
    if here.node is not None:
        here.node = resolve(here.node, root)
    return here


# What a location part is to _choose: a key or index to step into, the type tag of a discriminated
# union (sinks by type), or the member of a plain union (``str | list[str]``) an error is about.
_STEP, _VARIANT, _MEMBER = object(), object(), object()


def _choose(root: dict[str, Any], node: dict[str, Any], data: Any, part: Any) -> tuple[object, Any]:
    """What ``part`` is at ``node``, and the schema (an object or array, or the variant) it leads to."""
    node = resolve(node, root)
    discriminator = node.get("discriminator")
    if discriminator is not None:
        mapping = discriminator["mapping"]
        if part in mapping:
            return _VARIANT, resolve({"$ref": mapping[part]}, root)
        tag = data.get(discriminator["propertyName"]) if isinstance(data, dict) else None
        chosen = isinstance(tag, str) and tag in mapping
        return _STEP, resolve({"$ref": mapping[tag]}, root) if chosen else None
    members = [resolve(m, root) for m in node.get("anyOf", [node]) if m.get("type") != "null"]
    if len(members) == 1:
        return _STEP, members[0]
    if isinstance(data, dict) and isinstance(part, str):
        for member in members:
            if part in member.get("properties", ()):
                return _STEP, member
        if part in data:  # a key the schema lacks (an unknown key): step into the mapping member
            for member in members:
                if "properties" in member or isinstance(member.get("additionalProperties"), dict):
                    return _STEP, member
    if isinstance(data, list) and isinstance(part, int):
        for member in members:
            if "items" in member:
                return _STEP, member
    return _MEMBER, None


def _child(data: Any, part: Any) -> Any:
    if isinstance(data, dict):
        return data.get(part)
    if isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
        return data[part]
    return None
