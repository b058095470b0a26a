"""Webhook mode through the emulator: the secret, once-only handling, failures handed back, health and metrics.

A second bot (its own token, emulator and engine) runs `App.run_webhook` on a local
port and the emulator posts updates to it as Telegram does. The shared polling bot's
outbox sender is paused meanwhile (both share the database).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.app import App, build_app
from bot.config import Settings
from bot.db import make_engine
from handlers.errors import UNAVAILABLE_KEPT
from models import User
from tests.conftest import CLOCK, HandledUpdates, _running_apps, next_telegram_id
from tests.support import COMMUNITY_BUTTON, T, has_button
from tgemu import BotAPIEmulator
from tgemu.user import EmulatedUser

TOKEN = "654321:LINLI-WEBHOOK"
SECRET = "s3cret-Token_for-tests"
CHOOSE = COMMUNITY_BUTTON[("晨光社区", "zh_CN")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DatabaseSwitch:
    """Makes every statement of one engine fail as if the database host were gone."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.down = False
        event.listen(engine.sync_engine, "before_cursor_execute", self._before)

    def _before(self, *_: Any) -> None:
        if self.down:
            raise OperationalError("SELECT", {}, ConnectionRefusedError(111, "Connection refused"))


@dataclass
class Hooked:
    app: App
    emulator: BotAPIEmulator
    base: str
    handled: HandledUpdates
    database: DatabaseSwitch
    stop: asyncio.Event
    serving: asyncio.Task[None]

    def person(self) -> EmulatedUser:
        return self.emulator.user(next_telegram_id(), "王秀兰")

    async def post(self, body: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
        async with aiohttp.ClientSession() as http, http.post(
                self.base + "/telegram/hook", json=body, headers=headers) as response:
            return response.status


@pytest.fixture
async def hooked(quiet_outbox: None, database_url: str) -> AsyncIterator[Hooked]:
    # Telegram's update ids only grow; a fresh emulator per test starts past the last one, or the
    # bot (with Redis, which remembers handled ids for 48 hours) would drop them as repeats.
    emulator = BotAPIEmulator(TOKEN, first_update_id=next_telegram_id() * 1000)
    await emulator.start()
    port = free_port()
    settings = Settings(
        bot_token=TOKEN, database_url=database_url, redis_url=os.environ.get("REDIS_URL") or None,
        telegram_api_base=emulator.base_url, webhook_url=f"http://127.0.0.1:{port}/telegram/hook",
        webhook_secret=SECRET, reminder_interval_seconds=3600, _env_file=None,
    )
    engine = make_engine(database_url)
    switch = DatabaseSwitch(engine)
    handled = HandledUpdates()
    # The handlers' routers are module singletons with one parent each: building this app takes them
    # from the polling bot of the other tests, which gets them back afterwards, in their places.
    lent = [(running.dispatcher, list(running.dispatcher.sub_routers)) for running in _running_apps]
    app = build_app(settings, engine=engine, per_chat_interval=0.02, clock=CLOCK, on_update_done=handled)
    stop = asyncio.Event()
    serving = asyncio.create_task(app.run_webhook(host="127.0.0.1", port=port, stop=stop, handle_signals=False))
    for _ in range(250):
        if emulator.calls_to("setWebhook") or serving.done():
            break
        await asyncio.sleep(0.02)
    assert not serving.done(), serving.exception()
    assert emulator.calls_to("setWebhook")[0]["secret_token"] == SECRET
    yield Hooked(app, emulator, f"http://127.0.0.1:{port}", handled, switch, stop, serving)
    stop.set()
    await asyncio.wait_for(serving, timeout=30)
    await emulator.stop()
    for dispatcher, routers in lent:
        for router in routers:
            if router.parent_router is not None and router.parent_router is not dispatcher:
                router.parent_router.sub_routers.remove(router)
            router._parent_router = dispatcher  # noqa: SLF001 - aiogram has no public re-attach
        dispatcher.sub_routers[:] = routers


def start_update(update_id: int, person: EmulatedUser) -> dict[str, Any]:
    """A /start from `person`, as Telegram would post it."""
    sender = {"id": person.id, "is_bot": False, "first_name": person.first_name, "language_code": "zh-hans"}
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": int(time.time()), "chat": {"id": person.id, "type": "private",
                                                            "first_name": person.first_name},
        "from": sender, "text": "/start", "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}}


async def users_named(session_factory: async_sessionmaker[AsyncSession], telegram_id: int) -> int:
    async with session_factory() as session:
        count = await session.scalar(select(func.count(User.id)).where(User.telegram_id == telegram_id))
        await session.commit()
    return int(count or 0)


async def test_a_person_is_served_through_the_webhook(hooked: Hooked) -> None:
    person = hooked.person()
    await person.send_text("/start")
    await person.wait_for_message(has_button(CHOOSE), timeout=10)
    await person.press(CHOOSE)
    await person.wait_for_message(has_button(T("🙋 Ask for help")), timeout=10)
    for _ in range(100):  # the last update is confirmed once the bot's 200 has come back
        info = await hooked.emulator.call("getWebhookInfo")
        if info["pending_update_count"] == 0:
            break
        await asyncio.sleep(0.02)
    assert info["pending_update_count"] == 0
    assert not info.get("last_error_message")


async def test_a_post_without_the_right_secret_is_refused(hooked: Hooked) -> None:
    person = hooked.person()
    body = start_update(900_000_000 + person.id % 1_000_000, person)
    assert await hooked.post(body, secret=None) == 401
    assert await hooked.post(body, secret="wrong") == 401
    assert await hooked.post(body, secret=SECRET + "x") == 401
    assert person.messages == [], "nothing was handled"
    assert await hooked.post({"update_id": "not a number"}) == 400


async def test_the_same_update_delivered_five_times_has_one_effect(
    hooked: Hooked, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    person = hooked.person()
    body = start_update(910_000_000 + person.id % 1_000_000, person)
    statuses = await asyncio.gather(*(hooked.post(body) for _ in range(5)))
    assert statuses == [200] * 5, "a repeat is acknowledged (Telegram must not send it again)"
    await person.wait_for_message(has_button(CHOOSE), timeout=10)
    await asyncio.sleep(0.3)  # any second answer would be on its way by now
    assert len([m for m in person.messages if CHOOSE in m.buttons]) == 1
    assert await users_named(session_factory, person.id) == 1
    duplicates = hooked.app.metrics.duplicates._value.get()
    assert duplicates == 4


async def test_with_the_database_gone_the_update_is_kept_and_handled_when_it_returns(
    hooked: Hooked, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    person = hooked.person()
    hooked.database.down = True
    await person.send_text("/start")
    told = await person.wait_for_message(T(UNAVAILABLE_KEPT), timeout=10)
    assert await users_named(session_factory, person.id) == 0
    # Telegram keeps re-sending it (the bot answered 503); nobody is told twice.
    for _ in range(100):
        info = await hooked.emulator.call("getWebhookInfo")
        if "503" in (info.get("last_error_message") or "") and hooked.handled.done >= set(person.update_ids):
            break
        await asyncio.sleep(0.05)
    assert "503" in info["last_error_message"]
    assert info["pending_update_count"] >= 1
    async with aiohttp.ClientSession() as http, http.get(hooked.base + "/readyz") as ready:
        assert ready.status == 503
        assert "OperationalError" in (await ready.json())["database"]

    hooked.database.down = False
    await person.wait_for_message(has_button(CHOOSE), timeout=15)
    assert [m for m in person.messages if m.text == told.text] == [told], "told once"
    assert await users_named(session_factory, person.id) == 1
    assert hooked.app.metrics.handler_errors.labels("transient")._value.get() >= 1


async def test_health_readiness_and_metrics(hooked: Hooked) -> None:
    person = hooked.person()
    await person.send_text("/start")
    await person.wait_for_message(has_button(CHOOSE), timeout=10)
    async with aiohttp.ClientSession() as http:
        async with http.get(hooked.base + "/healthz") as alive:
            assert alive.status == 200
        async with http.get(hooked.base + "/readyz") as ready:
            assert ready.status == 200
            checks = await ready.json()
            assert checks["database"] == "ok"
            assert checks.get("redis", "ok") == "ok"
            assert ("redis" in checks) == bool(os.environ.get("REDIS_URL"))
        async with http.get(hooked.base + "/metrics") as scraped:
            assert scraped.status == 200
            text = await scraped.text()
    assert 'linli_updates_total{type="message"}' in text
    for name in ("linli_outbox_backlog", "linli_outbox_oldest_pending_seconds", "linli_outbox_sends_total",
                 "linli_telegram_429_total", "linli_reminders_total", "linli_handler_errors_total",
                 "linli_updates_duplicate_total"):
        assert name in text, name


async def test_stopping_finishes_the_update_in_hand_and_turns_new_ones_away(hooked: Hooked) -> None:
    person = hooked.person()
    hooked.emulator.delay("sendMessage", 1.0)
    await person.send_text("/start")
    for _ in range(200):  # the update is in hand, waiting for its slow reply
        if hooked.app.dispatcher.in_flight:
            break
        await asyncio.sleep(0.01)
    assert hooked.app.dispatcher.in_flight == 1

    hooked.stop.set()  # what SIGTERM does
    await asyncio.sleep(0.1)
    other = hooked.person()
    assert await hooked.post(start_update(920_000_000 + other.id % 1_000_000, other)) == 503, \
        "a stopping replica turns updates away, Telegram re-sends them"
    await asyncio.wait_for(hooked.serving, timeout=20)
    assert person.messages and CHOOSE in person.messages[-1].buttons, "the update in hand was finished"
    assert other.messages == []
