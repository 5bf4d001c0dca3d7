"""Bounded YAML loading: what a config file may cost before it is even validated.

PyYAML on its own lets a few hundred bytes take seconds and gigabytes (aliases of aliases, the
"billion laughs"), composes nesting with recursion (20,000 levels raise RecursionError), and
raises plain ValueError for scalars it cannot convert (``2001-13-45``, a 5,000-digit integer).
This loader composes the document once, counting as it goes, and refuses, with the line of the
offending node:

- a document larger than :data:`MAX_DOCUMENT_BYTES`;
- nesting deeper than :data:`MAX_DEPTH`;
- more than :data:`MAX_NODES` nodes written out;
- aliases whose expansion would exceed :data:`MAX_EXPANDED` (nodes plus scalar characters, as the
  validated config would hold them), or that refer to a node containing them.

Memory stays bounded by the document itself: nodes are counted while composing, and the expanded
size of a node is the sum of its children's, each computed once.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError

MAX_DOCUMENT_BYTES = 1024**2
MAX_DEPTH = 64
MAX_NODES = 100_000
MAX_EXPANDED = 4 * 1024**2


class YamlLimitError(yaml.MarkedYAMLError):
    """The document is well-formed YAML, but larger or deeper than a config can be."""


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, stream: str, max_nodes: int, max_expanded: int) -> None:
        super().__init__(stream)
        self._max_nodes = max_nodes
        self._max_expanded = max_expanded
        self._depth = 0
        self._nodes = 0
        # Expanded size of every node composed so far, by id (nodes stay alive in the tree).
        self._expanded: dict[int, int] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        alias = self.check_event(yaml.AliasEvent)
        mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]  # untyped in types-PyYAML
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlLimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", mark)
        try:
            composed = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        assert composed is not None  # compose_node returns None only at the end of a stream
        node: yaml.Node = composed
        if alias:
            if id(node) not in self._expanded:
                raise YamlLimitError(None, None, "an alias refers to a node that contains it", mark)
            return node
        self._nodes += 1
        if self._nodes > self._max_nodes:
            raise YamlLimitError(None, None, f"more than {self._max_nodes} values in one document", mark)
        self._expanded[id(node)] = size = self._size(node)
        if size > self._max_expanded:
            message = f"aliases expand this value beyond {self._max_expanded} nodes and characters"
            raise YamlLimitError(None, None, message, mark)
        return node

    def _size(self, node: yaml.Node) -> int:
        if isinstance(node, yaml.ScalarNode):
            return 1 + len(node.value)
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = node.value
        return 1 + sum(self._expanded[id(child)] for child in children)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:  # 2001-13-45, an integer of 5,000 digits
            raise ConstructorError(None, None, f"cannot read this value: {exc}", node.start_mark) from exc


def load(
    text: str,
    max_bytes: int = MAX_DOCUMENT_BYTES,
    max_nodes: int = MAX_NODES,
    max_expanded: int = MAX_EXPANDED,
) -> tuple[Any, yaml.Node | None]:
    """The data of a one-document YAML text, and its node tree (for line numbers).

    The limits default to a config file's; a data file (a lookup table) passes its own. Raises
    :class:`yaml.YAMLError` (:class:`YamlLimitError` for a limit) with the offending mark.
    """
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise YamlLimitError(None, None, f"the document is larger than {max_bytes} bytes", None)
    loader = _BoundedLoader(text, max_nodes, max_expanded)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return data, root
