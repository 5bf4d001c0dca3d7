"""Filter: conditions compiled once into closures; rules that drop, keep or route events.

``compile_condition`` and ``parse_expression`` are the one condition language, shared with the
``logflume query`` command.
"""

from logflume.pipeline.filter.expression import parse_expression
from logflume.pipeline.filter.language import Condition, compile_condition

__all__ = ["Condition", "compile_condition", "parse_expression"]
