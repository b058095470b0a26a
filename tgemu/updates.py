"""The bot's update queue with Telegram's getUpdates semantics.

Updates are only forgotten when confirmed (``offset`` greater than their id)
- handing them out does not remove them, so a bot that crashes mid-batch gets
them again, exactly like on Telegram.  Long polling blocks on a :class:`Pulse`
rather than sleeping, so a poll returns the moment a user acts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["ALL_UPDATE_TYPES", "DEFAULT_UPDATE_TYPES", "Pulse", "UpdateQueue"]

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


class UpdateQueue:
    """Pending updates with confirm-by-offset and long-poll support."""

    def __init__(self, first_update_id: int = 1) -> None:
        self._pending: list[dict[str, Any]] = []
        self._next_id = first_update_id
        self._delivered_upto = first_update_id - 1
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
        self._pending.append(update)
        self.pulse.fire()
        return update

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
            self._pending = [u for u in self._pending if u["update_id"] >= offset]
        elif offset < 0:
            self._pending = self._pending[offset:]
        self._drop_disallowed()

    def _drop_disallowed(self) -> None:
        self._pending = [u for u in self._pending if _update_type(u) in self.allowed_updates]

    def peek(self, limit: int) -> list[dict[str, Any]]:
        return self._pending[:limit]

    def mark_delivered(self, updates: list[dict[str, Any]]) -> None:
        if updates:
            self._delivered_upto = max(self._delivered_upto, updates[-1]["update_id"])
            self.pulse.fire()

    def clear(self) -> int:
        """Drop every pending update (``drop_pending_updates``); returns how many."""
        dropped = len(self._pending)
        self._pending.clear()
        self._delivered_upto = self._next_id - 1
        self.pulse.fire()
        return dropped

    def first(self) -> dict[str, Any] | None:
        return self._pending[0] if self._pending else None

    @property
    def pending_count(self) -> int:
        return len(self._pending)

    @property
    def undelivered_count(self) -> int:
        """Updates never handed to the bot yet (the settle criterion)."""
        return sum(1 for u in self._pending if u["update_id"] > self._delivered_upto)

    async def wait_nonempty(self, timeout: float, cancelled: Callable[[], bool]) -> None:
        """Long-poll helper: return when there is something, or on timeout/cancel."""
        await self.pulse.wait_for(lambda: bool(self._pending) or cancelled(), timeout)


def _update_type(update: dict[str, Any]) -> str:
    return next(key for key in update if key != "update_id")
