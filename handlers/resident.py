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
from aiogram_dialog.widgets.kbd import Button, Checkbox, Column, RequestContact, RequestLocation, Row, Select
from aiogram_dialog.widgets.markup.reply_keyboard import ReplyKeyboardFactory
from aiogram_dialog.widgets.text import Format

from bot.clock import Clock
from bot.config import Settings
from bot.services import catalogue, notices, requests
from bot.services.errors import DomainError, InvalidInput
from bot.services.requests import ATTACHMENTS_MAX, AttachmentDraft
from bot.services.risk import EMERGENCY_LABELS
from bot.transaction import end_transaction
from handlers import keyboards
from handlers.callbacks import MenuCB
from handlers.filters import not_command
from handlers.states import STEPS_TOTAL, NewRequest
from handlers.texts import error_text, esc, locale, response_time, step
from handlers.widgets import Lines, MessageInput, Tr, back_button, close_dialogs, session_of, user_of
from models import AttachmentKind, ContactRelation, Urgency, User

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
    if len(offered) == 1:
        # "Other / not sure" (or any group with one service here): nothing to choose at step 2.
        manager.dialog_data["category_id"] = offered[0].id
        manager.dialog_data["single_service"] = True
        await manager.switch_to(NewRequest.description)
        return
    manager.dialog_data["single_service"] = False
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


# -- step 3: the description: words, a voice message, photos or a video note ----

def _step_getter(number: int) -> Any:
    async def getter(**_kwargs: Any) -> dict[str, Any]:
        return {"step": step(number, STEPS_TOTAL)}

    return getter


def attachment_of(message: Message) -> AttachmentDraft | None:
    """The photo, voice message or video note of a message, as a request keeps it."""
    if message.voice is not None:
        return AttachmentDraft(AttachmentKind.VOICE, message.voice.file_id, message.voice.file_unique_id,
                               message.voice.duration)
    if message.video_note is not None:
        return AttachmentDraft(AttachmentKind.VIDEO_NOTE, message.video_note.file_id,
                               message.video_note.file_unique_id, message.video_note.duration)
    if message.photo:
        largest = message.photo[-1]
        return AttachmentDraft(AttachmentKind.PHOTO, largest.file_id, largest.file_unique_id)
    return None


MEDIA_TYPES = [ContentType.VOICE, ContentType.PHOTO, ContentType.VIDEO_NOTE]


def drafts_from(data: list[dict[str, Any]]) -> tuple[AttachmentDraft, ...]:
    """Attachments as kept in dialog data (plain JSON, for Redis) back to drafts."""
    return tuple(
        AttachmentDraft(AttachmentKind(item["kind"]), item["file_id"], item["file_unique_id"], item.get("duration"))
        for item in data
    )


def media_text(attachments: tuple[AttachmentDraft, ...]) -> str:
    summary = notices.media_summary([(a.kind, a.duration) for a in attachments])
    return summary["zh_CN"] if locale() == "zh_CN" else summary["en"]


async def _description_step(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    data = dialog_manager.dialog_data
    user = user_of(dialog_manager)
    category = await catalogue.offered_category(session_of(dialog_manager), user.community, data.get("category_id") or 0)
    example = category.example(locale()) if category is not None else None
    attachments = drafts_from(data.get("attachments") or [])
    # Back from a later step keeps what was given: it is shown and can be kept with one tap.
    return {
        "step": step(3, STEPS_TOTAL),
        "example": esc(example) if example else "",
        "description": esc(data.get("description") or ""),
        "media": media_text(attachments) if attachments else "",
        "only_media": bool(attachments) and not data.get("description"),
    }


async def _description_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    data = manager.dialog_data
    has_media = bool(data.get("attachments"))
    try:
        words = requests.clean_description(message.text, has_media=has_media)
        if data.get("from_captions"):
            # Words typed after captioned photos add to the captions; a plain description is replaced.
            words = requests.clean_description(requests.combine_description(data.get("description") or "", words),
                                               has_media=True)
        data["description"] = words
        data["from_captions"] = False
    except InvalidInput as error:
        await message.answer(error_text(error))
        manager.show_mode = ShowMode.SEND
        return
    manager.show_mode = ShowMode.SEND
    await manager.switch_to(NewRequest.location)


async def _media_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    """A voice message, photo or video note: kept with the draft; the step shows what arrived."""
    attachment = attachment_of(message)
    kept: list[dict[str, Any]] = manager.dialog_data.setdefault("attachments", [])
    album = message.media_group_id
    # The rest of an album updates the step shown after its first photo instead of repeating it.
    same_album = album is not None and manager.dialog_data.get("album") == album
    manager.dialog_data["album"] = album
    manager.show_mode = ShowMode.EDIT if same_album else ShowMode.SEND
    if attachment is None:
        return
    if len(kept) >= ATTACHMENTS_MAX:
        await message.answer(_("That is enough photos and recordings for one request. Please tap “➡️ Continue”."))
        manager.show_mode = ShowMode.SEND
        return
    kept.append({"kind": attachment.kind.value, "file_id": attachment.file_id,
                 "file_unique_id": attachment.file_unique_id, "duration": attachment.duration})
    if message.caption:
        try:
            words = requests.clean_description(message.caption, has_media=True)
            # Captions add up (an album's, after a voice message): the whole must still fit.
            manager.dialog_data["description"] = requests.clean_description(
                requests.combine_description(manager.dialog_data.get("description") or "", words), has_media=True
            )
            manager.dialog_data["from_captions"] = True
        except InvalidInput as error:  # the photo is kept; only the words are explained
            await message.answer(error_text(error))
            manager.show_mode = ShowMode.SEND


async def _description_kept(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    if not manager.dialog_data.get("description") and not manager.dialog_data.get("attachments"):
        # The button was hidden: forged data.
        await query.answer(_("Please tell us in a few words what help you need."), show_alert=True)
        return
    await manager.switch_to(NewRequest.location)


async def _description_unusable(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please type a few words, or send a voice message, a photo or a video message."))
    manager.show_mode = ShowMode.SEND


async def _back_from_description(_query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    # A group with one service skipped step 2, so Back returns to step 1.
    await manager.switch_to(NewRequest.group if manager.dialog_data.get("single_service") else NewRequest.service)


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
    contact = message.contact
    try:
        phone = requests.parse_phone(contact.phone_number if contact.phone_number.startswith("+")
                                     else f"+{contact.phone_number}")
    except InvalidInput as error:
        await message.answer(error_text(error))
        manager.show_mode = ShowMode.NO_UPDATE
        return
    manager.dialog_data["phone"] = phone
    if contact.user_id == message.from_user.id:
        # Their own number through the consent button: nothing more to ask.
        manager.dialog_data["contact_relation"] = ContactRelation.SELF.value
        manager.dialog_data["contact_name"] = None
        await manager.switch_to(NewRequest.confirm)
        return
    # A contact card from the phone book (a daughter's, say): whose it is comes next.
    try:
        name: str | None = requests.clean_contact_name(
            " ".join(part for part in (contact.first_name, contact.last_name) if part)
        )
    except InvalidInput:  # "❤️" or a number as the name: it is asked for after whose it is
        name = None
    manager.dialog_data["contact_relation"] = None
    manager.dialog_data["contact_name"] = name
    await manager.switch_to(NewRequest.phone_owner)


async def _phone_typed(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        phone = requests.parse_phone(message.text)
    except InvalidInput as error:
        await message.answer(error_text(error))
        manager.show_mode = ShowMode.NO_UPDATE  # the step and its keyboard are still there
        return
    manager.dialog_data["phone"] = phone
    manager.dialog_data["contact_relation"] = None
    manager.dialog_data["contact_name"] = None
    await manager.switch_to(NewRequest.phone_owner)


async def _phone_skipped(_query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    manager.dialog_data["phone"] = None
    manager.dialog_data["contact_relation"] = manager.dialog_data["contact_name"] = None
    await manager.switch_to(NewRequest.confirm)


async def _phone_wrong(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please type a phone number, tap the button below to share yours, or tap “Skip”."))
    manager.show_mode = ShowMode.NO_UPDATE


async def _owner_step(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    phone = dialog_manager.dialog_data.get("phone") or ""
    return {"step": step(5, STEPS_TOTAL), "phone": esc(requests.format_phone(phone))}


async def _owner_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, relation: str) -> None:
    try:
        chosen = ContactRelation(relation)  # the ids are the enum's own values; anything else is forged
    except ValueError:
        await query.answer(_("This choice is not available in your community. Please choose again."), show_alert=True)
        return
    manager.dialog_data["contact_relation"] = chosen.value
    if chosen is ContactRelation.SELF:
        manager.dialog_data["contact_name"] = None
        await manager.switch_to(NewRequest.confirm)
    elif manager.dialog_data.get("contact_name"):
        await manager.switch_to(NewRequest.confirm)  # the contact card carried the name
    else:
        await manager.switch_to(NewRequest.contact_name)


async def _owners(**_kwargs: Any) -> dict[str, Any]:
    return {
        "owners": [
            (ContactRelation.SELF.value, _("👤 Mine")),
            (ContactRelation.FAMILY.value, _("👪 A family member's")),
            (ContactRelation.OTHER.value, _("📇 Someone else's")),
        ]
    }


async def _contact_named(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        manager.dialog_data["contact_name"] = requests.clean_contact_name(message.text)
    except InvalidInput as error:
        await message.answer(error_text(error))
        manager.show_mode = ShowMode.SEND
        return
    manager.show_mode = ShowMode.SEND
    await manager.switch_to(NewRequest.confirm)


async def _description_unusable_name(message: Message, _widget: Any, manager: DialogManager) -> None:
    await message.answer(_("Please type the name of the person we may call, for example “女儿 王芳”."))
    manager.show_mode = ShowMode.SEND


async def _back_to_phone(_query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    await manager.switch_to(NewRequest.phone)


# -- the summary, confirmation and receipt ---------------------------------------

async def _summary(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    data = dialog_manager.dialog_data
    user = user_of(dialog_manager)
    category = await catalogue.offered_category(session_of(dialog_manager), user.community, data.get("category_id") or 0)
    lang = locale()
    attachments = drafts_from(data.get("attachments") or [])
    return {
        "community": esc(user.community.display_name(lang)),
        "service": esc(category.display_name(lang)) if category else "—",
        "description": esc(data.get("description") or "") or "—",
        "media": media_text(attachments) if attachments else "",
        "location": _("sent") if data.get("latitude") is not None else _("not given"),
        "phone": contact_text(data.get("phone"), data.get("contact_relation"), data.get("contact_name")),
        "urgent": dialog_manager.find("urgent").is_checked(),
    }


def contact_text(phone: str | None, relation: str | None, name: str | None) -> str:
    """“139 1234 5678 (mine)”, “… (family member: 女儿 王芳)”, or “not given”."""
    if not phone:
        return _("not given")
    shown = esc(requests.format_phone(phone))
    if relation == ContactRelation.FAMILY.value:
        return _("{phone} (family member: {name})").format(phone=shown, name=esc(name or ""))
    if relation == ContactRelation.OTHER.value:
        return _("{phone} (other contact: {name})").format(phone=shown, name=esc(name or ""))
    return _("{phone} (mine)").format(phone=shown)


async def _confirmed(query: CallbackQuery, _button: Button, manager: DialogManager) -> None:
    data = manager.dialog_data
    user = user_of(manager)
    session = session_of(manager)
    clock: Clock = manager.middleware_data["clock"]
    settings: Settings = manager.middleware_data["settings"]
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
                contact_relation=ContactRelation(data["contact_relation"]) if data.get("contact_relation") else None,
                contact_name=data.get("contact_name"),
                attachments=drafts_from(data.get("attachments") or []),
                urgent=manager.find("urgent").is_checked(),
            ),
            now=clock.now(),
            risk_words=settings.risk_words(),
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
    lines = [
        _("✅ Your request is received. Number: <b>{number}</b>").format(number=request.number),
        _("A social worker of {community} will contact you within {time}.").format(
            community=esc(request.community.display_name(locale())),
            time=response_time(request.category.response_minutes),
        ),
    ]
    if request.urgency is Urgency.URGENT:
        lines.append(_("🚨 It is marked urgent: every social worker on duty there has been told."))
        lines.append(_("If anyone is in danger right now, please call {numbers}.").format(
            numbers=emergency_numbers(settings.emergency_numbers)))
    lines.append(_("Send /my to see how it is going."))
    await query.message.edit_text("\n".join(lines), reply_markup=keyboards.after_filing())


def emergency_numbers(numbers: list[str]) -> str:
    """“110（报警）、120（急救）” / “110 (police), 120 (ambulance)”, in the reader's language."""
    shown = []
    for number in numbers:
        label = EMERGENCY_LABELS.get(number)
        shown.append(_("{number} ({label})").format(number=number, label=_(label)) if label else number)
    return ("、" if locale() == "zh_CN" else ", ").join(shown)


def _sharing_step(
    state: State,
    number: int,
    *prompt: Tr,
    share: Any,
    shared: MessageInput,
    other: Any,
    skipped: Any,
    typed: MessageInput | None = None,
) -> Window:
    """A step that asks to share something (location, phone) with a reply keyboard, or to skip it."""
    inputs = (shared, typed) if typed is not None else (shared,)
    return Window(
        Lines(Format("{step}"), *prompt),
        *inputs,
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
            Tr("You can also send a voice message or a photo."),
        ),
        Tr("For example: “{example}”", when="example"),
        Tr("Your description so far: “{description}”. Type a new one, or keep it.", when="description"),
        Tr("Received: {media}. Send more, type a few words, or tap “➡️ Continue”.", when="media"),
        MessageInput(_description_given, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(_media_given, content_types=MEDIA_TYPES),
        MessageInput(_description_unusable, filter=not_command),
        Button(Tr("✔️ Keep this description"), id="keep", on_click=_description_kept, when="description"),
        Button(Tr("➡️ Continue"), id="go", on_click=_description_kept, when="only_media"),
        Row(Button(Tr("⬅️ Back"), id="back", on_click=_back_from_description), _cancel()),
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
        Tr("You can also type a number: yours, or a family member's who agrees to be called."),
        Tr("Only the staff of your community's social work station will see it. You can also skip this."),
        share=RequestContact(Tr("📞 I agree: share my phone number")),
        shared=MessageInput(_phone_shared, content_types=[ContentType.CONTACT]),
        typed=MessageInput(_phone_typed, content_types=[ContentType.TEXT], filter=not_command),
        other=_phone_wrong,
        skipped=_phone_skipped,
    ),
    Window(
        Lines(Format("{step}"), Tr("Whose number is {phone}?")),
        Column(Select(Format("{item[1]}"), id="owner", item_id_getter=lambda item: item[0], items="owners",
                      on_click=_owner_chosen)),
        Row(back_button(), _cancel()),
        MessageInput(_use_the_buttons, filter=not_command),
        state=NewRequest.phone_owner,
        getter=[_owner_step, _owners],
    ),
    Window(
        Lines(
            Format("{step}"),
            Tr("What is the name of the person we may call on {phone}?"),
            Tr("For example: “女儿 王芳” (daughter Wang Fang)."),
        ),
        MessageInput(_contact_named, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(_description_unusable_name, filter=not_command),
        Row(back_button(), _cancel()),
        state=NewRequest.contact_name,
        getter=_owner_step,
    ),
    Window(
        Lines(
            Tr("Please check your request:"),
            Tr("Community: {community}"),
            Tr("Service: {service}"),
            Tr("Description: {description}"),
            Tr("Photos and recordings: {media}", when="media"),
            Tr("Location: {location}"),
            Tr("Phone: {phone}"),
            Tr("🚨 Urgent: help is needed today.", when="urgent"),
            Tr("Tap “Send request” if this is right."),
        ),
        Checkbox(Tr("🚨 Urgent ✔️ (tap to undo)"), Tr("🚨 Mark as urgent"), id="urgent", default=False),
        Button(Tr("✅ Send request"), id="confirm", on_click=_confirmed),
        Row(Button(Tr("⬅️ Back"), id="back", on_click=_back_to_phone), _cancel()),
        MessageInput(_use_the_buttons, filter=not_command),
        state=NewRequest.confirm,
        getter=_summary,
    ),
    on_start=_on_start,
)
