"""Coordinators: /team — each social worker's capacity, supervisor flag and support assignments.

A support assignment (the policy's "three areas plan") lets a worker take requests
of another community for a period: from today for one, three, six or twelve months,
counted in that community's time zone from the injectable clock. Every choice is
checked again by `bot.services.profiles`; ids in callback data are never trusted.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import Button, Column, Row, ScrollingGroup, Select, SwitchTo
from aiogram_dialog.widgets.text import Format

from bot.clock import Clock
from bot.config import Settings
from bot.services import communities, profiles
from bot.services.errors import DomainError, InvalidInput
from bot.transaction import end_transaction
from handlers import keyboards
from handlers.callbacks import MenuCB
from handlers.filters import HasRole
from handlers.states import Team
from handlers.texts import error_text, esc, locale
from handlers.widgets import Tr, close_dialogs, session_of, user_of
from models import Role

router = Router(name=__name__)
router.message.filter(HasRole(Role.COORDINATOR))
router.callback_query.filter(HasRole(Role.COORDINATOR))

CAPACITIES = (3, 5, 8, 10, 15, 20, 30)
PERIOD_MONTHS = (1, 3, 6, 12)


def months_later(start: date, months: int) -> date:
    """The last day of a period of whole months that starts on ``start``."""
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return date(year, month, day) - timedelta(days=1)


def _today(manager: DialogManager, tz: str | None = None) -> date:
    clock: Clock = manager.middleware_data["clock"]
    settings: Settings = manager.middleware_data["settings"]
    return clock.now().astimezone(ZoneInfo(tz or settings.timezone)).date()


async def _start(manager: DialogManager) -> None:
    await close_dialogs(manager)
    await manager.start(Team.workers, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


@router.message(Command("team"))
async def team_command(message: Message, dialog_manager: DialogManager) -> None:
    await _start(dialog_manager)


@router.callback_query(MenuCB.filter(F.action == "team"))
async def team_menu(query: CallbackQuery, dialog_manager: DialogManager) -> None:
    await query.answer()
    await _start(dialog_manager)


# -- the list and one worker's card ------------------------------------------------

async def _workers(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    rows = await profiles.list_workers(session_of(dialog_manager), user_of(dialog_manager))
    lang = locale()
    items = []
    for user, worker in rows:
        community = worker.home_community.display_name(lang) if worker.home_community else "—"
        duty = "🟢" if worker.on_duty else "⚪"
        items.append((str(user.id), f"{duty} {user.display_name} · {community}"))
    return {"workers": items, "none": not items}


async def _worker_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, worker_id: str) -> None:
    if not worker_id.isdigit():  # forged data
        await query.answer(_("This social worker could not be found."), show_alert=True)
        return
    manager.dialog_data["worker"] = int(worker_id)
    await manager.switch_to(Team.card)


async def _card(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    card = await profiles.worker_card(
        session_of(dialog_manager), user_of(dialog_manager), dialog_manager.dialog_data["worker"],
        today=_today(dialog_manager),
    )
    lang = locale()
    profile = card.profile
    lines = [
        f"<b>{esc(card.user.display_name)}</b>",
        _("Home community: {community}").format(
            community=esc(profile.home_community.display_name(lang)) if profile.home_community else "—"),
        _("On duty") if profile.on_duty else _("Off duty"),
        _("Open cases: {open} of at most {capacity}").format(open=card.open_cases, capacity=profile.capacity),
        _("Supervisor of the station: {answer}").format(answer=_("yes") if profile.is_supervisor else _("no")),
        _("Specialties: {names}").format(
            names=esc("、".join(c.display_name(lang) for c in card.specialties)) if card.specialties else "—"),
    ]
    if card.assignments:
        lines.append(_("Supports:"))
        lines.extend(
            f"• {esc(a.community.display_name(lang))}: {a.starts_on.isoformat()} – {a.ends_on.isoformat()}"
            for a in card.assignments
        )
    return {
        "card": "\n".join(lines),
        "supervisor": profile.is_supervisor,
        "has_assignments": bool(card.assignments),
        "assignments": [
            (str(a.id), f"{a.community.display_name(lang)}: {a.starts_on.isoformat()} – {a.ends_on.isoformat()}")
            for a in card.assignments
        ],
    }


async def _saved(query: CallbackQuery, manager: DialogManager, text: str) -> None:
    """Commit first; only then say so, and show the card again."""
    await end_transaction(session_of(manager))
    await query.answer(text)
    await manager.switch_to(Team.card)


async def _capacity_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, value: str) -> None:
    try:
        worker = await profiles.set_capacity(
            session_of(manager), user_of(manager), manager.dialog_data["worker"], int(value) if value.isdigit() else 0
        )
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await _saved(query, manager, _("Saved: at most {count} open cases.").format(count=worker.capacity))


async def _supervisor_toggled(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    session = session_of(manager)
    try:
        card = await profiles.worker_card(session, user_of(manager), manager.dialog_data["worker"],
                                          today=_today(manager))
        worker = await profiles.set_supervisor(session, user_of(manager), card.user.id, not card.profile.is_supervisor)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await _saved(query, manager, _("Saved: supervisor.") if worker.is_supervisor else _("Saved: not a supervisor."))


# -- support assignments -------------------------------------------------------------

async def _support_communities(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    found = await communities.list_page(session_of(dialog_manager), 0, per_page=500)
    lang = locale()
    return {"communities": [(str(c.id), f"{c.display_name(lang)} · {c.display_district(lang)}") for c in found.items]}


async def _support_community_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, cid: str) -> None:
    if not cid.isdigit():
        await query.answer(_("This community is no longer on the list. Please choose again."), show_alert=True)
        return
    manager.dialog_data["community"] = int(cid)
    await manager.switch_to(Team.support_period)


async def _periods(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    today = _today(dialog_manager)
    return {
        "periods": [
            (str(months), ngettext("From today for {count} month (until {end})",
                                   "From today for {count} months (until {end})", months).format(
                count=months, end=months_later(today, months).isoformat()))
            for months in PERIOD_MONTHS
        ]
    }


async def _period_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, months: str) -> None:
    session = session_of(manager)
    clock: Clock = manager.middleware_data["clock"]
    try:
        if not months.isdigit() or int(months) not in PERIOD_MONTHS:
            raise InvalidInput(profiles.NOT_A_PERIOD)
        community = await communities.get_active(session, manager.dialog_data.get("community") or 0)
        start = _today(manager, community.timezone)
        await profiles.assign_support(
            session, user_of(manager), manager.dialog_data["worker"], community.id,
            start, months_later(start, int(months)), now=clock.now(),
        )
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await _saved(query, manager, _("Saved: the support assignment."))


async def _support_ended(query: CallbackQuery, _widget: Any, manager: DialogManager, assignment_id: str) -> None:
    try:
        await profiles.end_support(
            session_of(manager), user_of(manager), int(assignment_id) if assignment_id.isdigit() else 0,
            worker_user_id=manager.dialog_data["worker"], today=_today(manager),
        )
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await _saved(query, manager, _("Saved: the support assignment has ended."))


async def _closed(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("What would you like to do?"), reply_markup=keyboards.main_menu(user_of(manager).roles))


def _back_to(state: Any) -> SwitchTo:
    return SwitchTo(Tr("⬅️ Back"), id=f"back_{state.state.split(':')[-1]}", state=state)


team_dialog = Dialog(
    Window(
        Tr("The social workers (🟢 on duty). Tap one to see and change their profile."),
        Tr("There are no social workers yet. Invite them with /invite.", when="none"),
        ScrollingGroup(
            Select(Format("{item[1]}"), id="worker", item_id_getter=lambda item: item[0], items="workers",
                   on_click=_worker_chosen),
            id="workerpages", width=1, height=8, hide_on_single_page=True,
        ),
        Button(Tr("✖️ Close"), id="close", on_click=_closed),
        state=Team.workers,
        getter=_workers,
    ),
    Window(
        Format("{card}"),
        SwitchTo(Tr("📦 Capacity"), id="capacity", state=Team.capacity),
        Button(Tr("⭐ Make supervisor"), id="sup_on", on_click=_supervisor_toggled, when=lambda d, w, m: not d["supervisor"]),
        Button(Tr("☆ No longer supervisor"), id="sup_off", on_click=_supervisor_toggled, when="supervisor"),
        SwitchTo(Tr("➕ Support another community"), id="support", state=Team.support_community),
        SwitchTo(Tr("➖ End a support assignment"), id="unsupport", state=Team.end_support, when="has_assignments"),
        Row(_back_to(Team.workers), Button(Tr("✖️ Close"), id="close", on_click=_closed)),
        state=Team.card,
        getter=_card,
    ),
    Window(
        Tr("How many open cases at most?"),
        Row(Select(Format("{item}"), id="cap", item_id_getter=str, items=list(CAPACITIES), on_click=_capacity_chosen)),
        _back_to(Team.card),
        state=Team.capacity,
    ),
    Window(
        Tr("Which community should they support?"),
        ScrollingGroup(
            Select(Format("{item[1]}"), id="scomm", item_id_getter=lambda item: item[0], items="communities",
                   on_click=_support_community_chosen),
            id="scommpages", width=1, height=8, hide_on_single_page=True,
        ),
        _back_to(Team.card),
        state=Team.support_community,
        getter=_support_communities,
    ),
    Window(
        Tr("For how long?"),
        Column(Select(Format("{item[1]}"), id="months", item_id_getter=lambda item: item[0], items="periods",
                      on_click=_period_chosen)),
        _back_to(Team.support_community),
        state=Team.support_period,
        getter=_periods,
    ),
    Window(
        Tr("Which support assignment ends today?"),
        Column(Select(Format("{item[1]}"), id="unsup", item_id_getter=lambda item: item[0], items="assignments",
                      on_click=_support_ended)),
        _back_to(Team.card),
        state=Team.end_support,
        getter=_card,
    ),
)
