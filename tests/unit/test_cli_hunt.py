"""`vigil hunt RULE --from … --to …` is `vigil hunt run`, and a store that cannot be reached is one clear line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from core.cli import app
from tests.datasets import dataset

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def test_rule_without_subcommand_is_run() -> None:
    short = runner.invoke(app, ["hunt", "some-rule", "--from", "2026-11-02T00:00:00Z", "--to", "2026-11-01T00:00:00Z"])
    long = runner.invoke(app, ["hunt", "run", "some-rule", "--from", "2026-11-02T00:00:00Z",
                               "--to", "2026-11-01T00:00:00Z"])  # fmt: skip
    assert short.exit_code == long.exit_code == 2
    assert "--to must be after --from" in short.output and short.output == long.output


def test_subcommands_and_options_still_resolve() -> None:
    listed = runner.invoke(app, ["hunt", "rules", "--help"])
    assert listed.exit_code == 0 and "--skipped" in listed.output
    assert runner.invoke(app, ["hunt", "--help"]).exit_code == 0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_elasticsearch_is_one_line_and_exit_3() -> None:
    rule = dataset("sigma", "rules", "windows", "process_creation", "proc_creation_win_whoami_all_execution.yml")
    url = f"http://127.0.0.1:{_closed_port()}"
    done = subprocess.run([sys.executable, "-m", "core.cli", "hunt", str(rule), "--from", "2026-11-01T00:00:00Z",
                           "--to", "2026-11-02T00:00:00Z", "--dry-run"], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "VIGIL_ES_URL": url, "COLUMNS": "300"}, timeout=120)  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert f"cannot reach Elasticsearch at {url}" in done.stderr
    assert "Traceback" not in done.stderr
