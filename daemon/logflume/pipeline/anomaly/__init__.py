"""Anomaly detection: threshold rules on events and statistical detectors on aggregate windows."""

from logflume.pipeline.anomaly.config import (
    AnomalyConfig,
    DetectorConfig,
    DetectorOverride,
    RuleConfig,
    StatisticalConfig,
)
from logflume.pipeline.anomaly.stage import AnomalyStage

__all__ = [
    "AnomalyConfig", "AnomalyStage", "DetectorConfig", "DetectorOverride", "RuleConfig", "StatisticalConfig"
]
