"""Commands that work anywhere: /help, /cancel, /language, and the main menu."""

from __future__ import annotations

import contextlib

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import DialogManager, ShowMode

from bot.menus import set_chat_menu
from bot.services import users
from bot.services.errors import DomainError
from handlers import keyboards
from handlers.callbacks import LanguageCB, MenuCB
from handlers.onboarding import start_community_choice
from handlers.states import Onboarding
from handlers.texts import error_text
from handlers.widgets import close_dialogs
from models import Role, User

router = Router(name=__name__)


def help_text(user: User) -> str:
    lines = [
        _("Here is what I can do:"),
        _("/new — ask for help"),
        _("/my — your requests and how they are going"),
        _("/volunteer — volunteer with us, or change your volunteer details"),
        _("/language — 中文 / English"),
        _("/cancel — cancel what you are doing"),
    ]
    if user.has_role(Role.SOCIAL_WORKER):
        lines.append(_("/cases — cases offered to you, your open cases, overdue ones"))
        lines.append(_("/duty — go on or off duty"))
        lines.append(_("/specialties — the services you are qualified for"))
    if user.has_role(Role.SOCIAL_WORKER) or user.has_role(Role.COORDINATOR):
        lines.append(_("/volunteers — the volunteers you look after: approve, suspend, reinstate"))
        lines.append(_("/training — record a training for volunteers"))
        lines.append(_("/trainings — the trainings you recorded"))
        lines.append(_("/tasks — volunteer tasks: create one, see who is coming"))
        lines.append(_("/export — verified service records of a period, as a workbook"))
    elif user.has_role(Role.VOLUNTEER):
        lines.append(_("/trainings — the trainings on your volunteer record"))
        lines.append(_("/tasks — your volunteer tasks and offers"))
        lines.append(_("/checkin, /checkout — when you arrive at a task and when you leave"))
        lines.append(_("/hours — your verified service hours and records"))
        lines.append(_("/certificate — a certificate of your volunteer service (PDF)"))
    if user.has_role(Role.COORDINATOR):
        if not user.has_role(Role.SOCIAL_WORKER):
            lines.append(_("/cases — requests waiting for a social worker, and overdue ones"))
        lines.append(_("/invite — invite a social worker or coordinator"))
        lines.append(_("/team — the social workers: capacity, supervisors, support assignments"))
    return "\n".join(lines)


@router.message(Command("help"))
async def show_help(message: Message, user: User) -> None:
    await message.answer(help_text(user), reply_markup=keyboards.main_menu(user.roles))


@router.message(Command("cancel"))
async def cancel_anything(message: Message, user: User, dialog_manager: DialogManager) -> None:
    had_flow = dialog_manager.has_context()
    await close_dialogs(dialog_manager)
    text = _("Cancelled.") if had_flow else _("There is nothing to cancel.")
    await message.answer(text, reply_markup=ReplyKeyboardRemove())
    await message.answer(_("What would you like to do?"), reply_markup=keyboards.main_menu(user.roles))


@router.message(Command("language"))
async def choose_language(message: Message) -> None:
    await message.answer(_("Please choose your language:"), reply_markup=keyboards.languages())


@router.callback_query(LanguageCB.filter())
async def language_chosen(
    query: CallbackQuery,
    callback_data: LanguageCB,
    user: User,
    i18n: I18n,
    bot: Bot,
    dialog_manager: DialogManager,
) -> None:
    try:
        users.set_locale(user, callback_data.code)  # the code is checked against the supported list
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    i18n.current_locale = user.locale or i18n.default_locale  # the rest of this update speaks it
    await query.answer()
    await set_chat_menu(bot, i18n, query.message.chat.id, i18n.current_locale)
    await query.message.edit_text(_("Done: I will talk with you in English."))
    if dialog_manager.has_context() and dialog_manager.current_context().state == Onboarding.language:
        # First contact, language chosen with /language instead of the greeting's buttons.
        dialog_manager.dialog_data["from_language"] = True
        greeting = dialog_manager.current_stack().last_message_id
        if greeting is not None:  # its language buttons have done their job
            with contextlib.suppress(TelegramBadRequest):
                await bot.edit_message_reply_markup(chat_id=query.from_user.id, message_id=greeting, reply_markup=None)
        await dialog_manager.switch_to(Onboarding.community)
        await dialog_manager.show(ShowMode.SEND)  # not a dialog's own button: show it here
    elif dialog_manager.has_context():
        # Mid-flow: the current step again, in the new language; what was entered is kept.
        await dialog_manager.show(ShowMode.SEND)
    elif user.community is None:
        # First contact: the next step of /start is choosing one's community.
        await start_community_choice(dialog_manager, purpose="home")
    else:
        await query.message.answer(_("What would you like to do?"), reply_markup=keyboards.main_menu(user.roles))


@router.callback_query(MenuCB.filter(F.action == "help"))
async def menu_help(query: CallbackQuery, user: User) -> None:
    await query.answer()
    await query.message.answer(help_text(user), reply_markup=keyboards.main_menu(user.roles))
