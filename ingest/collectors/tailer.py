"""Rotation-aware file tailer: follows the files of the sources file into `vigil.raw`.

- Lines are split on LF only and decoded like file import (`lines.decode_line`); a last line without
  its LF yet waits until it is completed (or until its file is rotated away: then it is final).
- Rotation by rename: a new file (device, inode) at the path means the old one was moved away. The old
  file is read through the handle still open on it until it has not been written for `rotate_grace_s`
  (a daemon keeps writing to it until it reopens its log), then to its end, then the new one from 0.
- copytruncate: the same file got shorter than our offset, so it is read again from 0. Lines written
  between our last read and the truncation are in the copy only; polling often keeps that window small.
- Checkpoints (device, inode, offset) per path are written atomically, and only after the sink flushed
  every line before that offset: a restart resumes with no re-read and no gap. A file rotated while the
  tailer was stopped is found again by its inode in the same folder and finished first.
- Positions are ``path:inode:offset``, so a line re-read after a crash keeps its record id.

Globs must not match the rotated names (`auth.log`, not `auth.log*`): a rotated file picked up under its
new name would be a new path, its lines new records.
"""

from __future__ import annotations

import glob
import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from core.models.envelope import RawEnvelope
from core.settings import Settings
from ingest.collectors.checkpoints import Checkpoints, FilePosition, load_checkpoints, save_checkpoints
from ingest.collectors.lines import decode_line, is_blank
from ingest.collectors.sink import Sink
from ingest.collectors.sources import FileSource

log = logging.getLogger(__name__)

READ_WINDOW = 1024 * 1024


@dataclass
class TailCounts:
    lines: int = 0  # handed to the sink
    rotations: int = 0
    truncations: int = 0
    rewinds: int = 0  # the sink lost records: everything since the last checkpoint was read again


@dataclass
class _Followed:
    """One configured path and the file currently read for it (the old one until it is finished)."""

    path: str
    source: FileSource
    handle: BinaryIO | None = field(default=None, repr=False)
    device: int = 0
    inode: int = 0
    offset: int = 0
    skipping: bool = False

    def open(self, path: str, offset: int, skipping: bool = False) -> None:
        if self.handle is not None:
            self.handle.close()
        self.handle = open(path, "rb")  # noqa: SIM115 - held open across polls, closed by the tailer
        stat = os.fstat(self.handle.fileno())
        self.device, self.inode, self.offset, self.skipping = stat.st_dev, stat.st_ino, offset, skipping

    def position(self) -> FilePosition | None:
        if self.handle is None:
            return None
        return FilePosition(device=self.device, inode=self.inode, offset=self.offset, skipping=self.skipping)


class Tailer:
    def __init__(
        self,
        settings: Settings,
        files: Sequence[FileSource],
        sink: Sink,
        name: str = "tailer",
        rotate_grace_s: float = 1.0,
    ) -> None:
        self.files = files
        self.rotate_grace_s = rotate_grace_s
        self.sink = sink
        self.max_line_bytes = settings.max_line_bytes
        self.batch_lines = settings.batch_size
        self.window = max(READ_WINDOW, settings.max_line_bytes + 1)
        self.checkpoint_file = settings.data_dir / "checkpoints" / f"{name}.json"
        self.counts = TailCounts()
        self.last_activity = time.monotonic()
        self._followed: dict[str, _Followed] = {}
        self._saved = Checkpoints()
        self._loaded = False  # checkpoints are read on the first poll, not in the constructor

    def run(self, stop: threading.Event, poll_interval_s: float = 0.25) -> None:
        try:
            while not stop.is_set():
                if not self.poll():
                    stop.wait(poll_interval_s)
        finally:
            self.close()

    def poll(self) -> int:
        """One pass over every followed file; returns how many lines were sent (then flushed)."""
        if not self._loaded:
            self.checkpoint_file.parent.mkdir(parents=True, exist_ok=True)
            self._saved, self._loaded = load_checkpoints(self.checkpoint_file), True
        self._discover()
        sent = sum(self._follow(followed) for followed in self._followed.values())
        self._commit(sent)
        if sent:
            self.last_activity = time.monotonic()
        return sent

    def close(self) -> None:
        if self._loaded:
            self._commit(0)
        for followed in self._followed.values():
            if followed.handle is not None:
                followed.handle.close()
        self._followed.clear()

    def _discover(self) -> None:
        for source in self.files:
            is_glob = any(char in source.path for char in "*?[")
            for path in sorted(glob.glob(source.path)) if is_glob else [source.path]:
                if path not in self._followed:
                    self._followed[path] = self._start(path, source)

    def _start(self, path: str, source: FileSource) -> _Followed:
        """Resume a path from its checkpoint, or start it at 0 (existing content is audited too)."""
        followed = _Followed(path, source)
        saved = self._saved.files.get(path)
        try:
            stat: os.stat_result | None = os.stat(path)
        except FileNotFoundError:
            stat = None
        if saved is not None and stat is not None and (stat.st_dev, stat.st_ino) == (saved.device, saved.inode):
            if stat.st_size >= saved.offset:
                followed.open(path, saved.offset, saved.skipping)
            else:
                followed.open(path, 0)  # truncated while we were stopped
                self.counts.truncations += 1
        elif saved is not None and (rotated := _find_inode(Path(path).parent, saved.device, saved.inode)):
            # Rotated while we were stopped: finish the old file first (`_follow` then switches to the new).
            followed.open(str(rotated), saved.offset, saved.skipping)
        elif stat is not None:
            if saved is not None:
                log.warning("%s was rotated while the tailer was stopped and the old file is gone; "
                            "lines after offset %d of it were not collected", path, saved.offset)  # fmt: skip
            followed.open(path, 0)
        return followed

    def _follow(self, followed: _Followed) -> int:
        try:
            stat: os.stat_result | None = os.stat(followed.path)
        except FileNotFoundError:
            stat = None  # renamed away and not re-created yet: keep reading the old file
        if followed.handle is None:
            if stat is None:
                return 0
            followed.open(followed.path, 0)
        sent = 0
        if stat is not None and (stat.st_dev, stat.st_ino) != (followed.device, followed.inode):
            if followed.handle is not None and self._still_written(followed.handle):
                return self._read(followed, final=False)  # the new file waits, nothing of it is lost
            sent += self._read(followed, final=True)
            followed.open(followed.path, 0)
            self.counts.rotations += 1
        elif stat is not None and stat.st_size < followed.offset:
            followed.offset, followed.skipping = 0, False
            self.counts.truncations += 1
        elif stat is None and followed.handle is not None and self._deleted_and_quiet(followed.handle):
            # Deleted, not renamed: finish it and let go of it, so its disk space can be freed.
            sent = self._read(followed, final=True)
            followed.handle.close()
            followed.handle = None
            return sent
        return sent + self._read(followed, final=False)

    def _deleted_and_quiet(self, handle: BinaryIO) -> bool:
        return os.fstat(handle.fileno()).st_nlink == 0 and not self._still_written(handle)

    def _still_written(self, handle: BinaryIO) -> bool:
        return time.time() - os.fstat(handle.fileno()).st_mtime < self.rotate_grace_s

    def _read(self, followed: _Followed, final: bool) -> int:
        """Send the complete lines after the offset (at most `batch_lines` unless `final`)."""
        handle = followed.handle
        if handle is None:
            return 0
        sent = 0
        while final or sent < self.batch_lines:
            handle.seek(followed.offset)
            data = handle.read(self.window)
            if not data:
                break
            pos = 0
            if followed.skipping:
                end = data.find(b"\n")
                if end < 0:
                    followed.offset += len(data)
                    continue
                pos, followed.skipping = end + 1, False
            end = data.find(b"\n", pos)
            while end >= 0 and (final or sent < self.batch_lines):
                sent += self._emit(followed, followed.offset + pos, data[pos:end])
                pos = end + 1
                end = data.find(b"\n", pos)
            if pos == 0 and len(data) == self.window:
                # One line longer than the window: send its head now (it is cut anyway), skip to its LF.
                sent += self._emit(followed, followed.offset, data)
                followed.offset += len(data)
                followed.skipping = True
                continue
            if end >= 0:
                followed.offset += pos
                continue  # stopped at the batch limit (the loop condition ends it)
            if len(data) < self.window:  # end of file: what is left has no LF yet
                if final and pos < len(data):
                    sent += self._emit(followed, followed.offset + pos, data[pos:])
                    pos = len(data)
                followed.offset += pos
                break
            followed.offset += pos
        return sent

    def _emit(self, followed: _Followed, offset: int, body: bytes) -> int:
        body = body.rstrip(b"\r")
        if is_blank(body):
            return 0
        self.sink.send(
            RawEnvelope.build(
                source=followed.source.source,
                transport="file",
                raw=decode_line(body, self.max_line_bytes),
                position=f"{followed.path}:{followed.inode}:{offset}",
                format=followed.source.format,
                timezone=followed.source.timezone,
                category=followed.source.category,
                path=followed.path,
                offset=offset,
            )
        )
        self.counts.lines += 1
        return 1

    def _commit(self, sent: int) -> None:
        """Checkpoint what the sink confirmed; if it lost records, read again from the last checkpoint."""
        if sent and self.sink.flush():
            log.error("the sink lost records; re-reading every file from its last checkpoint")
            for followed in self._followed.values():
                if followed.handle is not None:
                    followed.handle.close()
            self._followed.clear()
            self.counts.rewinds += 1
            return
        positions = {path: pos for path, f in self._followed.items() if (pos := f.position()) is not None}
        current = Checkpoints(files=positions)
        if current != self._saved:
            save_checkpoints(self.checkpoint_file, current)
            self._saved = current


def _find_inode(directory: Path, device: int, inode: int) -> Path | None:
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return None
    for entry in entries:
        if entry.inode() == inode and entry.is_file(follow_symlinks=False) and entry.stat().st_dev == device:
            return Path(entry.path)
    return None
