"""/checkin and /checkout: a volunteer's arrival and departure, from the commands or the reminders' buttons.

Check-in asks for a location with a reply-keyboard button (optional: "Check in without
location" goes on); `bot.services.records` compares it with the task's place and flags a
far one for the social worker. Check-out records the minutes served. Every press is
checked again by the service: whose place it is, the time window, twice, out without in.
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.input import MessageInput
from aiogram_dialog.widgets.kbd import Button, RequestLocation
from aiogram_dialog.widgets.markup.reply_keyboard import ReplyKeyboardFactory
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.i18n import format_local_time
from bot.services import records
from bot.services.errors import DomainError
from bot.services.tasks import TaskPolicy
from bot.transaction import end_transaction
from handlers.callbacks import RecordCB
from handlers.filters import not_command
from handlers.states import CheckIn
from handlers.texts import error_text, esc, locale
from handlers.widgets import Lines, Tr, close_dialogs, keep_buttons_of, session_of, user_of
from models import Role, User

router = Router(name=__name__)


def _short(title: str) -> str:
    return title if len(title) <= 24 else title[:23] + "…"


@router.message(Command("checkin"))
async def checkin_command(message: Message, session: AsyncSession, user: User, clock: Clock) -> None:
    if not user.has_role(Role.VOLUNTEER):
        await message.answer(_("/checkin is for volunteers with a place in a task. To volunteer, send /volunteer."))
        return
    places = await records.open_for_checkin(session, user, now=clock.now())
    if not places:
        await message.answer(_("No task is open for check-in now: it opens 30 minutes before a task starts. Send "
                               "/tasks to see yours."))
        return
    builder = InlineKeyboardBuilder()
    for assignment, task in places:
        builder.row(InlineKeyboardButton(text=_("📍 Check in: {title}").format(title=_short(task.title)),
                                         callback_data=RecordCB(action="in", id=assignment.id).pack()))
    await message.answer(_("Which task are you checking in to?"), reply_markup=builder.as_markup())


@router.message(Command("checkout"))
async def checkout_command(message: Message, session: AsyncSession, user: User) -> None:
    open_ = await records.open_records(session, user)
    if not open_:
        await message.answer(_("You are not checked in to any task, so there is nothing to check out of. Check in "
                               "with /checkin when you arrive."))
        return
    builder = InlineKeyboardBuilder()
    for record, task in open_:
        builder.row(InlineKeyboardButton(text=_("🏁 Check out: {title}").format(title=_short(task.title)),
                                         callback_data=RecordCB(action="out", id=record.assignment_id).pack()))
    await message.answer(_("Which task are you checking out of?"), reply_markup=builder.as_markup())


@router.callback_query(RecordCB.filter(F.action == "in"))
async def checkin_pressed(query: CallbackQuery, callback_data: RecordCB, session: AsyncSession, user: User,
                          clock: Clock, dialog_manager: DialogManager) -> None:
    try:
        task = await records.check_checkin(session, user, callback_data.id, now=clock.now())
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await query.answer()
    keep_buttons_of(query.message.message_id)
    await close_dialogs(dialog_manager)
    await dialog_manager.start(CheckIn.location, data={"assignment": callback_data.id, "title": task.title,
                                                       "tz": task.community.timezone},
                               mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _check_in(event: Message | CallbackQuery, manager: DialogManager,
                    location: tuple[float, float] | None) -> None:
    clock: Clock = manager.middleware_data["clock"]
    policy: TaskPolicy = manager.middleware_data["task_policy"]
    session, user = session_of(manager), user_of(manager)
    message = event if isinstance(event, Message) else event.message
    try:
        record = await records.check_in(session, user, int(manager.start_data["assignment"]), now=clock.now(),
                                        policy=policy, location=location)
    except DomainError as error:
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await message.answer(error_text(error), reply_markup=ReplyKeyboardRemove())
        return
    when, distance, far = record.checked_in_at, record.distance_m, record.flagged == "far"
    title, tz = manager.start_data["title"], manager.start_data.get("tz") or "Asia/Shanghai"
    await end_transaction(session)  # saved before it is reported
    if isinstance(event, CallbackQuery):
        await event.answer()
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    lines = [_("✅ Checked in to “{title}” at {time}. When you finish, send /checkout.").format(
        title=esc(title), time=format_local_time(when, locale(), tz))]
    if far:
        lines.append(_("You seem to be {distance} from the task's place; the social worker has been told.").format(
            distance=records.distance_text(distance)))
    await message.answer("\n".join(lines), reply_markup=ReplyKeyboardRemove())


async def _location_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    await _check_in(message, manager, (message.location.latitude, message.location.longitude))


async def _without_location(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await _check_in(query, manager, None)


async def _cancelled(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.answer(_("Not checked in. Check in with /checkin when you arrive."),
                               reply_markup=ReplyKeyboardRemove())


async def _use_the_buttons(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please tap “📍 Send my location”, or check in without it."))
    manager.show_mode = ShowMode.SEND


async def _title(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    return {"title": esc(dialog_manager.start_data["title"])}


checkin_dialog = Dialog(
    Window(
        Lines(Tr("📍 Checking in to “{title}”."),
              Tr("Send your location so the social worker knows you have arrived, or check in without it.")),
        MessageInput(_location_given, content_types=[ContentType.LOCATION]),
        MessageInput(_use_the_buttons, filter=not_command),
        RequestLocation(Tr("📍 Send my location")),
        Button(Tr("✅ Check in without location"), id="nolocation", on_click=_without_location),
        Button(Tr("✖️ Cancel"), id="cancel", on_click=_cancelled),
        markup_factory=ReplyKeyboardFactory(resize_keyboard=True),
        state=CheckIn.location,
        getter=_title,
    ),
)


@router.callback_query(RecordCB.filter(F.action == "out"))
async def checkout_pressed(query: CallbackQuery, callback_data: RecordCB, session: AsyncSession, user: User,
                           clock: Clock) -> None:
    try:
        record = await records.check_out(session, user, callback_data.id, now=clock.now())
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    minutes = record.minutes or 0
    await end_transaction(session)
    await query.answer()
    await query.message.edit_text(
        _("🏁 Checked out: {hours} hours served. The social worker will verify them; you will be told.").format(
            hours=records.hours(minutes)))


__all__ = ["checkin_dialog", "router"]
