"""Async engine and session factory (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def make_engine(database_url: str, **kwargs: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        engine = create_async_engine(database_url, connect_args={"timeout": 30}, **kwargs)

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
            # IMMEDIATE takes the write lock up front: concurrent updates queue on
            # busy_timeout instead of failing later with SQLITE_BUSY on upgrade.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(database_url, pool_pre_ping=True, **kwargs)


class WriteGate:
    """FIFO admission to the database for SQLite, a no-op elsewhere.

    SQLite allows one writer; every transaction here takes the write lock up
    front (BEGIN IMMEDIATE) and waiters poll with sleeps, so under load a late
    arrival can overtake one that has waited for seconds. Queueing on an
    asyncio lock first keeps the order fair within the process. PostgreSQL
    has row locks and needs none of this.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._lock = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if self._lock is None:
            yield
            return
        async with self._lock:
            yield


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # expire_on_commit=False: handlers still read objects after the middleware commits.
    return async_sessionmaker(engine, expire_on_commit=False)
