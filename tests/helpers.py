"""Helpers shared by the CLI tests: run the real CLI, check a refusal."""

from __future__ import annotations

from typer.testing import CliRunner

from musegen.cli import app

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def assert_refused(result, *, contains: str | None = None):
    """Exit 2, one line on stderr, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("musegen: error: ")
    assert "Traceback" not in result.output
    if contains:
        assert contains in lines[0], lines[0]
