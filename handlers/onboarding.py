"""/start: greeting, language, choosing one's community; staff invites via deep links."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.services import communities, invites, users
from bot.services.errors import N_, DomainError
from handlers import keyboards
from handlers.callbacks import CommunityPageCB, CommunityPickCB, MenuCB, StepCB
from handlers.filters import not_command
from handlers.states import Onboarding
from handlers.texts import bilingual, error_text, esc, locale
from models import Role, User

router = Router(name=__name__)


async def show_community_page(
    message: Message, session: AsyncSession, state: FSMContext, *, page: int, edit: bool
) -> None:
    await state.set_state(Onboarding.community)
    result = await communities.list_page(session, page)
    text = "\n".join(
        [
            _("Which community do you live in? (page {page} of {pages})").format(page=result.page + 1, pages=result.pages),
            _("Tap it below, or type its name to search."),
        ]
    )
    markup = keyboards.community_page(result, locale())
    if edit:
        await message.edit_text(text, reply_markup=markup)
    else:
        await message.answer(text, reply_markup=markup)


@router.message(CommandStart(deep_link=True, magic=F.args.startswith(invites.INVITE_PREFIX)))
async def start_with_invite(
    message: Message, command: CommandObject, session: AsyncSession, user: User, state: FSMContext, clock: Clock
) -> None:
    await state.clear()
    token = (command.args or "").removeprefix(invites.INVITE_PREFIX)
    try:
        invite = await invites.redeem_invite(session, user, token, now=clock.now())
    except DomainError as error:
        await message.answer(error_text(error))
        return
    if invite.role is Role.SOCIAL_WORKER:
        await message.answer(_("Welcome to Linli! You are now registered as a social worker."))
        await message.answer(_("Please choose your home community: new requests there will come to you."))
        await state.update_data(purpose="staff")
        await show_community_page(message, session, state, page=0, edit=False)
    else:
        await message.answer(
            _("Welcome to Linli! You are now a coordinator. Send /invite to invite social workers."),
            reply_markup=keyboards.main_menu(user.roles),
        )


@router.message(CommandStart())
async def start(message: Message, session: AsyncSession, user: User, state: FSMContext, i18n: I18n) -> None:
    await state.clear()
    if user.locale is None:
        await state.set_state(Onboarding.language)
        await message.answer(
            bilingual(i18n, N_("Hello! I am Linli. I can put you in touch with your community's social workers."))
            + "\n\n"
            + bilingual(i18n, N_("Please choose your language:")),
            reply_markup=keyboards.languages(),
        )
        return
    if user.community is None:
        await message.answer(_("Hello! I am Linli. I can put you in touch with your community's social workers."))
        await show_community_page(message, session, state, page=0, edit=False)
        return
    await message.answer(
        _("Welcome back, {name}! Your community: {community}.").format(
            name=esc(user.display_name), community=esc(user.community.display_name(locale()))
        ),
        reply_markup=keyboards.main_menu(user.roles),
    )


@router.callback_query(MenuCB.filter(F.action == "community"))
async def change_community(query: CallbackQuery, session: AsyncSession, state: FSMContext) -> None:
    await query.answer()
    await state.clear()
    await show_community_page(query.message, session, state, page=0, edit=False)


@router.callback_query(Onboarding.community, CommunityPageCB.filter())
async def community_page(
    query: CallbackQuery, callback_data: CommunityPageCB, session: AsyncSession, state: FSMContext
) -> None:
    await query.answer()
    await show_community_page(query.message, session, state, page=callback_data.page, edit=True)


@router.callback_query(Onboarding.community, CommunityPickCB.filter())
async def community_picked(
    query: CallbackQuery, callback_data: CommunityPickCB, session: AsyncSession, user: User, state: FSMContext
) -> None:
    purpose = (await state.get_data()).get("purpose")
    try:
        if purpose == "staff":
            community = await users.set_work_community(session, user, callback_data.id)
        else:
            community = await users.set_home_community(session, user, callback_data.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await state.clear()
    await query.answer()
    name = esc(community.display_name(locale()))
    district = esc(community.display_district(locale()))
    if purpose == "staff":
        text = _("Your home community is {community} ({district}). New requests there will be sent to you here.")
    else:
        text = _("Your community is {community} ({district}). Whenever you need help, tap the button below or send /new.")
    await query.message.edit_text(text.format(community=name, district=district))
    await query.message.answer(_("What would you like to do?"), reply_markup=keyboards.main_menu(user.roles))


@router.callback_query(Onboarding.community, StepCB.filter(F.action == "back"))
async def community_back(query: CallbackQuery, state: FSMContext, i18n: I18n) -> None:
    await query.answer()
    await state.set_state(Onboarding.language)
    await query.message.edit_text(bilingual(i18n, N_("Please choose your language:")), reply_markup=keyboards.languages())


@router.message(Onboarding.community, F.text, not_command)
async def community_search(message: Message, session: AsyncSession) -> None:
    found = await communities.search(session, message.text or "")
    if not found:
        await message.answer(
            _("I could not find a community called “{query}”. Please try another name, or choose from the list.").format(
                query=esc((message.text or "").strip()[:50])
            ),
            reply_markup=keyboards.community_matches([], locale()),
        )
        return
    await message.answer(
        _("Is it one of these? Tap your community."), reply_markup=keyboards.community_matches(found, locale())
    )


@router.message(Onboarding.community, not_command)
async def community_wrong_input(message: Message) -> None:
    await message.answer(_("Please type the name of your community, or tap it in the list above."))


@router.message(Onboarding.language, not_command)
async def language_wrong_input(message: Message, i18n: I18n) -> None:
    await message.answer(bilingual(i18n, N_("Please tap a button to choose your language.")),
                         reply_markup=keyboards.languages())
