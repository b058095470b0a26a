"""Residents: /new files a request in a few taps, /my follows it to the end.

Steps 1-2 and the summary are inline menus edited in place; steps 3-5 use a
reply keyboard (typing, sharing a location or a phone number need one). Every
step offers Back and Cancel; buttons of an earlier step stop working once the
person has moved on, and are answered with a clear message.
"""

from __future__ import annotations

import uuid

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.services import catalogue, requests
from bot.services.errors import DomainError, InvalidInput
from handlers import keyboards
from handlers.callbacks import GroupCB, MenuCB, ServiceCB, StepCB
from handlers.filters import not_command
from handlers.onboarding import show_community_page
from handlers.states import STEPS_TOTAL, Draft, NewRequest
from handlers.texts import error_text, esc, locale, response_time, step
from models import User

router = Router(name=__name__)


def _is(text: str | None, label: str) -> bool:
    return (text or "").strip() == label


# -- entering the flow ---------------------------------------------------------

async def _begin(message: Message, session: AsyncSession, user: User, state: FSMContext) -> None:
    await state.clear()
    if user.community is None:
        await message.answer(_("Please choose your community first, so the right social worker gets your request."))
        await show_community_page(message, session, state, page=0, edit=False)
        return
    draft = Draft(token=str(uuid.uuid4()))
    await state.set_state(NewRequest.group)
    sent = await message.answer(await _group_text(), reply_markup=await _group_markup(session, user))
    draft.menu_id = sent.message_id
    await draft.save(state)


async def _group_text() -> str:
    return "\n".join([step(1, STEPS_TOTAL), _("Who needs the help?")])


async def _group_markup(session: AsyncSession, user: User):  # noqa: ANN202
    groups = await catalogue.target_groups_for(session, user.community)
    return keyboards.target_groups(groups, locale())


@router.message(Command("new"))
async def new_command(message: Message, session: AsyncSession, user: User, state: FSMContext) -> None:
    await _begin(message, session, user, state)


@router.callback_query(MenuCB.filter(F.action == "new"))
async def new_from_menu(query: CallbackQuery, session: AsyncSession, user: User, state: FSMContext) -> None:
    await query.answer()
    await _begin(query.message, session, user, state)


# -- step 1 and 2: inline menus -----------------------------------------------

async def _current_draft(query: CallbackQuery, state: FSMContext) -> Draft | None:
    """The draft, if this button belongs to the step the person is on."""
    draft = await Draft.load(state)
    if draft is None or draft.menu_id != query.message.message_id:
        await query.answer(_("This button is no longer active. Send /new to start again."), show_alert=True)
        return None
    return draft


@router.callback_query(NewRequest.group, GroupCB.filter())
async def group_chosen(
    query: CallbackQuery, callback_data: GroupCB, session: AsyncSession, user: User, state: FSMContext
) -> None:
    draft = await _current_draft(query, state)
    if draft is None:
        return
    offered = await catalogue.services_for(session, user.community, callback_data.code)
    if not offered:
        await query.answer(_("This choice is not available in your community. Please choose again."), show_alert=True)
        return
    await query.answer()
    draft.group = callback_data.code
    await draft.save(state)
    await state.set_state(NewRequest.service)
    await query.message.edit_text(
        "\n".join([step(2, STEPS_TOTAL), _("What kind of help?")]),
        reply_markup=keyboards.services(offered, locale()),
    )


@router.callback_query(NewRequest.service, ServiceCB.filter())
async def service_chosen(
    query: CallbackQuery, callback_data: ServiceCB, session: AsyncSession, user: User, state: FSMContext
) -> None:
    draft = await _current_draft(query, state)
    if draft is None:
        return
    category = await catalogue.offered_category(session, user.community, callback_data.id)
    if category is None or category.target_group_code != draft.group:
        await query.answer(_("This choice is not available in your community. Please choose again."), show_alert=True)
        return
    await query.answer()
    draft.category_id = category.id
    draft.menu_id = None
    await draft.save(state)
    await query.message.edit_text(_("✔️ Service: {service}").format(service=esc(category.display_name(locale()))))
    await _ask_description(query.message, state)


async def _ask_description(message: Message, state: FSMContext) -> None:
    await state.set_state(NewRequest.description)
    await message.answer(
        "\n".join(
            [
                step(3, STEPS_TOTAL),
                _("Please tell us in a few words what help you need."),
                _("For example: “I fell last week. I need someone to buy groceries and take me to a hospital check-up.”"),
            ]
        ),
        reply_markup=keyboards.text_nav(),
    )


# -- steps 3 to 5: typed text, location, phone ---------------------------------

@router.message(NewRequest.description, F.text, not_command)
async def description_given(message: Message, session: AsyncSession, user: User, state: FSMContext) -> None:
    draft = await Draft.load(state)
    if draft is None:
        return
    if _is(message.text, _("✖️ Cancel")):
        await _cancel_flow(message, state)
        return
    if _is(message.text, _("⬅️ Back")):
        await _back_to_services(message, session, user, state)
        return
    try:
        draft.description = requests.clean_description(message.text)
    except InvalidInput as error:
        await message.answer(error_text(error))
        return
    await draft.save(state)
    await _ask_location(message, state)


@router.message(NewRequest.description, not_command)
async def description_not_text(message: Message) -> None:
    await message.answer(_("Please type your description as a text message."))


async def _ask_location(message: Message, state: FSMContext) -> None:
    await state.set_state(NewRequest.location)
    await message.answer(
        "\n".join(
            [
                step(4, STEPS_TOTAL),
                _("If you would like a home visit, you can send your location."),
                _("You can also skip this."),
            ]
        ),
        reply_markup=keyboards.share_location(),
    )


@router.message(NewRequest.location, F.location)
async def location_shared(message: Message, state: FSMContext) -> None:
    draft = await Draft.load(state)
    if draft is None:
        return
    draft.latitude, draft.longitude = message.location.latitude, message.location.longitude
    await draft.save(state)
    await _ask_phone(message, state)


@router.message(NewRequest.location, F.text, not_command)
async def location_text(message: Message, state: FSMContext) -> None:
    draft = await Draft.load(state)
    if draft is None:
        return
    if _is(message.text, _("Skip")):
        draft.latitude = draft.longitude = None
        await draft.save(state)
        await _ask_phone(message, state)
    elif _is(message.text, _("⬅️ Back")):
        await _ask_description(message, state)
    elif _is(message.text, _("✖️ Cancel")):
        await _cancel_flow(message, state)
    else:
        await message.answer(_("Please tap “📍 Send my location” or “Skip” below."))


@router.message(NewRequest.location, not_command)
async def location_wrong(message: Message) -> None:
    await message.answer(_("Please tap “📍 Send my location” or “Skip” below."))


async def _ask_phone(message: Message, state: FSMContext) -> None:
    await state.set_state(NewRequest.phone)
    await message.answer(
        "\n".join(
            [
                step(5, STEPS_TOTAL),
                _("May the social worker call you? Tap the button to share your phone number."),
                _("Only the staff of your community's social work station will see it. You can also skip this."),
            ]
        ),
        reply_markup=keyboards.share_phone(),
    )


@router.message(NewRequest.phone, F.contact)
async def phone_shared(message: Message, session: AsyncSession, user: User, state: FSMContext) -> None:
    draft = await Draft.load(state)
    if draft is None:
        return
    if message.contact.user_id != message.from_user.id:
        await message.answer(_("Please share your own number with the button below."))
        return
    draft.phone = message.contact.phone_number[:32]
    await draft.save(state)
    await message.answer(_("Thank you, your number is noted."), reply_markup=ReplyKeyboardRemove())
    await _show_summary(message, session, user, state, draft)


@router.message(NewRequest.phone, F.text, not_command)
async def phone_text(message: Message, session: AsyncSession, user: User, state: FSMContext) -> None:
    draft = await Draft.load(state)
    if draft is None:
        return
    if _is(message.text, _("Skip")):
        draft.phone = None
        await draft.save(state)
        await message.answer(_("All right, no phone number."), reply_markup=ReplyKeyboardRemove())
        await _show_summary(message, session, user, state, draft)
    elif _is(message.text, _("⬅️ Back")):
        await _ask_location(message, state)
    elif _is(message.text, _("✖️ Cancel")):
        await _cancel_flow(message, state)
    else:
        await message.answer(_("Please tap the button below to share your number, or “Skip”."))


@router.message(NewRequest.phone, not_command)
async def phone_wrong(message: Message) -> None:
    await message.answer(_("Please tap the button below to share your number, or “Skip”."))


# -- the summary and confirmation ---------------------------------------------

async def _show_summary(
    message: Message, session: AsyncSession, user: User, state: FSMContext, draft: Draft
) -> None:
    await state.set_state(NewRequest.confirm)
    sent = await message.answer(await _summary_text(session, user, draft), reply_markup=keyboards.confirm())
    draft.menu_id = sent.message_id
    await draft.save(state)


async def _summary_text(session: AsyncSession, user: User, draft: Draft) -> str:
    category = await catalogue.offered_category(session, user.community, draft.category_id or 0)
    service = category.display_name(locale()) if category else "—"
    return "\n".join(
        [
            _("Please check your request:"),
            _("Community: {community}").format(community=esc(user.community.display_name(locale()))),
            _("Service: {service}").format(service=esc(service)),
            _("Description: {description}").format(description=esc(draft.description or "")),
            _("Location: {location}").format(location=_("sent") if draft.latitude is not None else _("not given")),
            _("Phone: {phone}").format(phone=esc(draft.phone) if draft.phone else _("not given")),
            _("Tap “Send request” if this is right."),
        ]
    )


@router.callback_query(NewRequest.confirm, StepCB.filter(F.action == "confirm"))
async def confirmed(query: CallbackQuery, session: AsyncSession, user: User, state: FSMContext, clock: Clock) -> None:
    draft = await _current_draft(query, state)
    if draft is None:
        return
    try:
        filed = await requests.file_request(
            session,
            user,
            requests.RequestDraft(
                token=draft.token,
                category_id=draft.category_id or 0,
                description=draft.description or "",
                latitude=draft.latitude,
                longitude=draft.longitude,
                phone=draft.phone,
            ),
            now=clock.now(),
        )
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    request = filed.request
    if not filed.created:
        await query.answer(_("Your request {number} was already received.").format(number=request.number), show_alert=True)
        return
    # The receipt goes out before the draft is dropped: if Telegram fails here the whole
    # update rolls back and the draft is still there for the next press.
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
    await query.answer()
    # Out of the flow, but remember what was filed from this summary, so a late second
    # press is told so instead of being invited to start again.
    await state.set_state(None)
    await state.set_data({"filed_number": request.number, "filed_menu": query.message.message_id})


@router.callback_query(StepCB.filter(F.action == "confirm"))
async def confirmed_again(query: CallbackQuery, state: FSMContext) -> None:
    data = await state.get_data()
    if data.get("filed_menu") == query.message.message_id:
        await query.answer(
            _("Your request {number} was already received.").format(number=data["filed_number"]), show_alert=True
        )
    else:
        await query.answer(_("This button is no longer active. Send /new to start again."), show_alert=True)


# -- back and cancel -----------------------------------------------------------

@router.callback_query(StepCB.filter(F.action == "cancel"))
async def cancel_pressed(query: CallbackQuery, state: FSMContext) -> None:
    if await state.get_state() is None:
        await query.answer(_("This button is no longer active. Send /new to start again."), show_alert=True)
        return
    await query.answer()
    await query.message.edit_reply_markup(reply_markup=None)
    await _cancel_flow(query.message, state)


async def _cancel_flow(message: Message, state: FSMContext) -> None:
    await state.clear()
    await message.answer(
        _("Cancelled. Your request was not sent. Send /new whenever you need help."), reply_markup=ReplyKeyboardRemove()
    )


@router.callback_query(NewRequest.group, StepCB.filter(F.action == "back"))
@router.callback_query(NewRequest.service, StepCB.filter(F.action == "back"))
@router.callback_query(NewRequest.confirm, StepCB.filter(F.action == "back"))
async def back_pressed(query: CallbackQuery, session: AsyncSession, user: User, state: FSMContext) -> None:
    draft = await _current_draft(query, state)
    if draft is None:
        return
    await query.answer()
    current = await state.get_state()
    if current == NewRequest.group.state:
        await state.clear()
        await query.message.edit_text(_("What would you like to do?"), reply_markup=keyboards.main_menu(user.roles))
    elif current == NewRequest.service.state:
        await state.set_state(NewRequest.group)
        await query.message.edit_text(await _group_text(), reply_markup=await _group_markup(session, user))
    elif current == NewRequest.confirm.state:
        draft.menu_id = None
        await draft.save(state)
        await query.message.edit_reply_markup(reply_markup=None)
        await _ask_phone(query.message, state)


async def _back_to_services(message: Message, session: AsyncSession, user: User, state: FSMContext) -> None:
    draft = await Draft.load(state)
    if draft is None or draft.group is None:
        return
    await message.answer(_("All right, let us go back."), reply_markup=ReplyKeyboardRemove())
    await state.set_state(NewRequest.service)
    offered = await catalogue.services_for(session, user.community, draft.group)
    sent = await message.answer(
        "\n".join([step(2, STEPS_TOTAL), _("What kind of help?")]),
        reply_markup=keyboards.services(offered, locale()),
    )
    draft.menu_id = sent.message_id
    await draft.save(state)
