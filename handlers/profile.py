"""Social workers: /duty (on or off duty) and /specialties (the services they are qualified for).

Routing offers new requests to on-duty workers, specialists first. The
specialties dialog is a paged Multiselect; what is saved is checked again
by the service (an id from forged data is refused, nothing is half-saved).
"""

from __future__ import annotations

from typing import Any

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import Button, Multiselect, Row, ScrollingGroup
from aiogram_dialog.widgets.text import Format
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import profiles
from bot.services.errors import DomainError, InvalidInput
from bot.transaction import end_transaction
from handlers import keyboards
from handlers.callbacks import MenuCB
from handlers.filters import HasRole
from handlers.states import Specialties
from handlers.texts import error_text, esc, locale
from handlers.widgets import Lines, Tr, close_dialogs, session_of, user_of
from models import Role, User

router = Router(name=__name__)
# For social workers; anyone else falls through to the fallback's polite answers.
router.message.filter(HasRole(Role.SOCIAL_WORKER))
router.callback_query.filter(HasRole(Role.SOCIAL_WORKER))


def duty_text(user: User) -> str:
    worker = user.social_worker
    community = worker.home_community if worker is not None else None
    name = esc(community.display_name(locale())) if community is not None else "—"
    if worker is not None and worker.on_duty:
        return _("You are on duty: new requests in {community} can be offered to you.").format(community=name)
    return _("You are off duty: no new requests will be offered to you until you send /duty again.")


async def _toggle_duty(user: User) -> str:
    profiles.set_duty(user, not user.social_worker.on_duty)
    return duty_text(user)


@router.message(Command("duty"))
async def duty_command(message: Message, user: User) -> None:
    try:
        text = await _toggle_duty(user)
    except DomainError as error:
        await message.answer(error_text(error))
        return
    await message.answer(text, reply_markup=keyboards.main_menu(user.roles))  # sent after the commit


@router.callback_query(MenuCB.filter(F.action == "duty"))
async def duty_menu(query: CallbackQuery, user: User) -> None:
    try:
        text = await _toggle_duty(user)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await query.answer()
    await query.message.answer(text, reply_markup=keyboards.main_menu(user.roles))


async def _start_specialties(manager: DialogManager) -> None:
    await close_dialogs(manager)
    await manager.start(Specialties.choose, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


@router.message(Command("specialties"))
async def specialties_command(message: Message, dialog_manager: DialogManager) -> None:
    await _start_specialties(dialog_manager)


@router.callback_query(MenuCB.filter(F.action == "specialties"))
async def specialties_menu(query: CallbackQuery, dialog_manager: DialogManager) -> None:
    await query.answer()
    await _start_specialties(dialog_manager)


async def _on_start(_data: Any, manager: DialogManager) -> None:
    chosen = await profiles.specialties_of(session_of(manager), user_of(manager))
    picker = manager.find("spec")
    for category_id in sorted(chosen):
        await picker.set_checked(str(category_id), True)


async def _categories(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    offered = await profiles.offered_categories(session_of(dialog_manager), user_of(dialog_manager))
    lang = locale()
    return {
        "categories": [(str(c.id), c.display_name(lang)) for c in offered],
        "count": len(dialog_manager.find("spec").get_checked()),
    }


async def _saved(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    checked = manager.find("spec").get_checked()
    session: AsyncSession = session_of(manager)
    try:
        if not all(item.isdigit() for item in checked):  # forged data
            raise InvalidInput(profiles.NOT_OFFERED)
        chosen = await profiles.set_specialties(session, user_of(manager), [int(item) for item in checked])
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)  # saved before the dialog closes and before it is reported
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    text = (
        _("Saved. New requests for these {count} services will be offered to you first.").format(count=len(chosen))
        if chosen
        else _("Saved. You have no specialties: you will be offered requests of any kind in your community.")
    )
    await query.message.edit_text(text, reply_markup=keyboards.main_menu(user_of(manager).roles))


async def _cancelled(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Cancelled."), reply_markup=keyboards.main_menu(user_of(manager).roles))


specialties_dialog = Dialog(
    Window(
        Lines(
            Tr("Which services are you qualified for? Requests for them will be offered to you first."),
            Tr("Tap to choose or unchoose, then “Save”. Chosen: {count}."),
        ),
        ScrollingGroup(
            Multiselect(Format("✅ {item[1]}"), Format("▫️ {item[1]}"), id="spec",
                        item_id_getter=lambda item: item[0], items="categories"),
            id="specpages",
            width=1,
            height=8,
            hide_on_single_page=True,
        ),
        Row(Button(Tr("💾 Save"), id="save", on_click=_saved), Button(Tr("✖️ Cancel"), id="cancel", on_click=_cancelled)),
        state=Specialties.choose,
        getter=_categories,
    ),
    on_start=_on_start,
)
