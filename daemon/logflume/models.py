"""The base of every config model: strict (unknown keys are errors) and immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """A config model that rejects unknown keys and cannot be changed once validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)
