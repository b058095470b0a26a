"""/start: greeting, language and one's community, as an aiogram-dialog dialog;
staff invitations arrive as deep links (`/start inv_<token>`)."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ContentType
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import Button, Column, Row, Select
from aiogram_dialog.widgets.text import Format
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.menus import set_chat_menu
from bot.services import communities, invites, users
from bot.services.errors import N_, DomainError, NotFound
from bot.transaction import end_transaction
from handlers import keyboards
from handlers.callbacks import MenuCB
from handlers.filters import not_command
from handlers.states import Onboarding
from handlers.texts import bilingual, error_text, esc, locale
from handlers.widgets import MessageInput, Tr, close_dialogs, session_of, user_of
from models import Role, User

router = Router(name=__name__)

GREETING = N_("Hello! I am Linli. I can put you in touch with your community's social workers.")
CHOOSE_LANGUAGE = N_("Please choose your language:")
CHANGE_LANGUAGE = N_("You can change the language at any time with /language (中文 / English).")


def language_of_client(language_code: str | None) -> str | None:
    """The supported language a Telegram client reports (zh-hans, zh-CN, en-GB…), or None."""
    code = (language_code or "").lower()
    if code.startswith("zh"):
        return "zh_CN"
    if code.startswith("en"):
        return "en"
    return None


async def adopt_client_language(message: Message, user: User, i18n: I18n, bot: Bot) -> bool:
    """First contact from a Chinese or English client: speak its language without asking.

    The person can still switch with /language. Returns False when the client's
    language is neither, and the greeting asks.
    """
    code = language_of_client(message.from_user.language_code if message.from_user else None)
    if user.locale is not None or code is None:
        return False
    users.set_locale(user, code)
    i18n.current_locale = code  # the rest of this update speaks it
    await set_chat_menu(bot, i18n, message.chat.id, code)
    return True


async def start_community_choice(manager: DialogManager, *, purpose: str) -> None:
    """Ask where the person lives ("home") or, for a new social worker, where they work ("staff")."""
    await close_dialogs(manager)
    await manager.start(
        Onboarding.community, data={"purpose": purpose}, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND
    )


@router.message(CommandStart(deep_link=True, magic=F.args.startswith(invites.INVITE_PREFIX)))
async def start_with_invite(
    message: Message, command: CommandObject, session: AsyncSession, user: User, clock: Clock,
    dialog_manager: DialogManager, i18n: I18n, bot: Bot,
) -> None:
    await close_dialogs(dialog_manager)
    await adopt_client_language(message, user, i18n, bot)
    token = (command.args or "").removeprefix(invites.INVITE_PREFIX)
    try:
        invite = await invites.redeem_invite(session, user, token, now=clock.now())
    except DomainError as error:
        await message.answer(error_text(error))
        # Not staff after all: the way on is the one anyone else has.
        await start(message, user, dialog_manager, i18n, bot)
        return
    if invite.role is Role.SOCIAL_WORKER:
        if user.social_worker is not None and user.social_worker.home_community_id is None:
            await message.answer(_("Welcome to Linli! You are now registered as a social worker."))
            await message.answer(_("Please choose your home community: new requests there will come to you."))
            await start_community_choice(dialog_manager, purpose="staff")
        else:
            # Imported with their community: nothing to ask, new requests there come here.
            community = user.social_worker.home_community if user.social_worker else None
            await message.answer(
                _("Welcome to Linli! You are now registered as a social worker of {community}. "
                  "New requests there will come to you here.").format(
                    community=esc(community.display_name(locale()) if community else "—")),
                reply_markup=keyboards.main_menu(user.roles),
            )
    else:
        await message.answer(
            _("Welcome to Linli! You are now a coordinator. Send /invite to invite social workers."),
            reply_markup=keyboards.main_menu(user.roles),
        )


def _purpose(user: User) -> str:
    """What the community question is for: where a social worker serves, or where a resident lives."""
    return "staff" if user.has_role(Role.SOCIAL_WORKER) and not user.has_role(Role.COORDINATOR) else "home"


def _needs_community(user: User) -> bool:
    if user.has_role(Role.COORDINATOR):
        return False  # coordinators serve the whole district: they go straight to their menu
    if user.has_role(Role.SOCIAL_WORKER):
        return user.social_worker is None or user.social_worker.home_community_id is None
    return user.community is None


async def show_home(message: Message, user: User) -> None:
    """Where /start leads once language (and community) are known: the menu of one's role."""
    if user.has_role(Role.COORDINATOR):
        await message.answer(
            _("Welcome, {name}! You are a coordinator. Invite staff and follow the requests from here.").format(
                name=esc(user.display_name)
            ),
            reply_markup=keyboards.main_menu(user.roles),
        )
        return
    community = user.community
    if user.has_role(Role.SOCIAL_WORKER) and user.social_worker is not None:
        community = user.social_worker.home_community or community
    await message.answer(
        _("Welcome back, {name}! Your community: {community}.").format(
            name=esc(user.display_name), community=esc(community.display_name(locale()) if community else "—")
        ),
        reply_markup=keyboards.main_menu(user.roles),
    )


@router.message(CommandStart())
async def start(message: Message, user: User, dialog_manager: DialogManager, i18n: I18n, bot: Bot) -> None:
    await close_dialogs(dialog_manager)
    adopted = await adopt_client_language(message, user, i18n, bot)
    if user.locale is None:
        # The client speaks neither language: the greeting, in both, asks.
        await dialog_manager.start(Onboarding.language, data={"purpose": _purpose(user)}, mode=StartMode.RESET_STACK,
                                   show_mode=ShowMode.SEND)
        return
    if _needs_community(user):
        greeting = _(GREETING) + ("\n" + _(CHANGE_LANGUAGE) if adopted else "")
        await message.answer(greeting)
        await start_community_choice(dialog_manager, purpose=_purpose(user))
        return
    await show_home(message, user)


@router.callback_query(MenuCB.filter(F.action == "community"))
async def change_community(query: CallbackQuery, dialog_manager: DialogManager) -> None:
    await query.answer()
    await start_community_choice(dialog_manager, purpose="home")


# -- the dialog ------------------------------------------------------------------

async def _language_text(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    i18n: I18n = dialog_manager.middleware_data["i18n"]
    # Before a language is chosen, the greeting speaks both.
    return {"prompt": bilingual(i18n, GREETING) + "\n\n" + bilingual(i18n, CHOOSE_LANGUAGE)}


async def _language_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, code: str) -> None:
    user = user_of(manager)
    i18n: I18n = manager.middleware_data["i18n"]
    try:
        users.set_locale(user, code)  # checked against the supported list: the data may be forged
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    i18n.current_locale = code  # the rest of this update speaks the new language
    await set_chat_menu(manager.middleware_data["bot"], i18n, query.from_user.id, code)
    if not _needs_community(user):
        await end_transaction(session_of(manager))  # the language is saved before it is used
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await query.message.edit_reply_markup(reply_markup=None)
        await show_home(query.message, user)
        return
    manager.dialog_data["from_language"] = True
    await manager.switch_to(Onboarding.community)


PER_PAGE = 6


async def _communities(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    session = session_of(dialog_manager)
    data = dialog_manager.dialog_data
    lang = locale()
    query = data.get("query")
    if query:
        found = await communities.search(session, query)
        page, pages = 0, 1
        if found:
            header = _("Is it one of these? Tap your community.")
        else:
            header = _("I could not find a community called “{query}”. Please try another name, or choose from the list.").format(
                query=esc(query[:50])
            )
    else:
        result = await communities.list_page(session, data.get("page", 0), PER_PAGE)
        found, page, pages = result.items, result.page, result.pages
        staff = (dialog_manager.start_data or {}).get("purpose") == "staff"
        question = (
            _("Which community do you serve? (page {page} of {pages})")
            if staff
            else _("Which community do you live in? (page {page} of {pages})")
        )
        header = "\n".join(
            [question.format(page=page + 1, pages=pages), _("Tap it below, or type its name to search.")]
        )
    return {
        "header": header,
        "communities": [
            (str(c.id), f"{c.display_name(lang)} · {c.display_district(lang)}") for c in found
        ],
        "has_previous": not query and page > 0,
        "has_next": not query and page < pages - 1,
        "searching": bool(query),
        "page": page,
        # Back leads to the choice of language only on first contact, where that came just before.
        "from_language": dialog_manager.dialog_data.get("from_language", False),
    }


async def _page(manager: DialogManager, delta: int) -> None:
    manager.dialog_data["page"] = max(0, manager.dialog_data.get("page", 0) + delta)


async def _previous(_query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    await _page(manager, -1)


async def _next(_query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    await _page(manager, +1)


async def _whole_list(_query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    manager.dialog_data.pop("query", None)
    manager.dialog_data["page"] = 0


async def _searched(message: Message, _widget: Any, manager: DialogManager) -> None:
    manager.dialog_data["query"] = (message.text or "").strip()[: communities.MAX_QUERY_LENGTH]
    manager.show_mode = ShowMode.SEND


async def _not_a_name(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please type the name of your community, or tap it in the list above."))
    manager.show_mode = ShowMode.NO_UPDATE


async def _community_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, community_id: str) -> None:
    user = user_of(manager)
    purpose = (manager.start_data or {}).get("purpose")
    session = session_of(manager)
    try:
        if not community_id.isdigit():  # forged data
            raise NotFound(N_("This community is no longer on the list. Please choose again."))
        if purpose == "staff":
            community = await users.set_work_community(session, user, int(community_id))
        else:
            community = await users.set_home_community(session, user, int(community_id))
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    # Saved before the dialog closes: if this commit fails, the picker stays as it was.
    await end_transaction(session)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    name = esc(community.display_name(locale()))
    district = esc(community.display_district(locale()))
    if purpose == "staff":
        text = _("Your home community is {community} ({district}). New requests there will be sent to you here.")
    else:
        text = _("Your community is {community} ({district}). Whenever you need help, tap the button below or send /new.")
    await query.message.edit_text(text.format(community=name, district=district))
    await query.message.answer(_("What would you like to do?"), reply_markup=keyboards.main_menu(user.roles))


async def _back_to_language(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    if not manager.dialog_data.get("from_language"):  # the button was not shown: forged data
        await query.answer(_("This button is no longer active."), show_alert=True)
        return
    await manager.switch_to(Onboarding.language)


async def _cancelled(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Cancelled."))
    await query.message.answer(_("What would you like to do?"), reply_markup=keyboards.main_menu(user_of(manager).roles))


async def _language_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    i18n: I18n = manager.middleware_data["i18n"]
    await message.answer(bilingual(i18n, N_("Please tap a button to choose your language.")))
    manager.show_mode = ShowMode.SEND


onboarding_dialog = Dialog(
    Window(
        Format("{prompt}"),
        Row(
            Select(Format("{item[1]}"), id="lang", item_id_getter=lambda item: item[0],
                   items=[("zh_CN", "中文"), ("en", "English")], on_click=_language_chosen),
        ),
        MessageInput(_language_typed, filter=not_command),
        state=Onboarding.language,
        getter=_language_text,
    ),
    Window(
        Format("{header}"),
        Column(Select(Format("{item[1]}"), id="cc", item_id_getter=lambda item: item[0], items="communities",
                      on_click=_community_chosen)),
        Row(
            Button(Tr("◀️ Previous"), id="prev", on_click=_previous, when="has_previous"),
            Button(Tr("Next ▶️"), id="next", on_click=_next, when="has_next"),
        ),
        Button(Tr("📋 Show the whole list"), id="all", on_click=_whole_list, when="searching"),
        MessageInput(_searched, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(_not_a_name, filter=not_command),
        Row(
            Button(Tr("⬅️ Back"), id="back", on_click=_back_to_language, when="from_language"),
            Button(Tr("✖️ Cancel"), id="cancel", on_click=_cancelled),
        ),
        state=Onboarding.community,
        getter=_communities,
    ),
)
