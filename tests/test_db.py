"""The SQLite engine: transactions on the event loop, waits on aiosqlite's thread, nothing lost on the way.

These run on a SQLite file of their own whatever backend the suite uses.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from bot.db import OneHopConnection, _sqlite_connector, make_engine

metadata = MetaData()
things = Table("things", metadata, Column("id", Integer, primary_key=True), Column("name", String, unique=True))


@pytest.fixture
async def sqlite_engine(tmp_path: Path):
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'one-hop.sqlite3'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
def hops(monkeypatch):
    """Names of the functions that went to aiosqlite's thread."""
    names = []
    original = OneHopConnection._execute

    async def counted(self, fn, *args, **kwargs):  # noqa: ANN001, ANN202 - aiosqlite's own signature
        names.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(OneHopConnection, "_execute", counted)
    return names


async def test_a_transaction_runs_on_the_event_loop_and_only_a_writing_commit_hops(sqlite_engine, hops):
    async with sqlite_engine.connect() as conn:  # the pool's connection is open before counting
        await conn.execute(select(text("1")))
    hops.clear()
    async with sqlite_engine.begin() as conn:
        rows = (await conn.execute(select(text("1 + 1")))).all()
        assert rows == [(2,)]
    # BEGIN IMMEDIATE, the statement and a COMMIT with nothing to write: no hop, nor the pool's rollback.
    assert hops == []
    async with sqlite_engine.begin() as conn:
        await conn.execute(insert(things).values(name="a"))
        assert (await conn.execute(select(things.c.name))).all() == [("a",)]
    assert hops == ["commit"]  # its fsync waits on aiosqlite's thread, not on the loop
    hops.clear()
    async with sqlite_engine.begin():
        pass  # begun, never used: nothing is sent
    assert hops == []


async def test_a_write_lock_held_elsewhere_is_waited_for_off_the_loop(sqlite_engine, hops, tmp_path):
    async with sqlite_engine.connect() as conn:
        await conn.execute(select(text("1")))
    other = sqlite3.connect(tmp_path / "one-hop.sqlite3", isolation_level=None)  # another process, say the CLI
    other.execute("BEGIN IMMEDIATE")
    try:
        async def insert_a_row() -> None:
            async with sqlite_engine.begin() as conn:
                await conn.execute(insert(things).values(name="after the lock"))

        waiting = asyncio.create_task(insert_a_row())
        while "_begin_waiting" not in hops:  # the loop keeps running meanwhile
            await asyncio.sleep(0)
        assert not waiting.done()
    finally:
        other.rollback()
        other.close()
    await waiting
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(select(things.c.name))).all() == [("after the lock",)]


async def test_a_connection_returned_mid_transaction_is_rolled_back(sqlite_engine):
    conn = await sqlite_engine.connect()
    await conn.execute(insert(things).values(name="left open"))
    raw = await conn.get_raw_connection()
    assert raw.driver_connection._conn.in_transaction
    await conn.close()  # no commit: the pool rolls it back
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(select(things))).all() == []


async def test_rows_counts_and_new_ids_come_back_as_from_the_stock_adapter(sqlite_engine):
    async with sqlite_engine.begin() as conn:
        first = await conn.execute(insert(things).values(name="a"))
        assert first.inserted_primary_key == (1,)
        await conn.execute(insert(things), [{"name": "b"}, {"name": "c"}, {"name": "d"}])  # executemany
        changed = await conn.execute(update(things).where(things.c.id > 1).values(name=things.c.name + "!"))
        assert changed.rowcount == 3
        result = await conn.execute(select(things.c.name).order_by(things.c.id))
        assert result.fetchone() == ("a",)
        assert result.fetchmany(2) == [("b!",), ("c!",)]
        assert result.fetchall() == [("d!",)]
        assert (await conn.execute(select(things).where(things.c.id == 99))).first() is None


async def test_a_failing_statement_raises_and_rolls_back_as_before(sqlite_engine):
    with pytest.raises(IntegrityError):
        async with sqlite_engine.begin() as conn:
            await conn.execute(insert(things).values(name="same"))
            await conn.execute(insert(things).values(name="same"))
    async with sqlite_engine.connect() as conn:
        assert (await conn.execute(select(things))).all() == []


async def test_every_transaction_takes_the_write_lock_up_front(sqlite_engine):
    async with sqlite_engine.connect() as conn:
        await conn.execute(select(things))
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, OneHopConnection)
        # BEGIN IMMEDIATE (not pysqlite's deferred BEGIN): the connection is already in a write transaction.
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert raw.driver_connection._conn.in_transaction


@pytest.mark.parametrize(
    "url",
    ["sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite://", "sqlite+aiosqlite:///file.db?mode=ro&uri=true"],
)
def test_memory_and_uri_urls_keep_the_stock_adapter(url):
    assert _sqlite_connector(url) is None


def test_a_plain_file_url_gets_the_one_hop_connector():
    assert _sqlite_connector("sqlite+aiosqlite:////var/lib/linli/linli.sqlite3") is not None
