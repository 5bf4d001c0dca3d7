"""docs/configuration.md: every key of the config, rendered from its JSON Schema.

One section per top-level key that holds keys (``sources[]``, ``sinks[]``, ``alerts``, …); a key whose
keys all hold keys themselves (``pipeline``, ``pipeline.enrich``) is split into one section each.
A table's rows are its keys with their type, default and description; in a section of a union
(sinks and alert channels by ``type``), the keys every type shares come first, then one table per type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from logflume.configtools.schema import resolve, unit_of
from logflume.configtools.walk import ANY_NAME, NO_DEFAULT, Key, iter_keys

COMMAND = "logflume config docs -o docs/configuration.md"
TOP = "Top level"

_HEAD = f"""# Configuration reference

<!-- Generated from the config models by `{COMMAND}`: do not edit by hand. -->

Every key of a logflume config file, generated from the models that validate it. The same as a
JSON Schema (for editors and CI): `logflume config schema`. Check a file with `logflume validate -c
FILE`: it lists every problem with its key path and line, and warns about secrets written into it.

A key path such as `sinks[].batch.max_events` reads: `[]` any item of a list, `{ANY_NAME}` any key
of a table (a name you choose). A key without a default must be set; a section whose default is
`null` is off until configured. Values may use `${{VAR}}`, `${{VAR:-default}}` and
`${{file:/path}}` (replaced before validation; `$$` is a literal `$`).

Value types beyond text, numbers and booleans:

* **duration**: seconds as a number, or a number with a unit: `500ms`, `10s`, `5m`, `1h`, `7d`.
* **size**: bytes as a number, or a number with a unit: `64KiB`, `100MB`, `1GiB` (KB, MB, GB, TB
  are powers of 1000; KiB, MiB, GiB, TiB powers of 1024).
* **secret**: text that is never logged or shown; give it as `${{ENV_VAR}}` or `${{file:/path}}`,
  not written into the file.
"""
_PLAIN = re.compile(r"^[\w./][\w./%{}@*+-]*$")
_AMBIGUOUS = {"true", "false", "null", "yes", "no", "on", "off", "~"}


@dataclass
class _Section:
    title: str
    depth: int
    rows: list[Key] = field(default_factory=list)


def render(schema: dict[str, Any]) -> str:
    """The Markdown reference of the config with JSON Schema ``schema``."""
    keys = list(iter_keys(schema))
    parents = {parent for key in keys if (parent := parent_key(key.path)) is not None}
    sections = _sections(keys)
    out = [_HEAD, "## Contents\n"]
    for section in sections:
        indent = "  " * (section.depth - 2)
        out.append(f"{indent}* [{section.title}](#{_anchor(section.title)})")
    for section in sections:
        out.append("")
        out.append(f"{'#' * section.depth} {section.title}")
        out.append("")
        out.extend(_tables(schema, section, parents))
    return "\n".join(out) + "\n"


def _sections(keys: list[Key]) -> list[_Section]:
    paths = list(dict.fromkeys(key.path for key in keys))
    children: dict[str, list[str]] = {path: [] for path in paths}
    for path in paths:
        parent = parent_key(path)
        if parent is not None:
            children[parent].append(path)

    def split(path: str) -> bool:
        kids = children[path]
        return len(kids) > 1 and all(children[kid] for kid in kids)

    def section_of(path: str) -> str:
        chain = [path]
        while (parent := parent_key(chain[-1])) is not None:
            chain.append(parent)
        if not children[chain[-1]]:
            return TOP
        found = chain[-1]
        for ancestor in reversed(chain[:-1]):
            if not split(parent_key(ancestor) or "") or not children[ancestor]:
                break
            found = ancestor
        return found

    sections: dict[str, _Section] = {TOP: _Section(TOP, 2)}
    for key in keys:
        title = section_of(key.path)
        if title not in sections:
            depth = 2 + sum(1 for other in sections if other != TOP and _contains(other, title))
            sections[title] = _Section(title, depth)
        sections[title].rows.append(key)
    return list(sections.values())


def parent_key(path: str) -> str | None:
    """The key holding ``path``: sinks[].batch for sinks[].batch.max_events, sinks for sinks[].name."""
    if "." not in path:
        return None
    return owner_key(path.rsplit(".", 1)[0])


def owner_key(path: str) -> str:
    """The key a value path belongs to: sinks for sinks[], alerts.channels for alerts.channels.<name>."""
    while True:
        if path.endswith("[]"):
            path = path[:-2]
        elif path.endswith("." + ANY_NAME):
            path = path[: -len(ANY_NAME) - 1]
        else:
            return path


def _contains(outer: str, inner: str) -> bool:
    return inner != outer and owner_key(inner).startswith(owner_key(outer) + ".")


def _anchor(title: str) -> str:
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def _tables(schema: dict[str, Any], section: _Section, parents: set[str]) -> list[str]:
    plain = [key for key in section.rows if not key.variants]
    variant_rows = [key for key in section.rows if key.variants]
    lines: list[str] = []
    if plain:
        lines += _table(schema, plain, parents)
    if not variant_rows:
        return lines
    union, _ = variant_rows[0].variants[-1]
    tags = list(dict.fromkeys(key.variants[-1][1] for key in variant_rows))
    by_tag = {tag: [key for key in variant_rows if key.variants[-1][1] == tag] for tag in tags}
    shared = [
        key
        for key in by_tag[tags[0]]
        if all(any(_same(key, other) for other in by_tag[tag]) for tag in tags[1:])
    ]
    shared_paths = {key.path for key in shared}
    lines += ["", f"Keys of every `{union}` type ({', '.join(f'`{tag}`' for tag in tags)}):", ""]
    lines += _table(schema, shared, parents)
    for tag in tags:
        own = [key for key in by_tag[tag] if key.path not in shared_paths or key.name == "type"]
        lines += ["", f"{'#' * (section.depth + 1)} {union} with type: {tag}", ""]
        lines += _table(schema, own, parents)
    return lines


def _same(one: Key, other: Key) -> bool:
    return (one.path, one.node.get("description"), repr(one.default)) == (
        other.path,
        other.node.get("description"),
        repr(other.default),
    ) and type_text(one.node, {}) == type_text(other.node, {})


def _table(schema: dict[str, Any], keys: Iterable[Key], parents: set[str]) -> list[str]:
    lines = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for key in keys:
        default = _default(key, key.path in parents)
        cells = [f"`{key.path}`", type_text(key.node, schema), default, key.node.get("description", "")]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return lines


def type_text(node: dict[str, Any], root: dict[str, Any]) -> str:
    """A key's type in words: "integer > 0", "list of text", "duration or null", "one of `a`, `b`"."""
    unit = unit_of(node)
    if unit is not None:
        base = "duration" if unit == "Duration" else "size"
    else:
        node = resolve(node, root) if root else node
        base = _base_type(node, root)
    limits = _limits(node)
    return f"{base}, {limits}" if limits else base


def _base_type(node: dict[str, Any], root: dict[str, Any]) -> str:
    if "const" in node:
        return f"`{node['const']}`"
    if "enum" in node:
        return "one of " + ", ".join(f"`{value}`" for value in node["enum"])
    if "discriminator" in node:
        return f"mapping with a `{node['discriminator']['propertyName']}`"
    if "anyOf" in node:
        return " or ".join(dict.fromkeys(type_text(member, root) for member in node["anyOf"]))
    kind = node.get("type")
    if kind == "string":
        return {"password": "secret", "path": "path"}.get(node.get("format", ""), "text")
    if kind == "array":
        items = node.get("items")
        return f"list of {_plural(type_text(items, root))}" if isinstance(items, dict) else "list"
    if kind == "object" or "properties" in node:
        extra = node.get("additionalProperties")
        if "properties" not in node and isinstance(extra, dict):
            return f"table of {_plural(type_text(extra, root))}"
        return "mapping"
    if isinstance(kind, str):
        return kind
    return "any"


def _plural(text: str) -> str:
    if " or " in text:
        return f"({text})"
    if text in ("text", "any") or text.startswith(("`", "one of", "list", "table")):
        return text
    words = text.split(" ", 1)
    return words[0] + "s" + (" " + words[1] if len(words) > 1 else "")


def _limits(node: dict[str, Any]) -> str:
    parts = []
    for name, sign in (
        ("exclusiveMinimum", ">"),
        ("minimum", "≥"),
        ("exclusiveMaximum", "<"),
        ("maximum", "≤"),
    ):
        if name in node:
            parts.append(f"{sign} {node[name]}")
    if node.get("minItems"):
        parts.append(f"at least {node['minItems']}")
    if node.get("minLength") == 1:
        parts.append("not empty")
    elif node.get("minLength"):
        parts.append(f"at least {node['minLength']} characters")
    if node.get("maxLength"):
        parts.append(f"at most {node['maxLength']} characters")
    if node.get("pattern"):
        parts.append(f"matching `{node['pattern']}`")
    return ", ".join(parts)


def _default(key: Key, nested: bool) -> str:
    if key.default is NO_DEFAULT:
        return "required"
    if nested and isinstance(key.default, dict) and key.default:
        return "see its keys"  # which show the defaults this section gives them
    return f"`{yaml_text(key.default)}`"


def yaml_text(value: Any) -> str:
    """A value as it would be written in the YAML file (flow style)."""
    if isinstance(value, str):
        plain = _PLAIN.match(value) and value.lower() not in _AMBIGUOUS and not _number(value)
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(yaml_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{yaml_text(k)}: {yaml_text(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
