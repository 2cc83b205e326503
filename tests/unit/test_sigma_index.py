"""The index's literal search (`detectors/sigma/index.py`): grouped `in` checks for a few literals and
the Aho-Corasick automaton for many report exactly the literals a text contains."""

from __future__ import annotations

import random

import pytest

from detectors.sigma.index import _substring_hits, _substrings

MIMIKATZ = ["lsadump::", "sekurlsa::", "kerberos::ptt", "misc::skeleton", "gentilkiwi.com", "eo.oe.kiwi",
            "kiwi legit printer", "\\mimilib.dll", "mimidrv.sys", "privilege::debug"]  # fmt: skip


@pytest.mark.parametrize("count", [len(MIMIKATZ), 60])  # a few: grouped in-checks; many: the automaton
def test_literal_hits_are_exactly_the_literals_in_the_text(count: int):
    rng = random.Random(count)
    literals = [*MIMIKATZ, *(f"lit{i}::x" for i in range(count - len(MIMIKATZ)))]
    by_literal = {literal: [i] for i, literal in enumerate(literals)}
    found_literals = _substrings(by_literal)
    assert found_literals.__class__ is tuple if count <= 24 else found_literals.__class__ is not tuple
    for _ in range(2000):
        chosen = rng.sample(literals, rng.randint(0, 3))
        noise = ["".join(rng.choice("ki:w.m ls") for _ in range(rng.randint(0, 8))) for _ in range(3)]
        text = "\x00".join(rng.sample(chosen + noise, len(chosen) + len(noise)))
        hits: set[int] = set()
        _substring_hits(found_literals, text, hits)
        assert hits == {i for i, literal in enumerate(literals) if literal in text}, text
