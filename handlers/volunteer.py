"""/volunteer: register as a volunteer (an aiogram-dialog flow), and the review buttons for staff.

The steps ask for what the national volunteer record holds: real name, sex, date of
birth, ID document and number, phone, skills, the services one would help with, and
weekly availability; under 16 also a guardian's name, phone and consent. Each answer
is checked at its step by `bot.services.volunteers` (a mistyped ID number is caught
while it can still be fixed) and everything again on submission, so nothing is
half-saved. A social worker of the community approves (the volunteer gets a number)
or says why not.
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import gettext as _
from aiogram_dialog import Dialog, DialogManager, ShowMode, StartMode, Window
from aiogram_dialog.widgets.kbd import (
    Button,
    Cancel,
    Checkbox,
    Column,
    Group,
    Multiselect,
    Row,
    ScrollingGroup,
    Select,
    SwitchTo,
)
from aiogram_dialog.widgets.text import Format

from bot.clock import Clock
from bot.services import catalogue, volunteers
from bot.services.errors import N_, DomainError, InvalidInput
from bot.services.volunteers import Registration
from bot.services.volunteers import Window as TimeWindow
from bot.transaction import end_transaction
from handlers import keyboards
from handlers.callbacks import MenuCB, VolunteerCB
from handlers.filters import not_command
from handlers.states import (
    VolunteerAvailabilityEdit,
    VolunteerProfileEdit,
    VolunteerReview,
    VolunteerSignup,
    VolunteerStaff,
)
from handlers.texts import error_text, esc, locale
from handlers.widgets import (
    Lines,
    MessageInput,
    Tr,
    back_button,
    close_dialogs,
    keep_buttons_of,
    not_words,
    refuse_step,
    session_of,
    user_of,
)
from models import IdDocument, Role, Sex, User, VolunteerStatus

router = Router(name=__name__)

SEX_LABELS = {Sex.FEMALE: N_("Female"), Sex.MALE: N_("Male")}
ID_LABELS = {
    IdDocument.RESIDENT_ID: N_("Resident ID card (居民身份证)"),
    IdDocument.HK_MACAU: N_("Hong Kong or Macao residents' permit"),
    IdDocument.TAIWAN: N_("Taiwan residents' permit"),
    IdDocument.PASSPORT: N_("Passport"),
    IdDocument.FOREIGN_PERMANENT: N_("Foreign permanent resident ID"),
}
WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
# Parts of the day a volunteer can tick; hours of their own can be typed too.
SLOTS = {
    "morning": (N_("Mornings 8–12"), time(8), time(12)),
    "afternoon": (N_("Afternoons 13–17"), time(13), time(17)),
    "evening": (N_("Evenings 18–21"), time(18), time(21)),
}
DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?|(\d{4})(\d{2})(\d{2})")
HOURS = re.compile(r"(\d{1,2})[:：.](\d{2})\s*[-–—~至到]\s*(\d{1,2})[:：.](\d{2})")


def parse_date(text: str | None) -> date:
    match = DATE.fullmatch((text or "").strip())
    if match is None:
        raise InvalidInput(N_("Please type the date of birth like 1990-03-07."))
    year, month, day = (int(g) for g in (match.groups()[:3] if match.group(1) else match.groups()[3:]))
    try:
        return date(year, month, day)
    except ValueError:
        raise InvalidInput(N_("{text} is not a real date. Please type it like 1990-03-07."), text=text) from None


def parse_hours(text: str | None) -> tuple[time, time]:
    match = HOURS.fullmatch((text or "").strip())
    if match is None:
        raise InvalidInput(N_("Please type the hours like 09:00-11:30."))
    try:
        start = time(int(match.group(1)), int(match.group(2)))
        end = time(int(match.group(3)), int(match.group(4)))
    except ValueError:
        raise InvalidInput(N_("Please type the hours like 09:00-11:30.")) from None
    return start, end


# --- starting -----------------------------------------------------------------------------------


async def _start(manager: DialogManager) -> None:
    await close_dialogs(manager)
    await manager.start(VolunteerSignup.name, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


@router.message(Command("volunteer"))
async def volunteer_command(message: Message, user: User, dialog_manager: DialogManager) -> None:
    profile = await volunteers.get(dialog_manager.middleware_data["session"], user.id)
    if profile is not None and profile.status is not VolunteerStatus.REJECTED:
        await message.answer(status_text(profile), reply_markup=keyboards.volunteer_actions())
        return
    if user.community is None:
        await message.answer(_("Please choose your community first: send /start."))
        return
    await _start(dialog_manager)


@router.callback_query(MenuCB.filter(F.action == "volunteer"))
async def volunteer_menu(query: CallbackQuery, user: User, dialog_manager: DialogManager) -> None:
    await query.answer()
    await _start(dialog_manager)


def status_text(profile: Any) -> str:
    if profile.status is VolunteerStatus.PENDING:
        return _("Your volunteer registration is waiting for a social worker's approval. You will be told here.")
    if profile.status is VolunteerStatus.SUSPENDED:
        return _("Your volunteer service is suspended: “{reason}”").format(reason=esc(profile.status_reason or ""))
    return _("You are a registered volunteer. Volunteer number: {number}.").format(number=profile.volunteer_number)


# --- the steps -------------------------------------------------------------------------------------


def _data(manager: DialogManager) -> dict[str, Any]:
    return manager.dialog_data


async def _name_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        _data(manager)["real_name"] = volunteers.clean_real_name(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(VolunteerSignup.sex)


async def _sex_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    if item_id not in {s.value for s in Sex}:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    _data(manager)["sex"] = item_id
    await manager.switch_to(VolunteerSignup.birth)


def _today(manager: DialogManager) -> date:
    clock: Clock = manager.middleware_data["clock"]
    community = user_of(manager).community
    zone = ZoneInfo(community.timezone if community is not None else "Asia/Shanghai")
    return clock.now().astimezone(zone).date()


async def _birth_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        born = parse_date(message.text)
        age = volunteers.check_birth_date(born, _today(manager))
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    _data(manager)["birth_date"] = born.isoformat()
    _data(manager)["minor"] = age < volunteers.GUARDIAN_AGE
    await manager.switch_to(VolunteerSignup.id_type)


async def _id_type_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    if item_id not in {d.value for d in IdDocument}:
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    _data(manager)["id_type"] = item_id
    await manager.switch_to(VolunteerSignup.id_number)


async def _id_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    data = _data(manager)
    try:
        number = volunteers.check_id_number(IdDocument(data["id_type"]), message.text,
                                            date.fromisoformat(data["birth_date"]))
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    data["id_number"] = number  # kept in the dialog until submission; stored masked
    await manager.switch_to(VolunteerSignup.phone)


async def _phone_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        _data(manager)["phone"] = volunteers.check_phone(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(VolunteerSignup.guardian_name if _data(manager).get("minor") else VolunteerSignup.skills)


async def _guardian_named(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        _data(manager)["guardian_name"] = volunteers.clean_real_name(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(VolunteerSignup.guardian_phone)


async def _guardian_phone(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        _data(manager)["guardian_phone"] = volunteers.check_phone(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(VolunteerSignup.skills)


async def _other_skills(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        _codes, words = volunteers.check_skills((), message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    _data(manager)["skills_other"] = words


async def _custom_hours(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        start, end = parse_hours(message.text)
        volunteers.check_windows([TimeWindow(0, start, end)])
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    hours = _data(manager).setdefault("hours", [])
    label = f"{start:%H:%M}-{end:%H:%M}"
    if label not in hours:
        hours.append(label)


def _windows(manager: DialogManager) -> list[TimeWindow]:
    days = [int(d) for d in manager.find("days").get_checked() if d.isdigit() and 0 <= int(d) <= 6]
    spans = [(SLOTS[s][1], SLOTS[s][2]) for s in manager.find("slots").get_checked() if s in SLOTS]
    for label in _data(manager).get("hours") or []:
        start, end = label.split("-")
        spans.append((time.fromisoformat(start), time.fromisoformat(end)))
    return [TimeWindow(day, start, end) for day in sorted(days) for start, end in spans]


async def _availability_done(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    try:
        windows = volunteers.check_windows(_windows(manager))
    except InvalidInput as error:
        await query.answer(error_text(error), show_alert=True)
        return
    if not windows:
        await query.answer(_("Please choose at least one day and one time of day."), show_alert=True)
        return
    await manager.switch_to(VolunteerSignup.summary)


async def _clear_hours(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    _data(manager)["hours"] = []


async def _submit(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    data = _data(manager)
    user = user_of(manager)
    session = session_of(manager)
    clock: Clock = manager.middleware_data["clock"]
    if not manager.find("consent").is_checked():
        await query.answer(_("Please tick the consent first: without it you cannot register."), show_alert=True)
        return
    minor = bool(data.get("minor"))
    if minor and not manager.find("guardian").is_checked():
        await query.answer(_("Please confirm that your parent or guardian agrees."), show_alert=True)
        return
    try:
        form = Registration(
            real_name=data.get("real_name") or "",
            sex=Sex(data.get("sex") or Sex.FEMALE.value),
            birth_date=date.fromisoformat(data["birth_date"]),
            id_type=IdDocument(data["id_type"]),
            id_number=data.get("id_number") or "",
            phone=data.get("phone") or "",
            community_id=user.community_id or 0,
            skills=tuple(manager.find("skills").get_checked()),
            skills_other=data.get("skills_other"),
            interests=tuple(int(i) for i in manager.find("interests").get_checked() if i.isdigit()),
            availability=tuple(_windows(manager)),
            consent=True,
            guardian_name=data.get("guardian_name") if minor else None,
            guardian_phone=data.get("guardian_phone") if minor else None,
            guardian_consent=minor,
        )
        await volunteers.register(session, user, form, now=clock.now())
    except (KeyError, ValueError):
        await query.answer(_("Something is missing. Please start again with /volunteer."), show_alert=True)
        return
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)  # saved before it is reported
    await query.answer()
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(
        _("✅ Thank you! Your registration has been sent to the social workers of {community}. You will be told "
          "here when it is approved.").format(community=esc(user.community.display_name(locale()))),
        reply_markup=keyboards.main_menu(user.roles),
    )


async def _cancelled(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    user = user_of(manager)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Registration cancelled: nothing was saved."),
                                  reply_markup=keyboards.main_menu(user.roles))


def _availability_prompt() -> Lines:
    return Lines(Tr("When are you usually free? Tap the days and the times of day."),
                 Tr("You can also type hours of your own, like 09:00-11:30."),
                 Tr("Your own hours: {hours}", when="hours"))


def _availability_widgets() -> tuple[Any, ...]:
    """Days, parts of the day and typed hours: the same at registration and when changing them later."""
    return (
        Group(Multiselect(Format("✅ {item[1]}"), Format("▫️ {item[1]}"), id="days",
                          item_id_getter=lambda i: i[0], items="days"), width=4),
        Column(Multiselect(Format("✅ {item[1]}"), Format("▫️ {item[1]}"), id="slots",
                           item_id_getter=lambda i: i[0], items="slots")),
        MessageInput(_custom_hours, content_types=[ContentType.TEXT], filter=not_command),
        Button(Tr("🗑 Clear my own hours"), id="clear", on_click=_clear_hours, when="hours"),
    )


def _cancel() -> Button:
    return Button(Tr("✖️ Cancel"), id="cancel", on_click=_cancelled)


def _text_step(state: Any, handler: Any, *prompt: Tr, getter: Any = None, first: bool = False) -> Window:
    """A typed answer; the dialog's first step has no Back (there is nothing before it)."""
    return Window(
        Lines(*prompt),
        MessageInput(handler, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        Row(_cancel()) if first else Row(back_button(), _cancel()),
        state=state,
        getter=getter,
    )


# --- getters -----------------------------------------------------------------------------------


async def _choices(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    session, user = session_of(dialog_manager), user_of(dialog_manager)
    community = user.community
    services = await catalogue.offered_categories(session, community, volunteers_only=True) if community else []
    lang = locale()
    data = dialog_manager.dialog_data
    return {
        "sexes": [(s.value, _(label)) for s, label in SEX_LABELS.items()],
        "documents": [(d.value, _(label)) for d, label in ID_LABELS.items()],
        "skill_items": [(code, _(label)) for code, label in volunteers.SKILLS.items()],
        "services": [(str(c.id), c.display_name(lang)) for c in services],
        "days": [(str(n), _(label)) for n, label in enumerate(WEEKDAYS)],
        "slots": [(code, _(label)) for code, (label, _s, _e) in SLOTS.items()],
        "hours": ", ".join(data.get("hours") or []),
        "skills_other": esc(data.get("skills_other") or ""),
        "community": esc(community.display_name(lang)) if community else "—",
        "document": _(ID_LABELS[IdDocument(data["id_type"])]) if data.get("id_type") else "",
    }


async def _summary(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    values = await _choices(dialog_manager, **kwargs)
    data = dialog_manager.dialog_data
    skills = [_(volunteers.SKILLS[c]) for c in dialog_manager.find("skills").get_checked() if c in volunteers.SKILLS]
    if data.get("skills_other"):
        skills.append(esc(data["skills_other"]))
    chosen_services = set(dialog_manager.find("interests").get_checked())
    services = [name for code, name in values["services"] if code in chosen_services]
    windows = _windows(dialog_manager)
    joiner = "、" if locale() == "zh_CN" else ", "
    return {
        **values,
        "name": esc(data.get("real_name") or ""),
        "sex": _(SEX_LABELS[Sex(data["sex"])]) if data.get("sex") else "—",
        "birth": data.get("birth_date") or "—",
        "id": volunteers.mask(data.get("id_number") or ""),
        "phone": esc(data.get("phone") or ""),
        "skills": joiner.join(skills) or "—",
        "interests": joiner.join(esc(s) for s in services) or "—",
        "times": joiner.join(f"{_(WEEKDAYS[w.weekday])} {w.starts_at:%H:%M}–{w.ends_at:%H:%M}" for w in windows) or "—",
        "minor": bool(data.get("minor")),
        "guardian": esc(f"{data.get('guardian_name') or ''} {data.get('guardian_phone') or ''}".strip()),
    }


volunteer_dialog = Dialog(
    _text_step(VolunteerSignup.name, _name_given,
               Tr("🙋 Thank you for wanting to volunteer! A few questions, as the national volunteer record asks."),
               Tr("What is your real name, as on your ID?"), first=True),
    Window(
        Tr("Sex:"),
        Row(Select(Format("{item[1]}"), id="sex", item_id_getter=lambda i: i[0], items="sexes", on_click=_sex_chosen)),
        Row(back_button(), _cancel()),
        state=VolunteerSignup.sex,
        getter=_choices,
    ),
    _text_step(VolunteerSignup.birth, _birth_given, Tr("Your date of birth? Type it like 1990-03-07.")),
    Window(
        Tr("Which ID document will you register with?"),
        Column(Select(Format("{item[1]}"), id="doc", item_id_getter=lambda i: i[0], items="documents",
                      on_click=_id_type_chosen)),
        Row(back_button(), _cancel()),
        state=VolunteerSignup.id_type,
        getter=_choices,
    ),
    _text_step(VolunteerSignup.id_number, _id_given,
               Tr("Please type the number of your {document}."),
               Tr("Only its last four characters are kept; the rest is checked and then masked."), getter=_choices),
    _text_step(VolunteerSignup.phone, _phone_given,
               Tr("Your phone number, for the social worker who arranges your tasks? For example 13912345678.")),
    _text_step(VolunteerSignup.guardian_name, _guardian_named,
               Tr("You are under 16: a parent or guardian must agree. What is their name?")),
    _text_step(VolunteerSignup.guardian_phone, _guardian_phone, Tr("And their phone number?")),
    Window(
        Lines(Tr("What can you do? Tap all that fit, then “Next”."),
              Tr("You can also type other skills in your own words."),
              Tr("Your own words: {skills_other}", when="skills_other")),
        Group(Multiselect(Format("✅ {item[1]}"), Format("▫️ {item[1]}"), id="skills",
                          item_id_getter=lambda i: i[0], items="skill_items"), width=2),
        MessageInput(_other_skills, content_types=[ContentType.TEXT], filter=not_command),
        Row(back_button(), SwitchTo(Tr("Next ➡️"), id="next", state=VolunteerSignup.interests)),
        _cancel(),
        state=VolunteerSignup.skills,
        getter=_choices,
    ),
    Window(
        Tr("Which services in {community} would you like to help with? Tap all that fit."),
        Column(Multiselect(Format("✅ {item[1]}"), Format("▫️ {item[1]}"), id="interests",
                           item_id_getter=lambda i: i[0], items="services")),
        Row(back_button(), SwitchTo(Tr("Next ➡️"), id="next", state=VolunteerSignup.availability)),
        _cancel(),
        state=VolunteerSignup.interests,
        getter=_choices,
    ),
    Window(
        _availability_prompt(),
        *_availability_widgets(),
        Row(back_button(), Button(Tr("Next ➡️"), id="next", on_click=_availability_done)),
        _cancel(),
        state=VolunteerSignup.availability,
        getter=_choices,
    ),
    Window(
        Lines(
            Tr("Please check your registration:"),
            Tr("Name: {name}"), Tr("Sex: {sex}"), Tr("Date of birth: {birth}"),
            Tr("ID: {document} {id}"), Tr("Phone: {phone}"), Tr("Community: {community}"),
            Tr("Skills: {skills}"), Tr("Services: {interests}"), Tr("Free: {times}"),
            Tr("Guardian: {guardian}", when="minor"),
            Tr("Your data are used only for volunteer service and its records, as the Volunteer Service "
               "Regulations provide. Tick to agree, then send."),
        ),
        Checkbox(Tr("☑️ I agree to the use of my data"), Tr("⬜ I agree to the use of my data"), id="consent"),
        Checkbox(Tr("☑️ My parent or guardian agrees"), Tr("⬜ My parent or guardian agrees"), id="guardian",
                 when="minor"),
        Button(Tr("✅ Send registration"), id="submit", on_click=_submit),
        Row(back_button(), _cancel()),
        state=VolunteerSignup.summary,
        getter=_summary,
    ),
)


# --- review ---------------------------------------------------------------------------------------


@router.callback_query(VolunteerCB.filter(F.action == "approve"))
async def approve(query: CallbackQuery, callback_data: VolunteerCB, user: User, clock: Clock,
                  dialog_manager: DialogManager) -> None:
    session = dialog_manager.middleware_data["session"]
    try:
        volunteer = await volunteers.approve(session, user, callback_data.id, now=clock.now())
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await query.answer(_("Approved: {name} is volunteer {number}.").format(name=volunteer.real_name,
                                                                          number=volunteer.volunteer_number),
                       show_alert=True)
    await query.message.edit_reply_markup(reply_markup=None)


@router.callback_query(VolunteerCB.filter(F.action == "reject"))
async def ask_reason(query: CallbackQuery, callback_data: VolunteerCB, user: User,
                     dialog_manager: DialogManager) -> None:
    session = dialog_manager.middleware_data["session"]
    volunteer = await volunteers.get(session, callback_data.id)
    if volunteer is None or not volunteers.can_review(user, volunteer):
        await query.answer(_("Only a social worker of the volunteer's community or a coordinator can do this."),
                           show_alert=True)
        return
    if volunteer.status is not VolunteerStatus.PENDING:
        await query.answer(_("{name}'s registration has already been reviewed.").format(name=volunteer.real_name),
                           show_alert=True)
        return
    await query.answer()
    keep_buttons_of(query.message.message_id)
    await close_dialogs(dialog_manager)
    await dialog_manager.start(VolunteerReview.reason, data={"id": volunteer.user_id, "name": volunteer.real_name},
                               mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _reason_given(message: Message, _widget: Any, manager: DialogManager) -> None:
    clock: Clock = manager.middleware_data["clock"]
    session, user = session_of(manager), user_of(manager)
    try:
        await volunteers.reject(session, user, int(manager.start_data["id"]), message.text, now=clock.now())
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    except DomainError as error:
        await manager.done(show_mode=ShowMode.NO_UPDATE)
        await message.answer(error_text(error))
        return
    name = manager.start_data["name"]
    await end_transaction(session)
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await message.answer(_("{name} has been told why the registration was not approved.").format(name=esc(name)),
                         reply_markup=keyboards.main_menu(user.roles))


async def _review_cancelled(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Cancelled: nothing was sent or saved."))


async def _review_name(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    return {"name": esc(dialog_manager.start_data["name"])}


review_dialog = Dialog(
    Window(
        Tr("Why is {name}'s registration not approved? Type the reason: they will read it and can correct it."),
        MessageInput(_reason_given, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        Button(Tr("✖️ Cancel"), id="cancel", on_click=_review_cancelled),
        state=VolunteerReview.reason,
        getter=_review_name,
    ),
)



# --- a volunteer changes when they are free ----------------------------------------------------------------


# What a volunteer may change from their status message, and the dialog that does it.
EDITS = {"vol_availability": VolunteerAvailabilityEdit.edit, "vol_profile": VolunteerProfileEdit.menu}


@router.callback_query(MenuCB.filter(F.action.in_(EDITS.keys())))
async def edit_own_record(query: CallbackQuery, callback_data: MenuCB, user: User,
                          dialog_manager: DialogManager) -> None:
    profile = await volunteers.get(dialog_manager.middleware_data["session"], user.id)
    if profile is None or profile.status is VolunteerStatus.REJECTED:
        await query.answer(_("You are not registered as a volunteer yet: send /volunteer to register."),
                           show_alert=True)
        return
    await query.answer()
    keep_buttons_of(query.message.message_id)
    await close_dialogs(dialog_manager)
    await dialog_manager.start(EDITS[callback_data.action], mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


async def _load_availability(_data: Any, manager: DialogManager) -> None:
    windows = await volunteers.windows_of(session_of(manager), user_of(manager).id)
    days = {w.weekday for w in windows}
    spans = {(w.starts_at, w.ends_at) for w in windows}
    for day in sorted(days):
        await manager.find("days").set_checked(str(day), True)
    hours: list[str] = []
    for start, end in sorted(spans):
        slot = next((code for code, (_label, s, e) in SLOTS.items() if (s, e) == (start, end)), None)
        if slot is not None:
            await manager.find("slots").set_checked(slot, True)
        else:
            hours.append(f"{start:%H:%M}-{end:%H:%M}")
    manager.dialog_data["hours"] = hours


async def _availability_saved(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    session, user = session_of(manager), user_of(manager)
    clock: Clock = manager.middleware_data["clock"]
    windows = _windows(manager)
    if not windows:
        await query.answer(_("Please choose at least one day and one time of day."), show_alert=True)
        return
    try:
        await volunteers.set_availability(session, user, windows, now=clock.now())
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)
    await query.answer()
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Saved: tasks will be offered to you at these times."),
                                  reply_markup=keyboards.main_menu(user.roles))


async def _edit_cancelled(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Cancelled: nothing was sent or saved."))


availability_dialog = Dialog(
    Window(
        _availability_prompt(),
        *_availability_widgets(),
        Row(Button(Tr("💾 Save"), id="save", on_click=_availability_saved),
            Button(Tr("✖️ Cancel"), id="cancel", on_click=_edit_cancelled)),
        state=VolunteerAvailabilityEdit.edit,
        getter=_choices,
    ),
    on_start=_load_availability,
)


# --- /volunteers: staff look after their community's volunteers -----------------------------------------

STATUS_ICONS = {VolunteerStatus.PENDING: "🕓", VolunteerStatus.APPROVED: "✅", VolunteerStatus.SUSPENDED: "⏸",
                VolunteerStatus.REJECTED: "✖️"}
STATUS_LABELS = {
    VolunteerStatus.PENDING: N_("waiting for approval"),
    VolunteerStatus.APPROVED: N_("approved"),
    VolunteerStatus.SUSPENDED: N_("suspended"),
    VolunteerStatus.REJECTED: N_("not approved"),
}


async def _may_review(event: Any, user: User | None = None) -> bool:
    return user is not None and (user.has_role(Role.SOCIAL_WORKER) or user.has_role(Role.COORDINATOR))


@router.message(Command("volunteers"), _may_review)
async def volunteers_command(message: Message, dialog_manager: DialogManager) -> None:
    await close_dialogs(dialog_manager)
    await dialog_manager.start(VolunteerStaff.browse, mode=StartMode.RESET_STACK, show_mode=ShowMode.SEND)


@router.message(Command("volunteers"))
async def volunteers_not_staff(message: Message) -> None:
    await message.answer(_("/volunteers is for social workers and coordinators. To volunteer, send /volunteer."))


async def _roster(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    try:
        rows = await volunteers.list_for_reviewer(session_of(dialog_manager), user_of(dialog_manager))
    except DomainError:
        rows = []
    return {
        "people": [(str(v.user_id), f"{STATUS_ICONS[v.status]} {v.real_name} · {v.volunteer_number or '—'}")
                   for v in rows],
        "empty": not rows,
    }


async def _person_chosen(query: CallbackQuery, _widget: Any, manager: DialogManager, item_id: str) -> None:
    if not item_id.isdigit():
        await query.answer(_("This button is no longer valid."), show_alert=True)
        return
    manager.dialog_data["volunteer"] = int(item_id)
    await manager.switch_to(VolunteerStaff.card)


async def _record(dialog_manager: DialogManager, **_kwargs: Any) -> dict[str, Any]:
    session, user = session_of(dialog_manager), user_of(dialog_manager)
    volunteer_id = int(dialog_manager.dialog_data.get("volunteer") or 0)
    try:
        v = await volunteers.for_review(session, user, volunteer_id)
    except DomainError as error:
        return {"text": error_text(error), "pending": False, "approved": False, "suspended": False}
    windows = await volunteers.windows_of(session, v.user_id)
    joiner = "、" if locale() == "zh_CN" else ", "
    skills = [_(volunteers.SKILLS[c]) for c in v.skills if c in volunteers.SKILLS] + (
        [esc(v.skills_other)] if v.skills_other else [])
    lines = [
        f"<b>{esc(v.real_name)}</b> · {_(SEX_LABELS[v.sex])} · {v.birth_date.isoformat()}",
        _("Status: {status}").format(status=_(STATUS_LABELS[v.status]))
        + (f" — “{esc(v.status_reason)}”" if v.status_reason else ""),
        _("Volunteer number: {number}").format(number=v.volunteer_number or "—"),
        _("ID: {document} {id}").format(document=_(ID_LABELS[v.id_type]), id=v.id_number_masked),
        _("Phone: {phone}").format(phone=esc(v.phone)),
        _("Skills: {skills}").format(skills=joiner.join(skills) or "—"),
        _("Free: {times}").format(times=joiner.join(
            f"{_(WEEKDAYS[w.weekday])} {w.starts_at:%H:%M}–{w.ends_at:%H:%M}" for w in windows) or "—"),
    ]
    if v.guardian_name:
        lines.append(_("Guardian: {guardian}").format(guardian=esc(f"{v.guardian_name} {v.guardian_phone or ''}")))
    return {"text": "\n".join(lines), "pending": v.status is VolunteerStatus.PENDING,
            "approved": v.status is VolunteerStatus.APPROVED, "suspended": v.status is VolunteerStatus.SUSPENDED}


async def _approve_here(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    clock: Clock = manager.middleware_data["clock"]
    session = session_of(manager)
    try:
        volunteer = await volunteers.approve(session, user_of(manager), int(manager.dialog_data["volunteer"]),
                                             now=clock.now())
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)
    await query.answer(_("Approved: {name} is volunteer {number}.").format(name=volunteer.real_name,
                                                                          number=volunteer.volunteer_number))


async def _reinstate_here(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    clock: Clock = manager.middleware_data["clock"]
    session = session_of(manager)
    try:
        await volunteers.reinstate(session, user_of(manager), int(manager.dialog_data["volunteer"]), now=clock.now())
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)
    await query.answer(_("Reinstated; they have been told."))


async def _suspend_reason(message: Message, _widget: Any, manager: DialogManager) -> None:
    clock: Clock = manager.middleware_data["clock"]
    session = session_of(manager)
    try:
        await volunteers.suspend(session, user_of(manager), int(manager.dialog_data["volunteer"]), message.text,
                                 now=clock.now(), policy=manager.middleware_data["task_policy"])
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    except DomainError as error:
        await message.answer(error_text(error))
        await manager.switch_to(VolunteerStaff.card, show_mode=ShowMode.SEND)
        return
    await end_transaction(session)
    await message.answer(_("Suspended; they have been told why."))
    await manager.switch_to(VolunteerStaff.card, show_mode=ShowMode.SEND)


staff_dialog = Dialog(
    Window(
        Lines(Tr("🙌 Volunteers you look after. Tap one to see their record."), Tr("Nobody yet.", when="empty")),
        ScrollingGroup(Select(Format("{item[1]}"), id="who", item_id_getter=lambda i: i[0], items="people",
                              on_click=_person_chosen), id="whopages", width=1, height=8, hide_on_single_page=True),
        Cancel(Tr("✖️ Close")),
        state=VolunteerStaff.browse,
        getter=_roster,
    ),
    Window(
        Format("{text}"),
        Button(Tr("✅ Approve"), id="approve", on_click=_approve_here, when="pending"),
        SwitchTo(Tr("⏸ Suspend"), id="suspend", state=VolunteerStaff.suspend, when="approved"),
        Button(Tr("▶️ Reinstate"), id="reinstate", on_click=_reinstate_here, when="suspended"),
        SwitchTo(Tr("⬅️ Back"), id="back", state=VolunteerStaff.browse),
        state=VolunteerStaff.card,
        getter=_record,
    ),
    Window(
        Tr("Why is this volunteer suspended? Type the reason: they will read it."),
        MessageInput(_suspend_reason, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(not_words, filter=not_command),
        SwitchTo(Tr("✖️ Cancel"), id="cancel", state=VolunteerStaff.card),
        state=VolunteerStaff.suspend,
    ),
)



# --- a volunteer changes their phone, skills and services ---------------------------------------------------


async def _load_profile(_data: Any, manager: DialogManager) -> None:
    profile = await volunteers.get(session_of(manager), user_of(manager).id)
    if profile is None:
        return
    manager.dialog_data["phone"] = profile.phone
    manager.dialog_data["skills_other"] = profile.skills_other
    manager.dialog_data["located"] = profile.latitude is not None
    for code in profile.skills:
        await manager.find("skills").set_checked(code, True)
    for category_id in profile.interests:
        await manager.find("interests").set_checked(str(category_id), True)


async def _new_phone(message: Message, _widget: Any, manager: DialogManager) -> None:
    try:
        manager.dialog_data["phone"] = volunteers.check_phone(message.text)
    except InvalidInput as error:
        await refuse_step(message, manager, error)
        return
    await manager.switch_to(VolunteerProfileEdit.menu, show_mode=ShowMode.SEND)


async def _location_shared(message: Message, _widget: Any, manager: DialogManager) -> None:
    """Where they usually set out from: dispatch offers nearby tasks first (kept only as coordinates)."""
    manager.dialog_data["location"] = [message.location.latitude, message.location.longitude]
    manager.dialog_data["located"] = True
    manager.show_mode = ShowMode.SEND


async def _profile_saved(query: CallbackQuery, _button: Any, manager: DialogManager) -> None:
    session, user = session_of(manager), user_of(manager)
    clock: Clock = manager.middleware_data["clock"]
    try:
        await volunteers.update_profile(
            session, user, phone=manager.dialog_data.get("phone"),
            skills=manager.find("skills").get_checked(), skills_other=manager.dialog_data.get("skills_other"),
            interests=[int(i) for i in manager.find("interests").get_checked() if i.isdigit()],
            location=tuple(manager.dialog_data["location"]) if manager.dialog_data.get("location") else None,
            now=clock.now(),
        )
    except DomainError as error:
        await query.answer(error_text(error), show_alert=True)
        return
    await end_transaction(session)
    await query.answer()
    await manager.done(show_mode=ShowMode.NO_UPDATE)
    await query.message.edit_text(_("Saved: your volunteer details are up to date."),
                                  reply_markup=keyboards.main_menu(user.roles))


async def _profile_values(dialog_manager: DialogManager, **kwargs: Any) -> dict[str, Any]:
    values = await _choices(dialog_manager, **kwargs)
    return {**values, "phone": esc(dialog_manager.dialog_data.get("phone") or ""),
            "located": bool(dialog_manager.dialog_data.get("located"))}


profile_dialog = Dialog(
    Window(
        Lines(Tr("Your volunteer details. Tap to change, then “Save”."), Tr("Phone: {phone}"),
              Tr("📍 Where you set out from: shared", when="located"),
              Tr("Share a location (📎 → Location) to be offered nearby tasks first."),
              Tr("You can also type other skills in your own words."),
              Tr("Your own words: {skills_other}", when="skills_other")),
        Group(Multiselect(Format("✅ {item[1]}"), Format("▫️ {item[1]}"), id="skills",
                          item_id_getter=lambda i: i[0], items="skill_items"), width=2),
        Column(Multiselect(Format("✅ {item[1]}"), Format("▫️ {item[1]}"), id="interests",
                           item_id_getter=lambda i: i[0], items="services")),
        MessageInput(_other_skills, content_types=[ContentType.TEXT], filter=not_command),
        MessageInput(_location_shared, content_types=[ContentType.LOCATION]),
        SwitchTo(Tr("📞 Change my phone"), id="phone", state=VolunteerProfileEdit.phone),
        Row(Button(Tr("💾 Save"), id="save", on_click=_profile_saved),
            Button(Tr("✖️ Cancel"), id="cancel", on_click=_edit_cancelled)),
        state=VolunteerProfileEdit.menu,
        getter=_profile_values,
    ),
    _text_step(VolunteerProfileEdit.phone, _new_phone,
               Tr("Your phone number, for the social worker who arranges your tasks? For example 13912345678.")),
    on_start=_load_profile,
)

__all__ = ["availability_dialog", "profile_dialog", "review_dialog", "router", "staff_dialog", "volunteer_dialog"]
