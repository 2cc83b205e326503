"""The API parses its rule dirs once: the rules engine and the hunt conversion share that parse."""

from __future__ import annotations

from pathlib import Path

import pytest

import detectors.stream
from api.rules import RuleCatalog
from core.errors import ConfigError
from core.settings import Settings
from detectors.hunt.convert import convert_loaded, load_conversion
from detectors.sigma.loader import LoadedRules
from tests.datasets import dataset


def test_engine_and_hunt_conversion_share_one_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    rules_dir = dataset("sigma", "rules", "windows", "builtin", "security", "account_management")
    parses: list[LoadedRules] = []
    real = detectors.stream.load_rules

    def counting(paths: list[Path]) -> LoadedRules:
        parses.append(loaded := real(paths))
        return loaded

    monkeypatch.setattr(detectors.stream, "load_rules", counting)
    catalog = RuleCatalog(Settings(sigma_rule_dirs=[rules_dir]))
    engine = catalog.engine()
    shared = convert_loaded(catalog.loaded(), None)

    assert len(parses) == 1 and catalog.loaded() is parses[0]
    assert {r.info.id for r in engine.rules} == {i.id for i, _ in parses[0].rules} != set()
    own = load_conversion([rules_dir], None)[0]
    assert {r: q.lucene for r, q in shared.queries.items()} == {r: q.lucene for r, q in own.queries.items()}
    assert len(shared.queries) >= 10


def test_a_missing_rule_dir_is_a_config_error_for_both(tmp_path: Path) -> None:
    catalog = RuleCatalog(Settings(sigma_rule_dirs=[tmp_path / "absent"]))
    with pytest.raises(ConfigError, match="Sigma rule directories missing"):
        catalog.loaded()
    with pytest.raises(ConfigError):
        catalog.engine()
