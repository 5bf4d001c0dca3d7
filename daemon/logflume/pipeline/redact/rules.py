"""What a secret looks like: the built-in detection rules and the default sensitive field names.

Built-in patterns use the standard ``re`` module for speed and are written to stay linear: each
starts at a literal that a lookbehind pins to the start of a token, and no repeated group can
match the same text two ways. Patterns from config go through RE2 instead, which is linear for
any pattern. A rule's ``hint`` is a few small patterns (branches) of which every match of the rule
contains one; text without any hint skips the rules, which is what keeps redaction affordable on the
hot path. Each branch starts with a literal character (escaped with a backslash when special) that
is rare in logs (``B``earer, ``yJ`` of a JWT's ``eyJ``, ``k-`` of ``sk-``): text without that
character cannot hold the branch, which a ``str`` membership test (``memchr``) tells at once, and
``re`` scans for a literal first character much faster than for any of several.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Rule:
    """One kind of secret found inside strings."""

    name: str
    pattern: Any  # compiled stdlib or RE2 pattern: .search, .sub(callable, text), .finditer
    hint: tuple[str, ...] | None  # regex branches, one of which every match contains; None: always try
    min_length: int  # shortest text the rule can match
    secret_group: str | None = None  # only this group is replaced; the rest of the match is kept
    check: Callable[[str], bool] | None = None  # further proof that the secret is real


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a card number (separators ignored)."""
    numbers = [int(c) for c in digits if c.isdigit()]
    if not 13 <= len(numbers) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(numbers)):
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _basic_credentials(token: str) -> bool:
    # "Basic information" is prose; "Basic dXNlcjpwYXNz" decodes to "user:pass".
    try:
        return b":" in base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False


BUILTIN_RULES: dict[str, Rule] = {
    "bearer": Rule(
        "bearer",
        re.compile(r"(?<![A-Za-z0-9])(?:[Bb]earer|BEARER)\s+(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)"),
        ("Bearer", "BEARER", "bearer"),
        15,
        secret_group="secret",
    ),
    "basic_auth": Rule(
        "basic_auth",
        re.compile(
            r"(?<![A-Za-z0-9])(?:[Bb]asic|BASIC)\s+(?P<secret>[A-Za-z0-9+/]{6,}={0,2})(?![A-Za-z0-9+/=])"
        ),
        ("Basic", "BASIC", "basic"),
        12,
        secret_group="secret",
        check=_basic_credentials,
    ),
    "jwt": Rule(
        "jwt",
        re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"),
        ("yJ",),
        18,  # eyJ + 5 + .eyJ + 5 + "."
    ),
    "api_key": Rule(
        "api_key",
        re.compile(
            r"(?<![A-Za-z0-9])(?:"
            r"sk-[A-Za-z0-9_-]{20,}"  # OpenAI (sk-, sk-proj-), Anthropic (sk-ant-)
            r"|(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"  # AWS access key ids
            r"|gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
            r"|AIza[0-9A-Za-z_-]{35}"  # Google
            r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
            r"|[rs]k_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
            r")"
        ),
        ("k-", "k_live_", "k_test_", "AKIA", "ASIA", "AIza", "gh[pousr]_", "github_pat_", "xox"),
        15,  # "xoxb-" + 10
    ),
    "email": Rule(
        "email",
        re.compile(
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z0-9-])"
        ),
        ("@",),
        6,
    ),
    "card": Rule(
        "card",
        re.compile(r"(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])"),
        None,
        13,
        check=luhn_valid,
    ),
}


def first_character(branch: str) -> str:
    """The literal character a hint branch starts with (after its backslash, if escaped)."""
    return branch[1] if branch[0] == "\\" else branch[0]


BuiltinRule = Literal["bearer", "basic_auth", "jwt", "api_key", "email", "card"]
DEFAULT_RULES: tuple[BuiltinRule, ...] = ("bearer", "basic_auth", "jwt", "api_key")

# Matched (RE2 search) against a key lower-cased with "-", "_", "." and spaces removed, so that
# X-Api-Key, api_key and apiKey are one name. "token$" spares counters like prompt_tokens.
DEFAULT_FIELD_NAMES = (
    "passw", "passphrase", "pwd$", "secret", "token$", "^auth$", "authorization", "apikey",
    "accesskey", "privatekey", "credential", "cookie", "sessionid",
)  # fmt: skip
