"""The bot's update queue with Telegram's getUpdates semantics.

Updates are only forgotten when confirmed (``offset`` greater than their id)
- handing them out does not remove them, so a bot that crashes mid-batch gets
them again, exactly like on Telegram.  The webhook confirms each update on its
own instead, since with several connections they complete out of order.
:meth:`UpdateQueue.redeliver` queues copies of an old update, as Telegram
re-sends one it thinks was lost, so tests can check that the bot de-duplicates.
Long polling blocks on a :class:`Pulse` rather than sleeping, so a poll returns
the moment a user acts.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["ALL_UPDATE_TYPES", "DEFAULT_UPDATE_TYPES", "Pulse", "QueuedUpdate", "UpdateQueue"]

ALL_UPDATE_TYPES: tuple[str, ...] = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
#: What an empty / never-set ``allowed_updates`` means on Telegram.
DEFAULT_UPDATE_TYPES: frozenset[str] = frozenset(ALL_UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}


class Pulse:
    """A re-armable broadcast signal that can be fired from sync code.

    ``asyncio.Condition`` needs its lock held to notify, which sync callers
    (e.g. ``EmulatedUser.block_bot``) cannot do; swapping events can.
    """

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout: float | None) -> None:
        """Wait for the next fire (or the timeout, silently)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``predicate()`` holds; False if the timeout expired first."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            event = self._event
            if predicate():
                return True
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                return predicate()


@dataclass(eq=False)
class QueuedUpdate:
    """One pending update plus who has seen it (compared by identity: copies are distinct)."""

    update: dict[str, Any]
    #: A copy queued by :meth:`UpdateQueue.redeliver`; offsets cannot confirm
    #: it before it was handed out, or a poller could never receive it.
    redelivery: bool = False
    #: Given to the bot: in a getUpdates answer, or accepted by the webhook.
    handed_out: bool = False
    #: Webhook bookkeeping: a POST of it is under way / failed so many times /
    #: may not be retried before this ``loop.time()``.
    in_flight: bool = False
    failed_attempts: int = 0
    retry_at: float = 0.0

    @property
    def update_id(self) -> int:
        return self.update["update_id"]


class UpdateQueue:
    """Pending updates in update_id order, confirmed by offset or one by one.

    getUpdates confirms by offset (everything below it); the webhook
    deliverer confirms each update on its own (:meth:`ack`), because with
    several connections they complete out of order.
    """

    def __init__(self, first_update_id: int = 1) -> None:
        self._pending: list[QueuedUpdate] = []
        self._history: dict[int, dict[str, Any]] = {}
        self._next_id = first_update_id
        self.allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self.allowed_updates_explicit: list[str] | None = None
        self.pulse = Pulse()

    # -- producer side ------------------------------------------------------

    def push(self, update_type: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue an update; returns None if the bot opted out of this type."""
        if update_type not in self.allowed_updates:
            return None
        update = {"update_id": self._next_id, update_type: payload}
        self._next_id += 1
        self._history[update["update_id"]] = update
        self._pending.append(QueuedUpdate(update))
        self.pulse.fire()
        return update

    def redeliver(self, update_id: int, times: int = 1) -> None:
        """Queue ``times`` more copies of an update, as Telegram re-sends one it
        believes the bot did not get (same update_id, so the bot can tell)."""
        if times < 1:
            raise ValueError("times must be >= 1")
        update = self._history.get(update_id)
        if update is None:
            raise ValueError(f"no update {update_id} was ever queued")
        for _ in range(times):
            bisect.insort(
                self._pending, QueuedUpdate(update, redelivery=True), key=lambda q: q.update_id
            )
        self.pulse.fire()

    # -- consumer side ------------------------------------------------------

    def set_allowed_updates(self, types: Iterable[str] | None) -> None:
        """Persist the bot's ``allowed_updates`` choice (None keeps the old one)."""
        if types is None:
            return
        chosen = [t for t in types if isinstance(t, str)]
        self.allowed_updates_explicit = chosen
        self.allowed_updates = (
            frozenset(chosen) & frozenset(ALL_UPDATE_TYPES) or DEFAULT_UPDATE_TYPES
        )

    def confirm(self, offset: int) -> None:
        """Apply a getUpdates ``offset`` (positive confirms, negative keeps a tail)."""
        if offset > 0:
            self._pending = [
                q
                for q in self._pending
                if q.update_id >= offset or (q.redelivery and not q.handed_out)
            ]
        elif offset < 0:
            self._pending = self._pending[offset:]
        self._drop_disallowed()

    def _drop_disallowed(self) -> None:
        self._pending = [q for q in self._pending if _update_type(q.update) in self.allowed_updates]

    def peek(self, limit: int) -> list[QueuedUpdate]:
        return self._pending[:limit]

    def mark_delivered(self, batch: list[QueuedUpdate]) -> None:
        """Note that the bot received these (a getUpdates answer reached it)."""
        for queued in batch:
            queued.handed_out = True
        if batch:
            self.pulse.fire()

    def ack(self, queued: QueuedUpdate) -> None:
        """Confirm one update the webhook accepted (no-op if it was dropped meanwhile)."""
        queued.handed_out = True
        with contextlib.suppress(ValueError):
            self._pending.remove(queued)
        self.pulse.fire()

    def clear(self) -> int:
        """Drop every pending update (``drop_pending_updates``); returns how many."""
        dropped = len(self._pending)
        self._pending.clear()
        self.pulse.fire()
        return dropped

    def __iter__(self) -> Iterator[QueuedUpdate]:
        return iter(list(self._pending))

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def undelivered_count(self) -> int:
        """Updates never handed to the bot yet (the settle criterion)."""
        return sum(1 for q in self._pending if not q.handed_out)

    async def wait_nonempty(self, timeout: float, cancelled: Callable[[], bool]) -> None:
        """Long-poll helper: return when there is something, or on timeout/cancel."""
        await self.pulse.wait_for(lambda: bool(self._pending) or cancelled(), timeout)


def _update_type(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")
