"""Running Alembic migrations from code (CLI, demo, tests)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine

ROOT = Path(__file__).resolve().parent.parent


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    if database_url:
        config.attributes["database_url"] = database_url
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Migrate through an existing engine's connection (works for in-process SQLite too)."""

    def _upgrade(connection) -> None:  # noqa: ANN001 - a sync Connection
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    def _downgrade(connection) -> None:  # noqa: ANN001
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(_downgrade)


def upgrade_url(database_url: str, revision: str = "head") -> None:
    """Blocking variant for the CLI; Alembic runs its own event loop in env.py."""
    command.upgrade(alembic_config(database_url), revision)


__all__ = ["alembic_config", "asyncio", "downgrade", "upgrade", "upgrade_url"]
