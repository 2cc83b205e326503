"""The stateful detectors every detection pipeline runs (stream and replay alike).

An explicit list, built fresh for each pipeline (one per stream partition): no registry filled by
import side effects. Sigma correlation (`detectors/sigma/correlation.py`) and the policy detectors
(`detectors/policy/`) are added here as they land.
"""

from __future__ import annotations

from core.settings import Settings
from detectors.base import Detector


def stream_detectors(settings: Settings) -> list[Detector]:
    """New, empty instances of every registered detector (their state is restored by the caller)."""
    del settings  # the registered detectors read their thresholds from it
    return []
