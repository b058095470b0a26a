"""Opening a request: the resident's /my list, a request's card and timeline, cancelling.

Social workers and coordinators open the same card from the announcement they
received. Every press looks the request up again and checks who may see it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, InputMediaPhoto, Message
from aiogram.utils.i18n import gettext as _
from aiogram.utils.i18n import ngettext
from aiogram_dialog import DialogManager
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import format_local_time
from bot.services import cases, casework, notices, requests, tasks
from bot.services.errors import N_, DomainError
from bot.services.risk import CATEGORY_LABELS
from bot.services.tasks import SYSTEM_REASONS, public_volunteer_name
from handlers import keyboards
from handlers.additions import end_adding
from handlers.callbacks import MenuCB, RequestCB
from handlers.resident import contact_text
from handlers.texts import error_text, esc, locale, status_label
from models import (
    AttachmentKind,
    CaseOffer,
    EventKind,
    OfferStatus,
    RequestAttachment,
    RequestEvent,
    RequestStatus,
    ServiceRequest,
    Urgency,
    User,
    VolunteerTask,
)

log = logging.getLogger(__name__)
router = Router(name=__name__)


# Why routing chose whom: shown to staff on the timeline, never to the resident.
ROUTING_REASONS = {
    "specialist": N_("a specialist of this service on duty"),
    "community": N_("a social worker of the community on duty"),
    "support": N_("supporting this community"),
    "supervisor": N_("the station's supervisor"),
    "nobody": N_("nobody available"),
}
STAFF_ONLY_EVENTS = frozenset({
    EventKind.ROUTED, EventKind.OFFERED, EventKind.DECLINED, EventKind.OFFER_EXPIRED, EventKind.OFFER_WITHDRAWN,
    EventKind.OVERDUE, EventKind.ESCALATED, EventKind.INTERNAL_NOTE,
})
HELD_OR_AFTER = frozenset({RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS, RequestStatus.RESOLVED,
                           RequestStatus.CLOSED})
DECLINE_REASONS = {
    "capacity": N_("too many cases"),
    "not_specialty": N_("not my specialty"),
    "conflict": N_("a conflict of interest"),
    "unavailable": N_("not available"),
    "other": N_("another reason"),
}
DEADLINES = {"response": N_("not accepted in time"), "resolution": N_("not resolved in time")}


def _media(attachments: list[RequestAttachment]) -> str:
    summary = notices.media_summary([(a.kind, a.duration) for a in attachments])
    return summary["zh_CN"] if locale() == "zh_CN" else summary["en"]


TASK_EVENTS = frozenset({EventKind.TASK_CREATED, EventKind.VOLUNTEER_COMING, EventKind.VOLUNTEER_WITHDRAWN,
                         EventKind.TASK_CANCELLED})


def _task_event(event: RequestEvent, tasks: Mapping[int, VolunteerTask], tz: str, *, staff: bool) -> str:
    """A case's volunteer task on its timeline; the resident hears of a volunteer by family name only."""
    task = tasks.get(int(event.reason)) if (event.reason or "").isdigit() else None
    title = esc(task.title) if task is not None else "—"
    if event.kind is EventKind.TASK_CREATED:
        return (_("volunteer task created: “{title}”") if staff else _("volunteers are being arranged: “{title}”")
                ).format(title=title)
    if event.kind is EventKind.VOLUNTEER_COMING:
        if staff:
            return _("volunteer {name} will come (“{title}”)").format(name=esc(event.note or ""), title=title)
        when = format_local_time(task.starts_at, locale(), tz) if task is not None else "—"
        return _("a volunteer, {name}, will come at {when}").format(
            name=esc(public_volunteer_name(event.note or "")), when=when)
    if event.kind is EventKind.VOLUNTEER_WITHDRAWN:
        if staff:
            return _("volunteer {name} can no longer come (“{title}”)").format(name=esc(event.note or ""), title=title)
        return _("a volunteer can no longer come; another is being arranged")
    if staff:
        reason = event.note or ""
        reason = _(reason) if reason in SYSTEM_REASONS else reason
        return _("volunteer task cancelled: “{reason}”").format(reason=esc(reason))
    return _("the volunteer visit was cancelled")


def _event_line(event: RequestEvent, request: ServiceRequest, tz: str, *, staff: bool,
                tasks: Mapping[int, VolunteerTask] | None = None) -> str | None:
    when = format_local_time(event.created_at, locale(), tz)
    if event.kind is EventKind.NOTE and event.actor_id == request.resident_id:
        added = [a for a in request.attachments if a.event_id == event.id]
        parts = [f"“{esc(event.note)}”"] if event.note else []
        if added:
            parts.append(f"[{_media(added)}]")
        return f"• {when} — " + _("the resident added: {what}").format(what=" ".join(parts))
    if event.kind is EventKind.CREATED:
        what = _("request filed")
    elif event.kind is EventKind.ANNOUNCED:
        what = (
            _("social workers told: {names}").format(names=esc(event.note))
            if event.note
            else _("no social worker on duty; coordinators told")
        )
    elif event.kind is EventKind.CANCELLED:
        what = _("cancelled by the resident")
    elif event.kind is EventKind.ROUTED:
        reason = _(ROUTING_REASONS.get(event.reason or "", ROUTING_REASONS["nobody"]))
        what = (
            _("routed to {name} ({reason})").format(name=esc(event.subject.display_name), reason=reason)
            if event.subject is not None
            else _("routed to nobody: coordinators told")
        )
    elif event.kind is EventKind.OFFERED:
        if event.reason in ROUTING_REASONS:
            return None  # the routing line just before says it, and why
        what = _("offered to {name}").format(name=_name(event.subject))
    elif event.kind is EventKind.DECLINED:
        reason = _(DECLINE_REASONS.get(event.reason or "", DECLINE_REASONS["other"]))
        what = _("declined by {name}: {reason}").format(name=_name(event.actor), reason=reason)
        if event.note:
            what += f" — “{esc(event.note)}”"
    elif event.kind is EventKind.OFFER_EXPIRED:
        what = _("{name} did not answer in time").format(name=_name(event.subject))
    elif event.kind is EventKind.OFFER_WITHDRAWN:
        what = _("offer to {name} ended: accepted by someone else").format(name=_name(event.subject))
    elif event.kind is EventKind.OVERDUE:
        what = _("overdue: {deadline}").format(deadline=_(DEADLINES.get(event.reason or "", DEADLINES["response"])))
    elif event.kind is EventKind.URGENT:
        if event.reason == "risk_words" and staff:
            risks = [_(CATEGORY_LABELS.get(risk, risk)) for risk in (event.note or "").split(", ") if risk]
            what = _("marked urgent: its words suggest {risks}").format(risks=esc("、".join(risks) if locale() == "zh_CN"
                                                                                    else ", ".join(risks)))
        else:
            what = _("marked urgent")
    elif event.kind is EventKind.ESCALATED and event.reason == "crisis":
        what = (
            _("possible crisis: the supervisor {name} alerted").format(name=_name(event.subject))
            if event.subject is not None
            else _("possible crisis: the coordinators alerted")
        )
    elif event.kind is EventKind.ESCALATED:
        what = (
            _("escalated to the supervisor {name}").format(name=_name(event.subject))
            if event.subject is not None
            else _("escalated to the coordinators")
        )
    elif event.kind is EventKind.INTERNAL_NOTE:
        what = _("internal note by {name}: “{note}”").format(name=_name(event.actor), note=esc(event.note or ""))
    elif event.kind is EventKind.MESSAGE:
        what = _("{name} to the resident: “{text}”").format(name=_name(event.actor), text=esc(event.note or ""))
    elif event.kind is EventKind.REPLY:
        what = _("the resident answered: “{text}”").format(text=esc(event.note or ""))
    elif event.kind is EventKind.HANDED_OVER:
        what = _("handed over to {name}").format(name=_name(event.subject))
    elif event.kind is EventKind.RATED:
        what = _("rated {stars} of 5").format(stars=esc(event.reason or "?")) + (
            f" — “{esc(event.note)}”" if event.note else "")
    elif event.kind is EventKind.REOPENED:
        what = _("reopened by the resident: “{reason}”").format(reason=esc(event.note or ""))
    elif event.kind in TASK_EVENTS:
        what = _task_event(event, tasks or {}, tz, staff=staff)
    elif event.kind is EventKind.STATUS_CHANGED and event.reason == "auto":
        what = _("closed automatically: not confirmed in time")
    elif event.kind is EventKind.STATUS_CHANGED and event.to_status is not None:
        if event.actor is not None and event.actor_id != request.resident_id:
            what = _("status: {status} ({name})").format(status=status_label(event.to_status), name=_name(event.actor))
            if event.note:  # the resolution summary
                what += f" — “{esc(event.note)}”"
            return f"• {when} — {what}"
        what = _("status: {status}").format(status=status_label(event.to_status))
    else:
        what = esc(event.note or "")
    return f"• {when} — {what}"


def _name(user: User | None) -> str:
    return esc(user.real_name or user.display_name) if user is not None else "—"


def request_card(request: ServiceRequest, viewer: User, tz: str,
                 tasks: Mapping[int, VolunteerTask] | None = None) -> str:
    lines = [
        _("Request <b>{number}</b>").format(number=request.number),
        _("Status: {status}").format(status=status_label(request.status)),
        *([_("🚨 Urgent")] if request.urgency is Urgency.URGENT else []),
        _("Community: {community}").format(community=esc(request.community.display_name(locale()))),
        _("Service: {service}").format(service=esc(request.category.display_name(locale()))),
        _("Description: {description}").format(description=esc(request.description) or "—"),
    ]
    filed_with = [a for a in request.attachments if a.event_id is None]
    if filed_with:
        lines.append(_("Photos and recordings: {media}").format(media=_media(filed_with)))
    if shows_resident_details(request, viewer):
        lines.append(_("Resident: {name}").format(name=esc(request.resident.display_name)))
        if request.contact_phone:  # given at the consent step: stored only with consent
            lines.append(_("Phone: {phone}").format(
                phone=contact_text(request.contact_phone, request.contact_relation, request.contact_name)))
        if request.latitude is not None:
            lines.append(_("Location: {location}").format(location=_("sent, shown below")))
    elif viewer.id != request.resident_id:
        lines.append(_("Resident: shown to the social worker who accepts the case."))
    lines.append("")
    lines.append(_("Timeline:"))
    staff = viewer.id != request.resident_id
    for event in request.events:
        if staff or event.kind not in STAFF_ONLY_EVENTS:
            line = _event_line(event, request, tz, staff=staff, tasks=tasks)
            if line is not None:
                lines.append(line)
    return "\n".join(lines)


async def show_request_list(message: Message, session: AsyncSession, user: User, *, edit: bool, page: int = 0) -> None:
    mine = await requests.list_for_resident(session, user, page)
    if not mine.items:
        text = _("You have not asked for help yet. Tap the button below when you need it.")
    elif mine.pages > 1:
        text = _("Your requests, newest first (page {page} of {pages}). Tap one to see how it is going:").format(
            page=mine.page + 1, pages=mine.pages
        )
    else:
        text = _("Your requests (newest first). Tap one to see how it is going:")
    markup = keyboards.request_list(mine, locale(), status_label)
    if edit:
        await message.edit_text(text, reply_markup=markup)
    else:
        await message.answer(text, reply_markup=markup)


@router.message(Command("my"))
async def my_requests(message: Message, session: AsyncSession, user: User, dialog_manager: DialogManager) -> None:
    await end_adding(dialog_manager)
    await show_request_list(message, session, user, edit=False)


@router.callback_query(MenuCB.filter(F.action == "my"))
async def my_requests_menu(
    query: CallbackQuery, session: AsyncSession, user: User, dialog_manager: DialogManager
) -> None:
    await query.answer()
    await end_adding(dialog_manager)
    # Below a receipt: the receipt stays and the list comes as a new message.
    await show_request_list(query.message, session, user, edit=False)


@router.callback_query(RequestCB.filter(F.action == "list"))
async def back_to_list(
    query: CallbackQuery, callback_data: RequestCB, session: AsyncSession, user: User, dialog_manager: DialogManager
) -> None:
    await query.answer()
    await end_adding(dialog_manager)
    # From the main menu, a card or another page: the menu is edited in place. The id is the page.
    await show_request_list(query.message, session, user, edit=True, page=callback_data.id)


@router.callback_query(RequestCB.filter(F.action == "view"))
async def open_request(
    query: CallbackQuery, callback_data: RequestCB, session: AsyncSession, user: User, settings: Settings, bot: Bot,
    dialog_manager: DialogManager,
) -> None:
    try:
        request = await requests.get_visible(session, user, callback_data.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await query.answer()
    await end_adding(dialog_manager)
    is_resident = request.resident_id == user.id
    text = request_card(request, user, request.community.timezone or settings.timezone,
                        await tasks.for_request(session, request.id))
    if is_resident:
        markup = keyboards.request_actions(
            request,
            can_cancel=requests.can_cancel(user, request),
            show_list=True,
            can_add=requests.can_add_information(user, request),
            can_rate=casework.can_rate(request),
            can_reopen=casework.can_reopen(request),
        )
        await query.message.edit_text(text, reply_markup=markup)
        return
    markup = await staff_markup(session, request, user)
    # Staff keep the notice and get the card as a new message, then what came with it.
    await send_staff_card(bot, query.message.chat.id, request, user, text, markup)


async def staff_markup(session: AsyncSession, request: ServiceRequest, viewer: User) -> InlineKeyboardMarkup:
    """What this staff member can do with the case now: answer their offer, run it, or hand it over."""
    offered = request.status in cases.ACCEPTABLE and await session.scalar(
        select(CaseOffer.id).where(CaseOffer.request_id == request.id, CaseOffer.worker_id == viewer.id,
                                   CaseOffer.status == OfferStatus.PENDING).limit(1)
    ) is not None
    return keyboards.case_actions(request, offered=offered, holder=casework.holds(viewer, request),
                                  manager=casework.can_manage(viewer, request))


async def send_staff_card(
    bot: Bot, chat_id: int, request: ServiceRequest, viewer: User, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """The card as a new message, then the location (to whoever holds the case) and the photos and recordings."""
    await bot.send_message(chat_id, text, reply_markup=markup if markup and markup.inline_keyboard else None)
    if shows_resident_details(request, viewer) and request.latitude is not None and request.longitude is not None:
        await bot.send_location(chat_id, request.latitude, request.longitude)
    await send_attachments(bot, chat_id, request)


def shows_resident_details(request: ServiceRequest, viewer: User) -> bool:
    """The resident's name, phone and location: for the worker who accepted the case, nobody else on staff."""
    return request.assigned_worker_id == viewer.id and request.status in HELD_OR_AFTER


async def send_attachments(bot: Bot, chat_id: int, request: ServiceRequest) -> None:
    """The resident's photos (as albums of up to 10), voice messages and video notes, re-sent by file_id.

    One that Telegram will not show to this person (a file gone, voice messages
    forbidden by their privacy settings) becomes a line of text; the rest still go.
    """
    caption = _("Request {number}").format(number=request.number)
    photos = [a for a in request.attachments if a.kind is AttachmentKind.PHOTO]
    for start in range(0, len(photos), 10):
        album = photos[start:start + 10]
        try:
            if len(album) == 1:
                await bot.send_photo(chat_id, album[0].file_id, caption=caption)
            else:
                await bot.send_media_group(chat_id, [
                    InputMediaPhoto(media=a.file_id, caption=caption if i == 0 else None) for i, a in enumerate(album)
                ])
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            log.warning("request %s: photos not shown to %s: %s", request.number, chat_id, error.message)
            await bot.send_message(chat_id, ngettext(
                "({count} photo of request {number} could not be shown.)",
                "({count} photos of request {number} could not be shown.)",
                len(album),
            ).format(count=len(album), number=request.number))
    for attachment in request.attachments:
        if attachment.kind is AttachmentKind.PHOTO:
            continue
        try:
            if attachment.kind is AttachmentKind.VOICE:
                await bot.send_voice(chat_id, attachment.file_id, caption=caption)
            else:  # video notes take no caption
                await bot.send_video_note(chat_id, attachment.file_id)
        except (TelegramBadRequest, TelegramForbiddenError) as error:
            log.warning("request %s: %s not shown to %s: %s", request.number, attachment.kind, chat_id, error.message)
            await bot.send_message(chat_id, _("(A recording of request {number} could not be shown.)").format(
                number=request.number))


@router.callback_query(RequestCB.filter(F.action == "cancel"))
async def ask_cancel(query: CallbackQuery, callback_data: RequestCB, session: AsyncSession, user: User) -> None:
    try:
        request = await requests.get_visible(session, user, callback_data.id)
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    if not requests.can_cancel(user, request):
        await query.answer(_("This request cannot be cancelled."), show_alert=True)
        return
    await query.answer()
    await query.message.edit_text(
        _("Cancel request {number}? The social worker will be told you no longer need this help.").format(
            number=request.number
        ),
        reply_markup=keyboards.confirm_cancel(request),
    )


@router.callback_query(RequestCB.filter(F.action == "cancel_yes"))
async def cancel_confirmed(
    query: CallbackQuery, callback_data: RequestCB, session: AsyncSession, user: User, clock: Clock
) -> None:
    try:
        request = await requests.cancel_request(session, user, callback_data.id, now=clock.now())
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await query.answer()
    await query.message.edit_text(
        _("Request {number} is cancelled. Send /new whenever you need help again.").format(number=request.number),
        reply_markup=keyboards.request_actions(request, can_cancel=False, show_list=True, ask_again=True),
    )
