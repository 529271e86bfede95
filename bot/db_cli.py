"""``coursebot db``: migrate the database, or copy a SQLite deployment into PostgreSQL."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from bot.core.store import redacted, store_for
from bot.core.store.base import StoreError

db_app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="The course database: apply migrations, or move a SQLite deployment to PostgreSQL.",
)

DbOption = Annotated[
    str,
    typer.Option("--db", envvar="COURSEBOT_DB", help="A SQLite file or a postgresql:// URL (default: COURSEBOT_DB)."),
]


async def _migrate(target: str) -> None:
    store = store_for(target)
    await store.open()  # applies the pending migrations
    await store.close()


@db_app.command()
def migrate(db: DbOption = "coursebot.db") -> None:
    """Bring the database to the latest schema (what the bot also does when it starts)."""
    try:
        asyncio.run(_migrate(db))
    except StoreError as error:
        typer.echo(f"coursebot db migrate: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{redacted(db)}: schema up to date")


@db_app.command()
def copy(
    source: Annotated[str, typer.Option("--from", help="The SQLite file to copy from (migrated to the latest schema, otherwise unchanged).")],
    destination: Annotated[str, typer.Option("--to", help="The empty PostgreSQL database (postgresql://…).")],
) -> None:
    """Copy every row, ids included, from a SQLite file into an empty PostgreSQL database, in one transaction."""
    from bot.core.store.copy import copy_sqlite_to_postgres

    try:
        copied = asyncio.run(copy_sqlite_to_postgres(source, destination))
    except StoreError as error:
        typer.echo(f"coursebot db copy: {error}", err=True)
        raise typer.Exit(1) from None
    for table, rows in copied.items():
        typer.echo(f"{table}: {rows} rows")
    typer.echo(f"copied {sum(copied.values())} rows from {redacted(source)} to {redacted(destination)}")
