"""Human-readable rendering of the emulator transcript.

The demo prints conversations for people who have never seen the bot, so the
format reads like a chat log: who spoke, what they saw, which buttons were
offered and what was pressed.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from .models import TranscriptEntry

__all__ = ["format_transcript"]

_USER_ARROW = "▶"
_BOT_ARROW = "◀"


def _buttons(entry: TranscriptEntry, indent: str) -> list[str]:
    if entry.keyboard == "remove":
        return [f"{indent}⌨ (keyboard removed)"]
    if not entry.buttons:
        return []
    prefix = "⌨ " if entry.keyboard == "reply" else ""
    return [f"{indent}{prefix}" + " ".join(f"[{text}]" for text in row) for row in entry.buttons]


def format_transcript(
    entries: Iterable[TranscriptEntry],
    *,
    bot_name: str,
    chat_ids: Iterable[int] | None = None,
    timestamps: bool = False,
) -> str:
    """Render entries as lines like ``王秀兰 ▶ /new`` / ``邻里 ◀ 请选择… [A] [B]``."""
    wanted = set(chat_ids) if chat_ids is not None else None
    selected = [e for e in entries if wanted is None or e.chat_id in wanted]
    multi_chat = len({e.chat_id for e in selected}) > 1
    lines: list[str] = []
    for entry in selected:
        stamp = time.strftime("%H:%M:%S ", time.localtime(entry.timestamp)) if timestamps else ""
        if entry.direction == "user":
            head = f"{stamp}{entry.user_name} {_USER_ARROW} "
            body = entry.text if entry.kind not in ("block", "unblock") else f"({entry.text})"
        else:
            target = f" → {entry.user_name}" if multi_chat else ""
            head = f"{stamp}{bot_name}{target} {_BOT_ARROW} "
            if entry.kind == "delete":
                body = f"✕ {entry.text}"
            elif entry.kind == "toast":
                body = f"💬 {entry.text}"
            elif entry.kind == "alert":
                body = f"⚠ {entry.text}"
            else:
                body = ("(edited) " if entry.edited else "") + entry.text
        indent = "    "
        text_lines = body.split("\n") or [""]
        lines.append(head + text_lines[0])
        lines.extend((indent + line).rstrip() for line in text_lines[1:])
        lines.extend(_buttons(entry, indent))
    return "\n".join(lines)
