"""A latency quantile sketch (DDSketch) that is fed in bulk.

DDSketch guarantees a *relative* error: every quantile it returns is within ``relative_accuracy``
(default 1 %) of the exact value of some sample at that rank, and two sketches with the same
accuracy merge exactly, which is how 5-minute windows are built from 1-minute ones.

``DDSketch.add`` costs about a microsecond in Python, too much on the hot path, so values are
appended to a plain list per batch and :meth:`LatencySketch.flush` maps them to bins with numpy in
one go. Each bin is then added once, as its representative value with the bin's count as weight:
that value maps back to the same bin, so the sketch's bins and quantiles are exactly what adding
the values one by one would give (only the sketch's sum/avg, which we do not use, differ).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ddsketch import DDSketch

DEFAULT_RELATIVE_ACCURACY = 0.01


class LatencySketch:
    """Collects values cheaply (``pending.append``), folds them into a DDSketch on ``flush``."""

    __slots__ = ("_log_gamma", "pending", "sketch")

    def __init__(self, relative_accuracy: float = DEFAULT_RELATIVE_ACCURACY) -> None:
        self.sketch = DDSketch(relative_accuracy)
        mapping = self.sketch._mapping
        self._log_gamma = float(np.log(mapping.gamma))
        self.pending: list[float] = []

    def flush(self) -> None:
        """Fold the pending values into the sketch."""
        if not self.pending:
            return
        values = np.asarray(self.pending, dtype=np.float64)
        self.pending = []
        values = values[np.isfinite(values) & (values >= 0)]
        sketch = self.sketch
        mapping = sketch._mapping
        positive = values[values > mapping.min_possible]
        zeros = values.size - positive.size
        if zeros:
            sketch.add(0.0, float(zeros))
        if positive.size:
            keys = np.ceil(np.log(positive) / self._log_gamma).astype(np.int64)
            unique, counts = np.unique(keys, return_counts=True)
            value_of = mapping.value
            add = sketch.add
            for key, count in zip(unique.tolist(), counts.tolist(), strict=True):
                add(value_of(key), float(count))

    def merge(self, other: LatencySketch) -> None:
        """Add everything ``other`` holds (both flushed first)."""
        self.flush()
        other.flush()
        self.sketch.merge(other.sketch)

    @property
    def count(self) -> int:
        return int(self.sketch.count) + len(self.pending)

    def quantile(self, q: float) -> float | None:
        """The value at quantile ``q`` (0..1), None when empty."""
        self.flush()
        value: Any = self.sketch.get_quantile_value(q)
        return None if value is None else float(value)
