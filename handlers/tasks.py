"""Volunteer tasks in chat: a social worker creates one (from a case, or a group or community
activity) and runs it from its card; volunteers answer offers and reminders.

- `/tasks`: a social worker's tasks (a coordinator's: all) with "➕ New activity"; a
  volunteer's places, waitlist spots and open offers, with their buttons.
- The case card's "🙋 Ask volunteers" (for the worker who holds the case) and "➕ New
  activity" start the same aiogram-dialog flow: title, place (words, and a location if
  shared), day (a calendar that starts at the clock's today, or typed), start time and
  length (buttons, or typed), people needed, skills, then a summary to confirm.
- The task card (`TaskCB`): who is coming (names and phones for staff), the waitlist,
  open offers; add a volunteer directly, offer to more, cancel with a reason.
- Offer and reminder notices carry `AssignmentCB` buttons: Accept, Decline, Still coming,
  I can't come (asked twice: a place given up is given to the next person).

Every press is checked again by `bot.services.tasks`; callback data only names things.
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import (
    Back,
    Button,
    Calendar,
    Cancel,
    Column,
    Group,
    Multiselect,
    Row,
    ScrollingGroup,
    Select,
)
from aiogram_dialog.widgets.kbd.calendar_kbd import (
    CalendarDaysView,
    CalendarMonthView,
    CalendarScope,
    CalendarUserConfig,
    CalendarYearsView,
)
from aiogram_dialog.widgets.text import Format, Text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.i18n import format_local_period, format_local_time
from bot.services import records, requests, tasks, volunteers
from bot.services.errors import N_, DomainError, InvalidInput
from bot.services.tasks import TaskForm, TaskPolicy
from bot.transaction import end_transaction
from handlers.callbacks import AssignmentCB, CaseCB, MenuCB, TaskCB
from handlers.filters import not_command
from handlers.states import TaskAdd, TaskCancel, TaskCreate, TaskList
from handlers.texts import error_text, esc, locale
from handlers.volunteer import WEEKDAYS
from handlers.widgets import (
    Lines,
    MessageInput,
    Tr,
    back_button,
    close_dialogs,
    keep_buttons_of,
    not_words,
    refuse_step,
    session_of,
    user_of,
)
from models import (
    AssignmentStatus,
    RecordStatus,
    Role,
    ServiceRecord,
    ServiceRequest,
    TaskKind,
    TaskStatus,
    User,
    VolunteerTask,
)

log = logging.getLogger(__name__)
router = Router(name=__name__)

KIND_LABELS = {TaskKind.CASE: N_("Help with a case"), TaskKind.GROUP: N_("Group activity"),
               TaskKind.COMMUNITY: N_("Community activity")}
START_TIMES = [time(h, m) for h in range(8, 21) for m in (0, 30) if (h, m) != (20, 30)]
LENGTHS = (60, 90, 120, 180, 240)  # minutes
DAY = re.compile(r"(?:(\d{4})\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
CLOCK_TIME = re.compile(r"(上午|早上|中午|下午|晚上)?\s*(\d{1,2})(?:[:：.](\d{2})|点(半|(\d{1,2})分?)?)")


def parse_day(text: str | None, today: date) -> date:
    """2026-12-05, 12-05, 12月5日: a day from today on (a day and month alone: the next such day)."""
    match = DAY.fullmatch((text or "").strip())
    if match is None:
        raise InvalidInput(N_("Please tap a day, or type it like 2026-12-05."))
    year, month, day = (int(match.group(1)) if match.group(1) else None, int(match.group(2)), int(match.group(3)))
    try:
        chosen = date(year or today.year, month, day)
        if year is None and chosen < today:
            chosen = date(today.year + 1, month, day)
    except ValueError:
        raise InvalidInput(N_("{text} is not a real date. Please type it like 2026-12-05."), text=text) from None
    if chosen < today:
        raise InvalidInput(N_("That day has passed. Please choose today or a later day."))
    if chosen > today + tasks.FURTHEST:
        raise InvalidInput(N_("Tasks can be planned at most {days} days ahead."), days=tasks.FURTHEST.days)
    return chosen


def parse_clock(text: str | None) -> time:
    """9:30, 09:30, 9点半, 14点: a time of day."""
    match = CLOCK_TIME.fullmatch((text or "").strip())
    if match is None:
        raise InvalidInput(N_("Please tap a time, or type it like 09:30."))
    period, hour = match.group(1), int(match.group(2))
    minute = int(match.group(3) or (30 if match.group(4) == "半" else (match.group(5) or 0)))
    if period in ("下午", "晚上") and hour < 12 or period == "中午" and hour < 6:
        hour += 12
    try:
        return time(hour, minute)
    except ValueError:
        raise InvalidInput(N_("Please tap a time, or type it like 09:30.")) from None


def _today(manager: DialogManager) -> date:
    clock: Clock = manager.middleware_data["clock"]
    return clock.now().astimezone(ZoneInfo(manager.dialog_data.get("tz") or "Asia/Shanghai")).date()


def _period_text(task: VolunteerTask) -> str:
    return format_local_period(task.starts_at, task.ends_at, locale(), task.community.timezone)


# --- the calendar speaks the reader's language and starts at the clock's today ---------------------------------------


class _WeekdayText(Text):
    async def _render_text(self, data: dict[str, Any], manager: DialogManager) -> str:
        return _(WEEKDAYS[data["date"].weekday()])


NOOP = "noop"


class TaskCalendar(Calendar):
    """A calendar whose first day is the clock's today in the community (not the machine's), with headers that
    need no month names."""

    def _init_views(self) -> dict[CalendarScope, Any]:
        return {
            CalendarScope.DAYS: CalendarDaysView(
                self._item_callback_data, weekday_text=_WeekdayText(), header_text=Format("🗓 {date:%Y-%m}"),
                next_month_text=Format("{date:%Y-%m} >>"), prev_month_text=Format("<< {date:%Y-%m}")),
            CalendarScope.MONTHS: CalendarMonthView(
                self._item_callback_data, month_text=Format("{date:%m}"), this_month_text=Format("[ {date:%m} ]")),
            CalendarScope.YEARS: CalendarYearsView(self._item_callback_data),
        }

    async def _render_keyboard(self, data: dict, manager: DialogManager) -> list[list[InlineKeyboardButton]]:
        # Days outside the month or before today come as blank buttons without data; Telegram wants a visible
        # text and 1-64 bytes of data, so they become "·" buttons that do nothing.
        rows = await super()._render_keyboard(data, manager)
        return [[InlineKeyboardButton(text="·", callback_data=self._item_callback_data(NOOP))
                 if not (button.text or "").strip() else button for button in row] for row in rows]

    async def _process_item_callback(self, callback: CallbackQuery, data: str, dialog: Any,
                                     manager: DialogManager) -> bool:
        if data == NOOP:
            return True
        return await super()._process_item_callback(callback, data, dialog, manager)

    async def _get_user_config(self, data: dict, manager: DialogManager) -> CalendarUserConfig:
        today = _today(manager)
        return CalendarUserConfig(min_date=today, max_date=today + tasks.FURTHEST, firstweekday=0,
                                  timezone=ZoneInfo(manager.dialog_data.get("tz") or "Asia/Shanghai"))


# --- /tasks ---------------------------------------------------------------------------------------------------


def _is_staff(user: User) -> bool:
    return user.has_role(Role.SOCIAL_WORKER) or user.has_role(Role.COORDINATOR)


@router.message(Command("tasks"))
async def tasks_command(message: Message, user: User, session: AsyncSession, clock: Clock,
                        dialog_manager: DialogManager) -> None:
    if _is_staff(user):
        await close_dialogs(dialog_manager)
        await dialog_manager.start(TaskList.browse, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)
        return
    if user.has_role(Role.VOLUNTEER):
        text, markup = await volunteer_tasks(session, user, now=clock.now())
        await message.answer(text, reply_markup=markup)
        return
    await message.answer(_("/tasks lists volunteer tasks: it is for volunteers and social workers. To volunteer, "
                           "send /volunteer."))


@router.callback_query(MenuCB.filter(F.action == "vol_tasks"))
async def volunteer_tasks_button(query: CallbackQuery, session: AsyncSession, user: User, clock: Clock) -> None:
    if not user.has_role(Role.VOLUNTEER):
        await query.answer(_("You are not registered as a volunteer yet: send /volunteer to register."),
                           show_alert=True)
        return
    text, markup = await volunteer_tasks(session, user, now=clock.now())
    await query.answer()
    await query.message.answer(text, reply_markup=markup)


async def volunteer_tasks(session: AsyncSession, user: User, *, now: datetime) -> tuple[str, InlineKeyboardMarkup |
                                                                                      None]:
    rows = await tasks.for_volunteer(session, user, now=now)
    if not rows:
        return _("You have no upcoming tasks. When a task fits your skills and free time, it will be offered to you "
                 "here."), None
    lines = [_("Your volunteer tasks:")]
    builder = InlineKeyboardBuilder()
    for assignment, task in rows:
        state = {AssignmentStatus.ACCEPTED: _("✅ you have a place"),
                 AssignmentStatus.WAITLISTED: _("⏳ on the waitlist"),
                 AssignmentStatus.OFFERED: _("🙋 offered to you")}[assignment.status]
        lines.append(f"• <b>{esc(task.title)}</b> — {_period_text(task)}, {esc(task.place)} ({state})")
        short = task.title if len(task.title) <= 20 else task.title[:19] + "…"
        if assignment.status is AssignmentStatus.OFFERED:
            builder.row(
                InlineKeyboardButton(text=_("✅ Accept: {title}").format(title=short),
                                     callback_data=AssignmentCB(action="accept", id=assignment.id, listed=True).pack()),
                InlineKeyboardButton(text=_("✖️ Decline"),
                                     callback_data=AssignmentCB(action="decline", id=assignment.id,
                                                                listed=True).pack()))
        else:
            builder.row(InlineKeyboardButton(
                text=_("↩️ I can't come: {title}").format(title=short),
                callback_data=AssignmentCB(action="withdraw", id=assignment.id, listed=True).pack()))
    return "\n".join(lines), builder.as_markup()


async def _my_tasks(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    clock: Clock = dialog_manager.middleware_data["clock"]
    rows = await tasks.for_manager(session_of(dialog_manager), user_of(dialog_manager), now=clock.now())
    items = []
    for task in rows:
        mark = "✖️ " if task.status is TaskStatus.CANCELLED else ("✔️ " if task.ends_at <= clock.now() else "")
        items.append((str(task.id), f"{mark}{task.title} · {_period_text(task)}"))
    return {"items": items, "empty": not items, "may_create": _may_create_activity(user_of(dialog_manager))}


async def _task_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    if not item_id.isdigit():
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    clock: Clock = manager.middleware_data["clock"]
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await send_task_card(query, session_of(manager), user_of(manager), int(item_id), clock.now())


async def _new_from_list(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    if not _may_create_activity(user_of(manager)):
        await query.answer(_("Only a social worker with a home community can create its activities."),
                           show_alert=True)
        return
    await manager.start(TaskCreate.kind, data={}, mode=StartMode.RESET_STACK)


task_list_dialog = Dialog(
    Window(
        Lines(Tr("📋 Your volunteer tasks. Tap one to see who is coming."), Tr("None yet.", when="empty")),
        ScrollingGroup(Select(Format("{item[1]}"), id="task", item_id_getter=lambda i: i[0], items="items",
                              on_click=_task_chosen), id="taskpages", width=1, height=8, hide_on_single_page=True),
        Button(Tr("➕ New activity"), id="new", on_click=_new_from_list, when="may_create"),
        Cancel(Tr("✖️ Close")),
        state=TaskList.browse,
        getter=_my_tasks,
    ),
)


# --- creating a task ---------------------------------------------------------------------------------------------


@router.callback_query(CaseCB.filter(F.action == "task"))
async def task_for_case(query: CallbackQuery, callback_data: CaseCB, session: AsyncSession, user: User,
                        dialog_manager: DialogManager) -> None:
    try:
        request = await requests.get_visible(session, user, callback_data.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    if request.assigned_worker_id != user.id or request.status not in tasks.CASE_HELD:
        await query.answer(_("Only the social worker who holds the case can ask volunteers to help with it."),
                           show_alert=True)
        return
    await query.answer()
    keep_buttons_of(query.message.message_id)
    await close_dialogs(dialog_manager)
    await dialog_manager.start(TaskCreate.title, data=_case_start(request), mode=StartMode.RESET_STACK,
                               show_mode=ShowMode.SEND)


def _case_start(request: ServiceRequest) -> dict[str, Any]:
    return {"request_id": request.id, "number": request.number,
            "suggested": request.category.display_name(locale()), "tz": request.community.timezone,
            "has_location": request.latitude is not None}


def _may_create_activity(user: User) -> bool:
    worker = user.social_worker
    return user.has_role(Role.SOCIAL_WORKER) and worker is not None and worker.home_community_id is not None


@router.callback_query(TaskCB.filter(F.action == "new"))
async def new_activity(query: CallbackQuery, user: User, dialog_manager: DialogManager) -> None:
    if not _may_create_activity(user):
        await query.answer(_("Only a social worker with a home community can create its activities."),
                           show_alert=True)
        return
    await query.answer()
    await close_dialogs(dialog_manager)
    await dialog_manager.start(TaskCreate.kind, data={}, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _on_start(start_data: Any, manager: DialogManager) -> None:
    data = start_data if isinstance(start_data, dict) else {}
    manager.dialog_data.update(data)
    if "tz" not in data:
        user = user_of(manager)
        home = user.social_worker.home_community if user.social_worker is not None else None
        manager.dialog_data["tz"] = home.timezone if home is not None else "Asia/Shanghai"
    manager.find("day").set_offset(_today(manager))


async def _kind_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    if item_id not in (TaskKind.GROUP.value, TaskKind.COMMUNITY.value):
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    manager.dialog_data["kind"] = item_id
    await manager.next()


async def _title_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        manager.dialog_data["title"] = tasks.check_title(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(TaskCreate.place, show_mode=ShowMode.SEND)


async def _use_suggested(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    manager.dialog_data["title"] = tasks.check_title(manager.dialog_data.get("suggested"))
    await manager.switch_to(TaskCreate.place)


async def _place_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        manager.dialog_data["place"] = tasks.check_place(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(TaskCreate.day, show_mode=ShowMode.SEND)


async def _location_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    location = message.location
    manager.dialog_data["latitude"], manager.dialog_data["longitude"] = location.latitude, location.longitude
    manager.show_mode = ShowMode.SEND


async def _residents_location(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    request = await requests.get_visible(session_of(manager), user_of(manager), int(manager.dialog_data["request_id"]))
    if request.latitude is None:
        await query.answer(_("The resident did not share a location."), show_alert=True)
        return
    manager.dialog_data["latitude"], manager.dialog_data["longitude"] = request.latitude, request.longitude


async def _day_clicked(query: CallbackQuery, _widget: Any, manager: DialogManager, chosen: date) -> None:
    if chosen < _today(manager):
        await query.answer(_("That day has passed. Please choose today or a later day."), show_alert=True)
        return
    manager.dialog_data["day"] = chosen.isoformat()
    await manager.switch_to(TaskCreate.start)


async def _day_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        chosen = parse_day(message.text, _today(manager))
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    manager.dialog_data["day"] = chosen.isoformat()
    await manager.switch_to(TaskCreate.start, show_mode=ShowMode.SEND)


def _local(manager: DialogManager, at: time) -> datetime:
    return datetime.combine(date.fromisoformat(manager.dialog_data["day"]), at,
                            ZoneInfo(manager.dialog_data.get("tz") or "Asia/Shanghai"))


async def _set_start(manager: DialogManager, at: time) -> DomainError | None:
    clock: Clock = manager.middleware_data["clock"]
    if _local(manager, at) < clock.now() + tasks.SOONEST:
        return InvalidInput(N_("The start must be at least {minutes} minutes from now."),
                            minutes=int(tasks.SOONEST.total_seconds() // 60))
    manager.dialog_data["start"] = at.strftime("%H:%M")
    return None


async def _start_clicked(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    try:
        at = time.fromisoformat(item_id)
    except ValueError:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    error = await _set_start(manager, at)
    if error is not None:
        await query.answer(error_text(error), show_alert=True)
        return
    await manager.switch_to(TaskCreate.length)


async def _start_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        at = parse_clock(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    error = await _set_start(manager, at)
    if error is not None:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(TaskCreate.length, show_mode=ShowMode.SEND)


def _check_end(manager: DialogManager, end: datetime) -> DomainError | None:
    start = _local(manager, time.fromisoformat(manager.dialog_data["start"]))
    if end <= start:
        return InvalidInput(N_("The end must be after the start."))
    if end.date() != start.date():
        return InvalidInput(N_("A task must end on the day it starts: for longer, make one task per day."))
    if end - start > tasks.LONGEST:
        return InvalidInput(N_("A task lasts at most {hours} hours: for longer, make one task per day."),
                            hours=int(tasks.LONGEST.total_seconds() // 3600))
    manager.dialog_data["end"] = end.strftime("%H:%M")
    return None


async def _length_clicked(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    if not item_id.isdigit() or int(item_id) not in LENGTHS:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    start = _local(manager, time.fromisoformat(manager.dialog_data["start"]))
    error = _check_end(manager, start + timedelta(minutes=int(item_id)))
    if error is not None:
        await query.answer(error_text(error), show_alert=True)
        return
    await manager.switch_to(TaskCreate.needed)


async def _end_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        end = _local(manager, parse_clock(message.text))
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    error = _check_end(manager, end)
    if error is not None:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(TaskCreate.needed, show_mode=ShowMode.SEND)


async def _needed_clicked(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    try:
        manager.dialog_data["needed"] = tasks.check_needed(item_id)
    except InvalidInput as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await manager.switch_to(TaskCreate.skills)


async def _needed_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        manager.dialog_data["needed"] = tasks.check_needed(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(TaskCreate.skills, show_mode=ShowMode.SEND)


async def _create(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    data = manager.dialog_data
    clock: Clock = manager.middleware_data["clock"]
    policy: TaskPolicy = manager.middleware_data["task_policy"]
    session, user = session_of(manager), user_of(manager)
    try:
        form = TaskForm(
            kind=TaskKind(data.get("kind") or TaskKind.CASE.value), title=data["title"], place=data["place"],
            starts_at=_local(manager, time.fromisoformat(data["start"])),
            ends_at=_local(manager, time.fromisoformat(data["end"])), needed=int(data["needed"]),
            skills=tuple(manager.find("skills").get_checked()), latitude=data.get("latitude"),
            longitude=data.get("longitude"), request_id=data.get("request_id"),
        )
    except (KeyError, ValueError):
        await query.answer(_("Something is missing. Please start again."), show_alert=True)
        return
    try:
        task, offered = await tasks.create(session, user, form, now=clock.now(), policy=policy)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)  # saved before it is reported
    task_id = task.id
    await query.answer()
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    said = (_("✅ Task created and offered to {count} volunteer(s). You will be told as they accept.").format(
        count=offered) if offered else
        _("✅ Task created. No approved volunteer is free then with these skills: you can add volunteers yourself."))
    await query.message.edit_text(said)
    await send_task_card(query, session, user, task_id, clock.now())


async def _create_cancelled(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Cancelled: nothing was sent or saved."))


async def _form_values(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    data = dialog_manager.dialog_data
    joiner = "、" if locale() == "zh_CN" else ", "
    skills = [_(volunteers.SKILLS[c]) for c in dialog_manager.find("skills").get_checked() if c in volunteers.SKILLS]
    when = "—"
    if data.get("day") and data.get("start") and data.get("end"):
        when = format_local_period(_local(dialog_manager, time.fromisoformat(data["start"])),
                                   _local(dialog_manager, time.fromisoformat(data["end"])), locale(),
                                   data.get("tz") or "Asia/Shanghai")
    return {
        "kinds": [(k.value, _(KIND_LABELS[k])) for k in (TaskKind.COMMUNITY, TaskKind.GROUP)],
        "kind": _(KIND_LABELS[TaskKind(data.get("kind") or TaskKind.CASE.value)]),
        "for_case": bool(data.get("request_id")),
        "number": data.get("number") or "",
        "suggested": esc(data.get("suggested") or ""),
        "title": esc(data.get("title") or ""),
        "place": esc(data.get("place") or ""),
        "located": data.get("latitude") is not None,
        "resident_located": bool(data.get("has_location")) and data.get("latitude") is None,
        "day": data.get("day") or "",
        "when": when,
        "needed": data.get("needed") or "",
        "starts": [(t.strftime("%H:%M"), t.strftime("%H:%M")) for t in START_TIMES],
        "lengths": [(str(m), _("{hours} h").format(hours=f"{m / 60:g}")) for m in LENGTHS],
        "counts": [(str(n), str(n)) for n in range(1, 7)],
        "skill_items": [(code, _(label)) for code, label in volunteers.SKILLS.items()],
        "skills": joiner.join(skills) or _("any"),
    }


def _cancel() -> Button:
    return Button(Tr("✖️ Cancel"), id="cancel", on_click=_create_cancelled)


def _typed(handler: Any) -> tuple[MessageInput, MessageInput]:
    return (MessageInput(handler, content_types=[ContentType.TEXT], filter=not_command),
            MessageInput(not_words, filter=not_command))


create_dialog = Dialog(
    Window(
        Tr("🙋 A new volunteer activity. What kind?"),
        Column(Select(Format("{item[1]}"), id="kind", item_id_getter=lambda i: i[0], items="kinds",
                      on_click=_kind_chosen)),
        _cancel(),
        state=TaskCreate.kind,
        getter=_form_values,
    ),
    Window(
        Lines(Tr("🙋 Volunteers for request {number}.", when="for_case"),
              Tr("What should the volunteers do? Type a short title, like “Accompany Mrs Wang to hospital”.")),
        Button(Format("📝 {suggested}"), id="suggested", on_click=_use_suggested, when="for_case"),
        *_typed(_title_given),
        # A case's task starts here: Back would lead to the choice of activity kind, which is not its own.
        Row(Back(Tr("⬅️ Back"), id="back", when=~F["for_case"]), _cancel()),
        state=TaskCreate.title,
        getter=_form_values,
    ),
    Window(
        Lines(Tr("Where? Type the address or meeting point. You can also share a location on the map."),
              Tr("📍 Location received.", when="located")),
        Button(Tr("📍 Use the resident's location"), id="resident_loc", on_click=_residents_location,
               when="resident_located"),
        MessageInput(_location_given, content_types=[ContentType.LOCATION]),
        *_typed(_place_given),
        Row(back_button(), _cancel()),
        state=TaskCreate.place,
        getter=_form_values,
    ),
    Window(
        Tr("Which day? Tap it, or type it like 2026-12-05."),
        TaskCalendar(id="day", on_click=_day_clicked),
        *_typed(_day_typed),
        Row(back_button(), _cancel()),
        state=TaskCreate.day,
        getter=_form_values,
    ),
    Window(
        Tr("{day}: what time does it start? Tap it, or type it like 09:30."),
        Group(Select(Format("{item[1]}"), id="start", item_id_getter=lambda i: i[0], items="starts",
                     on_click=_start_clicked), width=5),
        *_typed(_start_typed),
        Row(back_button(), _cancel()),
        state=TaskCreate.start,
        getter=_form_values,
    ),
    Window(
        Tr("How long? Tap it, or type the end time like 11:30."),
        Group(Select(Format("{item[1]}"), id="length", item_id_getter=lambda i: i[0], items="lengths",
                     on_click=_length_clicked), width=5),
        *_typed(_end_typed),
        Row(back_button(), _cancel()),
        state=TaskCreate.length,
        getter=_form_values,
    ),
    Window(
        Tr("How many volunteers are needed? Tap it, or type a number."),
        Group(Select(Format("{item[1]}"), id="needed", item_id_getter=lambda i: i[0], items="counts",
                     on_click=_needed_clicked), width=6),
        *_typed(_needed_typed),
        Row(back_button(), _cancel()),
        state=TaskCreate.needed,
        getter=_form_values,
    ),
    Window(
        Tr("Which skills must they have? Tap all that are required (none: anyone can help), then “Next”."),
        Group(Multiselect(Format("✅ {item[1]}"), Format("▫️ {item[1]}"), id="skills",
                          item_id_getter=lambda i: i[0], items="skill_items"), width=2),
        Row(back_button(), Button(Tr("Next ➡️"), id="next",
                                  on_click=lambda q, b, m: m.switch_to(TaskCreate.summary))),
        _cancel(),
        state=TaskCreate.skills,
        getter=_form_values,
    ),
    Window(
        Lines(Tr("Please check the task:"), Tr("Request: {number}", when="for_case"), Tr("Kind: {kind}"),
              Tr("Title: {title}"), Tr("When: {when}"), Tr("Place: {place}"), Tr("📍 Location received.", when="located"),
              Tr("Volunteers needed: {needed}"), Tr("Skills: {skills}"),
              Tr("It is offered to the best-suited volunteers at once; the first to accept get the places.")),
        Button(Tr("✅ Create and offer"), id="create", on_click=_create),
        Row(back_button(), _cancel()),
        state=TaskCreate.summary,
        getter=_form_values,
    ),
    on_start=_on_start,
)


# --- the task card --------------------------------------------------------------------------------------------


def _attendance(record: ServiceRecord, tz: str) -> str:
    """One volunteer's check-in and check-out on the card: when, how far from the place, hours, flags."""
    parts = [_("in {time}").format(time=format_local_time(record.checked_in_at, locale(), tz))]
    if record.distance_m is not None:
        parts.append(("⚠️ " if record.flagged == "far" else "📍 ") + records.distance_text(record.distance_m))
    if record.checked_out_at is not None:
        parts.append(_("out {time}").format(time=format_local_time(record.checked_out_at, locale(), tz)))
        parts.append(_("{hours} h").format(hours=records.hours(record.minutes or 0)))
    elif record.status is RecordStatus.NO_CHECKOUT:
        parts.append(_("⚠️ never checked out"))
    return " · ".join(parts)


def task_card(roster: tasks.Roster, now: datetime) -> str:
    task = roster.task
    lines = [f"📋 <b>{esc(task.title)}</b>"]
    if task.status is TaskStatus.CANCELLED:
        reason = task.cancel_reason or ""
        reason = _(reason) if reason in tasks.SYSTEM_REASONS else reason  # a reason the bot gave, translated
        lines.append(_("✖️ Cancelled: “{reason}”").format(reason=esc(reason)))
    elif task.ends_at <= now:
        lines.append(_("✔️ Over"))
    lines += [
        _("When: {when}").format(when=_period_text(task)),
        _("Place: {place}").format(place=esc(task.place)) + (" 📍" if task.latitude is not None else ""),
        _("Kind: {kind}").format(kind=_(KIND_LABELS[task.kind])),
    ]
    if task.skills:
        joiner = "、" if locale() == "zh_CN" else ", "
        lines.append(_("Skills: {skills}").format(skills=joiner.join(_(volunteers.SKILLS[c]) for c in task.skills
                                                                     if c in volunteers.SKILLS)))
    lines.append(_("Places filled: {filled} of {needed}").format(filled=len(roster.accepted), needed=task.needed))
    tz = task.community.timezone
    for assignment, volunteer in roster.accepted:
        confirmed = " ✔️" if assignment.confirmed_at else ""
        lines.append(f"  ✅ {esc(volunteer.real_name)} · {esc(volunteer.phone)}{confirmed}")
        record = roster.records.get(volunteer.user_id)
        if record is not None:
            lines.append("     " + _attendance(record, tz))
    if roster.waitlisted:
        lines.append(_("Waitlist:"))
        lines += [f"  {n}. {esc(v.real_name)}" for n, (_a, v) in enumerate(roster.waitlisted, start=1)]
    if roster.withdrawn:
        lines.append(_("Can no longer come: {names}").format(names="、".join(esc(v.real_name)
                                                                             for _a, v in roster.withdrawn)))
    lines.append(_("Waiting for an answer: {offered} · declined: {declined}").format(offered=roster.offered,
                                                                                    declined=roster.declined))
    return "\n".join(lines)


def task_markup(roster: tasks.Roster, now: datetime) -> InlineKeyboardMarkup | None:
    task = roster.task
    builder = InlineKeyboardBuilder()

    def add(text: str, action: str) -> None:
        builder.row(InlineKeyboardButton(text=text, callback_data=TaskCB(action=action, id=task.id).pack()))

    waiting = sum(1 for r in roster.records.values() if r.status in records.TO_VERIFY)
    if waiting:
        add(_("🧾 Verify hours ({count})").format(count=waiting), "verify")
    if task.status is TaskStatus.CANCELLED or task.ends_at <= now:
        if waiting:
            add(_("🔄 Refresh"), "refresh")
        return builder.as_markup() if waiting else None

    if task.starts_at > now and roster.open_places:
        add(_("➕ Add a volunteer"), "add")
        add(_("📣 Offer to more volunteers"), "more")
    add(_("🔄 Refresh"), "refresh")
    add(_("✖️ Cancel the task"), "cancel")
    return builder.as_markup()


async def send_task_card(query: CallbackQuery, session: AsyncSession, user: User, task_id: int,
                         now: datetime) -> None:
    """The task's card as a new message (refused quietly to whoever may not manage it)."""
    try:
        roster = await tasks.roster(session, user, task_id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await query.message.answer(task_card(roster, now), reply_markup=task_markup(roster, now))


@router.callback_query(TaskCB.filter(F.action.in_({"view", "refresh"})))
async def view_task(query: CallbackQuery, callback_data: TaskCB, session: AsyncSession, user: User,
                    clock: Clock) -> None:
    try:
        roster = await tasks.roster(session, user, callback_data.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    now = clock.now()
    text, markup = task_card(roster, now), task_markup(roster, now)
    await query.answer()
    if callback_data.action == "refresh":  # pressed on the card itself: it is brought up to date in place
        try:
            await query.message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as error:
            log.debug("task card not edited: %s", error.message)
        return
    await query.message.answer(text, reply_markup=markup)


@router.callback_query(TaskCB.filter(F.action == "more"))
async def offer_more(query: CallbackQuery, callback_data: TaskCB, session: AsyncSession, user: User,
                     clock: Clock, task_policy: TaskPolicy) -> None:
    try:
        offered = await tasks.offer_more(session, user, callback_data.id, now=clock.now(), policy=task_policy)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)
    await query.answer(_("Offered to {count} more volunteer(s).").format(count=offered) if offered else
                       _("Nobody more can be offered it now: you can add volunteers yourself."), show_alert=True)
    roster = await tasks.roster(session, user, callback_data.id)
    try:
        await query.message.edit_text(task_card(roster, clock.now()), reply_markup=task_markup(roster, clock.now()))
    except TelegramBadRequest as error:
        log.debug("task card not edited: %s", error.message)


@router.callback_query(TaskCB.filter(F.action.in_({"add", "cancel"})))
async def manage_task(query: CallbackQuery, callback_data: TaskCB, session: AsyncSession, user: User,
                      dialog_manager: DialogManager) -> None:
    try:
        roster = await tasks.roster(session, user, callback_data.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    if roster.task.status is TaskStatus.CANCELLED:
        await query.answer(_("“{title}” was cancelled.").format(title=roster.task.title), show_alert=True)
        return
    await query.answer()
    keep_buttons_of(query.message.message_id)
    await close_dialogs(dialog_manager)
    state = TaskAdd.choose if callback_data.action == "add" else TaskCancel.reason
    await dialog_manager.start(state, data={"task_id": roster.task.id, "title": roster.task.title},
                               mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _addable(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    clock: Clock = dialog_manager.middleware_data["clock"]
    policy: TaskPolicy = dialog_manager.middleware_data["task_policy"]
    try:
        people = await tasks.addable(session_of(dialog_manager), user_of(dialog_manager),
                                     int(dialog_manager.start_data["task_id"]), now=clock.now(), policy=policy)
    except DomainError:
        people = []
    return {"people": [(str(vid), name + ("" if free else " " + _("(not usually free then)")))
                       for vid, name, free in people],
            "empty": not people, "title": esc(dialog_manager.start_data["title"])}


async def _person_added(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    clock: Clock = manager.middleware_data["clock"]
    policy: TaskPolicy = manager.middleware_data["task_policy"]
    session, user = session_of(manager), user_of(manager)
    if not item_id.isdigit():
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    task_id = int(manager.start_data["task_id"])
    try:
        volunteer = await tasks.add_directly(session, user, task_id, int(item_id), now=clock.now(), policy=policy)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)
    await query.answer(_("{name} has a place and has been told.").format(name=volunteer.real_name), show_alert=True)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    roster = await tasks.roster(session, user, task_id)
    await query.message.edit_text(task_card(roster, clock.now()), reply_markup=task_markup(roster, clock.now()))


async def _manage_closed(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Cancelled: nothing was sent or saved."))


async def _cancel_reason(message: Message, _widget: Any, manager: DialogManager) -> None:
    clock: Clock = manager.middleware_data["clock"]
    session, user = session_of(manager), user_of(manager)
    try:
        task = await tasks.cancel(session, user, int(manager.start_data["task_id"]), message.text, now=clock.now())
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    except DomainError as error:
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await message.answer(error_text(error))
        return
    title = task.title
    await end_transaction(session)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await message.answer(_("“{title}” is cancelled; everyone who was offered it or had a place has been told.").format(
        title=esc(title)))


manage_dialog = Dialog(
    Window(
        Lines(Tr("Who should get a place in “{title}”? Volunteers free then, best suited first."),
              Tr("Nobody is free then.", when="empty")),
        ScrollingGroup(Select(Format("{item[1]}"), id="who", item_id_getter=lambda i: i[0], items="people",
                              on_click=_person_added), id="whopages", width=1, height=8, hide_on_single_page=True),
        Button(Tr("✖️ Cancel"), id="cancel", on_click=_manage_closed),
        state=TaskAdd.choose,
        getter=_addable,
    ),
)

async def _cancel_title(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    return {"title": esc(dialog_manager.start_data["title"])}


cancel_dialog = Dialog(
    Window(
        Tr("Why is “{title}” cancelled? Type the reason: everyone who was offered it reads it."),
        MessageInput(_cancel_reason, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        Button(Tr("✖️ Do not cancel"), id="cancel", on_click=_manage_closed),
        state=TaskCancel.reason,
        getter=_cancel_title,
    ),
)


# --- volunteers answer --------------------------------------------------------------------------------------------


def _withdraw_markup(assignment_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(
        text=_("↩️ I can't come"), callback_data=AssignmentCB(action="withdraw", id=assignment_id).pack())]])


async def _edit(query: CallbackQuery, said: str, markup: InlineKeyboardMarkup | None,
                callback_data: AssignmentCB | None = None, *, session: AsyncSession | None = None,
                user: User | None = None, now: datetime | None = None) -> None:
    """The notice keeps its text and says what the press did, with the buttons that still make sense.

    Pressed in the /tasks list, the list is shown again, up to date, under what the press did:
    the other tasks keep their buttons.
    """
    if callback_data is not None and callback_data.listed and session is not None and user is not None:
        text, markup = await volunteer_tasks(session, user, now=now)
        said = f"{said}\n\n{text}"
        try:
            await query.message.edit_text(said, reply_markup=markup)
        except TelegramBadRequest as error:
            log.debug("task list not edited: %s", error.message)
        return
    base = query.message.html_text if query.message and query.message.text else ""
    marker = "\n\n— "
    base = base.split(marker)[0]
    try:
        await query.message.edit_text(f"{base}{marker}{said}" if base else said, reply_markup=markup)
    except TelegramBadRequest as error:
        log.debug("offer message not edited: %s", error.message)


@router.callback_query(AssignmentCB.filter(F.action == "accept"))
async def accept_task(query: CallbackQuery, callback_data: AssignmentCB, session: AsyncSession, user: User,
                      clock: Clock, task_policy: TaskPolicy) -> None:
    try:
        answer = await tasks.accept(session, user, callback_data.id, now=clock.now(), policy=task_policy)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    title, when, position = answer.task.title, _period_text(answer.task), answer.position
    await end_transaction(session)  # the place is saved before it is reported
    if position is None:
        said = _("✅ You have a place: {title}, {when}. You will be reminded before it starts.").format(
            title=esc(title), when=when)
    else:
        said = _("⏳ All places are taken: you are number {position} on the waitlist. You will be told here if a "
                 "place opens.").format(position=position)
    await query.answer(_("Thank you!"))
    await _edit(query, said, _withdraw_markup(callback_data.id), callback_data, session=session, user=user,
                now=clock.now())


@router.callback_query(AssignmentCB.filter(F.action == "decline"))
async def decline_task(query: CallbackQuery, callback_data: AssignmentCB, session: AsyncSession, user: User,
                       clock: Clock, task_policy: TaskPolicy) -> None:
    try:
        await tasks.decline(session, user, callback_data.id, now=clock.now(), policy=task_policy)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)
    await query.answer()
    await _edit(query, _("Declined. Thank you for answering; other tasks will still be offered to you."), None,
                callback_data, session=session, user=user, now=clock.now())


@router.callback_query(AssignmentCB.filter(F.action == "withdraw"))
async def ask_withdraw(query: CallbackQuery, callback_data: AssignmentCB, session: AsyncSession,
                       user: User) -> None:
    """Asked once more: a place given up goes to the next person at once."""
    try:
        assignment, task = await tasks.assignment_of(session, user, callback_data.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    if assignment.status not in (AssignmentStatus.ACCEPTED, AssignmentStatus.WAITLISTED):
        await query.answer(_("You have no place in “{title}” to give up.").format(title=task.title), show_alert=True)
        return
    await query.answer()
    listed = callback_data.listed
    await query.message.edit_reply_markup(reply_markup=InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=_("Yes, give up my place"),
                              callback_data=AssignmentCB(action="withdraw_yes", id=assignment.id,
                                                         listed=listed).pack())],
        [InlineKeyboardButton(text=_("No, I am coming"),
                              callback_data=AssignmentCB(action="keep", id=assignment.id, listed=listed).pack())],
    ]))


@router.callback_query(AssignmentCB.filter(F.action == "withdraw_yes"))
async def withdraw_task(query: CallbackQuery, callback_data: AssignmentCB, session: AsyncSession, user: User,
                        clock: Clock, task_policy: TaskPolicy) -> None:
    try:
        task = await tasks.withdraw(session, user, callback_data.id, now=clock.now(), policy=task_policy)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    title = task.title
    await end_transaction(session)
    await query.answer()
    await _edit(query, _("You gave up your place in “{title}”; the social worker has been told. Thank you for saying "
                         "so in time.").format(title=esc(title)), None, callback_data, session=session, user=user,
                now=clock.now())


@router.callback_query(AssignmentCB.filter(F.action.in_({"keep", "confirm"})))
async def still_coming(query: CallbackQuery, callback_data: AssignmentCB, session: AsyncSession, user: User,
                       clock: Clock) -> None:
    """"Still coming" after a reminder, or "No, I am coming" after asking to give up: both are a yes."""
    try:
        assignment, _task = await tasks.assignment_of(session, user, callback_data.id)
        if assignment.status is AssignmentStatus.ACCEPTED or callback_data.action == "confirm":
            await tasks.confirm(session, user, callback_data.id, now=clock.now())
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)
    await query.answer(_("Thank you! See you there."))
    if callback_data.listed:
        text, markup = await volunteer_tasks(session, user, now=clock.now())
        await query.message.edit_text(text, reply_markup=markup)
    elif callback_data.action == "confirm":
        await _edit(query, _("✅ You said you are coming."), _withdraw_markup(callback_data.id))
    else:
        await query.message.edit_reply_markup(reply_markup=_withdraw_markup(callback_data.id))


__all__ = ["cancel_dialog", "create_dialog", "manage_dialog", "router", "task_list_dialog", "volunteer_tasks"]
