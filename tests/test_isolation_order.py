"""A person's updates run one at a time and in the order they came, whatever the shared lock does."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey

from bot.isolation import OrderedEventIsolation


class RacyLock(BaseEventIsolation):
    """Exclusive, but the first caller takes longest to get it (two pool connections to Redis, say)."""

    def __init__(self) -> None:
        self.lock_ = asyncio.Lock()
        self.calls = 0

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        self.calls += 1
        await asyncio.sleep(0.05 if self.calls == 1 else 0)
        async with self.lock_:
            yield

    async def close(self) -> None:
        pass


async def _taps(isolation: BaseEventIsolation) -> list[int]:
    key = StorageKey(bot_id=1, chat_id=2, user_id=2)
    entered: list[int] = []
    inside = 0

    async def tap(n: int) -> None:
        nonlocal inside
        async with isolation.lock(key):
            inside += 1
            assert inside == 1, "never two at once"
            entered.append(n)
            await asyncio.sleep(0.01)
            inside -= 1

    tasks = [asyncio.create_task(tap(n)) for n in range(1, 5)]
    await asyncio.gather(*tasks)
    return entered


async def test_the_shared_lock_alone_lets_a_later_tap_overtake() -> None:
    assert await _taps(RacyLock()) != [1, 2, 3, 4]


async def test_taps_are_handled_in_the_order_they_came() -> None:
    isolation = OrderedEventIsolation(RacyLock())
    assert await _taps(isolation) == [1, 2, 3, 4]
    assert isolation._local == {}, "no lock kept for a person nobody waits for"
