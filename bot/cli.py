"""The ``coursebot`` command line (Typer)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from bot.config import Settings, SettingsError, load_settings

app = typer.Typer(
    add_completion=False,
    no_args_is_help=False,
    subcommand_metavar="[COMMAND] [ARGS]...",
    help=(
        "coursebot: a course in Discord, Slack or your terminal.\n\n"
        "With no command, coursebot runs every platform configured in the environment (DISCORD_TOKEN, "
        "SLACK_BOT_TOKEN), or the course in this terminal when none is."
    ),
)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


@app.callback(invoke_without_command=True)
def _default(ctx: typer.Context) -> None:
    """With chat tokens configured, run every configured platform; without, the console course."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    if settings.discord_enabled or settings.slack_enabled:
        from bot.serve import serve

        raise typer.Exit(asyncio.run(serve(settings)))
    from bot.console.app import run_console

    raise typer.Exit(run_console(settings))


@app.command()
def console() -> None:
    """Take the course in this terminal (reads piped stdin too)."""
    from bot.console.app import run_console

    raise typer.Exit(run_console(_settings()))


@app.command()
def check(
    content: Annotated[Path | None, typer.Option(help="Content folder (default: COURSEBOT_CONTENT).")] = None,
) -> None:
    """Validate the course content and print a summary; exit 1 on errors."""
    from bot.core.content.check import run_check

    raise typer.Exit(run_check(content or _settings().content))


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question for the lab's assistant.")],
    lab: Annotated[int, typer.Option("--lab", help="Lab number.")] = 1,
    module: Annotated[int | None, typer.Option(help="Module number (default: the course's default).")] = None,
) -> None:
    """Ask lab N's assistant one question; the answer streams to stdout.

    Exit 0 on a complete answer, 3 on a partial one, 2 when it failed before any text.
    """
    from bot.console.ask import run_ask

    raise typer.Exit(asyncio.run(run_ask(_settings(), lab=lab, module=module, question=question)))


@app.command()
def discord() -> None:
    """Run the Discord bot (needs DISCORD_TOKEN)."""
    from bot.serve import serve

    raise typer.Exit(asyncio.run(serve(_settings(), platforms=("discord",))))


@app.command()
def slack(
    port: Annotated[int, typer.Option(help="HTTP mode port (used when SLACK_APP_TOKEN is not set).")] = 3000,
    host: Annotated[str, typer.Option(help="HTTP mode address to listen on.")] = "0.0.0.0",
) -> None:
    """Run the Slack app: Socket Mode with SLACK_APP_TOKEN, else HTTP mode on --port."""
    from bot.serve import serve

    raise typer.Exit(asyncio.run(serve(_settings(), platforms=("slack",), slack_port=port, slack_host=host)))


@app.command()
def health(
    max_age: Annotated[float, typer.Option(help="Seconds since the last heartbeat that still count as healthy.")] = 90.0,
) -> None:
    """Exit 0 when a running bot beats and its chat connections are up (the Docker HEALTHCHECK).

    Unhealthy (exit 1, with the reason) when the heartbeat is older than --max-age or when a platform
    connection (the Discord gateway, the Slack socket) has been down for over a minute.
    """
    from bot.health import check

    result = check(_settings().heartbeat_file, max_age=max_age)
    typer.echo(result.summary)
    raise typer.Exit(0 if result.healthy else 1)


def main() -> None:
    app()
