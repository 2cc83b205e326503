"""The roster file shared by the API and the playbook worker: re-read on change, last good kept, replaced
only from the version the writer read."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from core.errors import ConfigError
from playbooks.errors import ConcurrentModification
from playbooks.roster_file import BUILT_IN, NoRosterFile, RosterFile, version_of

ROSTER = {
    "people": {"alice": {"name": "Alice"}, "bob": {"name": "Bob"}},
    "shifts": [{"name": "all-day", "days": "all", "hours": "00:00-00:00", "people": ["alice"]}],
}


def roster_text(**changes: object) -> str:
    return yaml.safe_dump({**ROSTER, **changes})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    target = tmp_path / "roster.yml"
    target.write_text(roster_text(), encoding="utf-8")
    return target


def test_an_edit_by_another_process_shows_on_the_next_look(path: Path) -> None:
    rosters = RosterFile(path)
    assert rosters.current().escalation == [] and rosters.version == version_of(path.read_bytes())
    path.write_text(roster_text(escalation=["bob"]), encoding="utf-8")
    assert rosters.current().escalation == ["bob"] and rosters.version == version_of(path.read_bytes())


def test_a_broken_file_keeps_the_last_good_roster(path: Path) -> None:
    rosters = RosterFile(path)
    before = rosters.version
    path.write_text("people: [", encoding="utf-8")
    assert rosters.current().people.keys() == {"alice", "bob"} and rosters.version == before
    with pytest.raises(ConfigError, match="not YAML"):
        RosterFile(path)  # a worker starting on a broken file refuses to start


def test_replace_applies_to_the_version_read_only(path: Path) -> None:
    rosters, other = RosterFile(path), RosterFile(path)
    read = rosters.read()
    audited: list[tuple[str, str]] = []
    text = "# comments are kept\n" + roster_text(escalation=["bob"])
    rosters.replace(text, f'"{read.version}"', lambda old, new: audited.append((old, new)))
    assert path.read_text(encoding="utf-8") == text and audited == [(read.version, version_of(text.encode()))]
    assert other.current().escalation == ["bob"]  # the worker's own instance
    with pytest.raises(ConcurrentModification, match="read it again"):
        other.replace(roster_text(), read.version, lambda old, new: audited.append((old, new)))
    assert len(audited) == 1


def test_an_invalid_roster_is_refused_before_the_audit_and_the_write(path: Path) -> None:
    rosters = RosterFile(path)
    before = path.read_bytes()
    bad = roster_text(escalation=["zed"])

    def audit(old: str, new: str) -> None:
        raise AssertionError("audited an invalid roster")

    with pytest.raises(ConfigError, match="not in people: zed"):
        rosters.replace(bad, None, audit)
    assert path.read_bytes() == before


def test_the_built_in_desk_is_read_only() -> None:
    rosters = RosterFile(None)
    assert rosters.version == BUILT_IN and rosters.current().on_duty is not None
    assert "Duty desk" in rosters.read().text
    with pytest.raises(NoRosterFile, match="VIGIL_ROSTER_FILE"):
        rosters.replace(roster_text(), None, lambda old, new: None)
