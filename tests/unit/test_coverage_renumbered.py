"""The ATT&CK moves the coverage table maps (`detectors.coverage.RENUMBERED`) are the SigmaHQ rule set's:
the old id is gone from its tags (its parent may stay: T1070 still has other sub-techniques) and the new
one is there."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from detectors.coverage import RENUMBERED, technique_matches
from tests.datasets import dataset

TAG = re.compile(r"^\s*-\s*(attack\.t\d{4}(?:\.\d{3})?)\s*$", re.MULTILINE)


@pytest.fixture(scope="module")
def sigmahq_tags() -> Counter[str]:
    root = dataset("sigma")
    folders = ("rules", "rules-threat-hunting", "rules-emerging-threats")
    return Counter(tag for folder in folders for path in (root / folder).rglob("*.yml")
                   for tag in TAG.findall(path.read_text(encoding="utf-8")))  # fmt: skip


@pytest.mark.parametrize(("old", "new"), sorted(RENUMBERED.items()))
def test_the_rules_moved_from_the_old_id_to_the_new(sigmahq_tags: Counter[str], old: str, new: str) -> None:
    assert not [tag for tag in sigmahq_tags if tag == old or tag.startswith(old + ".")], f"SigmaHQ still tags {old}"
    assert sum(n for tag, n in sigmahq_tags.items() if technique_matches(tag, new)) >= 3
