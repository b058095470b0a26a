"""Running Alembic migrations from code (CLI, demo, tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


async def _on_engine(engine: AsyncEngine, step: Callable[[Config, str], None], revision: str) -> None:
    """Run an Alembic command through an existing engine's connection (in-process SQLite too)."""

    def _run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        step(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_run)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _on_engine(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _on_engine(engine, command.downgrade, revision)


def upgrade_url(database_url: str, revision: str = "head") -> None:
    """Blocking variant for the CLI; Alembic runs its own event loop in env.py."""
    command.upgrade(alembic_config(database_url), revision)
