"""Residents: /new files a request in five steps, as an aiogram-dialog dialog.

One message is edited in place through the steps; the location and phone steps
show a reply keyboard (sharing needs one) whose buttons aiogram-dialog maps back
to widgets by invisible callback data, never by their label text. The draft
lives in the dialog's data, so Back keeps what was typed, a language switch
changes only the words, and a failed commit at Confirm leaves the dialog where
it was: the request is committed before the dialog is closed and the receipt sent.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiogram import Bot, F, Router
from aiogram.enums import ContentType
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.input import MessageInput
from aiogram_dialog.widgets.kbd import Button, Column, RequestContact, RequestLocation, Row, Select
from aiogram_dialog.widgets.markup.reply_keyboard import ReplyKeyboardFactory
from aiogram_dialog.widgets.text import Format

from bot.clock import Clock
from bot.services import catalogue, requests
from bot.services.errors import DomainError, InvalidInput
from bot.transaction import end_transaction
from handlers import keyboards
from handlers.callbacks import MenuCB
from handlers.filters import not_command
from handlers.states import STEPS_TOTAL, NewRequest
from handlers.texts import error_text, esc, locale, response_time, step
from handlers.widgets import Lines, Tr, back_button, close_dialogs, session_of, user_of
from models import User

router = Router(name=__name__)


# -- entering the flow ---------------------------------------------------------

async def start_new_request(manager: DialogManager, user: User, reply_to: Message) -> None:
    if user.community is None:
        from handlers.onboarding import start_community_choice

        await reply_to.answer(_("Please choose your community first, so the right social worker gets your request."))
        await start_community_choice(manager, purpose="home")
        return
    await close_dialogs(manager)
    await manager.start(NewRequest.group, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


@router.message(Command("new"))
async def new_command(message: Message, user: User, dialog_manager: DialogManager) -> None:
    await start_new_request(dialog_manager, user, message)


@router.callback_query(MenuCB.filter(F.action == "new"))
async def new_from_menu(query: CallbackQuery, user: User, dialog_manager: DialogManager) -> None:
    await query.answer()
    await start_new_request(dialog_manager, user, query.message)


async def _on_start(_start_data: Any, manager: DialogManager) -> None:
    # The draft's identity: confirming the same draft twice files one request.
    manager.dialog_data["token"] = str(uuid.uuid4())


# -- step 1 and 2: who, and what kind of help ----------------------------------

async def _groups(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    user = user_of(dialog_manager)
    groups = await catalogue.target_groups_for(session_of(dialog_manager), user.community)
    lang = locale()
    return {
        "step": step(1, STEPS_TOTAL),
        "groups": [(group.code, group.display_name(lang)) for group in groups],
    }


async def _group_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, code: str) -> None:
    user = user_of(manager)
    offered = await catalogue.services_for(session_of(manager), user.community, code)
    if not offered:  # forged, or no longer offered here
        await query.answer(_("This choice is not available in your community. Please choose again."), show_alert=True)
        return
    manager.dialog_data["group"] = code
    await manager.switch_to(NewRequest.service)


async def _services(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    user = user_of(dialog_manager)
    code = dialog_manager.dialog_data.get("group") or ""
    offered = await catalogue.services_for(session_of(dialog_manager), user.community, code)
    lang = locale()
    return {
        "step": step(2, STEPS_TOTAL),
        "services": [(str(category.id), category.display_name(lang)) for category in offered],
    }


async def _service_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, category_id: str) -> None:
    user = user_of(manager)
    category = (
        await catalogue.offered_category(session_of(manager), user.community, int(category_id))
        if category_id.isdigit()
        else None
    )
    if category is None or category.target_group_code != manager.dialog_data.get("group"):
        await query.answer(_("This choice is not available in your community. Please choose again."), show_alert=True)
        return
    manager.dialog_data["category_id"] = category.id
    await manager.switch_to(NewRequest.description)


async def _use_the_buttons(message: Message, _widget: Any, manager: DialogManager) -> None:
    """Typing where a choice is asked: a hint, and the same step again below it."""
    await message.answer(_("Please use the buttons above, or send /cancel to stop."))
    manager.show_mode = ShowMode.SEND


async def _back_to_menu(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("What would you like to do?"), reply_markup=keyboards.main_menu(user_of(manager).roles))


async def _cancelled(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    """Cancel at any step: nothing is filed, the keyboard goes, the main menu comes back."""
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    bot: Bot = manager.middleware_data["bot"]
    chat_id = query.from_user.id
    if isinstance(query.message, Message) and manager.middleware_data.get("aiogd_event_simulated") is None:
        await query.message.edit_reply_markup(reply_markup=None)
    await bot.send_message(
        chat_id,
        _("Cancelled. Your request was not sent. Send /new whenever you need help."),
        reply_markup=ReplyKeyboardRemove(),
    )
    await bot.send_message(chat_id, _("What would you like to do?"), reply_markup=keyboards.main_menu(user_of(manager).roles))


def _cancel() -> Button:
    return Button(Tr("✖️ Cancel"), id="cancel", on_click=_cancelled)


# -- step 3: the description ---------------------------------------------------

def _step_getter(number: int) -> Any:
    async def getter(**_kwargs: Any) -> dict[str, Any]:
        return {"step": step(number, STEPS_TOTAL)}

    return getter


async def _description_step(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    # Back from a later step keeps what was typed: it is shown and can be kept with one tap.
    return {"step": step(3, STEPS_TOTAL), "description": esc(dialog_manager.dialog_data.get("description") or "")}


async def _description_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        manager.dialog_data["description"] = requests.clean_description(message.text)
    except InvalidInput as error:
        await message.answer(error_text(error))
        manager.show_mode = ShowMode.SEND
        return
    manager.show_mode = ShowMode.SEND
    await manager.switch_to(NewRequest.location)


async def _description_kept(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    if not manager.dialog_data.get("description"):  # the button was hidden: forged data
        await query.answer(_("Please tell us in a few words what help you need."), show_alert=True)
        return
    await manager.switch_to(NewRequest.location)


async def _description_not_text(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please type your description as a text message."))
    manager.show_mode = ShowMode.SEND


# -- step 4 and 5: location and phone (reply keyboards) ------------------------

async def _location_shared(message: Message, _widget: Any, manager: DialogManager) -> None:
    manager.dialog_data["latitude"] = message.location.latitude
    manager.dialog_data["longitude"] = message.location.longitude
    await manager.switch_to(NewRequest.phone)


async def _location_skipped(_query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    manager.dialog_data["latitude"] = manager.dialog_data["longitude"] = None
    await manager.switch_to(NewRequest.phone)


async def _location_wrong(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please tap “📍 Send my location” or “Skip” below."))
    manager.show_mode = ShowMode.NO_UPDATE


async def _phone_shared(message: Message, _widget: Any, manager: DialogManager) -> None:
    if message.contact.user_id != message.from_user.id:
        await message.answer(_("Please share your own number with the button below."))
        manager.show_mode = ShowMode.NO_UPDATE
        return
    manager.dialog_data["phone"] = message.contact.phone_number[:32]
    await manager.switch_to(NewRequest.confirm)


async def _phone_skipped(_query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    manager.dialog_data["phone"] = None
    await manager.switch_to(NewRequest.confirm)


async def _phone_wrong(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please tap the button below to share your number, or “Skip”."))
    manager.show_mode = ShowMode.NO_UPDATE


# -- the summary, confirmation and receipt ---------------------------------------

async def _summary(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    data = dialog_manager.dialog_data
    user = user_of(dialog_manager)
    category = await catalogue.offered_category(session_of(dialog_manager), user.community, data.get("category_id") or 0)
    lang = locale()
    return {
        "community": esc(user.community.display_name(lang)),
        "service": esc(category.display_name(lang)) if category else "—",
        "description": esc(data.get("description") or ""),
        "location": _("sent") if data.get("latitude") is not None else _("not given"),
        "phone": esc(data["phone"]) if data.get("phone") else _("not given"),
    }


async def _confirmed(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    data = manager.dialog_data
    user = user_of(manager)
    session = session_of(manager)
    clock: Clock = manager.middleware_data["clock"]
    try:
        filed = await requests.file_request(
            session,
            user,
            requests.RequestDraft(
                token=data["token"],
                category_id=data.get("category_id") or 0,
                description=data.get("description") or "",
                latitude=data.get("latitude"),
                longitude=data.get("longitude"),
                phone=data.get("phone"),
            ),
            now=clock.now(),
        )
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    request = filed.request
    # Saved first: if this commit fails, NotSaved leaves the dialog on the summary with the draft.
    await end_transaction(session)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    # Remembered outside the dialog, so a second tap on this summary is told it is filed.
    state: FSMContext = manager.middleware_data["state"]
    await state.update_data(filed_number=request.number, filed_message=query.message.message_id)
    await query.message.edit_text(
        "\n".join(
            [
                _("✅ Your request is received. Number: <b>{number}</b>").format(number=request.number),
                _("A social worker of {community} will contact you within {time}.").format(
                    community=esc(request.community.display_name(locale())),
                    time=response_time(request.category.response_minutes),
                ),
                _("Send /my to see how it is going."),
            ]
        ),
        reply_markup=keyboards.after_filing(),
    )


def _sharing_step(
    state: State, number: int, *prompt: Tr, share: Any, shared: MessageInput, other: Any, skipped: Any
) -> Window:
    """A step that asks to share something (location, phone) with a reply keyboard, or to skip it."""
    return Window(
        Lines(Format("{step}"), *prompt),
        shared,
        MessageInput(other, filter=not_command),
        share,
        Button(Tr("Skip"), id="skip", on_click=skipped),
        Row(back_button(), _cancel()),
        markup_factory=ReplyKeyboardFactory(resize_keyboard=True),
        state=state,
        getter=_step_getter(number),
    )


new_request_dialog = Dialog(
    Window(
        Lines(Format("{step}"), Tr("Who needs the help?")),
        Column(Select(Format("{item[1]}"), id="grp", item_id_getter=lambda item: item[0], items="groups",
                      on_click=_group_chosen)),
        Row(Button(Tr("⬅️ Back"), id="back", on_click=_back_to_menu), _cancel()),
        MessageInput(_use_the_buttons, filter=not_command),
        state=NewRequest.group,
        getter=_groups,
    ),
    Window(
        Lines(Format("{step}"), Tr("What kind of help?")),
        Column(Select(Format("{item[1]}"), id="svc", item_id_getter=lambda item: item[0], items="services",
                      on_click=_service_chosen)),
        Row(back_button(), _cancel()),
        MessageInput(_use_the_buttons, filter=not_command),
        state=NewRequest.service,
        getter=_services,
    ),
    Window(
        Lines(
            Format("{step}"),
            Tr("Please tell us in a few words what help you need."),
            Tr("For example: “I fell last week. I need someone to buy groceries and take me to a hospital check-up.”"),
        ),
        Tr("Your description so far: “{description}”. Type a new one, or keep it.", when="description"),
        MessageInput(_description_given, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(_description_not_text, filter=not_command),
        Button(Tr("✔️ Keep this description"), id="keep", on_click=_description_kept, when="description"),
        Row(back_button(), _cancel()),
        state=NewRequest.description,
        getter=_description_step,
    ),
    _sharing_step(
        NewRequest.location,
        4,
        Tr("If you would like a home visit, you can send your location."),
        Tr("You can also skip this."),
        share=RequestLocation(Tr("📍 Send my location")),
        shared=MessageInput(_location_shared, content_types=[ContentType.LOCATION]),
        other=_location_wrong,
        skipped=_location_skipped,
    ),
    _sharing_step(
        NewRequest.phone,
        5,
        Tr("May the social worker call you? Tap the button to share your phone number."),
        Tr("Only the staff of your community's social work station will see it. You can also skip this."),
        share=RequestContact(Tr("📞 I agree: share my phone number")),
        shared=MessageInput(_phone_shared, content_types=[ContentType.CONTACT]),
        other=_phone_wrong,
        skipped=_phone_skipped,
    ),
    Window(
        Lines(
            Tr("Please check your request:"),
            Tr("Community: {community}"),
            Tr("Service: {service}"),
            Tr("Description: {description}"),
            Tr("Location: {location}"),
            Tr("Phone: {phone}"),
            Tr("Tap “Send request” if this is right."),
        ),
        Button(Tr("✅ Send request"), id="confirm", on_click=_confirmed),
        Row(back_button(), _cancel()),
        MessageInput(_use_the_buttons, filter=not_command),
        state=NewRequest.confirm,
        getter=_summary,
    ),
    on_start=_on_start,
)
