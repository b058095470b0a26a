"""Keyboards as pure functions of the data, built per call in the reader's language."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder

from bot.services.communities import CommunityPage
from bot.services.requests import RequestPage
from handlers.callbacks import (
    CommunityPageCB,
    CommunityPickCB,
    GroupCB,
    InviteCB,
    LanguageCB,
    MenuCB,
    RequestCB,
    ServiceCB,
    StepCB,
)
from models import Community, Role, ServiceCategory, ServiceRequest, TargetGroup


def _nav_row(back: bool = True) -> list[InlineKeyboardButton]:
    row = []
    if back:
        row.append(InlineKeyboardButton(text=_("⬅️ Back"), callback_data=StepCB(action="back").pack()))
    row.append(InlineKeyboardButton(text=_("✖️ Cancel"), callback_data=StepCB(action="cancel").pack()))
    return row


def languages() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="中文", callback_data=LanguageCB(code="zh_CN").pack()),
                InlineKeyboardButton(text="English", callback_data=LanguageCB(code="en").pack()),
            ]
        ]
    )


def community_page(page: CommunityPage, locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for community in page.items:
        builder.row(
            InlineKeyboardButton(
                text=f"{community.display_name(locale)} · {community.display_district(locale)}",
                callback_data=CommunityPickCB(id=community.id).pack(),
            )
        )
    paging = []
    if page.page > 0:
        paging.append(InlineKeyboardButton(text=_("◀️ Previous"), callback_data=CommunityPageCB(page=page.page - 1).pack()))
    if page.page < page.pages - 1:
        paging.append(InlineKeyboardButton(text=_("Next ▶️"), callback_data=CommunityPageCB(page=page.page + 1).pack()))
    if paging:
        builder.row(*paging)
    builder.row(*_nav_row())  # Back leads to the choice of language
    return builder.as_markup()


def community_matches(found: Sequence[Community], locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for community in found:
        builder.row(
            InlineKeyboardButton(
                text=f"{community.display_name(locale)} · {community.display_district(locale)}",
                callback_data=CommunityPickCB(id=community.id).pack(),
            )
        )
    builder.row(InlineKeyboardButton(text=_("📋 Show the whole list"), callback_data=CommunityPageCB(page=0).pack()))
    builder.row(*_nav_row(back=False))
    return builder.as_markup()


def main_menu(roles: frozenset[Role]) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.row(InlineKeyboardButton(text=_("🙋 Ask for help"), callback_data=MenuCB(action="new").pack()))
    builder.row(InlineKeyboardButton(text=_("📋 My requests"), callback_data=RequestCB(action="list", id=0).pack()))
    builder.row(InlineKeyboardButton(text=_("🏘 Change my community"), callback_data=MenuCB(action="community").pack()))
    if Role.COORDINATOR in roles:
        builder.row(InlineKeyboardButton(text=_("✉️ Invite staff"), callback_data=MenuCB(action="invite").pack()))
    return builder.as_markup()


def target_groups(groups: Sequence[TargetGroup], locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for group in groups:
        builder.row(InlineKeyboardButton(text=group.display_name(locale), callback_data=GroupCB(code=group.code).pack()))
    builder.row(*_nav_row())  # Back from the first step leads to the main menu
    return builder.as_markup()


def services(categories: Sequence[ServiceCategory], locale: str) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    for category in categories:
        builder.row(InlineKeyboardButton(text=category.display_name(locale), callback_data=ServiceCB(id=category.id).pack()))
    builder.row(*_nav_row())
    return builder.as_markup()


def step_nav(*, skip: bool = False, back: bool = True) -> InlineKeyboardMarkup:
    rows = []
    if skip:
        rows.append([InlineKeyboardButton(text=_("Skip"), callback_data=StepCB(action="skip").pack())])
    rows.append(_nav_row(back=back))
    return InlineKeyboardMarkup(inline_keyboard=rows)


def text_nav() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("⬅️ Back")), KeyboardButton(text=_("✖️ Cancel"))]],
        resize_keyboard=True,
        input_field_placeholder=_("Describe what you need…"),
    )


def share_location() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_("📍 Send my location"), request_location=True)],
            [KeyboardButton(text=_("Skip"))],
            [KeyboardButton(text=_("⬅️ Back")), KeyboardButton(text=_("✖️ Cancel"))],
        ],
        resize_keyboard=True,
        one_time_keyboard=False,
    )


def share_phone() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_("📞 I agree: share my phone number"), request_contact=True)],
            [KeyboardButton(text=_("Skip"))],
            [KeyboardButton(text=_("⬅️ Back")), KeyboardButton(text=_("✖️ Cancel"))],
        ],
        resize_keyboard=True,
    )


def confirm() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("✅ Send request"), callback_data=StepCB(action="confirm").pack())],
            _nav_row(),
        ]
    )


def after_filing() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("📋 My requests"), callback_data=MenuCB(action="my").pack())]]
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


def request_actions(request: ServiceRequest, *, can_cancel: bool, show_list: bool) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
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


def invite_roles() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("Social worker"), callback_data=InviteCB(role=Role.SOCIAL_WORKER.value).pack())],
            [InlineKeyboardButton(text=_("Coordinator"), callback_data=InviteCB(role=Role.COORDINATOR.value).pack())],
        ]
    )
