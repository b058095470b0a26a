"""Coordinators: single-use, expiring staff invitations (/invite), as a small dialog."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import Button, Column, Select, SwitchTo
from aiogram_dialog.widgets.link_preview import LinkPreview
from aiogram_dialog.widgets.text import Format

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import format_local_time
from bot.services import invites
from bot.services.errors import DomainError
from handlers.callbacks import MenuCB
from handlers.filters import HasRole
from handlers.states import InviteStaff
from handlers.texts import error_text, locale
from handlers.widgets import Tr
from models import Role, User

router = Router(name=__name__)
# The commands are for coordinators; others fall through to a polite refusal. The
# dialog's own buttons are checked again by the service (create_invite).
router.message.filter(HasRole(Role.COORDINATOR))
router.callback_query.filter(HasRole(Role.COORDINATOR))


@router.message(Command("invite"))
async def invite_command(message: Message, dialog_manager: DialogManager) -> None:
    await dialog_manager.start(InviteStaff.role, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


@router.callback_query(MenuCB.filter(F.action == "invite"))
async def invite_menu(query: CallbackQuery, dialog_manager: DialogManager) -> None:
    await query.answer()
    await dialog_manager.start(InviteStaff.role, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _role_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, role_value: str) -> None:
    user: User = manager.middleware_data["user"]
    settings: Settings = manager.middleware_data["settings"]
    clock: Clock = manager.middleware_data["clock"]
    bot: Bot = manager.middleware_data["bot"]
    try:
        role = Role(role_value)
        invite = await invites.create_invite(
            manager.middleware_data["session"], user, role, settings.invite_ttl_hours, now=clock.now()
        )
    except ValueError:
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    me = await bot.me()
    manager.dialog_data.update(
        role=role.value,
        link=f"https://t.me/{me.username}?start={invites.INVITE_PREFIX}{invite.token}",
        expires=invite.expires_at.isoformat(),
    )
    await manager.switch_to(InviteStaff.link)


async def _link(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    data = dialog_manager.dialog_data
    settings: Settings = dialog_manager.middleware_data["settings"]
    role_name = _("social worker") if data.get("role") == Role.SOCIAL_WORKER.value else _("coordinator")
    return {
        "text": "\n".join(
            [
                _("Invitation for a new {role}:").format(role=role_name),
                data.get("link", ""),
                _("It works once and expires on {time}. Send it only to the person you mean.").format(
                    time=format_local_time(datetime.fromisoformat(data["expires"]), locale(), settings.timezone)
                ),
            ]
        )
    }


async def _roles(**_kwargs: Any) -> dict[str, Any]:
    return {"roles": [(Role.SOCIAL_WORKER.value, _("Social worker")), (Role.COORDINATOR.value, _("Coordinator"))]}


async def _closed(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_reply_markup(reply_markup=None)


invite_dialog = Dialog(
    Window(
        Tr("Whom would you like to invite?"),
        Column(Select(Format("{item[1]}"), id="role", item_id_getter=lambda item: item[0], items="roles",
                      on_click=_role_chosen)),
        Button(Tr("✖️ Cancel"), id="cancel", on_click=_closed),
        state=InviteStaff.role,
        getter=_roles,
    ),
    Window(
        Format("{text}"),
        SwitchTo(Tr("✉️ Invite someone else"), id="again", state=InviteStaff.role),
        LinkPreview(is_disabled=True),
        state=InviteStaff.link,
        getter=_link,
    ),
)
