"""Telegram's flood limits as token buckets (off unless a test turns them on).

Telegram does not publish its exact algorithm, only the limits a bot should
stay under: about 30 messages per second overall, about one per second in a
private chat (short bursts pass) and 20 per minute in a group.  A bot that
exceeds them gets ``429 Too Many Requests: retry after N``.  Token buckets give
exactly that shape - a burst up to the bucket's capacity, then a steady rate -
and an honest ``retry_after``: the time until the empty bucket holds a token.

Only calls that put a new message into a chat count (:func:`is_message_send`).
The clock is injectable so the buckets can be tested without sleeping.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "Clock",
    "RateLimiter", "RateLimits", "TokenBucket", "busiest_window", "is_message_send"]

Clock = Callable[[], float]

#: Float noise must not turn an exact 3 s wait into ``retry after 4``.
_EPSILON = 1e-9

_FORWARD_AND_COPY = frozenset({"forwardMessage", "forwardMessages", "copyMessage", "copyMessages"})


@dataclass(frozen=True)
class RateLimits:
    """How many messages the emulated Telegram accepts before answering 429.

    ``per_second``/``burst``: one bucket for the whole bot.
    ``per_chat_per_second``/``per_chat_burst``: one bucket per private chat.
    ``group_per_minute``: one bucket per group, supergroup or channel (negative
    chat id or ``@username``), refilled at that many tokens per minute and
    holding as many: a quiet group takes a burst of ``group_per_minute``
    messages at once, as Telegram does, and then one every
    ``60 / group_per_minute`` seconds.  (So right after a quiet spell a 60 s
    window may hold up to twice the number; a bucket cannot forbid that
    without refusing the burst, and Telegram does not refuse it either.)
    The emulator has no group chats, so through the server only a call's
    global token is at stake there: sends to them fail and give it back.
    """

    per_second: float = 30.0
    burst: float = 30.0
    per_chat_per_second: float = 1.0
    per_chat_burst: float = 3.0
    group_per_minute: float = 20.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if not value > 0:
                raise ValueError(f"{item.name} must be positive, not {value!r}")
        for burst in ("burst", "per_chat_burst", "group_per_minute"):
            if getattr(self, burst) < 1:
                raise ValueError(f"{burst} must be at least 1: a smaller bucket never holds a message")


def is_message_send(method: str) -> bool:
    """Whether a call of ``method`` (canonical case) puts a new message into a chat.

    ``sendChatAction`` starts with "send" but shows a status, not a message;
    Telegram limits it separately, so it does not use up message tokens.  An
    album (``sendMediaGroup``) is one call and takes one token.
    """
    if method == "sendChatAction":
        return False
    return method.startswith("send") or method in _FORWARD_AND_COPY


class TokenBucket:
    """``capacity`` tokens, refilled continuously at ``rate`` per second; one per message."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self._updated = now

    def _refill(self, now: float) -> None:
        if now > self._updated:
            self.tokens = min(self.capacity, self.tokens + (now - self._updated) * self.rate)
            self._updated = now

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0 if one is now)."""
        self._refill(now)
        missing = 1.0 - self.tokens
        return 0.0 if missing <= _EPSILON else missing / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self.tokens -= 1.0

    def give_back(self, now: float) -> None:
        self._refill(now)
        self.tokens = min(self.capacity, self.tokens + 1.0)


class RateLimiter:
    """The buckets of one bot: global, per private chat and per group chat."""

    def __init__(self, limits: RateLimits, *, clock: Clock = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._global = TokenBucket(limits.burst, limits.per_second, clock())
        self._chats: dict[int | str, TokenBucket] = {}

    def _chat_bucket(self, chat_id: Any, now: float) -> TokenBucket | None:
        """The bucket of the chat a ``chat_id`` parameter names, None if it names none.

        A missing or malformed ``chat_id`` only costs a global token: the
        method handler refuses the call anyway, and refusals give tokens back.
        """
        key = _chat_key(chat_id)
        if key is None:
            return None
        bucket = self._chats.get(key)
        if bucket is None:
            limits = self.limits
            if isinstance(key, str) or key < 0:
                per_minute = limits.group_per_minute
                bucket = TokenBucket(per_minute, per_minute / 60.0, now)
            else:
                bucket = TokenBucket(limits.per_chat_burst, limits.per_chat_per_second, now)
            self._chats[key] = bucket
        return bucket

    def _buckets(self, chat_id: Any, now: float) -> list[TokenBucket]:
        chat = self._chat_bucket(chat_id, now)
        return [self._global] if chat is None else [self._global, chat]

    def acquire(self, chat_id: Any) -> int:
        """Take one token from each bucket the message counts against.

        Returns 0 when granted; otherwise takes nothing and returns Telegram's
        ``retry_after``: whole seconds (at least 1) until every exhausted
        bucket holds a token again.
        """
        now = self.clock()
        buckets = self._buckets(chat_id, now)
        wait = max(bucket.wait(now) for bucket in buckets)
        if wait > 0:
            return max(1, math.ceil(wait - _EPSILON))
        for bucket in buckets:
            bucket.take(now)
        return 0

    def release(self, chat_id: Any) -> None:
        """Return the tokens of a granted call that sent nothing after all (e.g. a 400)."""
        now = self.clock()
        for bucket in self._buckets(chat_id, now):
            bucket.give_back(now)


def _chat_key(chat_id: Any) -> int | str | None:
    if isinstance(chat_id, bool):
        return None
    if isinstance(chat_id, int):
        return chat_id
    if isinstance(chat_id, str):
        text = chat_id.strip()
        if text.startswith("@") and len(text) > 1:
            return text.lower()  # a public channel or supergroup by username
        try:
            return int(text)
        except ValueError:
            return None
    return None


def busiest_window(times: Iterable[float], window: float) -> int:
    """The most of ``times`` that fall into one half-open interval ``[t, t + window)``.

    Half-open, so a sender pacing itself at exactly 30 per second has 30 in
    every second, not 31; float noise in the spacing is forgiven likewise.
    """
    ordered = sorted(times)
    best = 0
    start = 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window - _EPSILON:
            start += 1
        best = max(best, end - start + 1)
    return best
