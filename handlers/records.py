"""/checkin and /checkout: a volunteer's arrival and departure, from the commands or the reminders' buttons.

Check-in asks for a location with a reply-keyboard button (optional: "Check in without
location" goes on); `bot.services.records` compares it with the task's place and flags a
far one for the social worker. Check-out records the minutes served. Every press is
checked again by the service: whose place it is, the time window, twice, out without in.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.filters import Command, CommandObject
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import Button, RequestLocation, ScrollingGroup, Select, SwitchTo
from aiogram_dialog.widgets.markup.reply_keyboard import ReplyKeyboardFactory
from aiogram_dialog.widgets.text import Format
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import format_local_time
from bot.services import certificates, exports, records
from bot.services.errors import N_, DomainError, InvalidInput
from bot.services.tasks import TaskPolicy
from bot.transaction import end_transaction
from handlers.callbacks import ExportCB, RecordCB, TaskCB
from handlers.filters import not_command
from handlers.states import CheckIn, RecordCorrection, RecordReview
from handlers.texts import error_text, esc, locale
from handlers.widgets import (
    Lines,
    MessageInput,
    Tr,
    close_dialogs,
    keep_buttons_of,
    not_words,
    refuse_step,
    session_of,
    user_of,
)
from models import COUNTED, RecordStatus, Role, ServiceRecord, User, Volunteer

log = logging.getLogger(__name__)
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
    # A reply-keyboard button's press arrives as a callback that cannot answer or reply: speak through the bot.
    bot, chat_id = manager.middleware_data["bot"], manager.middleware_data["event_chat"].id
    try:
        record = await records.check_in(session, user, int(manager.start_data["assignment"]), now=clock.now(),
                                        policy=policy, location=location)
    except DomainError as error:
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await bot.send_message(chat_id, error_text(error), reply_markup=ReplyKeyboardRemove())
        return
    when, distance, far = record.checked_in_at, record.distance_m, record.flagged == "far"
    title, tz = manager.start_data["title"], manager.start_data.get("tz") or "Asia/Shanghai"
    await end_transaction(session)  # saved before it is reported
    # (A reply-keyboard button's press arrives as a message dressed as a callback: nothing to answer.)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    lines = [_("✅ Checked in to “{title}” at {time}. When you finish, send /checkout.").format(
        title=esc(title), time=format_local_time(when, locale(), tz))]
    if far:
        lines.append(_("You seem to be {distance} from the task's place; the social worker has been told.").format(
            distance=records.distance_text(distance)))
    await bot.send_message(chat_id, "\n".join(lines), reply_markup=ReplyKeyboardRemove())


async def _location_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    await _check_in(message, manager, (message.location.latitude, message.location.longitude))


async def _without_location(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await _check_in(query, manager, None)


async def _cancelled(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await manager.middleware_data["bot"].send_message(
        manager.middleware_data["event_chat"].id, _("Not checked in. Check in with /checkin when you arrive."),
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




# --- the social worker verifies, adjusts or rejects; the volunteer may ask for a correction ------------------------


@router.callback_query(TaskCB.filter(F.action == "verify"))
async def verify_list(query: CallbackQuery, callback_data: TaskCB, session: AsyncSession, user: User,
                      dialog_manager: DialogManager) -> None:
    try:
        waiting = await records.to_verify(session, user, callback_data.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    if not waiting:
        await query.answer(_("No record of this task is waiting for you."), show_alert=True)
        return
    await query.answer()
    keep_buttons_of(query.message.message_id)
    await close_dialogs(dialog_manager)
    await dialog_manager.start(RecordReview.pick, data={"task": callback_data.id}, mode=StartMode.RESET_STACK,
                               show_mode=ShowMode.SEND)


@router.callback_query(RecordCB.filter(F.action == "review"))
async def review_one(query: CallbackQuery, callback_data: RecordCB, session: AsyncSession, user: User,
                     dialog_manager: DialogManager) -> None:
    try:
        task, _record, _volunteer = await records.for_review(session, user, callback_data.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await query.answer()
    keep_buttons_of(query.message.message_id)
    await close_dialogs(dialog_manager)
    await dialog_manager.start(RecordReview.record, data={"task": task.id, "record": callback_data.id},
                               mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _waiting(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    try:
        rows = await records.to_verify(session_of(dialog_manager), user_of(dialog_manager),
                                       int(dialog_manager.start_data["task"]))
    except DomainError:
        rows = []
    items = []
    for record, volunteer in rows:
        served = _("{hours} h").format(hours=records.hours(record.minutes)) if record.minutes else _("no check-out")
        items.append((str(record.id), f"{volunteer.real_name} · {served}"))
    return {"items": items, "empty": not items}


async def _record_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    if not item_id.isdigit():
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    manager.dialog_data["record"] = int(item_id)
    await manager.switch_to(RecordReview.record)


def _record_id(manager: DialogManager) -> int:
    return int(manager.dialog_data.get("record") or manager.start_data.get("record") or 0)


async def _one(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    try:
        task, record, volunteer = await records.for_review(session_of(dialog_manager), user_of(dialog_manager),
                                                           _record_id(dialog_manager))
    except DomainError as error:
        return {"text": error_text(error), "open": False, "served": False}
    tz = task.community.timezone
    lines = [f"🧾 <b>{esc(volunteer.real_name)}</b> · {volunteer.volunteer_number or '—'}",
             _("Task: {title}").format(title=esc(task.title)),
             _("Checked in: {time}").format(time=format_local_time(record.checked_in_at, locale(), tz))
             + (f" · {records.distance_text(record.distance_m)}" if record.distance_m is not None else "")
             + (" ⚠️" if record.flagged == "far" else "")]
    if record.checked_out_at is not None:
        lines.append(_("Checked out: {time}").format(time=format_local_time(record.checked_out_at, locale(), tz)))
        lines.append(_("Served: {hours} hours").format(hours=records.hours(record.minutes or 0)))
    else:
        lines.append(_("⚠️ never checked out"))
    if record.correction_note:
        lines.append(_("The volunteer asks for a correction: “{note}”").format(note=esc(record.correction_note)))
    if record.status in records.DECIDED:
        lines.append(_("Already decided."))
    return {"text": "\n".join(lines), "open": record.status in records.TO_VERIFY,
            "served": record.status in records.TO_VERIFY and record.minutes is not None}


async def _verified(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    clock: Clock = manager.middleware_data["clock"]
    session = session_of(manager)
    try:
        record = await records.verify(session, user_of(manager), _record_id(manager), now=clock.now())
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    minutes = record.verified_minutes or 0
    await end_transaction(session)
    await query.answer(_("Verified: {hours} hours count. The volunteer has been told.").format(
        hours=records.hours(minutes)), show_alert=True)
    await _next_or_done(query, manager)


async def _next_or_done(query: CallbackQuery, manager: DialogManager) -> None:
    if await _waiting_count(manager):
        manager.dialog_data.pop("record", None)
        await manager.switch_to(RecordReview.pick)
    else:
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await query.message.edit_text(_("All records of this task are decided."))


async def _waiting_count(manager: DialogManager) -> int:
    try:
        return len(await records.to_verify(session_of(manager), user_of(manager), int(manager.start_data["task"])))
    except DomainError:
        return 0


async def _hours_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    from handlers.training import parse_minutes

    try:
        manager.dialog_data["minutes"] = records.check_minutes(parse_minutes(message.text))
    except DomainError as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(RecordReview.adjust_reason, show_mode=ShowMode.SEND)


async def _reason_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    clock: Clock = manager.middleware_data["clock"]
    session, user = session_of(manager), user_of(manager)
    adjusting = manager.current_context().state == RecordReview.adjust_reason
    try:
        if adjusting:
            record = await records.adjust(session, user, _record_id(manager), int(manager.dialog_data["minutes"]),
                                          message.text, now=clock.now())
        else:
            record = await records.reject(session, user, _record_id(manager), message.text, now=clock.now())
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    except DomainError as error:
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await message.answer(error_text(error))
        return
    minutes = record.verified_minutes or 0
    await end_transaction(session)
    await message.answer(_("Adjusted: {hours} hours count. The volunteer has been told why.").format(
        hours=records.hours(minutes)) if adjusting else _("Rejected: nothing counts. The volunteer has been told why."))
    if await _waiting_count(manager):
        manager.dialog_data.pop("record", None)
        await manager.switch_to(RecordReview.pick, show_mode=ShowMode.SEND)
    else:
        await manager.done(show_mode=ShowMode.NO_UPDATE)


async def _review_closed(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Closed: the records wait for you in the task's card."))


review_dialog = Dialog(
    Window(
        Lines(Tr("🧾 Records waiting for your decision. Tap one."), Tr("None.", when="empty")),
        ScrollingGroup(Select(Format("{item[1]}"), id="rec", item_id_getter=lambda i: i[0], items="items",
                              on_click=_record_chosen), id="recpages", width=1, height=8, hide_on_single_page=True),
        Button(Tr("✖️ Close"), id="close", on_click=_review_closed),
        state=RecordReview.pick,
        getter=_waiting,
    ),
    Window(
        Format("{text}"),
        Button(Tr("✔️ Verify as recorded"), id="verify", on_click=_verified, when="served"),
        SwitchTo(Tr("✏️ Adjust the hours"), id="adjust", state=RecordReview.adjust_hours, when="open"),
        SwitchTo(Tr("✖️ Reject"), id="reject", state=RecordReview.reject_reason, when="open"),
        SwitchTo(Tr("⬅️ All records"), id="list", state=RecordReview.pick),
        state=RecordReview.record,
        getter=_one,
    ),
    Window(
        Tr("How many hours should count? Type them, like 1.5 or 90分钟."),
        MessageInput(_hours_typed, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        SwitchTo(Tr("⬅️ Back"), id="back", state=RecordReview.record),
        state=RecordReview.adjust_hours,
    ),
    Window(
        Tr("Why? The volunteer reads it and may ask for a correction."),
        MessageInput(_reason_typed, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        SwitchTo(Tr("⬅️ Back"), id="back", state=RecordReview.record),
        state=RecordReview.adjust_reason,
    ),
    Window(
        Tr("Why is this record not counted? The volunteer reads it and may ask for a correction."),
        MessageInput(_reason_typed, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        SwitchTo(Tr("⬅️ Back"), id="back", state=RecordReview.record),
        state=RecordReview.reject_reason,
    ),
)


@router.callback_query(RecordCB.filter(F.action == "correct"))
async def ask_correction(query: CallbackQuery, callback_data: RecordCB, session: AsyncSession, user: User,
                         dialog_manager: DialogManager) -> None:
    record = await session.get(ServiceRecord, callback_data.id)
    if record is None or record.volunteer_id != user.id:
        await query.answer(_("This record is someone else's."), show_alert=True)
        return
    if record.status not in records.DECIDED:
        await query.answer(_("This record is still with the social worker: you will be told when it is decided."),
                           show_alert=True)
        return
    await query.answer()
    keep_buttons_of(query.message.message_id)
    await close_dialogs(dialog_manager)
    await dialog_manager.start(RecordCorrection.note, data={"record": record.id}, mode=StartMode.RESET_STACK,
                               show_mode=ShowMode.SEND)


async def _correction_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    clock: Clock = manager.middleware_data["clock"]
    session = session_of(manager)
    try:
        await records.request_correction(session, user_of(manager), int(manager.start_data["record"]), message.text,
                                         now=clock.now())
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    except DomainError as error:
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await message.answer(error_text(error))
        return
    await end_transaction(session)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await message.answer(_("Sent: the social worker will look at your record again and you will be told."))


async def _correction_cancelled(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Cancelled: nothing was sent or saved."))


correction_dialog = Dialog(
    Window(
        Tr("What should be corrected? Say it in a few words, like “I stayed until 12:00”."),
        MessageInput(_correction_typed, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        Button(Tr("✖️ Cancel"), id="cancel", on_click=_correction_cancelled),
        state=RecordCorrection.note,
    ),
)


# --- /hours ------------------------------------------------------------------------------------------------


STATE_MARKS = {
    RecordStatus.CHECKED_IN: N_("serving now"),
    RecordStatus.PENDING: N_("waiting for verification"),
    RecordStatus.CORRECTION: N_("correction asked"),
    RecordStatus.NO_CHECKOUT: N_("no check-out: waiting for the social worker"),
    RecordStatus.VERIFIED: N_("verified"),
    RecordStatus.ADJUSTED: N_("adjusted"),
    RecordStatus.REJECTED: N_("not counted"),
}


@router.message(Command("hours"))
async def hours_command(message: Message, session: AsyncSession, user: User, clock: Clock) -> None:
    volunteer = await session.get(Volunteer, user.id)
    if volunteer is None:
        await message.answer(_("/hours shows a volunteer's service hours. To volunteer, send /volunteer."))
        return
    tz = volunteer.community.timezone
    found = await records.summary(session, user, now=clock.now(), tz=tz)
    lines = [
        _("⏱ Your verified service hours: {total} in all, {year_hours} in {year}.").format(
            total=records.hours(found.total_minutes), year_hours=records.hours(found.year_minutes), year=found.year),
        _("Only hours verified by a social worker count."),
    ]
    if found.waiting:
        lines.append(_("{count} record(s) still waiting for a social worker.").format(count=found.waiting))
    if not found.latest:
        lines.append(_("No service recorded yet: check in and out of your tasks with /checkin and /checkout."))
    else:
        lines.append("")
        lines.append(_("Your latest records:"))
        for record, task in found.latest:
            minutes = record.verified_minutes if record.status in COUNTED else record.minutes
            shown = _("{hours} h").format(hours=records.hours(minutes)) if minutes else "—"
            lines.append(f"• {format_local_time(record.checked_in_at, locale(), tz)} · {esc(task.title)} · {shown} "
                         f"({_(STATE_MARKS[record.status])})")
    await message.answer("\n".join(lines))



# --- /export: the verified records of a period as a workbook ------------------------------------------------------

PERIODS = {"this_month": N_("This month"), "last_month": N_("Last month"), "this_year": N_("This year")}


def _period(code: str, today: date) -> tuple[date, date]:
    if code == "this_month":
        return today.replace(day=1), today
    if code == "last_month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    return date(today.year, 1, 1), today


def _zone_of(user: User) -> str:
    worker = user.social_worker
    home = worker.home_community if worker is not None else None
    return home.timezone if home is not None else "Asia/Shanghai"


async def _send_export(message: Message, session: AsyncSession, user: User, start: date, end: date) -> None:
    try:
        made = await exports.export_records(session, user, start, end, tz=_zone_of(user), gettext=_)
    except DomainError as error:
        await message.answer(error_text(error))
        return
    if not made.rows:
        await message.answer(_("No verified service records from {start} to {end}.").format(start=start, end=end))
        return
    await message.answer_document(
        BufferedInputFile(made.content, filename=made.filename),
        caption=_("Verified service records from {start} to {end}: {count} rows, for the national volunteer "
                  "service information system.").format(start=start, end=end, count=made.rows))


@router.message(Command("export"))
async def export_command(message: Message, command: CommandObject, session: AsyncSession, user: User,
                         clock: Clock) -> None:
    if not (user.has_role(Role.SOCIAL_WORKER) or user.has_role(Role.COORDINATOR)):
        await message.answer(_("/export is for social workers and coordinators."))
        return
    if command.args:
        parts = command.args.split()
        try:
            start, end = (date.fromisoformat(p) for p in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            start = end = None
        if start is None or end is None:
            await message.answer(_("Type the period like /export 2026-11-01 2026-11-30, or choose one:"),
                                 reply_markup=_periods_markup())
            return
        await _send_export(message, session, user, start, end)
        return
    await message.answer(_("Which period? The workbook holds every verified record, one row each."),
                         reply_markup=_periods_markup())


def _periods_markup() -> Any:
    builder = InlineKeyboardBuilder()
    for code, label in PERIODS.items():
        builder.button(text=_(label), callback_data=ExportCB(period=code).pack())
    builder.adjust(3)
    return builder.as_markup()


@router.callback_query(ExportCB.filter())
async def export_pressed(query: CallbackQuery, callback_data: ExportCB, session: AsyncSession, user: User,
                         clock: Clock) -> None:
    if callback_data.period not in PERIODS:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    if not (user.has_role(Role.SOCIAL_WORKER) or user.has_role(Role.COORDINATOR)):
        await query.answer(_("/export is for social workers and coordinators."), show_alert=True)
        return
    await query.answer()
    today = clock.now().astimezone(ZoneInfo(_zone_of(user))).date()
    start, end = _period(callback_data.period, today)
    await _send_export(query.message, session, user, start, end)


# --- certificates -------------------------------------------------------------------------------------------------


@router.message(Command("certificate"))
async def certificate_command(message: Message, session: AsyncSession, user: User, clock: Clock,
                              settings: Settings, i18n: I18n) -> None:
    try:
        font = certificates.find_font(settings.certificate_font)
        issued = await certificates.issue(session, user, now=clock.now())
    except certificates.FontMissing as error:
        log.error("no CJK font for certificates: set CERTIFICATE_FONT or install fonts-wqy-microhei")
        await message.answer(error_text(error))
        return
    except DomainError as error:
        await message.answer(error_text(error))
        return
    certificate, volunteer = issued.certificate, issued.volunteer
    pdf = certificates.render_pdf(certificate, volunteer, font, zh=lambda m: i18n.gettext(m, locale="zh_CN"),
                                  en=lambda m: i18n.gettext(m, locale="en"))
    number, code, total = certificate.number, certificate.code, records.hours(certificate.minutes)
    await end_transaction(session)  # the certificate exists before it is sent
    await message.answer_document(
        BufferedInputFile(pdf, filename=f"{number}.pdf"),
        caption=_("📜 Your certificate of volunteer service: {hours} verified hours. Number {number}, check code "
                  "{code}: anyone can check it with /verify {number} {code}.").format(hours=total, number=number,
                                                                                      code=code))


@router.message(Command("verify"))
async def verify_command(message: Message, command: CommandObject, session: AsyncSession) -> None:
    parts = (command.args or "").split()
    if not parts or len(parts) > 2:
        await message.answer(_("Send the certificate's number and check code, like /verify LL-2026-000001 ABC234."))
        return
    found = await certificates.check(session, parts[0], parts[1] if len(parts) == 2 else None)
    if found is None:
        await message.answer(_("✖️ No certificate with this number and check code was issued by Linli: it is not "
                               "genuine, or it was mistyped."))
        return
    await message.answer(_(certificates.GENUINE).format(**{k: esc(v) for k, v in
                                                         certificates.summary_params(found).items()}))


__all__ = ["checkin_dialog", "correction_dialog", "review_dialog", "router"]
