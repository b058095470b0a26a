"""Domain errors. Each carries a translatable message (a gettext msgid) and parameters,
so a handler can tell the person what to do in their own language."""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:
    """Mark a msgid for extraction without translating it here (gettext_noop)."""
    return message


class DomainError(Exception):
    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params


class NotFound(DomainError):
    pass


class PermissionDenied(DomainError):
    pass


class InvalidState(DomainError):
    pass


class InvalidInput(DomainError):
    pass
