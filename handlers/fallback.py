"""Last router: whatever nothing else handled gets a clear way forward."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import DialogManager

from handlers import keyboards
from handlers.filters import is_command
from models import User

router = Router(name=__name__)


@router.message(Command("invite"))
async def invite_refused(message: Message) -> None:
    await message.answer(_("Only coordinators can invite staff."))


@router.message(Command("team"))
async def team_refused(message: Message) -> None:
    await message.answer(_("Only a coordinator can change this."))


@router.message(Command("duty", "specialties"))
async def worker_command_refused(message: Message) -> None:
    await message.answer(_("Only social workers have a duty status and specialties."))


@router.callback_query()
async def stale_button(query: CallbackQuery, user: User | None = None) -> None:
    # An old menu, a button from a flow that was cancelled, or forged data: the menu shows the way on.
    await query.answer(_("This button is no longer active. Please use the menu below."), show_alert=True)
    if user is not None:  # a person of ours, in their private chat
        await query.bot.send_message(query.from_user.id, _("What would you like to do?"),
                                     reply_markup=keyboards.main_menu(user.roles))


@router.message(is_command)
async def unknown_command(message: Message, user: User | None = None) -> None:
    await message.answer(_("I do not know this command. Send /help to see what I can do."),
                         reply_markup=keyboards.main_menu(user.roles) if user is not None else None)


@router.message()
async def anything_else(message: Message, user: User, dialog_manager: DialogManager) -> None:
    if dialog_manager.has_context():
        await message.answer(_("Please use the buttons above, or send /cancel to stop."))
        return
    await message.answer(_("What would you like to do?"), reply_markup=keyboards.main_menu(user.roles))
