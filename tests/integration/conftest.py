"""Integration fixtures shared by several modules."""

from __future__ import annotations

import pytest

from detectors.sigma import SigmaEngine
from detectors.sigma.loader import LoadedRules, load_rules
from tests.integration.hunt_support import rule_paths


@pytest.fixture(scope="session")
def sigma_rules() -> tuple[LoadedRules, SigmaEngine]:
    """The full SigmaHQ rule set, parsed and compiled once per session (the hunt converts the same rules)."""
    loaded = load_rules(rule_paths())
    return loaded, SigmaEngine.from_loaded(loaded)
