"""Running a case in chat: /cases, and the buttons of a case card.

Social workers: start work, message the resident, add an internal note, resolve with
a summary; the station's supervisor or a coordinator hands a case over. Residents:
reply to a worker's message, confirm and rate a resolved case, or reopen it.

Every press is checked again by `bot.services.casework`; words are asked for in
small aiogram-dialog dialogs (one step each, with Cancel), saved before they are
reported.
"""

from __future__ import annotations

import logging
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ContentType
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import Button, Cancel, Column, Radio, Row, ScrollingGroup, Select
from aiogram_dialog.widgets.text import Format
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.services import casework, requests, tasks
from bot.services.cases import CasePolicy
from bot.services.casework import CaseView
from bot.services.errors import N_, DomainError, InvalidInput
from bot.transaction import end_transaction
from handlers import keyboards
from handlers.callbacks import CaseCB, MenuCB, RequestCB
from handlers.cases import request_card, send_staff_card, staff_markup
from handlers.filters import not_command
from handlers.states import Cases, CaseText, HandOver, RateCase
from handlers.texts import error_text, esc, locale, status_label
from handlers.widgets import Lines, MessageInput, Tr, close_dialogs, keep_buttons_of, not_words, session_of, user_of
from models import Urgency, User

log = logging.getLogger(__name__)
router = Router(name=__name__)

# What each text step asks, and the service that takes the words.
PROMPTS = {
    CaseText.note: N_("📝 Type an internal note for request {number}. Only staff see it; the resident never does."),
    CaseText.message: N_("💬 Type your message to the resident about request {number}. The bot passes it on; "
                      "neither of you sees the other's Telegram account."),
    CaseText.resolve: N_("✅ What was done for request {number}? Type a short summary: the resident reads it and is "
                      "asked to confirm and rate the help."),
    CaseText.reply: N_("↩️ Type your answer to the social worker about request {number}."),
    CaseText.reopen: N_("↩️ What is still not solved about request {number}? Type a few words: the social worker "
                     "will take it up again."),
}
DONE = {
    CaseText.note: N_("📝 Note added to request {number}."),
    CaseText.message: N_("💬 Sent to the resident of request {number}."),
    CaseText.resolve: N_("✅ Request {number} is resolved. The resident has been asked to confirm and rate it."),
    CaseText.reply: N_("↩️ Your answer about request {number} was passed on to the social worker."),
    CaseText.reopen: N_("↩️ Request {number} is open again; the social worker has been told."),
}


# --- /cases -------------------------------------------------------------------------------


async def _start_cases(manager: DialogManager) -> None:
    await close_dialogs(manager)
    await manager.start(Cases.browse, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _has_cases(event: Any, user: User | None = None) -> bool:
    return user is not None and bool(casework.views_for(user))


@router.message(Command("cases"), _has_cases)
async def cases_command(message: Message, dialog_manager: DialogManager) -> None:
    await _start_cases(dialog_manager)


@router.callback_query(MenuCB.filter(F.action == "cases"), _has_cases)
async def cases_menu(query: CallbackQuery, dialog_manager: DialogManager) -> None:
    await query.answer()
    await _start_cases(dialog_manager)


@router.message(Command("cases"))
async def cases_not_staff(message: Message) -> None:
    await message.answer(_("/cases is for social workers. To see your own requests, send /my."))


VIEW_LABELS = {
    CaseView.OFFERED: N_("Offered to me ({count})"),
    CaseView.MINE: N_("My open cases ({count})"),
    CaseView.WAITING: N_("Waiting for a social worker ({count})"),
    CaseView.OVERDUE: N_("Overdue ({count})"),
}


async def _cases_getter(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    session, user = session_of(dialog_manager), user_of(dialog_manager)
    views = casework.views_for(user)
    chosen = dialog_manager.find("view").get_checked()
    view = next((v for v in views if v.value == chosen), views[0]) if views else CaseView.OFFERED
    counts = await casework.counts(session, user)
    if not views:  # the roles changed meanwhile
        return {"views": [], "cases": [], "empty": True, "view_name": ""}
    page = await casework.list_cases(session, user, view, per_page=300)
    lang = locale()
    items = [
        (str(r.id), ("🚨 " if r.urgency is Urgency.URGENT else "") + ("⏰ " if r.overdue_at else "")
         + f"{r.number} · {r.category.display_name(lang)} · {status_label(r.status)}")
        for r in page.items
    ]
    return {
        "views": [(v.value, _(VIEW_LABELS[v]).format(count=counts[v])) for v in views],
        "cases": items,
        "empty": not items,
        "view_name": _(VIEW_LABELS[view]).format(count=counts[view]),
    }


async def _case_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    if not item_id.isdigit():
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    user = user_of(manager)
    session = session_of(manager)
    settings: Settings = manager.middleware_data["settings"]
    bot: Bot = manager.middleware_data["bot"]
    try:
        request = await requests.get_visible(session, user, int(item_id))
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    markup = await staff_markup(session, request, user)
    text = request_card(request, user, request.community.timezone or settings.timezone,
                        await tasks.for_request(session, request.id))
    await query.answer()
    manager.show_mode = ShowMode.NO_UPDATE
    await send_staff_card(bot, query.message.chat.id, request, user, text, markup)


async def _view_changed(_query: CallbackQuery, _widget: Any, manager: DialogManager, _item: str) -> None:
    scroll = manager.find("casepages")
    if scroll is not None:
        await scroll.set_page(0)


async def _on_cases_start(_data: Any, manager: DialogManager) -> None:
    views = casework.views_for(user_of(manager))
    if views:
        await manager.find("view").set_checked(views[0].value)


cases_dialog = Dialog(
    Window(
        Lines(
            Tr("🗂 Your cases: {view_name}. Tap one to open it."),
            Tr("Nothing here.", when="empty"),
        ),
        Column(
            Radio(Format("🔘 {item[1]}"), Format("⚪️ {item[1]}"), id="view", item_id_getter=lambda item: item[0],
                  items="views", on_state_changed=_view_changed),
        ),
        ScrollingGroup(
            Select(Format("{item[1]}"), id="case", item_id_getter=lambda item: item[0], items="cases",
                   on_click=_case_chosen),
            id="casepages", width=1, height=6, hide_on_single_page=True,
        ),
        Cancel(Tr("✖️ Close")),
        state=Cases.browse,
        getter=_cases_getter,
    ),
    on_start=_on_cases_start,
)


# --- a case's buttons ----------------------------------------------------------------------


async def _text_step(query: CallbackQuery, manager: DialogManager, state: Any, request_id: int, number: str) -> None:
    await query.answer()
    keep_buttons_of(query.message.message_id)  # the card's other actions stay usable
    await close_dialogs(manager)
    await manager.start(state, data={"request_id": request_id, "number": number}, mode=StartMode.RESET_STACK,
                        show_mode=ShowMode.SEND)


@router.callback_query(CaseCB.filter(F.action == "start"))
async def start_work(query: CallbackQuery, callback_data: CaseCB, session: AsyncSession, user: User,
                     clock: Clock) -> None:
    try:
        await requests.get_visible(session, user, callback_data.id)  # who may not see it learns nothing of it
        request = await casework.start_work(session, user, callback_data.id, now=clock.now())
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await query.answer(_("Request {number} is in progress; the resident has been told.").format(number=request.number),
                       show_alert=True)
    await query.message.edit_reply_markup(reply_markup=keyboards.case_actions(
        request, offered=False, holder=True, manager=casework.can_manage(user, request)))


@router.callback_query(CaseCB.filter(F.action.in_({"note", "message", "resolve"})))
async def ask_for_words(query: CallbackQuery, callback_data: CaseCB, session: AsyncSession, user: User,
                        dialog_manager: DialogManager) -> None:
    """Checked before anything is typed: who may act on this case, and whether it is still open."""
    try:
        request = await requests.get_visible(session, user, callback_data.id)
        if callback_data.action == "note":
            casework.require_note_permission(user, request)
        else:
            await casework.held_by(session, user, request.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    state = {"note": CaseText.note, "message": CaseText.message, "resolve": CaseText.resolve}[callback_data.action]
    await _text_step(query, dialog_manager, state, request.id, request.number)


async def _own_request(query: CallbackQuery, session: AsyncSession, user: User, request_id: int) -> Any:
    """The request if this person filed it; else None, with the reason already shown."""
    try:
        request = await requests.get_visible(session, user, request_id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return None
    if request.resident_id != user.id:
        await query.answer(_("Only the person who filed a request can do this."), show_alert=True)
        return None
    return request


@router.callback_query(RequestCB.filter(F.action.in_({"reply", "reopen"})))
async def resident_words(query: CallbackQuery, callback_data: RequestCB, session: AsyncSession, user: User,
                         dialog_manager: DialogManager) -> None:
    request = await _own_request(query, session, user, callback_data.id)
    if request is None:
        return
    if callback_data.action == "reopen" and not casework.can_reopen(request):
        await query.answer(_("Request {number} can be reopened only while it is resolved and not yet closed. "
                             "Please send /new if you need help again.").format(number=request.number),
                           show_alert=True)
        return
    if callback_data.action == "reply" and not casework.holds_any(request):
        await query.answer(_("Request {number} is not being handled by a social worker now; to add something, "
                             "open it with /my.").format(number=request.number), show_alert=True)
        return
    state = CaseText.reply if callback_data.action == "reply" else CaseText.reopen
    await _text_step(query, dialog_manager, state, request.id, request.number)


async def _words_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    state = manager.current_context().state
    session = session_of(manager)
    user = user_of(manager)
    clock: Clock = manager.middleware_data["clock"]
    policy: CasePolicy = manager.middleware_data["case_policy"]
    request_id = int(manager.start_data["request_id"])
    number = manager.start_data["number"]
    now = clock.now()
    try:
        if state == CaseText.note:
            await casework.add_note(session, user, request_id, message.text, now=now)
        elif state == CaseText.message:
            await casework.message_resident(session, user, request_id, message.text, now=now)
        elif state == CaseText.resolve:
            await casework.resolve(session, user, request_id, message.text, now=now, policy=policy)
        elif state == CaseText.reply:
            await casework.reply_to_worker(session, user, request_id, message.text, now=now)
        else:
            await casework.reopen(session, user, request_id, message.text, now=now, policy=policy)
    except InvalidInput as error:  # the step stays: they can type again
        await message.answer(error_text(error))
        manager.show_mode = ShowMode.SEND
        return
    except DomainError as error:  # the case changed meanwhile: nothing to type any more
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await message.answer(error_text(error), reply_markup=keyboards.main_menu(user.roles))
        return
    await end_transaction(session)  # saved before it is reported
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await message.answer(_(DONE[state]).format(number=esc(number)), reply_markup=keyboards.main_menu(user.roles))


async def _words_cancelled(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Cancelled: nothing was sent or saved."))


async def _number(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    return {"number": esc(dialog_manager.start_data["number"])}


def _text_window(state: Any) -> Window:
    return Window(
        Tr(PROMPTS[state]),
        MessageInput(_words_given, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        Button(Tr("✖️ Cancel"), id="cancel", on_click=_words_cancelled),
        state=state,
        getter=_number,
    )


case_text_dialog = Dialog(*(_text_window(state) for state in PROMPTS))


# --- hand-over -----------------------------------------------------------------------------------


@router.callback_query(CaseCB.filter(F.action == "handover"))
async def ask_whom(query: CallbackQuery, callback_data: CaseCB, session: AsyncSession, user: User, clock: Clock,
                   dialog_manager: DialogManager) -> None:
    try:
        request = await requests.get_visible(session, user, callback_data.id)
        today = casework.cases.routing.local_date(clock.now(), request.community.timezone)
        candidates = await casework.handover_candidates(session, user, request.id, today=today)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    if not candidates:
        await query.answer(_("There is no other social worker for this community to hand it to."), show_alert=True)
        return
    await query.answer()
    keep_buttons_of(query.message.message_id)
    await close_dialogs(dialog_manager)
    await dialog_manager.start(HandOver.choose, data={"request_id": request.id, "number": request.number},
                               mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _candidates(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    clock: Clock = dialog_manager.middleware_data["clock"]
    session, user = session_of(dialog_manager), user_of(dialog_manager)
    request_id = int(dialog_manager.start_data["request_id"])
    request = await casework.get_request(session, request_id)
    today = casework.cases.routing.local_date(clock.now(), request.community.timezone)
    try:
        people = await casework.handover_candidates(session, user, request_id, today=today)
    except DomainError:
        people = []
    on_duty = _("on duty")
    off_duty = _("off duty")
    return {
        "number": esc(dialog_manager.start_data["number"]),
        "people": [(str(p.id), f"{p.real_name or p.display_name} · "
                    f"{on_duty if p.social_worker and p.social_worker.on_duty else off_duty}") for p in people],
    }


async def _handed(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    session, user = session_of(manager), user_of(manager)
    clock: Clock = manager.middleware_data["clock"]
    policy: CasePolicy = manager.middleware_data["case_policy"]
    number = manager.start_data["number"]
    try:
        if not item_id.isdigit():
            raise InvalidInput(casework.NOT_A_CANDIDATE)
        request = await casework.hand_over(session, user, int(manager.start_data["request_id"]), int(item_id),
                                           now=clock.now(), policy=policy)
    except InvalidInput as error:
        await query.answer(error_text(error), show_alert=True)
        return
    except DomainError as error:
        await query.answer()
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await query.message.edit_text(error_text(error))
        return
    holder = await session.get(User, request.assigned_worker_id)
    name = esc(holder.real_name or holder.display_name) if holder else "—"
    await end_transaction(session)
    await query.answer()
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("🔁 Request {number} is now with {name}; they and the resident have been told.")
                                  .format(number=esc(number), name=name))


handover_dialog = Dialog(
    Window(
        Tr("🔁 To whom should request {number} go? They will hold it at once."),
        ScrollingGroup(
            Select(Format("{item[1]}"), id="whom", item_id_getter=lambda item: item[0], items="people",
                   on_click=_handed),
            id="whompages", width=1, height=8, hide_on_single_page=True,
        ),
        Button(Tr("✖️ Cancel"), id="cancel", on_click=_words_cancelled),
        state=HandOver.choose,
        getter=_candidates,
    ),
)


# --- confirm and rate ----------------------------------------------------------------------------


@router.callback_query(RequestCB.filter(F.action == "rate"))
async def ask_rating(query: CallbackQuery, callback_data: RequestCB, session: AsyncSession, user: User,
                     dialog_manager: DialogManager) -> None:
    request = await _own_request(query, session, user, callback_data.id)
    if request is None:
        return
    if not casework.can_rate(request):
        text = (_("You have already rated request {number}. Thank you!") if request.rating is not None
                else _("Request {number} can be rated once it is resolved."))
        await query.answer(text.format(number=request.number), show_alert=True)
        return
    await query.answer()
    keep_buttons_of(query.message.message_id)
    await close_dialogs(dialog_manager)
    await dialog_manager.start(RateCase.stars, data={"request_id": request.id, "number": request.number},
                               mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _stars_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    if item_id not in {"1", "2", "3", "4", "5"}:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    manager.dialog_data["stars"] = int(item_id)
    await manager.switch_to(RateCase.comment)


async def _save_rating(manager: DialogManager, comment: str | None) -> str | None:
    session, user = session_of(manager), user_of(manager)
    clock: Clock = manager.middleware_data["clock"]
    try:
        await casework.rate(session, user, int(manager.start_data["request_id"]), int(manager.dialog_data["stars"]),
                            comment, now=clock.now())
    except DomainError as error:
        return error_text(error)
    await end_transaction(session)
    return None


async def _comment_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    refused = await _save_rating(manager, message.text)
    if refused is not None:
        await message.answer(refused)
        manager.show_mode = ShowMode.SEND
        return
    user = user_of(manager)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await message.answer(_("⭐ Thank you! Your rating helps the station do better."),
                         reply_markup=keyboards.main_menu(user.roles))


async def _no_comment(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    refused = await _save_rating(manager, None)
    if refused is not None:
        await query.answer(refused, show_alert=True)
        return
    user = user_of(manager)
    await query.answer()
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("⭐ Thank you! Your rating helps the station do better."),
                                  reply_markup=keyboards.main_menu(user.roles))


async def _star_items(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    return {
        "number": esc(dialog_manager.start_data["number"]),
        "stars": [(str(n), "⭐" * n) for n in range(5, 0, -1)],
        "chosen": "⭐" * int(dialog_manager.dialog_data.get("stars") or 0),
    }


rate_dialog = Dialog(
    Window(
        Tr("How satisfied are you with the help for request {number}? 5 stars is the best."),
        Column(Select(Format("{item[1]}"), id="stars", item_id_getter=lambda item: item[0], items="stars",
                      on_click=_stars_chosen)),
        Button(Tr("✖️ Cancel"), id="cancel", on_click=_words_cancelled),
        state=RateCase.stars,
        getter=_star_items,
    ),
    Window(
        Tr("{chosen} Would you like to add a comment? Type it, or tap “No comment”."),
        MessageInput(_comment_given, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        Row(Button(Tr("No comment"), id="nocomment", on_click=_no_comment)),
        state=RateCase.comment,
        getter=_star_items,
    ),
)

__all__ = ["case_text_dialog", "cases_dialog", "handover_dialog", "rate_dialog", "router"]

