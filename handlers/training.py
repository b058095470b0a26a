"""/training: a social worker or coordinator records a training for volunteers; /trainings shows them.

Recording is an aiogram-dialog flow: name, content, length, organiser, date, the volunteers
who took part, then a summary to save. Each typed answer is checked at its step by
`bot.services.training` (the step stays, with what to fix), and everything again on saving.
A volunteer sees their own trainings with /trainings or the "📚 My trainings" button; staff
see the trainings they recorded recently.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import Button, Column, Group, Multiselect, Row, ScrollingGroup, Select
from aiogram_dialog.widgets.text import Format
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.services import training, volunteers
from bot.services.errors import N_, DomainError, InvalidInput
from bot.transaction import end_transaction
from handlers import keyboards
from handlers.callbacks import MenuCB
from handlers.filters import not_command
from handlers.states import TrainingRecord
from handlers.texts import error_text, esc, locale, step
from handlers.widgets import (
    Lines,
    MessageInput,
    Tr,
    back_button,
    close_dialogs,
    not_words,
    refuse_step,
    session_of,
    user_of,
)
from models import Organization, User, VolunteerStatus

router = Router(name=__name__)

STEPS = (TrainingRecord.name, TrainingRecord.content, TrainingRecord.hours, TrainingRecord.organiser,
         TrainingRecord.held_on, TrainingRecord.volunteers)
HOUR_BUTTONS = (1, 2, 3, 4)
LIST_LIMIT = 20  # trainings listed in one message; the total counts them all
RECENT_LIMIT = 10

NOT_A_VOLUNTEER = N_("You are not registered as a volunteer yet: send /volunteer to register.")
STALE_CHOICE = N_("This button is no longer valid.")

# "2", "1.5", "1,5", "2h", "1个半小时", "1小时30分", "1h30", "90分钟", "1:30"; digits may be full-width.
_HOUR_UNIT = r"(?:小时|钟头|h|hr|hrs|hours?)"
_MINUTE_UNIT = r"(?:分钟|分|m|min|mins|minutes?)"
_MINUTES_ONLY = re.compile(rf"(\d{{1,4}}){_MINUTE_UNIT}")
_HOURS_AND_MINUTES = re.compile(rf"(\d{{1,2}})个?{_HOUR_UNIT}(\d{{1,2}}){_MINUTE_UNIT}?")
_HOURS = re.compile(rf"(\d{{1,4}}(?:[.,]\d{{1,3}})?)个?(半)?{_HOUR_UNIT}?")
_CLOCK_LENGTH = re.compile(r"(\d{1,2}):(\d{2})")
_CN_DIGIT = {"一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5", "六": "6", "七": "7", "八": "8",
             "九": "9", "十": "10"}
_LONE_CN_DIGIT = re.compile(r"(?<![一二两三四五六七八九十])[一二两三四五六七八九十](?![一二两三四五六七八九十])")
_DAY = re.compile(r"(?:(\d{4})\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*[日号]?|(\d{4})(\d{2})(\d{2})")


def parse_minutes(text: str | None) -> int:
    """A length as people type it, in minutes; InvalidInput if it cannot be read."""
    raw = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text or "").lower())
    raw = _LONE_CN_DIGIT.sub(lambda m: _CN_DIGIT[m.group()], raw)
    if raw in {"半小时", "半个小时", "半个钟头"}:
        return 30
    clock = _CLOCK_LENGTH.fullmatch(raw)
    if clock is not None and int(clock.group(2)) < 60:
        return int(clock.group(1)) * 60 + int(clock.group(2))
    if (match := _MINUTES_ONLY.fullmatch(raw)) is not None:
        return int(match.group(1))
    if (match := _HOURS_AND_MINUTES.fullmatch(raw)) is not None:
        return int(match.group(1)) * 60 + int(match.group(2))
    if (match := _HOURS.fullmatch(raw)) is not None:
        return round(float(match.group(1).replace(",", ".")) * 60) + (30 if match.group(2) else 0)
    raise InvalidInput(N_("Please type how long it was in hours, like 2 or 1.5."))


def parse_day(text: str | None, today: date) -> date:
    """A typed date: 2026-11-28, 2026年11月28日, 20261128, or 11月28日 (the last such day up to today)."""
    raw = unicodedata.normalize("NFKC", text or "").strip()
    match = _DAY.fullmatch(raw)
    example = (today - timedelta(days=1)).isoformat()
    if match is None:
        raise InvalidInput(N_("Please type the date like {example}."), example=example)
    year, month, day = match.group(1, 2, 3) if match.group(2) else match.group(4, 5, 6)
    try:
        if year is None:
            held = date(today.year, int(month), int(day))
            return held if held <= today else date(today.year - 1, int(month), int(day))
        return date(int(year), int(month), int(day))
    except ValueError:
        raise InvalidInput(N_("{text} is not a real date. Please type it like {example}."), text=raw,
                           example=example) from None


def hours_label(minutes: int) -> str:
    phrase, figure = training.hours_phrase(minutes)
    return _(phrase).format(hours=figure)


# --- what volunteers and staff see ---------------------------------------------------------------------


async def own_trainings_text(session: AsyncSession, user: User) -> str:
    """A volunteer's trainings: newest first, with the count and the hours of all."""
    profile = await volunteers.get(session, user.id)
    if profile is None or profile.status is VolunteerStatus.REJECTED:
        return _(NOT_A_VOLUNTEER)
    found = await training.for_volunteer(session, user.id, limit=LIST_LIMIT)
    if not found.count:
        return _("📚 No trainings are on your record yet. Your social worker records each training you take part in.")
    lines = [_("📚 Your trainings: {count}, {hours} in all.").format(count=found.count,
                                                                     hours=hours_label(found.total_minutes))]
    lines += [f"• {training.day_text(t.held_on, locale())} · <b>{esc(t.name)}</b> · {hours_label(t.minutes)} · "
              f"{esc(t.organiser)}" for t in found.items]
    if found.count > len(found.items):
        lines.append(_("…and {count} earlier.").format(count=found.count - len(found.items)))
    return "\n".join(lines)


async def recorded_text(session: AsyncSession, user: User) -> str:
    """The trainings a staff member recorded lately."""
    recent = await training.recent_for_worker(session, user, limit=RECENT_LIMIT)
    if not recent:
        return _("📚 You have not recorded any trainings yet. Tap the button to record one.")
    lines = [_("📚 Trainings you recorded recently:")]
    lines += [f"• {training.day_text(r.training.held_on, locale())} · <b>{esc(r.training.name)}</b> · "
              f"{hours_label(r.training.minutes)} · 👥 {r.attendees}" for r in recent]
    return "\n".join(lines)


async def _start(manager: DialogManager) -> None:
    await close_dialogs(manager)
    await manager.start(TrainingRecord.name, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _may_record(event: Any, user: User | None = None) -> bool:
    return user is not None and training.may_record(user)


@router.message(Command("training"), _may_record)
async def training_command(message: Message, dialog_manager: DialogManager) -> None:
    await _start(dialog_manager)


@router.message(Command("training"))
async def training_refused(message: Message, user: User, dialog_manager: DialogManager) -> None:
    profile = await volunteers.get(session_of(dialog_manager), user.id)
    if profile is not None and profile.status is not VolunteerStatus.REJECTED:
        text = _("Trainings are recorded by your social worker. To see yours, send /trainings.")
    else:
        text = _(training.STAFF_ONLY)
    await message.answer(text, reply_markup=keyboards.main_menu(user.roles))


@router.callback_query(MenuCB.filter(F.action == "training_new"))
async def training_from_menu(query: CallbackQuery, user: User, dialog_manager: DialogManager) -> None:
    if not training.may_record(user):  # the payload is never trusted
        await query.answer(_(training.STAFF_ONLY), show_alert=True)
        return
    await query.answer()
    await _start(dialog_manager)


def _overview_markup(user: User) -> InlineKeyboardMarkup:
    return keyboards.training_overview(user.roles) if training.may_record(user) else keyboards.main_menu(user.roles)


@router.message(Command("trainings"))
async def trainings_command(message: Message, user: User, dialog_manager: DialogManager) -> None:
    session = session_of(dialog_manager)
    text = await (recorded_text if training.may_record(user) else own_trainings_text)(session, user)
    await message.answer(text, reply_markup=_overview_markup(user))


@router.callback_query(MenuCB.filter(F.action == "vol_trainings"))
async def own_trainings_menu(query: CallbackQuery, user: User, dialog_manager: DialogManager) -> None:
    session = session_of(dialog_manager)
    profile = await volunteers.get(session, user.id)
    if profile is None or profile.status is VolunteerStatus.REJECTED:
        await query.answer(_(NOT_A_VOLUNTEER), show_alert=True)
        return
    text = await own_trainings_text(session, user)
    await query.answer()
    await query.message.answer(text, reply_markup=keyboards.main_menu(user.roles))


# --- the steps ------------------------------------------------------------------------------------------


def _clock(manager: DialogManager) -> Clock:
    return manager.middleware_data["clock"]


def _today(manager: DialogManager) -> date:
    return training.today_for(user_of(manager), _clock(manager).now())


async def _use_the_buttons(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please use the buttons above, or send /cancel to stop."))
    manager.show_mode = ShowMode.SEND


async def _name_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        manager.dialog_data["name"] = training.clean_name(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(TrainingRecord.content)


async def _content_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        manager.dialog_data["content"] = training.clean_content(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(TrainingRecord.hours)


async def _hours_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    if item_id not in {str(h * 60) for h in HOUR_BUTTONS}:
        await query.answer(_(STALE_CHOICE), show_alert=True)
        return
    manager.dialog_data["minutes"] = int(item_id)
    await manager.switch_to(TrainingRecord.organiser)


async def _hours_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        manager.dialog_data["minutes"] = training.check_minutes(parse_minutes(message.text))
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(TrainingRecord.organiser)


async def _organisers(manager: DialogManager) -> list[tuple[str, str]]:
    """Organisers to tap: the station of the worker's community and their organisation (or the community's)."""
    user = user_of(manager)
    community = training.home_community(user)
    options: dict[str, str] = {}
    if community is not None and community.station_name:
        options["station"] = community.station_name
    worker = user.social_worker
    organisation_id = (worker.organization_id if worker is not None else None) or (
        community.organization_id if community is not None else None)
    organisation = await session_of(manager).get(Organization, organisation_id) if organisation_id else None
    if organisation is not None:
        name = organisation.name_en if locale() != "zh_CN" and organisation.name_en else organisation.name
        if name not in options.values():
            options["org"] = name
    return list(options.items())


async def _organiser_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    name = dict(await _organisers(manager)).get(item_id)
    if name is None:
        await query.answer(_(STALE_CHOICE), show_alert=True)
        return
    try:
        manager.dialog_data["organiser"] = training.clean_organiser(name)
    except InvalidInput as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await manager.switch_to(TrainingRecord.held_on)


async def _organiser_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        manager.dialog_data["organiser"] = training.clean_organiser(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(TrainingRecord.held_on)


def _day_button(days_ago: int) -> Any:
    async def chosen(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
        today = _today(manager)
        manager.dialog_data["held_on"] = training.check_held_on(today - timedelta(days=days_ago), today).isoformat()
        await manager.switch_to(TrainingRecord.volunteers)

    return chosen


async def _day_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    today = _today(manager)
    try:
        manager.dialog_data["held_on"] = training.check_held_on(parse_day(message.text, today), today).isoformat()
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(TrainingRecord.volunteers)


def _chosen_ids(manager: DialogManager) -> list[int] | None:
    """The volunteers ticked, or None if a ticked item is not an id at all (forged)."""
    checked = manager.find("who").get_checked()
    if not all(item.isdigit() for item in checked):
        return None
    return [int(item) for item in checked]


async def _volunteers_done(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    ids = _chosen_ids(manager)
    if ids is None:
        await query.answer(_(STALE_CHOICE), show_alert=True)
        return
    try:
        await training.check_attendees(session_of(manager), user_of(manager), ids)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await manager.switch_to(TrainingRecord.summary)


async def _save(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    session, user, data = session_of(manager), user_of(manager), manager.dialog_data
    ids = _chosen_ids(manager)
    try:
        if ids is None:
            raise InvalidInput(STALE_CHOICE)
        await training.record(
            session, user, name=data["name"], content=data["content"], minutes=int(data["minutes"]),
            organiser=data["organiser"], held_on=date.fromisoformat(data["held_on"]), volunteer_ids=ids,
            now=_clock(manager).now(),
        )
    except (KeyError, ValueError):
        await query.answer(_("Something is missing. Please start again with /training."), show_alert=True)
        return
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)  # saved before it is reported
    await query.answer()
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    count = len(set(ids))
    await query.message.edit_text(
        ngettext("✅ Saved: the training is on the record of {count} volunteer, who has been told.",
                 "✅ Saved: the training is on the records of {count} volunteers, who have been told.",
                 count).format(count=count),
        reply_markup=keyboards.main_menu(user.roles),
    )


async def _cancelled(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Cancelled: no training was recorded."),
                                  reply_markup=keyboards.main_menu(user_of(manager).roles))


async def _back_to_overview(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    """Back from the first step: to the trainings this person recorded, where they started."""
    user = user_of(manager)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(await recorded_text(session_of(manager), user), reply_markup=_overview_markup(user))


# --- getters and windows --------------------------------------------------------------------------------


async def _draft(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    state = dialog_manager.current_context().state
    data = dialog_manager.dialog_data
    today = _today(dialog_manager)
    return {
        "step": step(STEPS.index(state) + 1, len(STEPS)) if state in STEPS else "",
        "hour_items": [(str(h * 60), hours_label(h * 60)) for h in HOUR_BUTTONS],
        "example": (today - timedelta(days=1)).isoformat(),
        "name": esc(data.get("name") or ""),
        "content": esc(data.get("content") or ""),
        "hours": hours_label(int(data["minutes"])) if data.get("minutes") else "—",
        "organiser": esc(data.get("organiser") or ""),
        "date": training.day_text(date.fromisoformat(data["held_on"]), locale()) if data.get("held_on") else "—",
    }


async def _organiser_step(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    return {**await _draft(dialog_manager, **kwargs), "organisers": await _organisers(dialog_manager)}


async def _people(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    try:
        rows = await training.candidates(session_of(dialog_manager), user_of(dialog_manager))
    except DomainError:
        rows = []
    checked = set(dialog_manager.find("who").get_checked())
    chosen = [v for v in rows if str(v.user_id) in checked]
    joiner = "、" if locale() == "zh_CN" else ", "
    return {
        **await _draft(dialog_manager, **kwargs),
        "people": [(str(v.user_id), f"{v.real_name} · {v.volunteer_number or '—'}") for v in rows],
        "none": not rows,
        "count": len(checked),
        "names": esc(joiner.join(v.real_name for v in chosen)) or "—",
    }


def _cancel() -> Button:
    return Button(Tr("✖️ Cancel"), id="cancel", on_click=_cancelled)


def _text_step(state: Any, handler: Any, *prompt: Tr, first: bool = False) -> Window:
    back = Button(Tr("⬅️ Back"), id="back", on_click=_back_to_overview) if first else back_button()
    return Window(
        Lines(Format("{step}"), *prompt),
        MessageInput(handler, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        Row(back, _cancel()),
        state=state,
        getter=_draft,
    )


training_dialog = Dialog(
    _text_step(TrainingRecord.name, _name_given, Tr("📚 Record a training for volunteers."),
               Tr("What is the training called? For example “Basics of caring for older people”."), first=True),
    _text_step(TrainingRecord.content, _content_given, Tr("What did the training cover? A few sentences are enough.")),
    Window(
        Lines(Format("{step}"), Tr("How long was it? Tap the hours, or type them, like 1.5 or 1:30.")),
        Group(Select(Format("{item[1]}"), id="hours", item_id_getter=lambda i: i[0], items="hour_items",
                     on_click=_hours_chosen), width=4),
        MessageInput(_hours_typed, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        Row(back_button(), _cancel()),
        state=TrainingRecord.hours,
        getter=_draft,
    ),
    Window(
        Lines(Format("{step}"), Tr("Who organised it? Tap the name, or type another.")),
        Column(Select(Format("{item[1]}"), id="organiser", item_id_getter=lambda i: i[0], items="organisers",
                      on_click=_organiser_chosen)),
        MessageInput(_organiser_typed, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        Row(back_button(), _cancel()),
        state=TrainingRecord.organiser,
        getter=_organiser_step,
    ),
    Window(
        Lines(Format("{step}"), Tr("When was it held? Tap a day, or type the date, like {example}.")),
        Row(Button(Tr("📅 Today"), id="today", on_click=_day_button(0)),
            Button(Tr("📅 Yesterday"), id="yesterday", on_click=_day_button(1))),
        MessageInput(_day_typed, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        Row(back_button(), _cancel()),
        state=TrainingRecord.held_on,
        getter=_draft,
    ),
    Window(
        Lines(Format("{step}"), Tr("Who took part? Tap each volunteer, then “Next”."), Tr("Chosen: {count}."),
              Tr("There are no approved volunteers you look after yet.", when="none")),
        ScrollingGroup(
            Multiselect(Format("✅ {item[1]}"), Format("▫️ {item[1]}"), id="who", item_id_getter=lambda i: i[0],
                        items="people"),
            id="whopages", width=1, height=8, hide_on_single_page=True,
        ),
        MessageInput(_use_the_buttons, filter=not_command),
        Row(back_button(), Button(Tr("Next ➡️"), id="next", on_click=_volunteers_done)),
        _cancel(),
        state=TrainingRecord.volunteers,
        getter=_people,
    ),
    Window(
        Lines(Tr("Please check the training record:"), Tr("Training: {name}"), Tr("Content: {content}"),
              Tr("Length: {hours}"), Tr("Organiser: {organiser}"), Tr("Date: {date}"),
              Tr("Volunteers ({count}): {names}")),
        Button(Tr("💾 Save"), id="save", on_click=_save),
        Row(back_button(), _cancel()),
        state=TrainingRecord.summary,
        getter=_people,
    ),
)

__all__ = ["own_trainings_text", "parse_day", "parse_minutes", "router", "training_dialog"]
