"""The one source of "now".

Services, the outbox sender and the scheduler ask a `Clock`; nothing else calls
`datetime.now()`. Production uses `SystemClock`; tests use `ManualClock` and
move it forward instead of sleeping, so time-based behaviour (deadlines,
reminders, expiring invitations) is tested deterministically.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that stands still until moved: `advance(minutes=30)`, `set(moment)`."""

    def __init__(self, start: datetime | None = None) -> None:
        moment = start or datetime.now(UTC)
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        self._now = moment.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware datetime")
        self._now = moment.astimezone(UTC)

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**parts)
        return self._now
