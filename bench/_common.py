"""What the benchmarks share: the repo root on sys.path, the shared datasets, CPU accounting.

Bench scripts run as `python3 bench/NAME.py` from a worktree: the worktree's packages must win over
any editable install that points at another checkout, so the repo root goes first on sys.path
(import this module before any of ours).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
# The script's own folder leaves sys.path too: bench/sigma.py and bench/ingest.py would otherwise
# shadow pySigma's `sigma` and our `ingest` package.
sys.path[:] = [str(ROOT), *(p for p in sys.path if Path(p or ".").resolve() not in (BENCH, ROOT))]

DATASETS = Path(os.environ.get("VIGIL_DATASETS", ROOT.parent / "shared" / "datasets"))
_TICKS = os.sysconf("SC_CLK_TCK")


def dataset(*parts: str) -> Path:
    path = DATASETS.joinpath(*parts)
    if not path.exists():
        sys.exit(f"dataset {path} not found (set VIGIL_DATASETS to the shared datasets folder)")
    return path


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces: split after its closing parenthesis.
    return text[text.rindex(")") + 2 :].split()


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of one process group.

    Servers are started in their own session (a launcher script and its JVM): the group is the server.
    """
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        # after the name: state(0) ppid(1) pgrp(2) ... utime(11) stime(12)
        if fields is not None and int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def self_cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


@dataclass
class CpuMeter:
    """CPU seconds used by named process groups between `start()` and `stop()`."""

    groups: dict[str, int]

    def __post_init__(self) -> None:
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}

    def start(self) -> None:
        self._start = {name: group_cpu_seconds(pgid) for name, pgid in self.groups.items()}
        self._start["bench"] = self_cpu_seconds()

    def sample(self) -> dict[str, float]:
        now = {name: group_cpu_seconds(pgid) for name, pgid in self.groups.items()}
        now["bench"] = self_cpu_seconds()
        return {name: max(0.0, now[name] - self._start.get(name, 0.0)) for name in now}

    def stop(self) -> dict[str, float]:
        self.used = self.sample()
        return self.used
