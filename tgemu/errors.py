"""Telegram-shaped API errors.

Every failure the emulator reports goes through :class:`ApiError` so the HTTP
status, ``error_code`` and ``description`` always agree, exactly like the real
Bot API.  aiogram maps the status code to its own exception classes, so getting
this right is what makes ``TelegramBadRequest`` & co. appear in client code.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApiError",
    "bad_request",
    "conflict",
    "forbidden",
    "not_found",
    "too_many_requests",
    "unauthorized",
]


class ApiError(Exception):
    """An error response of the Bot API (``{"ok": false, ...}``)."""

    def __init__(
        self, error_code: int, description: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_payload(self) -> dict[str, Any]:
        """Render the JSON body Telegram would send for this error."""
        payload: dict[str, Any] = {
            "ok": False,
            "error_code": self.error_code,
            "description": self.description,
        }
        if self.retry_after is not None:
            payload["parameters"] = {"retry_after": self.retry_after}
        return payload

    def __repr__(self) -> str:
        return f"ApiError({self.error_code}, {self.description!r})"


def bad_request(message: str) -> ApiError:
    """400 with Telegram's ``Bad Request:`` prefix."""
    return ApiError(400, f"Bad Request: {message}")


def forbidden(message: str) -> ApiError:
    """403 with Telegram's ``Forbidden:`` prefix."""
    return ApiError(403, f"Forbidden: {message}")


def unauthorized() -> ApiError:
    """401 returned for a token that does not belong to the emulated bot."""
    return ApiError(401, "Unauthorized")


def not_found() -> ApiError:
    """404 returned for unknown methods and unknown file paths."""
    return ApiError(404, "Not Found")


def conflict(message: str) -> ApiError:
    """409 with Telegram's ``Conflict:`` prefix."""
    return ApiError(409, f"Conflict: {message}")


def too_many_requests(retry_after: int) -> ApiError:
    """429 flood-wait error carrying ``parameters.retry_after``."""
    return ApiError(
        429,
        f"Too Many Requests: retry after {retry_after}",
        retry_after=retry_after,
    )
