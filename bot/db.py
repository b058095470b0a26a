"""Async engine and session factory (SQLite by default, PostgreSQL in production).

Transactions are short: an update's transaction ends before the bot talks to
Telegram (`bot.transaction`), so a connection is held only for database work.

SQLite allows one writer. Its engine has a pool of exactly one connection and
every transaction takes the write lock up front (BEGIN IMMEDIATE): concurrent
updates queue for that connection in arrival order (SQLAlchemy's asyncio pool
queue) instead of polling SQLite's busy handler, where a late arrival can
overtake one that has waited for seconds. PostgreSQL gets a pool sized to the
number of updates handled at once, plus the outbox sender.

SQLite statements of a transaction run right on the event loop's thread
(`OneHopConnection`). Once BEGIN IMMEDIATE holds the write lock of a WAL database,
nothing in the transaction waits for another connection: a statement costs only
its own few microseconds, less than a hop to aiosqlite's thread and back (which,
with the GIL handed over twice, cost a busy bot a fifth of its CPU). The thread is
kept for what may wait: a BEGIN IMMEDIATE while another process (the CLI) holds
the lock, the COMMIT of a transaction that wrote (its fsync), statements outside
a transaction, and any database not in WAL mode, whose statements all go there,
one hop each (SQLAlchemy's adapter would make four: cursor, execute, fetchall, close).
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

# Connections used besides the updates: the outbox sender (a claim, and up to 8 sends recording their
# outcome at once), the reminder sweeper, /readyz and /metrics.
BACKGROUND_CONNECTIONS = 12


# How long a connection waits for another process's write lock (the CLI, a migration).
SQLITE_BUSY_SECONDS = 30


def _run_statement(
    connection: sqlite3.Connection, sql: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """One statement from start to finish: what the adapter then reads."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_BUSY


def _begin_if_free(connection: sqlite3.Connection) -> bool:
    """BEGIN IMMEDIATE without waiting; False when another connection holds the write lock."""
    connection.execute("PRAGMA busy_timeout=0")
    try:
        connection.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        if _is_busy(error):
            return False
        raise
    finally:
        connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
    return True


def _begin_waiting(connection: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE, waiting for the write lock up to the busy timeout (on aiosqlite's thread)."""
    connection.execute("BEGIN IMMEDIATE")


class OneHopCursor:
    """The part of aiosqlite's cursor that SQLAlchemy's adapter uses, at most one hop per statement.

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
    """aiosqlite's connection that runs a WAL database's transactions on the event loop.

    The SQLite connection is opened with ``check_same_thread=False``: the pool hands
    it to one session at a time and every call on it is awaited, so the loop's
    thread and aiosqlite's never use it at once.

    * ``begin_with_next_statement`` (SQLAlchemy's "begin" event): BEGIN IMMEDIATE
      comes with the next statement, tried without waiting; if another process holds
      the write lock, aiosqlite's thread waits for it (busy timeout) instead of the loop;
    * inside that transaction, statements, ROLLBACK and a COMMIT that changed no
      rows (nothing to fsync) run on the loop; a COMMIT that wrote goes to the thread;
    * with nothing open, COMMIT and ROLLBACK (the pool's, after every session
      commit) are not sent at all: SQLite's own would do nothing;
    * until `use_inline_transactions` (WAL confirmed at connect), and outside a
      transaction, every statement takes one hop to the thread.
    """

    _begin_pending = False
    _inline = False
    _changes_at_begin = 0

    def use_inline_transactions(self) -> None:
        self._inline = True

    def begin_with_next_statement(self) -> None:
        self._begin_pending = True

    def _open(self) -> bool:
        return self._connection is not None and self._conn.in_transaction

    async def cursor(self) -> OneHopCursor:  # type: ignore[override]
        return OneHopCursor(self)

    async def run_statement(self, sql: str, parameters: Any, many: bool) -> tuple[Any, list[Any], int, int | None]:
        if self._begin_pending:
            self._begin_pending = False
            if not (self._inline and _begin_if_free(self._conn)):
                await self._execute(_begin_waiting, self._conn)
            self._changes_at_begin = self._conn.total_changes
        if self._inline and self._open():
            return _run_statement(self._conn, sql, parameters, many)
        return await self._execute(_run_statement, self._conn, sql, parameters, many)

    async def commit(self) -> None:
        self._begin_pending = False  # begun without a statement: nothing was sent, nothing to end
        if not self._open():
            return
        if self._inline and self._conn.total_changes == self._changes_at_begin:
            self._conn.commit()  # nothing written: no fsync, no wait
        else:
            await self._execute(self._conn.commit)

    async def rollback(self) -> None:
        self._begin_pending = False
        if not self._open():
            return
        if self._inline:
            self._conn.rollback()
        else:
            await self._execute(self._conn.rollback)


def _sqlite_connector(database_url: str) -> Any | None:
    """An ``async_creator`` for a plain SQLite file URL; None for anything else (stock adapter)."""
    url = make_url(database_url)
    if url.get_driver_name() != "aiosqlite" or url.query or url.database in (None, "", ":memory:"):
        return None
    path = url.database

    async def connect() -> OneHopConnection:
        connect = partial(sqlite3.connect, path, timeout=SQLITE_BUSY_SECONDS, check_same_thread=False)
        connection = OneHopConnection(connect, iter_chunk_size=64)
        thread = getattr(connection, "_thread", None)
        if thread is not None:  # as SQLAlchemy does for aiosqlite: never keep the interpreter alive
            thread.daemon = True
        return await connection

    return connect


PG_CONNECT_TIMEOUT_SECONDS = 10


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
            wal = str(cursor.fetchone()[0]).lower() == "wal"
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            cursor.close()
            driver = getattr(dbapi_connection, "driver_connection", None)
            if wal and isinstance(driver, OneHopConnection):
                driver.use_inline_transactions()  # no rollback journal: a transaction never waits once begun

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
    # A database host that does not answer (rather than refusing) fails a new connection after 10 s,
    # not asyncpg's 60: the update is then handed back (webhook) or reported, instead of hanging.
    kwargs.setdefault("connect_args", {"timeout": PG_CONNECT_TIMEOUT_SECONDS})
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
