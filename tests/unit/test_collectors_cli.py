"""`vigil collect` and `vigil workers --role collectors` are wired (the run itself: integration tests)."""

from __future__ import annotations

from typer.testing import CliRunner

from core.cli import app


def test_collect_is_a_vigil_command_with_idle_exit() -> None:
    result = CliRunner().invoke(app, ["collect", "--help"])
    assert result.exit_code == 0 and "--idle-exit" in result.output and "--sources" in result.output


def test_workers_accepts_the_collectors_role_only_among_known_roles() -> None:
    result = CliRunner().invoke(app, ["workers", "--help"])
    assert result.exit_code == 0 and "collectors" in result.output
    assert CliRunner().invoke(app, ["workers", "--role", "nope"]).exit_code == 2
