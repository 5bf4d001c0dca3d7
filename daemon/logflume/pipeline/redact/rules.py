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
    # Only this group is replaced, the rest of the match is kept; with several (alternatives of
    # one pattern), the first that took part in the match.
    secret_group: str | tuple[str, ...] | None = None
    check: Callable[[str], bool] | None = None  # further proof that the secret is real
    # Whether a match may start inside a marker ("[REDACTED:my_token:3f2a]" holds "token:3f2a"):
    # a rule that could match a marker's own text says no.
    in_markers: bool = True

    def secret_span(self, match: Any) -> tuple[int, int]:
        """Where the secret of ``match`` is (the whole match without a secret group)."""
        groups = self.secret_group
        span: tuple[int, int] = match.span()
        if isinstance(groups, str):
            span = match.span(groups)
        elif groups is not None:
            for group in groups:
                if match.start(group) >= 0:
                    span = match.span(group)
                    break
        return span


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


# Values that say a secret is absent or already hidden: a key-value form holding one is left alone
# (which also keeps redaction idempotent: a marker is never redacted again).
_NOT_SECRETS = frozenset(
    ("", "true", "false", "null", "none", "nil", "undefined", "yes", "no", "on", "off", "n/a", "redacted")
) | {"<redacted>", "[redacted]"}
# The markers the stage writes (mask and hash mode), and nothing looser: text that merely starts
# like one must not shield what follows it.
MARKER = re.compile(r"\[REDACTED:[a-z0-9_]+(?::[0-9a-f]{8,64})?\]")


def _real_value(value: str) -> bool:
    return value.lower() not in _NOT_SECRETS and value.strip("*") != "" and MARKER.fullmatch(value) is None


# Key-value forms inside text: `password=…`, `api_key: …`, `"secret": "…"` in a JSON document
# logged as a string (also with escaped quotes, as in a raw line), `?token=…&…`. A key is any
# name ending in one of these words (db_password, x-api-key, AWS_SECRET_ACCESS_KEY); a name that
# goes on (prompt_tokens, secret_name) is not one. Words that are also ordinary prose before a
# colon (auth, passphrase, signature) count with `=` or a quoted key only.
_KV_ANY_SEP = (
    r"passw(?:or)?d|pwd|secret|token|credentials?|session[_.-]?id"
    r"|(?:api|access|private|secret|client|signing|encryption|master)[_.-]?key"
)
_KV_EQ_ONLY = r"auth|passphrase|signature"
_KV_QUOTED_KEY_SEP = r"\\{0,3}[\"'][ \t]{0,8}[=:]"
_KV_VALUE = (
    r"[ \t]{0,8}(?:"
    r"\\{1,3}\"(?P<escaped>[^\"\\\n]*)"  # \"…\" : a JSON string inside a raw JSON line
    r"|\"(?P<double>(?:[^\"\\\n]|\\.)*)"  # "…" (the closing quote may be cut off)
    r"|'(?P<single>[^'\n]*)"
    # Up to a space or a list/query separator; an auth scheme takes its token along.
    r"|(?P<bare>(?:bearer|basic|token|digest)[ \t]+[^\s\"'&,;]+|[^\s\"'&,;{\[\\][^\s\"'&,;]*)"
    r")"
)
_KV_PATTERN = (
    rf"(?i)(?:(?:{_KV_ANY_SEP})(?:{_KV_QUOTED_KEY_SEP}|[ \t]{{0,8}}[=:])"
    rf"|(?:{_KV_EQ_ONLY})(?:{_KV_QUOTED_KEY_SEP}|[ \t]{{0,8}}=)){_KV_VALUE}"
)

# In the order they run, whatever order the config lists them in. Key-value forms first: they see
# the text as written, before a token rule takes the key along with its value (the bearer rule
# reads "Bearer password=hunter2" as the token "password=").
BUILTIN_RULES: dict[str, Rule] = {
    "key_value": Rule(
        "key_value",
        re.compile(_KV_PATTERN),
        # Every match holds "=", or ":" right after a quote, a space or a key word's last letter
        # ("password:", "token:", "api_key:", "credentials:"), which "10:30" does not. One branch:
        # two starting with ":" take ``re`` three times as long over a column of timestamps.
        ("=", r":(?<=[dDtTnNyYsS\"'\\\s]:)"),
        5,  # pwd=x
        secret_group=("escaped", "double", "single", "bare"),
        check=_real_value,
        in_markers=False,
    ),
    "url_credentials": Rule(
        "url_credentials",
        # The password of URL userinfo (scheme://user:password@host); the last "@" before the
        # path ends it, so a password may hold "@" itself.
        re.compile(
            r"(?i)(?<![a-z0-9+.-])[a-z][a-z0-9+.-]{0,30}://[^\s/:@?#]{1,256}:(?P<secret>[^\s/?#]{1,256})@"
        ),
        ("@",),
        9,  # a://b:c@
        secret_group="secret",
        check=_real_value,
        in_markers=False,
    ),
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
            # AWS access key ids, with the 40-character secret key when it follows the id
            r"|(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])"
            r"(?:[ \t:=,;|\"']{1,4}[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=]))?"
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


def inside_marker(text: str, position: int) -> bool:
    """Whether ``position`` of ``text`` lies inside a redaction marker (a whole, well-formed one)."""
    opened = text.rfind("[REDACTED:", 0, position)
    if opened < 0:
        return False
    marker = MARKER.match(text, opened)
    return marker is not None and marker.end() > position


def first_character(branch: str) -> str:
    """The literal character a hint branch starts with (after its backslash, if escaped)."""
    return branch[1] if branch[0] == "\\" else branch[0]


BuiltinRule = Literal[
    "key_value", "url_credentials", "bearer", "basic_auth", "jwt", "api_key", "email", "card"
]  # fmt: skip
DEFAULT_RULES: tuple[BuiltinRule, ...] = (
    "key_value", "url_credentials", "bearer", "basic_auth", "jwt", "api_key"
)  # fmt: skip

# Matched (RE2 search) against a key lower-cased with "-", "_", "." and spaces removed, so that
# X-Api-Key, api_key and apiKey are one name. "token$" spares counters like prompt_tokens.
DEFAULT_FIELD_NAMES = (
    "passw", "passphrase", "pwd$", "secret", "token$", "^auth$", "authorization", "apikey",
    "accesskey", "privatekey", "credential", "cookie", "sessionid",
)  # fmt: skip
