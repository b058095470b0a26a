"""Injected errors and latency, so tests can stage outages and flood storms.

A test says what should go wrong (``inject_error``) or be slow (``delay``)
for one method; the server asks here before running each call.  Injected
errors are indistinguishable from real ones for the client, which is the
point: the bot's error handling is exercised exactly as in production.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from .errors import ApiError, too_many_requests

__all__ = ["Faults"]

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected error",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: (
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running"
    ),
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class _Fault:
    """One ``inject_error``: fails ``remaining`` more calls, or every ``every``-th."""

    error_code: int
    description: str | None
    retry_after: tuple[int, ...]
    remaining: int
    every: int | None
    seen: int = 0
    fired: int = 0

    def offer(self) -> ApiError | None:
        """Count one call of the method; the error to answer it with, if it is to fail."""
        self.seen += 1
        if self.every is not None and self.seen % self.every:
            return None
        retry_after = self.retry_after[self.fired % len(self.retry_after)]
        self.fired += 1
        self.remaining -= 1
        return self._error(retry_after)

    def _error(self, retry_after: int) -> ApiError:
        if self.error_code == 429:
            if self.description:
                return ApiError(429, self.description, retry_after=retry_after)
            return too_many_requests(retry_after)
        description = self.description or _DEFAULT_DESCRIPTIONS.get(
            self.error_code, f"Error {self.error_code}"
        )
        return ApiError(self.error_code, description)


@dataclass
class _Delay:
    seconds: float
    remaining: int


class Faults:
    """Pending injected errors and delays, per method name (case-insensitive).

    Several injections for one method take turns in the order they were made:
    the second starts (and starts counting calls, for ``every``) when the
    first is used up.
    """

    def __init__(self) -> None:
        self._errors: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, deque[_Delay]] = {}

    def add_error(
        self,
        method: str,
        *,
        error_code: int,
        description: str | None,
        retry_after: int | Sequence[int],
        times: int,
        every: int | None,
    ) -> None:
        if times < 1:
            raise ValueError("times must be >= 1")
        if error_code < 400:
            raise ValueError("error_code must be an HTTP error status")
        if every is not None and every < 1:
            raise ValueError("every must be >= 1")
        waits = (retry_after,) if isinstance(retry_after, int) else tuple(retry_after)
        if not waits or not all(isinstance(wait, int) for wait in waits):
            raise ValueError("retry_after must be an int or a non-empty sequence of ints")
        self._errors.setdefault(method.lower(), deque()).append(
            _Fault(error_code, description, waits, times, every)
        )

    def add_delay(self, method: str, seconds: float, times: int) -> None:
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        if times < 1:
            raise ValueError("times must be >= 1")
        self._delays.setdefault(method.lower(), deque()).append(_Delay(seconds, times))

    def clear(self, method: str | None = None) -> None:
        """Forget pending errors and delays of ``method``, or of every method."""
        if method is None:
            self._errors.clear()
            self._delays.clear()
            return
        self._errors.pop(method.lower(), None)
        self._delays.pop(method.lower(), None)

    def take_error(self, method: str) -> ApiError | None:
        """The injected error for this call of ``method``, if any."""
        queue = self._errors.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        error = fault.offer()
        if fault.remaining <= 0:
            queue.popleft()
        return error

    def take_delay(self, method: str) -> float:
        """Seconds this call of ``method`` is to wait before it is processed."""
        queue = self._delays.get(method.lower())
        if not queue:
            return 0.0
        delay = queue[0]
        delay.remaining -= 1
        if delay.remaining <= 0:
            queue.popleft()
        return delay.seconds
