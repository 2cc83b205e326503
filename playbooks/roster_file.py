"""The duty roster file as the engine and the API share it: re-read when it changed, replaced atomically.

`current()` looks at the file's (mtime, size) on every call and parses it again only when they moved, so
a roster saved through `PUT /duty/roster` (or edited by hand) reaches a running playbook worker on its
next look, without a restart: one `stat` per look, some 600 times cheaper than parsing the YAML. A file
that no longer parses keeps the last good roster in force (logged), because paging nobody is worse than
paging from yesterday's roster. The version is a digest of the file's bytes: the API's ETag.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError
from core.files import write_atomic
from core.models.entity import WorkCalendar
from playbooks.errors import ConcurrentModification
from playbooks.roster import Roster, default_roster, parse_roster_text

log = logging.getLogger(__name__)
BUILT_IN = "built-in"  # the version of the around-the-clock duty desk used when no file is configured


def version_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:16]


@dataclass(frozen=True)
class RosterText:
    text: str
    version: str


class NoRosterFile(ConfigError):
    """No roster file is configured: the built-in duty desk cannot be edited in place."""


class RosterFile:
    def __init__(self, path: Path | None, calendar: WorkCalendar | None = None) -> None:
        self.path, self.calendar = path, calendar
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        if path is None:
            built_in = default_roster()
            self._roster = built_in.model_copy(update={"calendar": calendar}) if calendar else built_in
            self._version = BUILT_IN
        else:
            content = self._read_bytes(path)
            self._roster, self._version = self._parse(content), version_of(content)
            self._stamp = self._stat()

    def current(self) -> Roster:
        if self.path is None:
            return self._roster
        stamp = self._stat()
        if stamp != self._stamp:
            with self._lock:
                self._reload(stamp)
        return self._roster

    @property
    def version(self) -> str:
        self.current()
        return self._version

    def read(self) -> RosterText:
        """The file as written (comments kept) and its version; the built-in desk as YAML."""
        if self.path is None:
            return RosterText(self._roster.to_yaml(), BUILT_IN)
        content = self._read_bytes(self.path)
        return RosterText(content.decode("utf-8-sig"), version_of(content))

    def replace(self, text: str, if_match: str | None, before_write: Callable[[str, str], None]) -> Roster:
        """Validate `text` as a roster and write it as sent. With `if_match` (the version the caller read)
        it applies to exactly that version or is refused; `before_write(old, new)` runs last (the audit)."""
        if self.path is None:
            raise NoRosterFile("the built-in duty desk is in use: set VIGIL_ROSTER_FILE to a file to edit the roster")
        roster = parse_roster_text(text, "the roster", self.calendar)
        content = text.encode("utf-8")
        with self._lock:
            old = version_of(self._read_bytes(self.path)) if self.path.exists() else BUILT_IN
            if if_match is not None and if_match.strip('"') != old:
                raise ConcurrentModification(f"the duty roster is at version {old}, not {if_match}: read it again")
            before_write(old, version_of(content))
            write_atomic(self.path, content)
            self._roster, self._version, self._stamp = roster, version_of(content), self._stat()
        return roster

    def _reload(self, stamp: tuple[int, int, int] | None) -> None:
        if stamp == self._stamp:  # another thread reloaded it meanwhile
            return
        assert self.path is not None
        try:
            content = self._read_bytes(self.path)
            self._roster, self._version = self._parse(content), version_of(content)
            log.info("duty roster %s reloaded (version %s)", self.path, self._version)
        except ConfigError as exc:
            log.error("%s; the previous roster (version %s) stays in force", exc, self._version)
        self._stamp = stamp

    def _parse(self, content: bytes) -> Roster:
        return parse_roster_text(content.decode("utf-8-sig", errors="replace"), str(self.path), self.calendar)

    def _stat(self) -> tuple[int, int, int] | None:
        """The inode too: an atomic replace is a new file, even within the file system's mtime granularity."""
        assert self.path is not None
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    @staticmethod
    def _read_bytes(path: Path) -> bytes:
        try:
            return path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"duty roster {path}: {exc}") from exc
