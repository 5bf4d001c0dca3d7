"""Redact: secrets replaced before any later stage, sink or alert can see or copy them."""

from logflume.pipeline.redact.config import RedactConfig
from logflume.pipeline.redact.raw import text_scrubber
from logflume.pipeline.redact.stage import Redactor

__all__ = ["RedactConfig", "Redactor", "text_scrubber"]
