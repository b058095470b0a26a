"""Public record types exposed to tests and the demo.

They are deliberately plain dataclasses: assertions read better on
``msg.buttons`` than on nested JSON, and :class:`BotMessage` objects are
updated in place so a reference held by a test always shows the *current*
state of the message after edits or deletion.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .markup import inline_buttons, visible_label
from .media import StoredFile

__all__ = [
    "ApiCall",
    "ApiFailure",
    "BotMessage",
    "CallbackAnswer",
    "RateLimitHit",
    "TranscriptEntry",
]


class ApiCall(NamedTuple):
    """One request received by the emulator (``method`` in canonical case).

    ``at`` is its arrival on ``time.monotonic()``, so tests can measure how
    fast a bot sends; ``chat_id`` is the parameter, an int when it is a
    number (even if sent as form text), otherwise as given (``"@channel"``),
    None when the call has none.
    """

    method: str
    params: dict[str, Any]
    at: float = 0.0
    chat_id: Any = None


class RateLimitHit(NamedTuple):
    """A call the flood limits (:class:`~tgemu.RateLimits`) refused with 429.

    ``at`` is the limiter's clock (``time.monotonic()`` unless a test gave
    another one); injected 429s are not recorded here, only in ``failures``.
    """

    method: str
    chat_id: Any
    retry_after: int
    at: float


class ApiFailure(NamedTuple):
    """An error response the emulator sent; shown when a wait times out."""

    method: str
    error_code: int
    description: str
    params: dict[str, Any]


@dataclass(eq=False)
class BotMessage:
    """A message the bot sent into a private chat, in its current state."""

    message_id: int
    chat_id: int
    date: int
    kind: str  # "text" | "photo" | "document" | "location"
    text: str = ""
    raw_text: str = ""
    parse_mode: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    reply_to_message_id: int | None = None
    file: StoredFile | None = None
    file_ids: list[str] = field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None
    location_extra: dict[str, Any] = field(default_factory=dict)
    edit_date: int | None = None
    deleted: bool = False
    seq: int = 0
    media_group_id: str | None = None  # set on the messages of one sendMediaGroup

    @property
    def edited(self) -> bool:
        return self.edit_date is not None

    @property
    def html(self) -> str:
        """The source markup if it was HTML, otherwise the escaped plain text."""
        if (self.parse_mode or "").lower() == "html":
            return self.raw_text
        return html.escape(self.text, quote=False)

    @property
    def button_rows(self) -> list[list[str]]:
        """Button labels of the attached keyboard as shown (reply labels without payload)."""
        if not self.reply_markup:
            return []
        if "inline_keyboard" in self.reply_markup:
            return [[b["text"] for b in row] for row in self.reply_markup["inline_keyboard"]]
        rows = self.reply_markup.get("keyboard") or []
        return [[visible_label(b["text"]) for b in row] for row in rows]

    @property
    def buttons(self) -> list[str]:
        """Texts of the current inline keyboard buttons, row by row (exact)."""
        return [button["text"] for button in inline_buttons(self.reply_markup)]

    @property
    def document_name(self) -> str | None:
        return self.file.filename if self.file is not None and self.kind == "document" else None

    @property
    def document_bytes(self) -> bytes | None:
        return self.file.data if self.file is not None and self.kind == "document" else None

    def describe(self) -> str:
        """One-line human description used in assertion messages."""
        flags = "".join(
            flag for flag, on in ((" (edited)", self.edited), (" (deleted)", self.deleted)) if on
        )
        if self.kind == "document":
            body = f"📄 {self.document_name} {self.text}".rstrip()
        elif self.kind == "photo":
            body = f"🖼 {self.text}".rstrip()
        elif self.kind in ("voice", "video_note"):
            body = f"{'🎤' if self.kind == 'voice' else '⏺'} {self.text}".rstrip()
        elif self.kind == "location":
            body = f"📍 {self.latitude}, {self.longitude}"
        else:
            body = self.text
        buttons = " ".join(f"[{text}]" for row in self.button_rows for text in row)
        return f"#{self.message_id}{flags}: {body!r}" + (f" {buttons}" if buttons else "")


@dataclass(frozen=True)
class CallbackAnswer:
    """An ``answerCallbackQuery`` call as seen by the user."""

    query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    message_id: int | None
    data: str | None


@dataclass(frozen=True)
class TranscriptEntry:
    """A user action or bot output, in the order it happened."""

    timestamp: float
    chat_id: int
    user_name: str
    direction: str  # "user" | "bot"
    kind: str
    text: str
    buttons: tuple[tuple[str, ...], ...] = ()
    edited: bool = False
    message_id: int | None = None
    keyboard: str | None = None  # "inline" | "reply" | "remove" | None
