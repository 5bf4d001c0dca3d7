"""Where something is in a config file: its key path as users write it, and its YAML line."""

from __future__ import annotations

from typing import Any

import yaml

Path = tuple[Any, ...]


def format_path(loc: Path) -> str:
    """``sinks[0].rotation.max_size`` from ``("sinks", 0, "rotation", "max_size")``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def node_line(root: yaml.Node | None, loc: Path) -> int | None:
    """The 1-based line of the YAML node at ``loc`` (or of its nearest existing parent)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            # The last of duplicate keys, as the loader keeps the last one's value.
            for key, value in reversed(node.value):
                if key.value == part:
                    line = key.start_mark.line + 1
                    node = value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
