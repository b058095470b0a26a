"""A social worker answers an offered case: Accept, or Decline with a reason.

The buttons come with the offer notice (from the outbox). Every press is checked
again by `bot.services.cases`: the case must have been offered to this worker,
acceptance is a compare-and-set (of two workers pressing together one wins, the
other is told who has it), and a decline only ends an offer that is still open.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ContentType
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import Button, Column, Select, SwitchTo
from aiogram_dialog.widgets.text import Format
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.services import cases, requests, tasks
from bot.services.errors import DomainError, InvalidInput
from bot.transaction import end_transaction
from handlers import keyboards
from handlers.callbacks import CaseCB, RequestCB
from handlers.cases import DECLINE_REASONS, request_card, send_staff_card, staff_markup
from handlers.filters import not_command
from handlers.states import DeclineCase
from handlers.texts import error_text
from handlers.widgets import Lines, MessageInput, Tr, back_button, close_dialogs, session_of, user_of
from models import DeclineReason, User

log = logging.getLogger(__name__)
router = Router(name=__name__)


async def _drop_buttons(query: CallbackQuery) -> None:
    """The offer's buttons go once it is answered (or taken): they would only lead to a refusal."""
    try:
        await query.message.edit_reply_markup(reply_markup=None)
    except TelegramBadRequest as error:  # already without buttons, or too old to edit
        log.debug("offer buttons not removed: %s", error.message)


@router.callback_query(CaseCB.filter(F.action == "accept"))
async def accept_case(
    query: CallbackQuery, callback_data: CaseCB, session: AsyncSession, user: User, clock: Clock, bot: Bot,
    settings: Settings,
) -> None:
    try:
        result = await cases.accept(session, user, callback_data.id, now=clock.now())
    except cases.CaseTaken as error:
        await query.answer(error_text(error), show_alert=True)
        await _drop_buttons(query)
        return
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    request = await requests.get_visible(session, user, result.request.id)  # with its timeline, for the card
    text = request_card(request, user, request.community.timezone or settings.timezone,
                        await tasks.for_request(session, request.id))
    markup = await staff_markup(session, request, user)
    if result.already:
        await query.answer(_("You have already accepted request {number}.").format(number=request.number))
        await _drop_buttons(query)
        return
    # The first Telegram call commits the acceptance: nothing below is said unless it is saved.
    await query.answer(_("Accepted: request {number} is yours.").format(number=request.number))
    await _drop_buttons(query)
    await send_staff_card(bot, query.message.chat.id, request, user, text, markup)


@router.callback_query(CaseCB.filter(F.action == "decline"))
async def decline_case(
    query: CallbackQuery, callback_data: CaseCB, session: AsyncSession, user: User, dialog_manager: DialogManager
) -> None:
    try:
        request, _offer = await cases.pending_offer(session, user, callback_data.id)
    except cases.CaseTaken as error:
        await query.answer(error_text(error), show_alert=True)
        await _drop_buttons(query)
        return
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await query.answer()
    await close_dialogs(dialog_manager)
    # aiogram-dialog takes the pressed message's buttons while the question is open; "Do not decline" puts
    # back what was there: the offer notice's buttons, or a case card's (told apart by their callback data).
    view = RequestCB(action="view", id=request.id).pack()
    from_notice = any(b.callback_data == view for row in (query.message.reply_markup.inline_keyboard
                                                         if query.message.reply_markup else []) for b in row)
    await dialog_manager.start(
        DeclineCase.reason,
        data={"request_id": request.id, "number": request.number, "offer_message_id": query.message.message_id,
              "from_notice": from_notice},
        mode=StartMode.RESET_STACK,
        show_mode=ShowMode.SEND,
    )


async def _decline(manager: DialogManager, reason: DeclineReason, note: str | None) -> DomainError | None:
    """Decline in the dialog's update; the refusal when there is one (words to fix, or the offer is gone)."""
    clock: Clock = manager.middleware_data["clock"]
    session = session_of(manager)
    try:
        await cases.decline(session, user_of(manager), int(manager.start_data["request_id"]), reason, note,
                            now=clock.now())
    except DomainError as error:
        return error
    await end_transaction(session)  # saved before it is reported
    return None


async def _finish(manager: DialogManager, chat_id: int) -> None:
    bot: Bot = manager.middleware_data["bot"]
    offer_message_id = manager.start_data.get("offer_message_id")
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    if offer_message_id:
        try:
            await bot.edit_message_reply_markup(chat_id=chat_id, message_id=int(offer_message_id), reply_markup=None)
        except TelegramBadRequest as error:
            log.debug("offer buttons not removed: %s", error.message)


async def _reason_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    try:
        reason = DeclineReason(item_id)
    except ValueError:  # forged data
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    if reason is DeclineReason.OTHER:
        await manager.switch_to(DeclineCase.note)
        return
    refused = await _decline(manager, reason, None)
    if refused is not None:  # taken or ended meanwhile: say so in place of the question
        await query.answer()
        user = user_of(manager)
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await query.message.edit_text(error_text(refused), reply_markup=keyboards.main_menu(user.roles))
        return
    await query.answer()
    text, user = _declined_text(manager), user_of(manager)
    await _finish(manager, query.message.chat.id)
    await query.message.edit_text(text, reply_markup=keyboards.main_menu(user.roles))


def _declined_text(manager: DialogManager) -> str:
    return _("You declined request {number}. It is being offered to the next social worker.").format(
        number=manager.start_data["number"])


async def _note_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    refused = await _decline(manager, DeclineReason.OTHER, message.text)
    if isinstance(refused, InvalidInput):  # the words: they can type again
        await message.answer(error_text(refused))
        manager.show_mode = ShowMode.SEND
        return
    if refused is not None:  # taken or ended meanwhile: nothing left to decline
        user = user_of(manager)
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await message.answer(error_text(refused), reply_markup=keyboards.main_menu(user.roles))
        return
    text, user = _declined_text(manager), user_of(manager)
    await _finish(manager, message.chat.id)
    await message.answer(text, reply_markup=keyboards.main_menu(user.roles))


async def _not_text(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please type the reason in words."))
    manager.show_mode = ShowMode.SEND


async def _reasons(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    return {
        "number": dialog_manager.start_data["number"],
        "reasons": [(code, _(label)) for code, label in DECLINE_REASONS.items() if code != DeclineReason.OTHER],
    }


async def _cancelled(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    """Not declining after all: the question goes, and the offer gets its buttons back."""
    text = _("Not declined: the offer of request {number} is still yours to answer.").format(
        number=manager.start_data["number"])
    request_id = int(manager.start_data["request_id"])
    offer_message_id = manager.start_data.get("offer_message_id")
    from_notice = bool(manager.start_data.get("from_notice", True))
    bot: Bot = manager.middleware_data["bot"]
    session, user = session_of(manager), user_of(manager)
    markup = keyboards.offer_actions(request_id)
    if not from_notice:
        try:
            markup = await staff_markup(session, await requests.get_visible(session, user, request_id), user)
        except DomainError:
            markup = None
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    if offer_message_id:
        try:
            await bot.edit_message_reply_markup(chat_id=query.message.chat.id, message_id=int(offer_message_id),
                                                reply_markup=markup)
        except TelegramBadRequest as error:
            log.debug("offer buttons not restored: %s", error.message)
    await query.message.edit_text(text)


decline_dialog = Dialog(
    Window(
        Tr("Why do you decline request {number}? It will be offered to the next social worker."),
        Column(
            Select(Format("{item[1]}"), id="reason", item_id_getter=lambda item: item[0], items="reasons",
                   on_click=_reason_chosen),
        ),
        SwitchTo(Tr("✏️ Another reason (type it)"), id="other", state=DeclineCase.note),
        Button(Tr("✖️ Do not decline"), id="keep", on_click=_cancelled),
        state=DeclineCase.reason,
        getter=_reasons,
    ),
    Window(
        Lines(Tr("Please type in a few words why you decline request {number}.")),
        MessageInput(_note_typed, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(_not_text, filter=not_command),
        back_button(),
        state=DeclineCase.note,
        getter=_reasons,
    ),
)

__all__ = ["decline_dialog", "router"]
