"""Async engine and session factory (SQLite by default, PostgreSQL in production).

Transactions are short: an update's transaction ends before the bot talks to
Telegram (`bot.transaction`), so a connection is held only for database work.

SQLite allows one writer. Its engine has a pool of exactly one connection and
every transaction takes the write lock up front (BEGIN IMMEDIATE): concurrent
updates queue for that connection in arrival order (SQLAlchemy's asyncio pool
queue) instead of polling SQLite's busy handler, where a late arrival can
overtake one that has waited for seconds. PostgreSQL gets a pool sized to the
number of updates handled at once, plus the outbox sender.

SQLite statements run on aiosqlite's thread in one hop each (`OneHopConnection`):
SQLAlchemy's adapter would make four (cursor, execute, fetchall, close), and every
hop between the event loop and that thread costs more CPU than the statement itself.
For the same reason a transaction's BEGIN IMMEDIATE rides along with its first
statement, and COMMIT or ROLLBACK is not sent when no transaction is open (the
pool's rollback of every returned connection, after the session's commit).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

# Connections used besides the updates: the outbox sender and one spare.
BACKGROUND_CONNECTIONS = 2


# How long a connection waits for another process's write lock (the CLI, a migration).
SQLITE_BUSY_SECONDS = 30


def _run_statement(
    connection: sqlite3.Connection, sql: str, parameters: Any, many: bool, begin: bool
) -> tuple[Any, list[Any], int, int | None, bool]:
    """One statement from start to finish on aiosqlite's thread: what the adapter then reads.

    ``begin``: BEGIN IMMEDIATE first (the transaction SQLAlchemy began). The last item
    says whether a transaction is open afterwards.
    """
    if begin:
        connection.execute("BEGIN IMMEDIATE")
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid, connection.in_transaction
    finally:
        cursor.close()


def _commit(connection: sqlite3.Connection) -> bool:
    connection.commit()
    return connection.in_transaction


def _rollback(connection: sqlite3.Connection) -> bool:
    connection.rollback()
    return connection.in_transaction


class OneHopCursor:
    """The part of aiosqlite's cursor that SQLAlchemy's adapter uses, one thread hop per statement.

    ``execute`` runs the statement and fetches every row at once (the adapter does
    the same with its next two calls); ``fetch*`` and ``close`` then need no hop.
    """

    def __init__(self, connection: OneHopConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def _run(self, sql: str, parameters: Any, many: bool) -> OneHopCursor:
        self.description, self._rows, self.rowcount, self.lastrowid = await self._connection.run_statement(
            sql, parameters, many
        )
        return self

    async def execute(self, sql: str, parameters: Any = None) -> OneHopCursor:
        return await self._run(sql, () if parameters is None else parameters, False)

    async def executemany(self, sql: str, parameters: Any) -> OneHopCursor:
        return await self._run(sql, parameters, True)

    async def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        count = size or 1
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        self._rows = []


class OneHopConnection(aiosqlite.Connection):
    """aiosqlite's connection whose cursors cost one hop per statement (see `OneHopCursor`).

    It knows whether a transaction is open on its SQLite connection, which only its
    own thread may ask: each statement, commit and rollback reports it on the way back.
    So BEGIN IMMEDIATE waits for the first statement (`begin_with_next_statement`), and
    a commit or rollback with nothing open costs no hop (SQLite's own would do nothing).
    """

    _begin_pending = False
    _in_transaction = True  # unknown (so: maybe) until a statement of ours reports

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        # Whatever runs on the connection may open or end a transaction; ours then say which.
        self._in_transaction = True
        return await super()._execute(fn, *args, **kwargs)

    def begin_with_next_statement(self) -> None:
        """BEGIN IMMEDIATE, sent in the same hop as the next statement."""
        self._begin_pending = True

    async def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def run_statement(self, sql: str, parameters: Any, many: bool) -> tuple[Any, list[Any], int, int | None]:
        begin, self._begin_pending = self._begin_pending, False
        *result, in_transaction = await self._execute(_run_statement, self._conn, sql, parameters, many, begin)
        self._in_transaction = in_transaction
        return tuple(result)  # type: ignore[return-value]

    async def commit(self) -> None:
        self._begin_pending = False  # begun without a statement: nothing was sent, nothing to end
        if self._in_transaction:
            self._in_transaction = await self._execute(_commit, self._conn)

    async def rollback(self) -> None:
        self._begin_pending = False
        if self._in_transaction:
            self._in_transaction = await self._execute(_rollback, self._conn)


def _sqlite_connector(database_url: str) -> Any | None:
    """An ``async_creator`` for a plain SQLite file URL; None for anything else (stock adapter)."""
    url = make_url(database_url)
    if url.get_driver_name() != "aiosqlite" or url.query or url.database in (None, "", ":memory:"):
        return None
    path = url.database

    async def connect() -> OneHopConnection:
        connection = OneHopConnection(partial(sqlite3.connect, path, timeout=SQLITE_BUSY_SECONDS), iter_chunk_size=64)
        thread = getattr(connection, "_thread", None)
        if thread is not None:  # as SQLAlchemy does for aiosqlite: never keep the interpreter alive
            thread.daemon = True
        return await connection

    return connect


def make_engine(database_url: str, *, concurrency: int = 16, **kwargs: Any) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        connector = _sqlite_connector(database_url)
        if connector is not None:
            kwargs["async_creator"] = connector
        else:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS}
        engine = create_async_engine(
            database_url,
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
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(connection: Any) -> None:
            # IMMEDIATE takes the write lock up front: another process (the CLI) waits on
            # busy_timeout instead of failing later with SQLITE_BUSY on upgrade.
            driver = connection.connection.driver_connection
            if isinstance(driver, OneHopConnection):
                driver.begin_with_next_statement()  # before the first statement, in its hop
            else:
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
