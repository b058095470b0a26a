"""A resident adds words, photos or recordings to an open request, from its card.

Each message is saved as it arrives (a timeline entry, with its media kept by
file_id) and whoever handles the case is told; the rest of a photo album joins
the first photo's entry quietly, so a social worker gets one notice per album.
Adding ends with "Done", when the person opens their requests again, or after
an hour without anything added (a message days later is not taken as an addition).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import Button
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.services import requests
from bot.services.errors import DomainError, InvalidInput
from bot.transaction import end_transaction
from handlers import keyboards
from handlers.callbacks import RequestCB
from handlers.filters import not_command
from handlers.resident import MEDIA_TYPES, attachment_of, media_text
from handlers.states import AddInformation
from handlers.texts import error_text
from handlers.widgets import Lines, MessageInput, Tr, close_dialogs, session_of, user_of
from models import User

router = Router(name=__name__)

# After this long without an addition, a message is no longer taken as one.
ADD_MODE_IDLE = timedelta(hours=1)


@router.callback_query(RequestCB.filter(F.action == "add"))
async def start_adding(
    query: CallbackQuery, callback_data: RequestCB, session: AsyncSession, user: User, dialog_manager: DialogManager
) -> None:
    try:
        request = await requests.get_visible(session, user, callback_data.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    if not requests.can_add_information(user, request):
        await query.answer(_("Only the person who filed an open request can add to it."), show_alert=True)
        return
    await query.answer()
    await close_dialogs(dialog_manager)
    await dialog_manager.start(
        AddInformation.waiting,
        data={"request_id": request.id, "number": request.number},
        mode=StartMode.RESET_STACK,
        show_mode=ShowMode.SEND,
    )


async def _added(message: Message, _widget: Any, manager: DialogManager) -> None:
    number = manager.start_data["number"]
    clock: Clock = manager.middleware_data["clock"]
    now = clock.now()
    last = manager.dialog_data.get("active_at")
    if last is not None and now - datetime.fromisoformat(last) > ADD_MODE_IDLE:
        # Long after: this message is probably about something else. Say so; keep nothing.
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await message.answer(
            _("Adding to request {number} ended a while ago, so this message was not added. To add it, open the "
              "request with /my and tap “➕ Add information or photos”.").format(number=number),
            reply_markup=keyboards.main_menu(user_of(manager).roles),
        )
        return
    attachment = attachment_of(message)
    album = message.media_group_id
    rest_of_album = album is not None and manager.dialog_data.get("album") == album
    words = message.text if attachment is None else message.caption
    words_refused: InvalidInput | None = None
    if attachment is not None and words:
        try:
            requests.clean_description(words, has_media=True)
        except InvalidInput as error:  # the photo or recording is kept; only the words are explained
            words_refused, words = error, None
    try:
        event = await requests.add_information(
            session_of(manager),
            user_of(manager),
            int(manager.start_data["request_id"]),
            words,
            (attachment,) if attachment is not None else (),
            join_event_id=manager.dialog_data.get("album_event") if rest_of_album else None,
            now=now,
        )
    except DomainError as error:
        await message.answer(error_text(error))
        manager.show_mode = ShowMode.SEND
        return
    await end_transaction(session_of(manager))  # saved before it is reported as added
    manager.dialog_data["album"] = album
    manager.dialog_data["album_event"] = event.id
    manager.dialog_data["active_at"] = now.isoformat()
    manager.dialog_data["last"] = media_text((attachment,)) if attachment is not None else _("your words")
    manager.dialog_data["count"] = int(manager.dialog_data.get("count") or 0) + 1
    if words_refused is not None:
        await message.answer(error_text(words_refused))
        manager.show_mode = ShowMode.SEND
        return
    # The rest of an album updates the confirmation shown after its first photo.
    manager.show_mode = ShowMode.EDIT if rest_of_album else ShowMode.SEND


async def end_adding(manager: DialogManager) -> None:
    """Leave add mode if it is open (the person went back to their requests)."""
    if manager.has_context() and manager.current_context().state == AddInformation.waiting:
        await manager.done(show_mode=ShowMode.NO_UPDATE)


async def _not_addable(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please type a few words, or send a voice message, a photo or a video message."))
    manager.show_mode = ShowMode.SEND


async def _done(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    number = manager.start_data["number"]
    added = int(manager.dialog_data.get("count") or 0)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    text = (
        _("Thank you. What you added is on the timeline of request {number}; the social worker has been told.")
        if added
        else _("Nothing was added to request {number}.")
    )
    await query.message.edit_text(text.format(number=number), reply_markup=keyboards.main_menu(user_of(manager).roles))


async def _window_data(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    return {
        "number": dialog_manager.start_data["number"],
        "last": dialog_manager.dialog_data.get("last") or "",
        "first": not dialog_manager.dialog_data.get("last"),
    }


add_information_dialog = Dialog(
    Window(
        Lines(
            Tr("✅ Added to request {number}: {last}.", when="last"),
            Tr("Send words, a voice message or photos to add to request {number}.", when="first"),
            Tr("You can send more. Tap “Done” when you have finished."),
        ),
        MessageInput(_added, content_types=[ContentType.TEXT, *MEDIA_TYPES], filter=not_command),
        MessageInput(_not_addable, filter=not_command),
        Button(Tr("✔️ Done"), id="done", on_click=_done),
        state=AddInformation.waiting,
        getter=_window_data,
    ),
)

__all__ = ["add_information_dialog", "router"]
