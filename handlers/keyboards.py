"""Keyboards as pure functions of the data, built per call in the reader's language."""

from __future__ import annotations

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.services.requests import RequestPage
from handlers.callbacks import (
    CaseCB,
    LanguageCB,
    MenuCB,
    RequestCB,
)
from models import OPEN_STATUSES, RequestStatus, Role, ServiceRequest


def languages() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="中文", callback_data=LanguageCB(code="zh_CN").pack()),
                InlineKeyboardButton(text="English", callback_data=LanguageCB(code="en").pack()),
            ]
        ]
    )


def main_menu(roles: frozenset[Role]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=_("🙋 Ask for help"), callback_data=MenuCB(action="new").pack()))
    builder.row(InlineKeyboardButton(text=_("📋 My requests"), callback_data=RequestCB(action="list", id=0).pack()))
    builder.row(InlineKeyboardButton(text=_("🏘 Change my community"), callback_data=MenuCB(action="community").pack()))
    if Role.SOCIAL_WORKER in roles:
        builder.row(InlineKeyboardButton(text=_("🗂 My cases"), callback_data=MenuCB(action="cases").pack()))
        builder.row(
            InlineKeyboardButton(text=_("🔔 On / off duty"), callback_data=MenuCB(action="duty").pack()),
            InlineKeyboardButton(text=_("🧰 My specialties"), callback_data=MenuCB(action="specialties").pack()),
        )
    if Role.COORDINATOR in roles:
        if Role.SOCIAL_WORKER not in roles:
            builder.row(InlineKeyboardButton(text=_("🗂 Cases"), callback_data=MenuCB(action="cases").pack()))
        builder.row(
            InlineKeyboardButton(text=_("✉️ Invite staff"), callback_data=MenuCB(action="invite").pack()),
            InlineKeyboardButton(text=_("👥 Social workers"), callback_data=MenuCB(action="team").pack()),
        )
    return builder.as_markup()


def after_filing() -> InlineKeyboardMarkup:
    """Below a receipt: the way on, never only "send /new"."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("📋 My requests"), callback_data=MenuCB(action="my").pack())],
            [InlineKeyboardButton(text=_("🙋 Ask for help"), callback_data=MenuCB(action="new").pack())],
        ]
    )


def request_list(page: RequestPage, locale: str, status_label) -> InlineKeyboardMarkup:  # noqa: ANN001
    builder = InlineKeyboardBuilder()
    for request in page.items:
        builder.row(
            InlineKeyboardButton(
                text=f"{request.number} · {request.category.display_name(locale)} · {status_label(request.status)}",
                callback_data=RequestCB(action="view", id=request.id).pack(),
            )
        )
    paging = []
    if page.page > 0:
        paging.append(InlineKeyboardButton(text=_("◀️ Previous"), callback_data=RequestCB(action="list", id=page.page - 1).pack()))
    if page.page < page.pages - 1:
        paging.append(InlineKeyboardButton(text=_("Next ▶️"), callback_data=RequestCB(action="list", id=page.page + 1).pack()))
    if paging:
        builder.row(*paging)
    builder.row(InlineKeyboardButton(text=_("🙋 Ask for help"), callback_data=MenuCB(action="new").pack()))
    return builder.as_markup()


def request_actions(
    request: ServiceRequest, *, can_cancel: bool, show_list: bool, can_add: bool = False, ask_again: bool = False,
    can_rate: bool = False, can_reopen: bool = False,
) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    if can_rate:
        builder.row(InlineKeyboardButton(text=_("⭐ Confirm and rate"), callback_data=RequestCB(action="rate", id=request.id).pack()))
    if can_reopen:
        builder.row(InlineKeyboardButton(text=_("↩️ Not solved: reopen"), callback_data=RequestCB(action="reopen", id=request.id).pack()))
    if can_add:
        builder.row(InlineKeyboardButton(text=_("➕ Add information or photos"), callback_data=RequestCB(action="add", id=request.id).pack()))
    if ask_again:
        builder.row(InlineKeyboardButton(text=_("🙋 Ask for help"), callback_data=MenuCB(action="new").pack()))
    if can_cancel:
        builder.row(InlineKeyboardButton(text=_("Cancel this request"), callback_data=RequestCB(action="cancel", id=request.id).pack()))
    if show_list:
        builder.row(InlineKeyboardButton(text=_("⬅️ Back to my requests"), callback_data=RequestCB(action="list").pack()))
    return builder.as_markup()


def confirm_cancel(request: ServiceRequest) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("Yes, cancel it"), callback_data=RequestCB(action="cancel_yes", id=request.id).pack())],
            [InlineKeyboardButton(text=_("No, keep it"), callback_data=RequestCB(action="view", id=request.id).pack())],
        ]
    )




def offer_actions(request_id: int) -> InlineKeyboardMarkup:
    """The buttons of an offer notice (as the outbox sends them), for putting them back."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("✅ Accept"), callback_data=CaseCB(action="accept", id=request_id).pack())],
            [InlineKeyboardButton(text=_("↩️ Decline"), callback_data=CaseCB(action="decline", id=request_id).pack())],
            [InlineKeyboardButton(text=_("Open request"), callback_data=RequestCB(action="view", id=request_id).pack())],
        ]
    )


def case_actions(request: ServiceRequest, *, offered: bool, holder: bool, manager: bool) -> InlineKeyboardMarkup:
    """A staff card's buttons: answer an open offer; run a held case; hand a case over (supervisor, coordinator)."""
    builder = InlineKeyboardBuilder()
    def add(text: str, action: str) -> None:
        builder.row(InlineKeyboardButton(text=text, callback_data=CaseCB(action=action, id=request.id).pack()))

    if offered:
        add(_("✅ Accept"), "accept")
        add(_("↩️ Decline"), "decline")
    if holder:
        if request.status is RequestStatus.ACCEPTED:
            add(_("▶️ Start work"), "start")
        add(_("💬 Message the resident"), "message")
        add(_("📝 Internal note"), "note")
        if request.status in (RequestStatus.ACCEPTED, RequestStatus.IN_PROGRESS):
            add(_("🙋 Ask volunteers"), "task")
        add(_("✅ Resolve"), "resolve")
    elif manager and request.status in OPEN_STATUSES:
        add(_("📝 Internal note"), "note")
    if manager and request.status in OPEN_STATUSES:
        add(_("🔁 Hand over"), "handover")
    return builder.as_markup()


def volunteer_actions() -> InlineKeyboardMarkup:
    """Under a volunteer's status: change availability or details, see their trainings, or what else the bot does."""
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=_("🗓 Change when I am free"), callback_data=MenuCB(action="vol_availability").pack())],
        [InlineKeyboardButton(text=_("✏️ Change my phone, skills or services"), callback_data=MenuCB(action="vol_profile").pack())],
        [InlineKeyboardButton(text=_("📋 My tasks"), callback_data=MenuCB(action="vol_tasks").pack())],
        [InlineKeyboardButton(text=_("📚 My trainings"), callback_data=MenuCB(action="vol_trainings").pack())],
        [InlineKeyboardButton(text=_("❓ Help"), callback_data=MenuCB(action="help").pack())],
    ])


def training_overview(roles: frozenset[Role]) -> InlineKeyboardMarkup:
    """Under the trainings a staff member recorded: record another, and the main menu."""
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=_("📚 Record a training"), callback_data=MenuCB(action="training_new").pack()))
    builder.attach(InlineKeyboardBuilder.from_markup(main_menu(roles)))
    return builder.as_markup()
