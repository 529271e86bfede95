"""``coursebot --help`` tells a learner that plain ``coursebot`` runs: the command is optional."""

from __future__ import annotations

from typer.testing import CliRunner

from bot.cli import app


def test_help_says_a_command_is_optional_and_what_plain_coursebot_runs() -> None:
    result = CliRunner().invoke(app, ["--help"], prog_name="coursebot", terminal_width=200)

    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "Usage: coursebot [OPTIONS] [COMMAND] [ARGS]..." in text
    assert "With no command, coursebot runs every platform configured" in text
    assert "the course in this terminal when none is" in text
