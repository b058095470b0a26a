"""aiogram-dialog widgets that speak the reader's language through gettext."""

from __future__ import annotations

from typing import Any

from aiogram.utils.i18n import gettext
from aiogram_dialog import DialogManager
from aiogram_dialog.widgets.common import WhenCondition
from aiogram_dialog.widgets.kbd import Back, Button, Cancel
from aiogram_dialog.widgets.text import Text


class Tr(Text):
    """A msgid translated at render time, formatted with the window's data: Tr("Step {n}")."""

    def __init__(self, msgid: str, when: WhenCondition = None) -> None:
        super().__init__(when=when)
        self.msgid = msgid

    async def _render_text(self, data: dict[str, Any], manager: DialogManager) -> str:
        text = gettext(self.msgid)
        return text.format_map(data) if "{" in text else text


class Lines(Text):
    """Several texts, one per line, skipping those that render empty."""

    def __init__(self, *texts: Text, when: WhenCondition = None) -> None:
        super().__init__(when=when)
        self.texts = texts

    async def _render_text(self, data: dict[str, Any], manager: DialogManager) -> str:
        rendered = [await text.render_text(data, manager) for text in self.texts]
        return "\n".join(line for line in rendered if line)


def back_button() -> Back:
    return Back(Tr("⬅️ Back"), id="back")


def cancel_button(on_click: Any = None) -> Cancel | Button:
    if on_click is not None:
        return Button(Tr("✖️ Cancel"), id="cancel", on_click=on_click)
    return Cancel(Tr("✖️ Cancel"), id="cancel")
