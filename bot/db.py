"""Async engine and session factory (SQLite by default, PostgreSQL in production).

Transactions are short: an update's transaction ends before the bot talks to
Telegram (`bot.transaction`), so a connection is held only for database work.

SQLite allows one writer. Its engine has a pool of exactly one connection and
every transaction takes the write lock up front (BEGIN IMMEDIATE): concurrent
updates queue for that connection in arrival order (SQLAlchemy's asyncio pool
queue) instead of polling SQLite's busy handler, where a late arrival can
overtake one that has waited for seconds. PostgreSQL gets a pool sized to the
number of updates handled at once, plus the outbox sender.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

# Connections used besides the updates: the outbox sender and one spare.
BACKGROUND_CONNECTIONS = 2


def make_engine(database_url: str, *, concurrency: int = 16, **kwargs: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(
            database_url,
            connect_args={"timeout": 30},
            poolclass=AsyncAdaptedQueuePool,
            pool_size=1,
            max_overflow=0,
            pool_timeout=120,
            **kwargs,
        )

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Take transaction control away from pysqlite so that SAVEPOINTs work
            # (SQLAlchemy's documented workaround), and turn on FKs, off by default.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # IMMEDIATE takes the write lock up front: another process (the CLI) waits on
            # busy_timeout instead of failing later with SQLITE_BUSY on upgrade.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(
        database_url,
        pool_pre_ping=True,
        pool_size=concurrency + BACKGROUND_CONNECTIONS,
        max_overflow=0,
        pool_timeout=60,
        **kwargs,
    )


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers still read objects after their work was committed.
    return async_sessionmaker(engine, expire_on_commit=False)
