"""Warnings for secrets written into a config file instead of taken from the environment or a file.

A config file is copied, committed and pasted into tickets; a secret belongs in ``${PGPASSWORD}`` or
``${file:/run/secrets/pg}``. The check reads the YAML as written, before interpolation, and warns on

* a literal value of a key that holds a secret: one the models declare secret (``SecretStr``, shown as
  ``format: password`` in the schema) or one named like a secret (the redact stage's field-name
  patterns: password, token, api_key, …); names are only trusted for keys a model declares, as the
  keys of free tables (``normalise.fields``) are other things' names;
* a literal default of such a key's reference (``${PGPASSWORD:-hunter2}``);
* anywhere else, text the redact stage's default rules call a secret (``Bearer …``, a JWT, ``sk-…``)
  and a password inside a URL (``postgresql://app:pw@db/logs``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from logflume.configtools.places import Path, format_path, node_line
from logflume.configtools.walk import Location, locate
from logflume.errors import ConfigIssue
from logflume.pipeline.redact.rules import BUILTIN_RULES, DEFAULT_FIELD_NAMES, DEFAULT_RULES

_SECRET_NAMES = [re.compile(pattern) for pattern in DEFAULT_FIELD_NAMES]
_URL_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:(?P<password>[^/\s@]+)@")
_ADVICE = "give it as ${ENV_VAR} or ${file:/path} instead"


def secret_name(name: str) -> bool:
    """Whether a key is named like a secret (password, apiKey, X-Auth-Token, …)."""
    normalised = re.sub(r"[-_. ]", "", name.lower())
    return any(pattern.search(normalised) for pattern in _SECRET_NAMES)


def is_secret(where: Location) -> bool:
    """Whether the value at ``where`` is a secret (its value is never shown in a message)."""
    node = where.node or {}
    if any(member.get("format") == "password" for member in [node, *node.get("anyOf", [])]):
        return True
    declared = where.parent.get("properties", {}) if where.parent is not None else {}
    key = where.path[-1] if where.path else None
    return isinstance(key, str) and key in declared and secret_name(key)


def literal_secrets(
    schema: dict[str, Any], data: Any, yaml_root: yaml.Node | None, reference: re.Pattern[str]
) -> list[ConfigIssue]:
    """A warning for every secret written into ``data`` (the YAML as loaded, not interpolated).

    ``reference`` is the interpolation syntax: group 1 the variable, group 2 its default.
    """
    warnings = []
    for path, text in _strings(data, ()):
        problem = _problem(schema, data, path, text, reference)
        if problem is not None:
            warnings.append(ConfigIssue(format_path(path), problem, node_line(yaml_root, path)))
    return warnings


def _problem(
    schema: dict[str, Any], data: Any, path: Path, text: str, reference: re.Pattern[str]
) -> str | None:
    references = [m for m in reference.finditer(text) if m.group(0) != "$$"]
    literal = reference.sub(lambda m: "$" if m.group(0) == "$$" else m.group(2) or "", text)
    if is_secret(locate(schema, data, path)):
        if not references and text.strip():
            return f"a secret written into the file: {_ADVICE}"
        if any(m.group(2) for m in references):
            return f"a secret written into the file as the default of a ${{...:-default}}: {_ADVICE}"
        return None
    url = _URL_PASSWORD.search(text)
    if url is not None and "${" not in url.group("password"):
        return f"a password written into a URL: {_ADVICE}"
    for name in DEFAULT_RULES:
        rule = BUILTIN_RULES[name]
        match = rule.pattern.search(literal)
        if match is not None and (rule.check is None or rule.check(match.group(rule.secret_group or 0))):
            return f"looks like a secret ({name}) written into the file: {_ADVICE}"
    return None


def _strings(data: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _strings(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _strings(value, (*path, index))
    elif isinstance(data, str):
        yield path, data
