"""One person's updates one at a time, in the order they came, across processes.

aiogram's `RedisEventIsolation` makes one person's updates exclusive across processes,
but not ordered: two taps fetched in one batch race for the Redis lock on two pool
connections, and the second may win (then "Confirm" pressed twice files on the second
tap and tells the first it was already filed). Waiters poll the lock, so three or more
are served in any order.

`OrderedEventIsolation` queues a person's updates in this process first, on an asyncio
lock (first come, first served), and only the head of that queue waits for the Redis
lock. Within a process the order is the arrival order; across processes the updates
are exclusive (Telegram itself posts concurrent webhook requests in no set order).
The local locks are dropped when nobody holds or waits for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager

from aiogram.fsm.storage.base import BaseEventIsolation, StorageKey


class OrderedEventIsolation(BaseEventIsolation):
    def __init__(self, shared: BaseEventIsolation) -> None:
        self.shared = shared
        self._local: dict[StorageKey, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def lock(self, key: StorageKey) -> AsyncGenerator[None, None]:
        local, users = self._local.get(key, (None, 0))
        if local is None:
            local = asyncio.Lock()
        self._local[key] = (local, users + 1)
        try:
            async with local, self.shared.lock(key):
                yield
        finally:
            held, users = self._local[key]
            if users <= 1:
                del self._local[key]
            else:
                self._local[key] = (held, users - 1)

    async def close(self) -> None:
        await self.shared.close()
