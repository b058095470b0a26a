"""Running Alembic migrations from code (CLI, demo, tests), and telling whether a database is ready."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import exc as sa_exc
from sqlalchemy import inspect, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ROOT = Path(__file__).resolve().parent.parent

UPGRADE_HINT = 'run "linli db upgrade" first'

# How long a check waits for a database server before saying it cannot be reached.
CONNECT_TIMEOUT_SECONDS = 10


class DatabaseNotReady(Exception):
    """The database cannot be reached or is not at this code's schema; the message is one line."""


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

    if engine.dialect.name != "sqlite":
        async with engine.begin() as connection:
            await connection.run_sync(_run)
        return
    # SQLite: a batch migration rebuilds a table (create the new one, copy, DROP the old,
    # rename). With foreign keys on, that DROP cascades to the rows that reference the
    # table (ON DELETE CASCADE): a case's timeline would vanish. Alembic's own env.py
    # connection has them off; do the same here, check them afterwards, and turn them
    # back on before the connection returns to the pool. (The pragma is a no-op inside
    # a transaction, so it goes to the driver before the migration's transaction begins.)
    async with engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        await driver.execute("PRAGMA foreign_keys=OFF")
        try:
            async with connection.begin():
                await connection.run_sync(_run)
                broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if broken:
                    raise RuntimeError(f"the migration left {len(broken)} row(s) with broken references: {broken[:3]}")
        finally:
            await driver.execute("PRAGMA foreign_keys=ON")


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _on_engine(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _on_engine(engine, command.downgrade, revision)


def upgrade_url(database_url: str, revision: str = "head") -> None:
    """Blocking variant for the CLI; Alembic runs its own event loop in env.py."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def display_url(database_url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(database_url).render_as_string(hide_password=True)


def _reason(error: BaseException) -> str:
    """The driver's own words, on one line."""
    cause = getattr(error, "orig", None) or error
    text = " ".join(str(cause).split()) or type(cause).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _sqlite_file(database_url: str) -> Path | None:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _probe_engine(database_url: str) -> AsyncEngine:
    connect_args = {"timeout": CONNECT_TIMEOUT_SECONDS}
    return create_async_engine(database_url, poolclass=pool.NullPool, connect_args=connect_args)


def _unreachable(database_url: str, error: BaseException) -> DatabaseNotReady:
    return DatabaseNotReady(
        f"DATABASE_URL: cannot use the database at {display_url(database_url)} ({_reason(error)}); "
        "check that the server is running and DATABASE_URL is right"
    )


# What a driver raises when there is no database to talk to: refused, unknown host, bad password, no such
# file or database. asyncpg's own errors reach us unwrapped when they happen while connecting.
_CONNECTION_ERRORS = (
    OSError,
    asyncio.TimeoutError,
    sa_exc.DBAPIError,
    sa_exc.InterfaceError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


async def check_reachable(database_url: str) -> None:
    """Connect once; a database that cannot be reached becomes one `DatabaseNotReady` line."""
    engine = _probe_engine(database_url)
    try:
        async with engine.connect():
            pass
    except _CONNECTION_ERRORS as error:
        raise _unreachable(database_url, error) from None
    finally:
        await engine.dispose()


async def check_migrated(database_url: str) -> str:
    """The database's revision if it is this code's head; otherwise one line that says what to do.

    Every command that reads or writes Linli's tables calls this first, so an
    unreachable or unmigrated database is reported once, before any work (and
    `linli run` refuses to start rather than answer every message with an error).
    """
    where = display_url(database_url)
    sqlite_file = _sqlite_file(database_url)
    if sqlite_file is not None and not sqlite_file.exists():
        # Checked before connecting: SQLite would create an empty file and leave it behind.
        raise DatabaseNotReady(f"DATABASE_URL: there is no database at {where}; {UPGRADE_HINT}")

    def _read(connection: Connection) -> tuple[str | None, bool]:
        current = MigrationContext.configure(connection).get_current_revision()
        return current, bool(inspect(connection).get_table_names())

    engine = _probe_engine(database_url)
    try:
        async with engine.connect() as connection:
            current, has_tables = await connection.run_sync(_read)
    except _CONNECTION_ERRORS as error:
        raise _unreachable(database_url, error) from None
    finally:
        await engine.dispose()

    head = head_revision()
    if current == head:
        return current
    if current is None:
        what = "has tables but no Linli schema version" if has_tables else "is empty (not migrated)"
        raise DatabaseNotReady(f"DATABASE_URL: the database at {where} {what}; {UPGRADE_HINT}")
    script = ScriptDirectory.from_config(alembic_config())
    try:
        script.get_revision(current)
    except Exception:  # alembic raises several kinds for a revision it does not have
        raise DatabaseNotReady(
            f"DATABASE_URL: the database at {where} is at revision {current}, which this version of Linli "
            "does not know (a newer Linli migrated it); run that newer version"
        ) from None
    raise DatabaseNotReady(
        f"DATABASE_URL: the database at {where} is at revision {current}, this version of Linli needs {head}; "
        f"{UPGRADE_HINT}"
    )


def current_revision_url(database_url: str) -> str | None:
    """The revision a database is at (None when it has none), read through a short-lived engine."""

    async def _read() -> str | None:
        engine = _probe_engine(database_url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        finally:
            await engine.dispose()

    return asyncio.run(_read())


def upgrade_database(database_url: str, revision: str = "head") -> tuple[str | None, str | None]:
    """`linli db upgrade`: (revision before, revision after), or one `DatabaseNotReady` line."""
    sqlite_file = _sqlite_file(database_url)
    if sqlite_file is None:
        asyncio.run(check_reachable(database_url))  # the server: one line instead of Alembic's traceback
    elif not sqlite_file.parent.is_dir():
        raise DatabaseNotReady(
            f"DATABASE_URL: the directory {sqlite_file.parent} does not exist; create it or change DATABASE_URL"
        )
    try:
        before = current_revision_url(database_url)
        upgrade_url(database_url, revision)
        return before, current_revision_url(database_url)
    except _CONNECTION_ERRORS as error:
        raise _unreachable(database_url, error) from None
