"""Volunteers: registration with the national record's fields, review, suspension, availability.

No aiogram here. Follows the Volunteer Service Regulations (2017) and the Ministry of
Civil Affairs' measures on volunteer service records (2020): a volunteer registers with
their real name and ID document, is approved by the organisation (here: a social worker
of their community, or a coordinator) and gets a volunteer number; a minor under 16
serves only with a guardian's consent. The ID number is kept masked except its last four
characters; a mainland resident ID is checked (shape, check digit, date of birth) before
that, so a typing mistake is caught while the person can still fix it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import catalogue
from bot.services.errors import N_, InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.notices import Notice, NoticeButton, enqueue, localized
from bot.services.users import coordinators, grant_role
from models import (
    Community,
    IdDocument,
    Role,
    Sex,
    SocialWorker,
    User,
    UserRole,
    Volunteer,
    VolunteerAvailability,
    VolunteerCounter,
    VolunteerStatus,
)

REAL_NAME_MAX = 64
SKILLS_OTHER_MAX = 200
REASON_MAX = 300
MIN_AGE = 8  # younger children serve with their family, not on their own registration
GUARDIAN_AGE = 16  # under this, a guardian's consent (Regulations, art. 15)
MAX_WINDOWS = 21

# Skills a volunteer can tick (codes stored; labels are msgids).
SKILLS: dict[str, str] = {
    "elder_care": N_("Company and care for older people"),
    "errands": N_("Shopping and errands"),
    "tutoring": N_("Homework help and tutoring"),
    "childcare": N_("Looking after children"),
    "counselling": N_("Listening and emotional support"),
    "first_aid": N_("First aid"),
    "nursing": N_("Medical or nursing care"),
    "repairs": N_("Home repairs"),
    "cleaning": N_("Cleaning and housework"),
    "cooking": N_("Cooking"),
    "driving": N_("Driving"),
    "digital": N_("Teaching phones and computers"),
    "legal": N_("Legal knowledge"),
    "sign_language": N_("Sign language"),
    "languages": N_("Foreign languages or dialects"),
    "arts": N_("Arts, music and sport"),
}

# GB 11643-1999: weights of the 17 digits and the check character by the sum modulo 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_PROVINCES = frozenset({
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41", "42", "43",
    "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
})
_PATTERNS = {
    # 港澳居民来往内地通行证 H/M + 8 or 10 digits; 港澳居民居住证 810000/820000 + 12 (an 18-character ID).
    IdDocument.HK_MACAU: re.compile(r"[HM]\d{8}(\d{2})?|8[12]0000\d{11}[\dX]"),
    # 台湾居民来往大陆通行证 8 digits (10 with the issue count); 台湾居民居住证 830000 + 12.
    IdDocument.TAIWAN: re.compile(r"\d{8}(\d{2})?|830000\d{11}[\dX]"),
    IdDocument.PASSPORT: re.compile(r"[A-Z0-9]{5,17}"),
    # 外国人永久居留身份证: 15 characters (2004) or 18 starting with 9 (2017).
    IdDocument.FOREIGN_PERMANENT: re.compile(r"[A-Z]{3}\d{12}|9\d{16}[\dX]"),
}


@dataclass(frozen=True)
class Window:
    """A weekly time window: weekday 0 (Monday) to 6, local start and end."""

    weekday: int
    starts_at: time
    ends_at: time


@dataclass(frozen=True)
class Registration:
    real_name: str
    sex: Sex
    birth_date: date
    id_type: IdDocument
    id_number: str
    phone: str
    community_id: int
    skills: tuple[str, ...] = ()
    skills_other: str | None = None
    interests: tuple[int, ...] = ()
    availability: tuple[Window, ...] = field(default_factory=tuple)
    consent: bool = False
    guardian_name: str | None = None
    guardian_phone: str | None = None
    guardian_consent: bool = False


# --- checks that say what to fix --------------------------------------------------------------


def clean_real_name(text: str | None) -> str:
    name = " ".join((text or "").split())
    if not name or not all(ch.isalpha() or ch in " ·.-'" for ch in name) or not any(ch.isalpha() for ch in name):
        raise InvalidInput(N_("Please type your real name as on your ID, for example “张伟”."))
    if len(name) > REAL_NAME_MAX:
        raise InvalidInput(N_("Please keep the name within {limit} characters."), limit=REAL_NAME_MAX)
    return name


def resident_id_birth_date(number: str) -> date:
    """The date of birth in a mainland resident ID number, after checking its shape and check digit."""
    if not re.fullmatch(r"\d{17}[\dX]", number):
        raise InvalidInput(N_("A resident ID number has 18 characters: 17 digits and a last digit or X. "
                              "Please check it."))
    if number[:2] not in _PROVINCES:
        raise InvalidInput(N_("This resident ID number does not start with a province code. Please check it."))
    total = sum(int(digit) * weight for digit, weight in zip(number[:17], _ID_WEIGHTS, strict=True))
    if _ID_CHECK[total % 11] != number[17]:
        raise InvalidInput(N_("This resident ID number's last character does not match the others: one of them "
                              "is probably mistyped. Please check it."))
    try:
        return date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput(N_("The date of birth inside this resident ID number is not a real date. "
                              "Please check it.")) from None


def normalise_id(id_type: IdDocument, text: str | None) -> str:
    return re.sub(r"[\s-]", "", (text or "")).upper()


def check_id_number(id_type: IdDocument, text: str | None, birth_date: date) -> str:
    """The ID number as typed, normalised and checked for its document type; InvalidInput says what to fix."""
    number = normalise_id(id_type, text)
    if not number:
        raise InvalidInput(N_("Please type your ID number."))
    if id_type is IdDocument.RESIDENT_ID:
        born = resident_id_birth_date(number)
        if born != birth_date:
            raise InvalidInput(N_("The date of birth in this ID number ({born}) is not the one you gave "
                                  "({given}). Please check both."),
                               born=born.isoformat(), given=birth_date.isoformat())
        return number
    if not _PATTERNS[id_type].fullmatch(number):
        raise InvalidInput(N_("This does not look like a number of the ID document you chose. Please check it, "
                              "or choose another document."))
    return number


def mask(number: str) -> str:
    """All but the last four characters masked: ************1234."""
    return "*" * max(0, len(number) - 4) + number[-4:]


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def check_birth_date(birth_date: date, today: date) -> int:
    """The age; InvalidInput for a date in the future, too young or impossible."""
    if birth_date > today:
        raise InvalidInput(N_("The date of birth is in the future. Please choose it again."))
    age = age_on(birth_date, today)
    if age > 110:
        raise InvalidInput(N_("Please check the year of birth."))
    if age < MIN_AGE:
        raise InvalidInput(N_("Volunteers register from the age of {age}; younger children can serve together "
                              "with a registered family member."), age=MIN_AGE)
    return age


def check_phone(text: str | None) -> str:
    raw = (text or "").strip()
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidInput(N_("{text} is not a phone number that can be called. Please check it: a mobile number "
                              "has 11 digits (13912345678); a landline needs its area code (0351-1234567)."),
                           text=raw or "—")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_windows(windows: Iterable[Window]) -> tuple[Window, ...]:
    """Weekly windows, sorted; each ends after it starts, none overlap on a day."""
    result = sorted(set(windows), key=lambda w: (w.weekday, w.starts_at, w.ends_at))
    if len(result) > MAX_WINDOWS:
        raise InvalidInput(N_("Please give at most {limit} time windows a week."), limit=MAX_WINDOWS)
    for window in result:
        if not 0 <= window.weekday <= 6:
            raise InvalidInput(N_("Please choose a day of the week."))
        if window.ends_at <= window.starts_at:
            raise InvalidInput(N_("A time window must end after it starts ({start}–{end}). Please choose the end "
                                  "again."), start=window.starts_at.strftime("%H:%M"),
                               end=window.ends_at.strftime("%H:%M"))
    for earlier, later in zip(result, result[1:], strict=False):
        if earlier.weekday == later.weekday and later.starts_at < earlier.ends_at:
            raise InvalidInput(N_("Two of your time windows overlap on the same day. Please keep them apart."))
    return tuple(result)


def check_skills(codes: Iterable[str], other: str | None) -> tuple[tuple[str, ...], str | None]:
    chosen = tuple(code for code in SKILLS if code in set(codes))
    if set(codes) - set(SKILLS):
        raise InvalidInput(N_("Please choose the skills from the list."))
    words = " ".join((other or "").split()) or None
    if words is not None and len(words) > SKILLS_OTHER_MAX:
        raise InvalidInput(N_("Please keep the other skills within {limit} characters."), limit=SKILLS_OTHER_MAX)
    return chosen, words


# --- registration --------------------------------------------------------------------------------


async def get(session: AsyncSession, user_id: int) -> Volunteer | None:
    return await session.get(Volunteer, user_id)


async def register(session: AsyncSession, user: User, form: Registration, *, now: datetime) -> Volunteer:
    """Check everything, then store the registration as pending and tell the community's social workers.

    Nothing is written unless every field passes. Someone rejected before may register
    again; a pending or approved volunteer edits their profile instead.
    """
    community = await session.get(Community, form.community_id)
    if community is None or not community.active:
        raise InvalidInput(N_("Please choose your community from the list."))
    today = now.astimezone(ZoneInfo(community.timezone)).date()
    name = clean_real_name(form.real_name)
    age = check_birth_date(form.birth_date, today)
    number = check_id_number(form.id_type, form.id_number, form.birth_date)
    phone = check_phone(form.phone)
    skills, skills_other = check_skills(form.skills, form.skills_other)
    windows = check_windows(form.availability)
    offered = {c.id for c in await catalogue.offered_categories(session, community, volunteers_only=True)}
    if set(form.interests) - offered:
        raise InvalidInput(N_("Please choose the services from the list."))
    if not form.consent:
        raise InvalidInput(N_("Please agree to the use of your data for volunteer service, or you cannot "
                              "register."))
    guardian_name = guardian_phone = None
    if age < GUARDIAN_AGE:
        if not form.guardian_consent or not form.guardian_name or not form.guardian_phone:
            raise InvalidInput(N_("Under {age}, a parent or guardian must agree: please give their name and phone "
                                  "number and confirm their consent."), age=GUARDIAN_AGE)
        guardian_name = clean_real_name(form.guardian_name)
        guardian_phone = check_phone(form.guardian_phone)

    existing = await session.get(Volunteer, user.id)
    if existing is not None and existing.status is not VolunteerStatus.REJECTED:
        raise InvalidState(N_("You are already registered as a volunteer; send /volunteer to see or change your "
                              "details."))
    volunteer = existing or Volunteer(user_id=user.id, created_at=now, last_offered_at=now)
    volunteer.real_name = name
    volunteer.sex = form.sex
    volunteer.birth_date = form.birth_date
    volunteer.id_type = form.id_type
    volunteer.id_number_masked = mask(number)
    volunteer.phone = phone
    volunteer.community_id = community.id
    volunteer.skills = list(skills)
    volunteer.skills_other = skills_other
    volunteer.interests = sorted(set(form.interests))
    volunteer.consent_at = now
    volunteer.guardian_name = guardian_name
    volunteer.guardian_phone = guardian_phone
    volunteer.guardian_consent_at = now if guardian_name else None
    volunteer.status = VolunteerStatus.PENDING
    volunteer.status_reason = None
    volunteer.reviewed_by_id = None
    volunteer.reviewed_at = None
    volunteer.updated_at = now
    session.add(volunteer)
    await session.flush()
    await _replace_windows(session, volunteer, windows)
    reviewers = await _reviewers(session, community.id)
    params = {"name": name, "community": localized(community.name, community.name_en), "age": age}
    buttons = (NoticeButton(N_("✅ Approve"), "volunteer.approve", user.id),
               NoticeButton(N_("✖️ Reject"), "volunteer.reject", user.id))
    enqueue(session, *(Notice(r, N_("🙋 {name} ({age}) of {community} registered as a volunteer and waits for your "
                                    "approval."), params, buttons) for r in reviewers), now=now)
    return volunteer


async def _replace_windows(session: AsyncSession, volunteer: Volunteer, windows: Sequence[Window]) -> None:
    old = (await session.scalars(select(VolunteerAvailability)
                                 .where(VolunteerAvailability.volunteer_id == volunteer.user_id))).all()
    for row in old:
        await session.delete(row)
    session.add_all(VolunteerAvailability(volunteer_id=volunteer.user_id, weekday=w.weekday, starts_at=w.starts_at,
                                          ends_at=w.ends_at) for w in windows)
    await session.flush()


async def windows_of(session: AsyncSession, volunteer_id: int) -> list[Window]:
    rows = await session.scalars(select(VolunteerAvailability).where(VolunteerAvailability.volunteer_id == volunteer_id)
                                 .order_by(VolunteerAvailability.weekday, VolunteerAvailability.starts_at))
    return [Window(r.weekday, r.starts_at, r.ends_at) for r in rows.all()]


async def set_availability(session: AsyncSession, user: User, windows: Iterable[Window], *, now: datetime) -> list[Window]:
    volunteer = await session.get(Volunteer, user.id)
    if volunteer is None:
        raise NotFound(N_("You are not registered as a volunteer yet: send /volunteer to register."))
    checked = check_windows(windows)
    await _replace_windows(session, volunteer, checked)
    volunteer.updated_at = now
    return list(checked)


async def _reviewers(session: AsyncSession, community_id: int) -> list[User]:
    """Who approves a community's volunteers: its social workers, else the coordinators."""
    workers = list((await session.scalars(
        select(User)
        .join(SocialWorker, SocialWorker.user_id == User.id)
        .join(UserRole, (UserRole.user_id == User.id) & (UserRole.role == Role.SOCIAL_WORKER))
        .where(SocialWorker.home_community_id == community_id)
        .order_by(User.id)
    )).all())
    return workers or await coordinators(session)


def can_review(user: User, volunteer: Volunteer) -> bool:
    """A social worker of the volunteer's community, or a coordinator."""
    if user.has_role(Role.COORDINATOR):
        return True
    worker = user.social_worker
    return bool(user.has_role(Role.SOCIAL_WORKER) and worker is not None
                and worker.home_community_id == volunteer.community_id)


async def _reviewable(session: AsyncSession, reviewer: User, volunteer_user_id: int) -> Volunteer:
    volunteer = await session.get(Volunteer, volunteer_user_id)
    if volunteer is None:
        raise NotFound(N_("This volunteer could not be found."))
    if not can_review(reviewer, volunteer):
        raise PermissionDenied(N_("Only a social worker of the volunteer's community or a coordinator can do this."))
    return volunteer


async def _next_number(session: AsyncSession, year: int) -> str:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = (
        insert(VolunteerCounter)
        .values(year=year, last_value=1)
        .on_conflict_do_update(index_elements=[VolunteerCounter.year],
                               set_={"last_value": VolunteerCounter.last_value + 1})
        .returning(VolunteerCounter.last_value)
    )
    value = (await session.execute(stmt)).scalar_one()
    return f"ZY{year}{value:06d}"


async def approve(session: AsyncSession, reviewer: User, volunteer_user_id: int, *, now: datetime) -> Volunteer:
    volunteer = await _reviewable(session, reviewer, volunteer_user_id)
    if volunteer.status is not VolunteerStatus.PENDING:
        raise InvalidState(N_("{name}'s registration has already been reviewed."), name=volunteer.real_name)
    volunteer.status = VolunteerStatus.APPROVED
    volunteer.reviewed_by_id = reviewer.id
    volunteer.reviewed_at = now
    volunteer.updated_at = now
    if volunteer.volunteer_number is None:
        year = now.astimezone(ZoneInfo(volunteer.community.timezone)).year
        volunteer.volunteer_number = await _next_number(session, year)
    person = await session.get(User, volunteer.user_id)
    assert person is not None
    await grant_role(session, person, Role.VOLUNTEER, now=now, granted_by=reviewer)
    enqueue(session, Notice(person, N_("🎉 Welcome, you are now a registered volunteer. Your volunteer number is "
                                       "{number}. Social workers of {community} will offer you tasks that fit your "
                                       "skills and time."),
                            {"number": volunteer.volunteer_number,
                             "community": localized(volunteer.community.name, volunteer.community.name_en)}), now=now)
    return volunteer


def _reason(text: str | None) -> str:
    words = " ".join((text or "").split())
    if not words:
        raise InvalidInput(N_("Please give the reason in a few words: the volunteer reads it."))
    if len(words) > REASON_MAX:
        raise InvalidInput(N_("Please keep the reason within {limit} characters."), limit=REASON_MAX)
    return words


async def reject(session: AsyncSession, reviewer: User, volunteer_user_id: int, reason: str | None, *,
                 now: datetime) -> Volunteer:
    words = _reason(reason)
    volunteer = await _reviewable(session, reviewer, volunteer_user_id)
    if volunteer.status is not VolunteerStatus.PENDING:
        raise InvalidState(N_("{name}'s registration has already been reviewed."), name=volunteer.real_name)
    volunteer.status = VolunteerStatus.REJECTED
    volunteer.status_reason = words
    volunteer.reviewed_by_id = reviewer.id
    volunteer.reviewed_at = now
    volunteer.updated_at = now
    person = await session.get(User, volunteer.user_id)
    assert person is not None
    enqueue(session, Notice(person, N_("Your volunteer registration was not approved: “{reason}”\nYou can correct "
                                       "it and register again with /volunteer."), {"reason": words}), now=now)
    return volunteer


async def suspend(session: AsyncSession, reviewer: User, volunteer_user_id: int, reason: str | None, *,
                  now: datetime, policy: Any = None) -> Volunteer:
    """A suspended volunteer gets no offers until reinstated; they are told why. Their places in tasks to
    come go to the waitlists (each task's social worker is told); `policy` is the `tasks.TaskPolicy`."""
    from bot.services import tasks  # tasks imports this module

    words = _reason(reason)
    volunteer = await _reviewable(session, reviewer, volunteer_user_id)
    if volunteer.status is not VolunteerStatus.APPROVED:
        raise InvalidState(N_("Only an approved volunteer can be suspended."))
    # Tasks are locked before the volunteer, as on every path that gives a place.
    await tasks.drop_places(session, volunteer_user_id, now=now, policy=policy or tasks.TaskPolicy())
    volunteer.status = VolunteerStatus.SUSPENDED
    volunteer.status_reason = words
    volunteer.updated_at = now
    person = await session.get(User, volunteer.user_id)
    assert person is not None
    enqueue(session, Notice(person, N_("Your volunteer service is suspended for now: “{reason}”\nA social worker "
                                       "will tell you when you are reinstated."), {"reason": words}), now=now)
    return volunteer


async def reinstate(session: AsyncSession, reviewer: User, volunteer_user_id: int, *, now: datetime) -> Volunteer:
    volunteer = await _reviewable(session, reviewer, volunteer_user_id)
    if volunteer.status is not VolunteerStatus.SUSPENDED:
        raise InvalidState(N_("Only a suspended volunteer can be reinstated."))
    volunteer.status = VolunteerStatus.APPROVED
    volunteer.status_reason = None
    volunteer.updated_at = now
    person = await session.get(User, volunteer.user_id)
    assert person is not None
    enqueue(session, Notice(person, N_("You are a volunteer again: tasks will be offered to you as before."), {}),
            now=now)
    return volunteer


async def list_for_reviewer(session: AsyncSession, reviewer: User) -> list[Volunteer]:
    """The volunteers a reviewer looks after (their community's; a coordinator's: all), waiting ones first."""
    stmt = select(Volunteer)
    if not reviewer.has_role(Role.COORDINATOR):
        worker = reviewer.social_worker
        if not reviewer.has_role(Role.SOCIAL_WORKER) or worker is None or worker.home_community_id is None:
            raise PermissionDenied(N_("Only a social worker of the volunteer's community or a coordinator can do "
                                      "this."))
        stmt = stmt.where(Volunteer.community_id == worker.home_community_id)
    order = {VolunteerStatus.PENDING: 0, VolunteerStatus.APPROVED: 1, VolunteerStatus.SUSPENDED: 2,
             VolunteerStatus.REJECTED: 3}
    rows = list((await session.scalars(stmt.order_by(Volunteer.created_at, Volunteer.user_id))).all())
    return sorted(rows, key=lambda v: order[v.status])


async def for_review(session: AsyncSession, reviewer: User, volunteer_user_id: int) -> Volunteer:
    """One volunteer's record, for someone who may review it."""
    return await _reviewable(session, reviewer, volunteer_user_id)


async def update_profile(
    session: AsyncSession, user: User, *, phone: str | None = None, skills: Iterable[str] | None = None,
    skills_other: str | None = None, interests: Iterable[int] | None = None,
    location: tuple[float, float] | None = None, now: datetime,
) -> Volunteer:
    """A volunteer changes their phone, skills, the services they would help with, or where they usually set
    out from (each checked as at registration; what is not given stays)."""
    volunteer = await session.get(Volunteer, user.id)
    if volunteer is None or volunteer.status is VolunteerStatus.REJECTED:
        raise NotFound(N_("You are not registered as a volunteer yet: send /volunteer to register."))
    if phone is not None:
        volunteer.phone = check_phone(phone)
    if skills is not None:
        codes, words = check_skills(tuple(skills), skills_other)
        volunteer.skills = list(codes)
        volunteer.skills_other = words
    if interests is not None:
        chosen = set(interests)
        offered = {c.id for c in await catalogue.offered_categories(session, volunteer.community, volunteers_only=True)}
        if chosen - offered:
            raise InvalidInput(N_("Please choose the services from the list."))
        volunteer.interests = sorted(chosen)
    if location is not None:
        latitude, longitude = location
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
            raise InvalidInput(N_("This location cannot be used. Please share it again from the map."))
        volunteer.latitude, volunteer.longitude = latitude, longitude
    volunteer.updated_at = now
    return volunteer
