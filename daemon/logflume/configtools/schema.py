"""The JSON Schema of the whole config, generated from the models.

``model_json_schema`` plus what makes it complete and readable:

* durations and byte sizes are ``$ref: #/$defs/Duration`` / ``ByteSize``: a number or a string with a
  unit, explained once with examples, and their defaults written as a user would ("30s", "10MB");
* defaults made by a factory (lists, tables, nested sections) are filled in, so every default is in
  the schema and not only in code;
* constraints pydantic leaves untranslated on optional fields (``gt: 0``) get their JSON Schema names;
* per-key titles, which only repeat the key, are dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from logflume.units import parse_duration, parse_size

DRAFT = "https://json-schema.org/draft/2020-12/schema"

UNIT_DEFS: dict[str, dict[str, Any]] = {
    "Duration": {
        "title": "Duration",
        "description": "A number of seconds, or a number with a unit: ms, s, m, h or d.",
        "type": ["number", "string"],
        "examples": ["500ms", "10s", "5m", "1h", "7d", 30],
    },
    "ByteSize": {
        "title": "ByteSize",
        "description": "A number of bytes, or a number with a unit: B, KB, MB, GB, TB (powers of 1000) "
        "or KiB, MiB, GiB, TiB (powers of 1024).",
        "type": ["integer", "string"],
        "examples": ["64KiB", "100MB", "1GiB", 1048576],
    },
}
_UNIT_OF: dict[Any, str] = {parse_duration: "Duration", parse_size: "ByteSize"}
_MARKER = "x-logflume-unit"
# pydantic writes a constraint it cannot place (on a member of an optional field) under its own name.
_CONSTRAINTS = {"gt": "exclusiveMinimum", "ge": "minimum", "lt": "exclusiveMaximum", "le": "maximum"}


class _Generator(GenerateJsonSchema):
    def function_before_schema(self, schema: core_schema.BeforeValidatorFunctionSchema) -> JsonSchemaValue:
        function: Any = schema["function"]["function"]
        unit = _UNIT_OF.get(function)
        if unit is not None:
            # A marker, made a $ref afterwards: pydantic resolves every $ref it sees among its own defs.
            return {_MARKER: unit}
        return super().function_before_schema(schema)

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            return factory()  # type: ignore[call-arg]
        return super().get_default_value(schema)


def build_schema(model: type[BaseModel], title: str) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``model``, post-processed as the module docstring says."""
    schema = model.model_json_schema(schema_generator=_Generator)
    defs = schema.setdefault("$defs", {})
    defs.update(UNIT_DEFS)
    # The file's own keys first, the definitions they refer to last.
    schema = {"$schema": DRAFT, "title": title, **{k: v for k, v in schema.items() if k != "title"}}
    schema["$defs"] = schema.pop("$defs")
    _tidy(schema, schema)
    return schema


def _tidy(node: Any, root: dict[str, Any]) -> None:
    """Markers to ``$ref``s and constraint names fixed, everywhere (before any default is read)."""
    for item in _nodes(node):
        if _MARKER in item:
            item["$ref"] = f"#/$defs/{item.pop(_MARKER)}"
        for short, name in _CONSTRAINTS.items():
            if isinstance(item.get(short), int | float) and not isinstance(item[short], bool):
                item[name] = item.pop(short)
    for item in _nodes(node):
        properties = item.get("properties")
        if isinstance(properties, dict) and item.get("type") == "object":
            for prop in properties.values():
                prop.pop("title", None)
                if "default" in prop:
                    prop["default"] = readable(prop["default"], prop, root)


def _nodes(node: Any) -> list[dict[str, Any]]:
    """Every schema object inside ``node`` (defaults included: they hold no schema keys that matter)."""
    found: list[dict[str, Any]] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(v for k, v in item.items() if k not in ("default", "examples", "enum", "const"))
        elif isinstance(item, list):
            stack.extend(item)
    return found


def resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """``node`` with ``$ref`` followed (keys beside the ``$ref`` kept, e.g. a constraint)."""
    while "$ref" in node:
        target = root["$defs"][node["$ref"].rsplit("/", 1)[1]]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def unit_of(node: dict[str, Any]) -> str | None:
    """``Duration`` or ``ByteSize`` when the node is one (directly or through ``$ref``), else None."""
    ref = node.get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    return name if name in UNIT_DEFS else None


def readable(value: Any, node: dict[str, Any], root: dict[str, Any]) -> Any:
    """A default as a user would write it: durations and sizes with a unit, inside tables too."""
    if value is None:
        return None
    unit = unit_of(node)
    if unit == "Duration" and isinstance(value, int | float | str):
        return format_duration(parse_duration(value))
    if unit == "ByteSize" and isinstance(value, int | str):
        return format_size(parse_size(value))
    node = resolve(node, root)
    for member in node.get("anyOf", []):
        if member.get("type") != "null":
            converted = readable(value, member, root)
            if converted != value:
                return converted
    if isinstance(value, dict):
        properties = node.get("properties")
        extra = node.get("additionalProperties")
        if isinstance(properties, dict):
            return {k: readable(v, properties[k], root) if k in properties else v for k, v in value.items()}
        if isinstance(extra, dict):
            return {k: readable(v, extra, root) for k, v in value.items()}
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [readable(item, node["items"], root) for item in value]
    return value


def format_duration(seconds: float) -> str:
    """ "1h", "15m", "30s", "500ms": the largest unit that divides the duration."""
    for unit, factor in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= factor and float(seconds / factor).is_integer():
            return f"{int(seconds // factor)}{unit}"
    millis = round(seconds * 1000, 6)
    if millis.is_integer():
        return f"{int(millis)}ms" if millis else "0s"
    return f"{seconds}s"


def format_size(size: int) -> str:
    """ "1GiB", "10MB", "512B": the largest unit that divides the size."""
    units = [(f"{p}iB", 1024 ** (i + 1)) for i, p in enumerate("KMGT")]
    units += [(f"{p}B", 1000 ** (i + 1)) for i, p in enumerate("KMGT")]
    for unit, factor in sorted(units, key=lambda u: -u[1]):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{unit}"
    return f"{size}B"
