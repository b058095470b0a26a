"""Each update handled once, and a failure the bot can recover from handed back to Telegram.

Telegram re-sends a webhook update whose answer was not 2xx, and behind a load
balancer the same update may reach two replicas. `OnceMiddleware`, an outer
middleware on updates, records every `update_id` before the work starts:

* Redis: one key per update, ``linli:update:<bot id>:<update id>``, set with
  ``SET NX`` to 'busy' (expiring after `BUSY_SECONDS`, so a replica that died while
  handling it does not hold it for ever), then to 'done' for `SEEN_SECONDS` (48 h;
  Telegram keeps an update for at most 24). A repeat of a done update is dropped
  (200). A repeat of a busy one is handed back (503): its first copy may be on a
  replica that died, and Telegram delivers it again later. A failure with nothing
  committed sets 'failed:<n>', which a redelivery may claim again; a failure after
  something was committed counts as done (running it again would repeat that).
* Without Redis (one process): the same in memory. If Redis becomes unreachable the
  in-memory record takes over with one logged warning.

The per-person lock (`RedisEventIsolation`) is taken before this middleware, so a
second copy of an update of the same person waits for the first to finish and then
finds it done.

`UpdateOutcome` travels with an update fed by the webhook server (bot/web.py): the
error handler marks it failed and whether the failure is one that a redelivery can
cure (`is_transient`: the database or Redis out of reach, with nothing of the update
committed). The server then answers 503, and Telegram delivers the update again
later. Polling cannot give an update back: aiogram has moved the offset on before the
handler runs, so polling is at-most-once and the person is asked to send it again.
"""

from __future__ import annotations

import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from aiogram import BaseMiddleware
from aiogram.dispatcher.event.bases import UNHANDLED
from aiogram.types import TelegramObject, Update
from aiogram_dialog.api.entities.update_event import DialogUpdate
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.metrics import Metrics
from bot.transaction import committed

log = logging.getLogger(__name__)

SEEN_SECONDS = 48 * 3600
BUSY_SECONDS = 300

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


@dataclass
class UpdateOutcome:
    """What became of one update fed by the webhook server."""

    attempt: int = 0  # earlier failed attempts of this update
    duplicate: bool = False
    failed: bool = False
    redeliver: bool = False  # the failure is transient and nothing was committed: ask Telegram for it again


BUSY = -2  # `claim`: another copy of this update is being handled (or its handler died)
DONE = -1  # `claim`: this update was handled


class SeenUpdates(Protocol):
    async def claim(self, update_id: int) -> int:
        """Mark the update busy: its earlier failed attempts, or BUSY / DONE."""

    async def done(self, update_id: int) -> None: ...

    async def failed(self, update_id: int, attempts: int) -> None: ...


class LocalSeenUpdates:
    """The record of one process, in memory, bounded."""

    def __init__(self, *, capacity: int = 100_000, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._seen: OrderedDict[int, tuple[str, float]] = OrderedDict()
        self.capacity = capacity
        self._monotonic = monotonic

    def _set(self, update_id: int, value: str, seconds: float) -> None:
        self._seen[update_id] = (value, self._monotonic() + seconds)
        self._seen.move_to_end(update_id)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)

    async def claim(self, update_id: int) -> int:
        found = self._seen.get(update_id)
        if found is not None and found[1] > self._monotonic() and not found[0].startswith("failed:"):
            return BUSY if found[0] == "busy" else DONE
        attempts = int(found[0].split(":", 1)[1]) if found is not None and found[0].startswith("failed:") else 0
        self._set(update_id, "busy", BUSY_SECONDS)
        return attempts

    async def done(self, update_id: int) -> None:
        self._set(update_id, "done", SEEN_SECONDS)

    async def failed(self, update_id: int, attempts: int) -> None:
        self._set(update_id, f"failed:{attempts}", SEEN_SECONDS)


# KEYS: the update's key. ARGV: busy seconds. Returns -2 busy, -1 done, else earlier failed attempts.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v == 'busy' then return -2 end
if v and string.sub(v, 1, 7) ~= 'failed:' then return -1 end
local attempts = 0
if v then attempts = tonumber(string.sub(v, 8)) end
redis.call('SET', KEYS[1], 'busy', 'EX', tonumber(ARGV[1]))
return attempts
"""


class RedisSeenUpdates:
    """The record shared by every replica, in Redis; in memory while Redis is out of reach."""

    def __init__(self, redis: Redis, bot_id: int) -> None:
        self.redis = redis
        self.prefix = f"linli:update:{bot_id}:"
        self._claim = redis.register_script(_CLAIM)
        self.local = LocalSeenUpdates()
        self._degraded = False

    def _fallback(self, error: RedisError) -> None:
        if not self._degraded:
            log.warning("Redis unreachable (%s): repeated updates are recognised by this process only", error)
            self._degraded = True

    async def claim(self, update_id: int) -> int:
        try:
            found = int(await self._claim(keys=[self.prefix + str(update_id)], args=[BUSY_SECONDS]))
        except RedisError as error:
            self._fallback(error)
            return await self.local.claim(update_id)
        if self._degraded:
            log.warning("Redis reachable again: repeated updates are recognised across replicas")
            self._degraded = False
        return found

    async def _set(self, update_id: int, value: str) -> None:
        try:
            await self.redis.set(self.prefix + str(update_id), value, ex=SEEN_SECONDS)
        except RedisError as error:
            self._fallback(error)

    async def done(self, update_id: int) -> None:
        await self.local.done(update_id)
        await self._set(update_id, "done")

    async def failed(self, update_id: int, attempts: int) -> None:
        await self.local.failed(update_id, attempts)
        await self._set(update_id, f"failed:{attempts}")


class OnceMiddleware(BaseMiddleware):
    """Drop an update already handled (or being handled) here or on another replica."""

    def __init__(self, seen: SeenUpdates, metrics: Metrics | None = None) -> None:
        self.seen = seen
        self.metrics = metrics

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if not isinstance(event, Update) or isinstance(event, DialogUpdate):
            # aiogram-dialog's background updates all carry update_id 0: they are not Telegram's.
            return await handler(event, data)
        outcome: UpdateOutcome | None = data.get("outcome")
        attempt = await self.seen.claim(event.update_id)
        if attempt < 0:
            busy = attempt == BUSY
            log.info("update %s %s; dropped", event.update_id,
                     "is being handled elsewhere (or its handler died): handed back" if busy else "was already handled")
            if self.metrics is not None:
                self.metrics.duplicates.inc()
            if outcome is not None:
                outcome.duplicate = True
                outcome.redeliver = busy
            return UNHANDLED
        if outcome is not None:
            outcome.attempt = attempt
        data["update_attempt"] = attempt
        try:
            result = await handler(event, data)
        except BaseException:
            if committed(data):  # part of it is saved: a second run would repeat that part
                await self.seen.done(event.update_id)
            else:
                await self.seen.failed(event.update_id, attempt + 1)
            raise
        if self.metrics is not None:
            self.metrics.updates.labels(event.event_type).inc()
        await self.seen.done(event.update_id)
        return result


# asyncpg's errors for a server that is gone, starting up or shutting down.
_ASYNCPG_UNREACHABLE = frozenset({
    "PostgresConnectionError", "ConnectionDoesNotExistError", "ConnectionFailureError", "CannotConnectNowError",
    "AdminShutdownError", "CrashShutdownError", "TooManyConnectionsError", "InterfaceError",
})


def causes(error: BaseException) -> Iterator[BaseException]:
    """The error and what caused it, following __cause__ (or __context__) once each."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def is_transient(error: BaseException) -> bool:
    """Whether the failure is the database or Redis out of reach (it may pass), not the bot's own fault."""
    from aiogram.exceptions import TelegramAPIError
    from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from bot.transaction import NotSaved

    for current in causes(error):
        if isinstance(current, TelegramAPIError):
            return False  # Telegram's trouble (a reply that timed out may have arrived): not ours to redo
        if isinstance(current, (OperationalError, InterfaceError, DisconnectionError, PoolTimeout,
                                RedisConnectionError, RedisTimeoutError,
                                ConnectionError, TimeoutError, socket.gaierror)):
            return True  # connection refused, reset or timed out; the host not found; the pool exhausted
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        if type(current).__module__.startswith("asyncpg") and type(current).__name__ in _ASYNCPG_UNREACHABLE:
            return True
        if isinstance(current, NotSaved) and current.__cause__ is None:
            return False
    return False
