"""The filter condition language: the shared case table, the expression parser, and errors."""

from __future__ import annotations

from typing import Any

import pytest

from logflume.errors import ConditionError
from logflume.pipeline.filter import compile_condition, parse_expression
from tests.pipeline.filter_cases import CASES, PARSED, FilterCase

FORMS = [
    pytest.param(case, form, id=f"{case.name} / {form if isinstance(form, str) else 'mapping'}")
    for case in CASES
    for form in case.forms
]


class TestCaseTable:
    @pytest.mark.parametrize(("case", "form"), FORMS)
    def test_form_matches_expected_events(self, case: FilterCase, form: str | dict[str, Any]) -> None:
        """Every form of a case (mapping or expression) matches exactly the expected events."""
        matches = compile_condition(form)
        assert list(case.expected) == [matches(event) for event in case.events]

    def test_table_is_consistent(self) -> None:
        """Each case lists one expected result per event."""
        assert [len(c.events) for c in CASES] == [len(c.expected) for c in CASES]


class TestExpressionParser:
    @pytest.mark.parametrize(("text", "spec"), PARSED)
    def test_parses_to_the_config_mapping(self, text: str, spec: dict[str, Any]) -> None:
        """An expression parses to the same mapping a config file would spell out."""
        assert spec == parse_expression(text)

    def test_string_escapes(self) -> None:
        """JSON escapes work in both quote styles; unknown escapes stay as written for regexes."""
        spec = parse_expression(r"""a == "say \"hi\"\n" or b == 'it\'s' or c ~ "\d\.\w" """)
        values = [next(iter(part.values()))["value"] for part in spec["any"]]
        assert values == ['say "hi"\n', "it's", r"\d\.\w"]

    def test_unicode_escape(self) -> None:
        """\\uXXXX escapes decode to the character."""
        assert parse_expression('a == "\\u00e9"') == {"a": {"operator": "eq", "value": "é"}}

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "the expression is empty"),
            ("level ==", "expected a value at the end of the expression"),
            ("level == ERROR", 'quote strings, e.g. "ERROR"'),
            ('level = "x"', "unexpected character '=' at column 7"),
            ('(level == "x"', "expected ')' at the end of the expression"),
            ('level == "x" level == "y"', "expected 'and', 'or' or the end of the expression at column 14"),
            ("provider in 'openai'", "expected '[' starting a list at column 13"),
            ("x ~ 5", "'~' needs a quoted regular expression"),
            ('all == "x"', "field name 'all' at column 1 is reserved"),
            ("level is 'x'", "expected an operator"),
            ('message == "unterminated', "unexpected character"),
        ],
    )
    def test_syntax_errors_say_where(self, text: str, message: str) -> None:
        """A malformed expression raises ConditionError saying what and where."""
        with pytest.raises(ConditionError) as info:
            parse_expression(text)
        assert message in str(info.value)

    def test_condition_error_is_a_value_error(self) -> None:
        """ConditionError is a ValueError, so config validators report it as a validation error."""
        assert issubclass(ConditionError, ValueError)


class TestSpecErrors:
    @pytest.mark.parametrize(
        ("spec", "message"),
        [
            (
                {"level": {"operator": "gtt", "value": 1}},
                "level.operator: unknown operator 'gtt' (expected one of: eq,",
            ),
            ({"level": {"operator": "gt", "value": 1, "extra": 2}}, "level: unknown key(s) extra"),
            ({"level": {"operator": "gt"}}, "level: operator 'gt' needs a value"),
            ({"extra_data": {"stream": False}}, "use a dotted path ('extra_data.<key>')"),
            (
                {"message": {"operator": "regex", "value": "(unclosed"}},
                "message.value: invalid regular expression",
            ),
            ({"message": {"operator": "regex", "value": "(?<=x)y"}}, "invalid regular expression '(?<=x)y'"),
            ({"provider": {"operator": "in", "value": "openai"}}, "provider.value: 'in' needs a list"),
            ({"x": {"operator": "gt", "value": [1]}}, "x.value: 'gt' needs a number or a string"),
            ({"x": {"operator": "exists", "value": "yes"}}, "'exists' needs true or false"),
            ({"x": ["a", "b"]}, "'eq' compares with a single value; use 'in'"),
            ({}, "a condition cannot be empty"),
            ({"all": {"level": "ERROR"}}, "all: 'all' needs a non-empty list of conditions"),
            ({"any": []}, "any: 'any' needs a non-empty list of conditions"),
            (
                {"all": [{"level": "ERROR"}, {"not": {"x": {"operator": "bad"}}}]},
                "all[1].not.x.operator: unknown",
            ),
            ({"all": ["level == "]}, "all[0]: invalid expression: expected a value"),
            ({"a..b": 1}, "a..b: invalid field path"),
            (["level"], "a condition must be a mapping or an expression string, not list"),
        ],
    )
    def test_errors_name_the_place_in_the_condition(self, spec: Any, message: str) -> None:
        """Compiling a bad spec raises ConditionError with the location inside the condition."""
        with pytest.raises(ConditionError) as info:
            compile_condition(spec)
        assert message in str(info.value)


class TestHostileInput:
    def test_backtracking_pattern_runs_in_linear_time(self) -> None:
        """A pattern that backtracks exponentially in Python's re finishes at once with RE2."""
        matches = compile_condition({"message": {"operator": "regex", "value": "^(a+)+$"}})
        assert [matches({"message": "a" * 50_000 + "!"}), matches({"message": "a" * 50_000})] == [False, True]

    def test_mixed_groups_in_lists(self) -> None:
        """Lists in groups may mix mappings and expression strings."""
        matches = compile_condition({"any": ['level == "ERROR"', {"status_code": 500}]})
        assert [
            matches({"level": "ERROR"}),
            matches({"status_code": 500}),
            matches({"level": "INFO", "status_code": 200}),
        ] == [True, True, False]
