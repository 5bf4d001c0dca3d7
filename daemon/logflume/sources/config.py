"""Config of a file source."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from logflume.models import StrictModel
from logflume.names import check_name
from logflume.pipeline.mapping import MappingConfig, preset_names
from logflume.units import ByteSize, Duration

MIB = 1024**2
# A line is held in memory whole, and copied while it is cut, parsed and encoded: a limit past
# this is a typo (1TB for 1MB), which would otherwise end in MemoryError once the daemon runs.
MAX_LINE_BYTES = 64 * MIB


def check_glob(pattern: str) -> str:
    """Reject patterns glob would silently treat as literals or never match."""
    if not pattern.strip():
        raise ValueError("a glob pattern cannot be empty")
    depth = 0
    for char in pattern:
        if char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
    if depth:
        raise ValueError(f"invalid glob {pattern!r}: unclosed '['")
    if "**" in pattern.replace("/**/", "").replace("**/", "").replace("/**", ""):
        raise ValueError(f"invalid glob {pattern!r}: '**' must be a whole path component")
    if "\x00" in pattern:
        raise ValueError("a glob pattern cannot contain a NUL byte")
    return pattern


class SourceConfig(StrictModel):
    name: str = Field(
        ...,
        description="Source name: {source} in sink paths and the checkpoint file's name, so one "
        "path component (letters, digits, _ - .; not starting with '.').",
    )
    type: Literal["file"] = Field("file", description="Source kind; files are the only kind so far.")
    include: list[str] = Field(..., min_length=1, description="Globs of files to follow (relative to cwd).")
    exclude: list[str] = Field(default_factory=list, description="Globs of matched files to skip.")
    read_from: Literal["beginning", "end"] = Field(
        "beginning", description="Where to start a file seen for the first time (no checkpoint)."
    )
    max_line_bytes: ByteSize = Field(
        MIB,
        gt=0,
        le=MAX_LINE_BYTES,
        description="Longer lines are cut and sent to the dead-letter file (at most 64 MiB).",
    )
    read_bytes: ByteSize = Field(
        MIB, gt=0, le=MAX_LINE_BYTES, description="Bytes read from a file at a time (at most 64 MiB)."
    )
    fingerprint_bytes: ByteSize = Field(
        1024,
        ge=16,
        le=MIB,
        description="A file's identity is a hash of its first line, up to this many bytes.",
    )
    scan_interval: Duration = Field(1.0, gt=0, description="How often globs are re-scanned.")
    poll_interval: Duration = Field(0.2, gt=0, description="How often a reader at end of file looks again.")
    watch: Literal["auto", "poll"] = Field(
        "auto", description="auto: filesystem events (inotify) plus polling; poll: polling only."
    )
    rotate_wait: Duration = Field(
        5.0, ge=0, description="How long a rotated-away or deleted file is kept open after its last data."
    )
    on_invalid: Literal["dead_letter", "wrap"] = Field(
        "dead_letter", description="Non-JSON lines: dead-letter them, or wrap them as {message: line}."
    )
    preset: str | None = Field(
        None,
        description="Built-in mapping of a gateway's or web server's log shape onto the canonical "
        "fields: litellm, kong, caddy, traefik or nginx.",
        examples=["litellm"],
    )
    mapping: MappingConfig | None = Field(
        None,
        description="Own mapping onto the canonical fields (after the preset's rules, replacing a "
        "preset rule of the same target).",
    )

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str | None) -> str | None:
        if value is not None and value not in preset_names():
            raise ValueError(f"unknown preset {value!r} (one of: {', '.join(preset_names())})")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return check_name(name)

    @field_validator("include", "exclude")
    @classmethod
    def _globs(cls, patterns: list[str]) -> list[str]:
        return [check_glob(p) for p in patterns]
