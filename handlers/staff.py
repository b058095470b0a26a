"""Coordinators: single-use, expiring staff invites (/invite)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import format_local_time
from bot.services import invites
from bot.services.errors import DomainError
from handlers import keyboards
from handlers.callbacks import InviteCB, MenuCB
from handlers.filters import HasRole
from handlers.texts import error_text, locale
from models import Role, User

router = Router(name=__name__)
# The whole router is for coordinators; others fall through to a polite refusal.
router.message.filter(HasRole(Role.COORDINATOR))
router.callback_query.filter(HasRole(Role.COORDINATOR))


@router.message(Command("invite"))
async def invite_command(message: Message) -> None:
    await message.answer(_("Whom would you like to invite?"), reply_markup=keyboards.invite_roles())


@router.callback_query(MenuCB.filter(F.action == "invite"))
async def invite_menu(query: CallbackQuery) -> None:
    await query.answer()
    await query.message.answer(_("Whom would you like to invite?"), reply_markup=keyboards.invite_roles())


@router.callback_query(InviteCB.filter())
async def invite_role_chosen(
    query: CallbackQuery,
    callback_data: InviteCB,
    session: AsyncSession,
    user: User,
    settings: Settings,
    bot: Bot,
    clock: Clock,
) -> None:
    try:
        role = Role(callback_data.role)
        invite = await invites.create_invite(session, user, role, settings.invite_ttl_hours, now=clock.now())
    except ValueError:
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await query.answer()
    me = await bot.me()
    link = f"https://t.me/{me.username}?start={invites.INVITE_PREFIX}{invite.token}"
    role_name = _("social worker") if role is Role.SOCIAL_WORKER else _("coordinator")
    await query.message.edit_text(
        "\n".join(
            [
                _("Invitation for a new {role}:").format(role=role_name),
                link,
                _("It works once and expires on {time}. Send it only to the person you mean.").format(
                    time=format_local_time(invite.expires_at, locale(), settings.timezone)
                ),
            ]
        )
    )
