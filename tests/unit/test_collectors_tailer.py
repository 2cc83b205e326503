"""The tailer's rotation, truncation and checkpoint logic on real temporary files, with a fake sink."""

from __future__ import annotations

import os
import time
from pathlib import Path

from core.models.envelope import RawEnvelope
from core.settings import Settings
from ingest.collectors.checkpoints import load_checkpoints
from ingest.collectors.sources import FileSource
from ingest.collectors.tailer import Tailer


class ListSink:
    """Keeps what was sent; `fail_next_flush` makes the next flush report lost records."""

    def __init__(self) -> None:
        self.sent: list[RawEnvelope] = []
        self.flushes = 0
        self.fail_next_flush = 0

    def send(self, envelope: RawEnvelope) -> None:
        self.sent.append(envelope)

    def flush(self) -> int:
        self.flushes += 1
        failed, self.fail_next_flush = self.fail_next_flush, 0
        return failed

    def raws(self) -> list[str]:
        return [e.raw for e in self.sent]


def tailer(tmp_path: Path, sink: ListSink, pattern: str = "app.log", **kwargs: object) -> Tailer:
    settings = Settings(data_dir=tmp_path / "var", max_line_bytes=256)
    source = FileSource(path=str(tmp_path / pattern), source="app", format="syslog")
    return Tailer(settings, [source], sink, **kwargs)  # type: ignore[arg-type]


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def age(path: Path, seconds: float = 60) -> None:
    """Pretend the file was last written `seconds` ago (the rotation grace is about mtime)."""
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_complete_lines_only_and_positions_are_path_inode_offset(tmp_path: Path) -> None:
    log, sink = tmp_path / "app.log", ListSink()
    log.write_bytes(b"one\r\n\n   \ntwo \xff\xfe\nthree (no LF yet)")
    t = tailer(tmp_path, sink)
    assert t.poll() == 2
    assert sink.raws() == ["one", "two \\udcff\\udcfe"]  # blank lines skipped, CR dropped, bad bytes escaped
    inode = log.stat().st_ino
    assert [(e.path, e.offset) for e in sink.sent] == [(str(log), 0), (str(log), 10)]
    assert sink.sent[1].id == RawEnvelope.build(source="app", transport="file", raw=sink.sent[1].raw,
                                                position=f"{log}:{inode}:10").id  # fmt: skip
    assert t.poll() == 0  # the partial line waits for its LF
    append(log, b" done\n")
    assert t.poll() == 1 and sink.raws()[-1] == "three (no LF yet) done"
    assert load_checkpoints(t.checkpoint_file).files[str(log)].offset == log.stat().st_size


def test_rename_rotation_finishes_the_old_file_then_reads_the_new_from_zero(tmp_path: Path) -> None:
    log, sink = tmp_path / "app.log", ListSink()
    log.write_bytes(b"a\nb\n")
    t = tailer(tmp_path, sink)
    t.poll()
    append(log, b"c\nlast without LF")
    log.rename(tmp_path / "app.log.1")
    log.write_bytes(b"d\n")
    age(tmp_path / "app.log.1")
    t.poll()
    assert sink.raws() == ["a", "b", "c", "last without LF", "d"]  # the old file is final: its last line too
    assert t.counts.rotations == 1
    assert sink.sent[-1].offset == 0 and sink.sent[-1].path == str(log)
    assert load_checkpoints(t.checkpoint_file).files[str(log)].inode == log.stat().st_ino


def test_a_rotated_file_still_being_written_is_followed_until_it_goes_quiet(tmp_path: Path) -> None:
    log, sink = tmp_path / "app.log", ListSink()
    log.write_bytes(b"a\n")
    t = tailer(tmp_path, sink, rotate_grace_s=30.0)
    t.poll()
    log.rename(tmp_path / "app.log.1")
    log.write_bytes(b"new\n")
    append(tmp_path / "app.log.1", b"late write by the daemon before it reopened\n")
    t.poll()
    assert sink.raws() == ["a", "late write by the daemon before it reopened"]  # the new file waits
    age(tmp_path / "app.log.1")
    t.poll()
    assert sink.raws()[-1] == "new" and t.counts.rotations == 1


def test_copytruncate_restarts_from_zero(tmp_path: Path) -> None:
    log, sink = tmp_path / "app.log", ListSink()
    log.write_bytes(b"first line\nsecond line\n")
    t = tailer(tmp_path, sink)
    t.poll()
    (tmp_path / "app.log.1").write_bytes(log.read_bytes())  # copy ...
    with log.open("r+b") as handle:  # ... then truncate in place, same inode
        handle.truncate(0)
    append(log, b"after\n")
    t.poll()
    assert sink.raws() == ["first line", "second line", "after"]
    assert t.counts.truncations == 1 and sink.sent[-1].offset == 0


def test_restart_resumes_from_the_checkpoint_without_re_reading(tmp_path: Path) -> None:
    log, sink = tmp_path / "app.log", ListSink()
    log.write_bytes(b"1\n2\n3\n")
    t = tailer(tmp_path, sink)
    t.poll()
    t.close()
    append(log, b"4\n")
    t = tailer(tmp_path, sink)
    t.poll()
    assert sink.raws() == ["1", "2", "3", "4"]


def test_rotation_while_stopped_finishes_the_old_file_found_by_inode(tmp_path: Path) -> None:
    log, sink = tmp_path / "app.log", ListSink()
    log.write_bytes(b"1\n2\n")
    t = tailer(tmp_path, sink)
    t.poll()
    t.close()
    append(log, b"3\n")
    log.rename(tmp_path / "app.log.1")
    log.write_bytes(b"4\n")
    age(tmp_path / "app.log.1")
    t = tailer(tmp_path, sink)
    t.poll()
    assert sink.raws() == ["1", "2", "3", "4"]
    assert sink.sent[2].path == str(log)  # the logical path: ids stay those of the first reading


def test_a_sink_that_lost_records_makes_the_tailer_read_again_with_the_same_ids(tmp_path: Path) -> None:
    log, sink = tmp_path / "app.log", ListSink()
    log.write_bytes(b"1\n2\n")
    t = tailer(tmp_path, sink)
    t.poll()
    append(log, b"3\n4\n")
    sink.fail_next_flush = 1
    t.poll()
    assert load_checkpoints(t.checkpoint_file).files[str(log)].offset == 4  # not moved past the loss
    t.poll()
    assert sink.raws() == ["1", "2", "3", "4", "3", "4"] and t.counts.rewinds == 1
    assert sink.sent[2].id == sink.sent[4].id and sink.sent[3].id == sink.sent[5].id


def test_a_line_longer_than_the_read_window_is_cut_and_the_next_line_survives(tmp_path: Path) -> None:
    log, sink = tmp_path / "app.log", ListSink()
    log.write_bytes(b"Z" * 3_000_000 + b"\nnext\n")
    t = tailer(tmp_path, sink)
    t.poll()
    assert [len(r) for r in sink.raws()] == [256, 4]
    assert sink.sent[1].offset == 3_000_001


def test_globs_pick_up_new_files(tmp_path: Path) -> None:
    sink = ListSink()
    t = tailer(tmp_path, sink, pattern="*.log")
    (tmp_path / "a.log").write_bytes(b"a\n")
    t.poll()
    (tmp_path / "b.log").write_bytes(b"b\n")
    t.poll()
    assert sorted(sink.raws()) == ["a", "b"]


def test_a_file_that_does_not_exist_yet_is_read_once_created(tmp_path: Path) -> None:
    log, sink = tmp_path / "app.log", ListSink()
    t = tailer(tmp_path, sink)
    assert t.poll() == 0
    log.write_bytes(b"hello\n")
    assert t.poll() == 1


def test_a_deleted_file_is_finished_and_let_go(tmp_path: Path) -> None:
    log, sink = tmp_path / "app.log", ListSink()
    log.write_bytes(b"1\n")
    t = tailer(tmp_path, sink, rotate_grace_s=0.0)
    t.poll()
    append(log, b"2\nlast")
    log.unlink()
    t.poll()
    assert sink.raws() == ["1", "2", "last"]
    assert str(log) not in load_checkpoints(t.checkpoint_file).files
    log.write_bytes(b"new\n")  # re-created later: a new file, read from 0
    t.poll()
    assert sink.raws()[-1] == "new"
