"""Shared fixtures: one migrated database with the sample world, the emulator and the
real bot polling it, for the whole session; each test acts as fresh people.

Set DATABASE_URL / REDIS_URL to run the same suite on PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.config import Settings
from bot.db import make_engine, make_session_factory
from bot.migrate import upgrade
from bot.services.world import SampleWorld, seed_sample
from models import Base
from tgemu import BotAPIEmulator
from tgemu.user import EmulatedUser

TOKEN = "123456:LINLI-TEST"
# The one clock of the running bot and of the services the tests call: it stands
# still until a test moves it (CLOCK.advance(minutes=31)); nothing sleeps to wait for time.
CLOCK = ManualClock()
_running_apps: list[App] = []


class HandledUpdates:
    """Update ids the running bot has finished with (committed, replied, errors reported)."""

    def __init__(self) -> None:
        self.done: set[int] = set()
        self._changed = asyncio.Event()

    def __call__(self, update_id: int) -> None:
        self.done.add(update_id)
        self._changed.set()

    async def wait_for(self, update_ids: list[int], timeout: float = 15.0) -> None:
        async def _wait() -> None:
            while not set(update_ids) <= self.done:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(_wait(), timeout)
        except TimeoutError:
            missing = sorted(set(update_ids) - self.done)
            raise AssertionError(f"the bot did not finish updates {missing} within {timeout}s") from None


HANDLED = HandledUpdates()
_ids = itertools.count(700_000)


def next_telegram_id() -> int:
    return next(_ids)


def _database_url(tmp: Path) -> str:
    return os.environ.get("DATABASE_URL") or f"sqlite+aiosqlite:///{tmp / 'linli-test.sqlite3'}"


async def reset_database(engine: AsyncEngine) -> None:
    """Start from an empty database so every run migrates from scratch."""
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))


async def reset_redis(url: str | None) -> None:
    if not url:
        return
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match="linli:*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture(scope="session")
def tmp_dir() -> AsyncIterator[Path]:
    with tempfile.TemporaryDirectory(prefix="linli-tests-") as tmp:
        yield Path(tmp)


@pytest.fixture(scope="session")
def database_url(tmp_dir: Path) -> str:
    return _database_url(tmp_dir)


@pytest.fixture(scope="session")
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    await reset_database(engine)
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(engine)


async def empty_database(engine: AsyncEngine) -> None:
    """Remove every row of every table (the schema and its migration stamp stay)."""
    tables = list(reversed(Base.metadata.sorted_tables))
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{table.name}"' for table in tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in tables:  # children first: foreign keys are enforced
                await conn.execute(table.delete())


async def forget_conversations(storage: BaseStorage) -> None:
    """Dialog stacks and FSM state of every chat (memory, or this run's Redis keys)."""
    if isinstance(storage, MemoryStorage):
        storage.storage.clear()
    elif isinstance(storage, RedisStorage):
        keys = [key async for key in storage.redis.scan_iter(match="linli:fsm:*")]
        if keys:
            await storage.redis.delete(*keys)


# Fixtures that mean "this test touches the shared database": it then gets a database of its own
# making (emptied and seeded with the sample world), so a sweep over "all due rows" sees only its rows.
_DATA_FIXTURES = {"app", "session", "session_factory", "world", "engine", "commit_failure", "quiet_outbox"}


@pytest.fixture(autouse=True)
def _own_data(request: pytest.FixtureRequest) -> None:
    if _DATA_FIXTURES & set(request.fixturenames):
        request.getfixturevalue("world")


@pytest.fixture
async def world(engine: AsyncEngine, session_factory: async_sessionmaker[AsyncSession]) -> SampleWorld:
    """This test's data: the previous test's updates finished, every table emptied, the sample world seeded."""
    if _running_apps:
        await HANDLED.wait_for(EMULATED_UPDATE_IDS(), timeout=30)
    for running in _running_apps:
        if running.sender.running:
            # The last test's notices are delivered (or dropped with the rows) before this one starts:
            # one arriving late would be taken for this test's.
            await running.sender.stop()
            running.sender.start()
    await empty_database(engine)
    for running in _running_apps:
        await forget_conversations(running.storage)
    async with session_factory() as session, session.begin():
        return await seed_sample(session, now=CLOCK.now())


_emulated_users: list[EmulatedUser] = []


def EMULATED_UPDATE_IDS() -> list[int]:  # noqa: N802 - reads like the constant it stands for
    return [update_id for person in _emulated_users for update_id in person.update_ids]


@pytest.fixture(scope="session")
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    emu = BotAPIEmulator(TOKEN)
    await emu.start()
    make_user = emu.user

    def user(*args: object, **kwargs: object) -> EmulatedUser:
        person = make_user(*args, **kwargs)
        _emulated_users.append(person)  # whose updates must be handled before the next test's reset
        return person

    emu.user = user  # type: ignore[method-assign]
    yield emu
    await emu.stop()


@pytest.fixture(scope="session")
async def app(emulator: BotAPIEmulator, engine: AsyncEngine, database_url: str) -> AsyncIterator[App]:
    redis_url = os.environ.get("REDIS_URL") or None
    await reset_redis(redis_url)
    settings = Settings(
        bot_token=TOKEN,
        database_url=database_url,
        redis_url=redis_url,
        telegram_api_base=emulator.base_url,
        # Tests sweep reminders themselves after moving the clock (app.sweeper.sweep()).
        reminder_interval_seconds=3600,
        # Replies book slots in the sending budget too; at Telegram's 30 a second a test's quick taps would
        # hold its notices back by a few hundred milliseconds (tests/test_ratelimit.py covers the budget).
        send_rate_per_second=1000,
        _env_file=None,
    )
    application = build_app(settings, engine=engine, per_chat_interval=0.02, clock=CLOCK, on_update_done=HANDLED)
    _running_apps.append(application)
    polling = asyncio.create_task(
        application.start_polling(handle_signals=False, polling_timeout=1)
    )
    # Wait until the bot is polling before any test acts.
    for _ in range(200):
        if any(call.method.lower() == "getupdates" for call in emulator.calls):
            break
        await asyncio.sleep(0.02)
    yield application
    _running_apps.remove(application)
    await application.dispatcher.stop_polling()
    await asyncio.wait_for(polling, timeout=15)


@pytest.fixture
async def session(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with session_factory() as session:
        yield session


@pytest.fixture
async def quiet_outbox() -> AsyncIterator[None]:
    """Pause the running bot's outbox sender, for tests that drive a sender themselves."""
    paused = [app for app in _running_apps if app.sender.running]
    for app in paused:
        await app.sender.stop()
    yield
    for app in paused:
        app.sender.start()


@pytest.fixture
def commit_failure():
    """`commit_failure.arm()` makes the bot's next writing commit fail."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from tests.support import CommitFailure

    failure = CommitFailure()
    event.listen(Session, "before_commit", failure.before_commit)
    yield failure
    event.remove(Session, "before_commit", failure.before_commit)
