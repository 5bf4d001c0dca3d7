"""Config of the redact stage (``pipeline.redact``); on by default."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from logflume.models import StrictModel
from logflume.pipeline.redact.rules import BUILTIN_RULES, DEFAULT_FIELD_NAMES, DEFAULT_RULES, BuiltinRule
from logflume.pipeline.regex import compile_re2


class CustomRule(StrictModel):
    """A secret pattern of your own (RE2 syntax, so its run time stays linear)."""

    name: str = Field(
        ..., pattern=r"^[a-z0-9_]+$", description="Rule name, shown in the marker and counters."
    )
    pattern: str = Field(
        ..., description="RE2 regular expression matching the secret.", examples=["tok_[a-z0-9]{24}"]
    )
    literals: list[str] = Field(
        default_factory=list,
        description="Substrings every match contains (e.g. its prefix); strings without any skip the "
        "pattern. Empty: the pattern runs on every string, which is slow.",
    )
    min_length: int = Field(1, ge=1, description="Shortest text the pattern can match.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        compile_re2(value)
        return value


class RedactConfig(StrictModel):
    """Secrets replaced by a marker or a keyed hash before any later stage, sink or alert sees them."""

    enabled: bool = Field(True, description="Redaction is on unless turned off here.")
    rules: list[BuiltinRule] = Field(
        default_factory=lambda: list(DEFAULT_RULES),
        description=f"Built-in secret detectors; available: {', '.join(BUILTIN_RULES)}. "
        "email and card (Luhn-checked numbers) are off by default.",
    )
    custom: list[CustomRule] = Field(default_factory=list, description="Extra secret patterns.")
    field_names: list[str] = Field(
        default_factory=lambda: list(DEFAULT_FIELD_NAMES),
        description="RE2 patterns for names of fields whose whole value is secret, matched against the "
        "name lower-cased without '-', '_', '.' and spaces (X-Api-Key → xapikey).",
    )
    mode: Literal["mask", "hash"] = Field(
        "mask",
        description="mask: [REDACTED:<rule>]; hash: [REDACTED:<rule>:<HMAC-SHA256 prefix>], equal secrets "
        "give equal markers so events can still be correlated.",
    )
    hash_key: SecretStr | None = Field(
        None, description="HMAC key for mode hash, e.g. ${LOGFLUME_REDACT_KEY}; required for that mode."
    )
    hash_length: int = Field(16, ge=8, le=64, description="Hex digits of the HMAC kept in the marker.")

    @field_validator("field_names")
    @classmethod
    def _names_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            compile_re2(pattern)
        return value

    @model_validator(mode="after")
    def _hash_needs_key(self) -> RedactConfig:
        if self.mode == "hash" and (self.hash_key is None or not self.hash_key.get_secret_value()):
            raise ValueError("mode 'hash' needs a non-empty hash_key")
        names = [rule.name for rule in self.custom]
        clash = sorted({n for n in names if names.count(n) > 1 or n in BUILTIN_RULES or n == "secret_field"})
        if clash:
            raise ValueError(f"custom rule names must be unique and not built-in names: {', '.join(clash)}")
        return self
