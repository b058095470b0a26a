"""Volunteers' trainings (志愿者培训): a social worker records one for the volunteers who took part.

No aiogram here. The Volunteer Service Regulations (2017) ask organisations to train their
volunteers, and the Ministry of Civil Affairs' 2020 measures keep trainings on a volunteer's
service record. A training is recorded by a social worker of the volunteers' community or a
coordinator (the people who approve volunteers), for approved volunteers only; each of them
is told, in the same transaction. Lengths are kept in minutes and shown as hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date
from babel.numbers import format_decimal
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services import volunteers
from bot.services.errors import N_, InvalidInput, InvalidState, NotFound, PermissionDenied
from bot.services.notices import Notice, enqueue, formatted, localized
from models import Community, Role, Training, TrainingAttendee, User, Volunteer, VolunteerStatus

NAME_MAX = 100  # Training.name
CONTENT_MAX = 1000
ORGANISER_MAX = 100  # Training.organiser
MAX_MINUTES = 24 * 60  # one training, one record; a longer course is recorded day by day
OLDEST_DAYS = 2 * 365  # records are kept current; older paper records are not back-filled here
MAX_ATTENDEES = 200
DEFAULT_TIMEZONE = "Asia/Shanghai"

ONE_HOUR = N_("{hours} hour")
HOURS = N_("{hours} hours")
STAFF_ONLY = N_("Only social workers and coordinators can record trainings.")


@dataclass(frozen=True)
class VolunteerTrainings:
    """A volunteer's trainings, newest first (at most the limit asked for), with the count and hours of all."""

    items: list[Training]
    count: int
    total_minutes: int


@dataclass(frozen=True)
class RecordedTraining:
    training: Training
    attendees: int


# --- how lengths and days read ----------------------------------------------------------------------


def hours_text(minutes: int) -> str:
    """Hours with at most one decimal: 90 → "1.5", 120 → "2" (the same figures in Chinese and English)."""
    return format_decimal(round(minutes / 60, 1), format="0.#", locale="en")


def hours_phrase(minutes: int) -> tuple[str, str]:
    """The msgid and the figure of a length: ("{hours} hours", "1.5"); "1 hour" in the singular."""
    figure = hours_text(minutes)
    return (ONE_HOUR if figure == "1" else HOURS), figure


def day_text(day: date, locale: str) -> str:
    """2026年11月28日 in Chinese, 28 Nov 2026 in English."""
    if locale == "zh_CN":
        return format_date(day, "y年M月d日", locale="zh_CN")
    return format_date(day, "d MMM y", locale="en")


# --- checks that say what to fix ------------------------------------------------------------------


def may_record(user: User) -> bool:
    return user.has_role(Role.SOCIAL_WORKER) or user.has_role(Role.COORDINATOR)


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


def clean_name(text: str | None) -> str:
    name = _words(text)
    if not name:
        raise InvalidInput(N_("Please type the name of the training, for example “Basics of caring for older "
                              "people”."))
    if len(name) > NAME_MAX:
        raise InvalidInput(N_("Please keep the name of the training within {limit} characters."), limit=NAME_MAX)
    return name


def clean_content(text: str | None) -> str:
    """What the training covered; line breaks kept, blank lines and extra spaces dropped."""
    lines = [_words(line) for line in (text or "").splitlines()]
    content = "\n".join(line for line in lines if line)
    if not content:
        raise InvalidInput(N_("Please say in a few words what the training covered."))
    if len(content) > CONTENT_MAX:
        raise InvalidInput(N_("Please keep the content within {limit} characters."), limit=CONTENT_MAX)
    return content


def clean_organiser(text: str | None) -> str:
    organiser = _words(text)
    if not organiser:
        raise InvalidInput(N_("Please type who organised the training, for example the station's name."))
    if len(organiser) > ORGANISER_MAX:
        raise InvalidInput(N_("Please keep the organiser's name within {limit} characters."), limit=ORGANISER_MAX)
    return organiser


def check_minutes(minutes: int) -> int:
    if minutes <= 0:
        raise InvalidInput(N_("The length must be more than 0 hours. Please type it like 2 or 1.5."))
    if minutes > MAX_MINUTES:
        raise InvalidInput(N_("A training is recorded for one day, at most {limit} hours. Please check the length."),
                           limit=MAX_MINUTES // 60)
    return minutes


def check_held_on(day: date, today: date) -> date:
    if day > today:
        raise InvalidInput(N_("A training can be recorded once it has been held. Please give a day up to today."))
    earliest = today - timedelta(days=OLDEST_DAYS)
    if day < earliest:
        raise InvalidInput(N_("This date is too long ago: trainings from {earliest} on can be recorded. Please check "
                              "the year."), earliest=earliest.isoformat())
    return day


def home_community(user: User) -> Community | None:
    """Where a staff member's trainings are recorded: the social worker's home community, else their own."""
    worker = user.social_worker
    if worker is not None and worker.home_community is not None:
        return worker.home_community
    return user.community


def today_for(user: User, now: datetime) -> date:
    """Today in the time zone of the community the staff member records for."""
    community = home_community(user)
    return now.astimezone(ZoneInfo(community.timezone if community is not None else DEFAULT_TIMEZONE)).date()


async def candidates(session: AsyncSession, worker: User) -> list[Volunteer]:
    """The approved volunteers a staff member may record a training for (those they look after)."""
    if not may_record(worker):
        raise PermissionDenied(STAFF_ONLY)
    rows = await volunteers.list_for_reviewer(session, worker)
    return [v for v in rows if v.status is VolunteerStatus.APPROVED]


async def check_attendees(session: AsyncSession, worker: User, volunteer_ids: Iterable[int]) -> list[Volunteer]:
    """The volunteers chosen, each approved and looked after by the worker; in the order given, once each."""
    ids = list(dict.fromkeys(volunteer_ids))
    if not ids:
        raise InvalidInput(N_("Please choose at least one volunteer who took part."))
    if len(ids) > MAX_ATTENDEES:
        raise InvalidInput(N_("Please choose at most {limit} volunteers for one training."), limit=MAX_ATTENDEES)
    found = {v.user_id: v for v in (await session.scalars(select(Volunteer).where(Volunteer.user_id.in_(ids)))).all()}
    chosen: list[Volunteer] = []
    for volunteer_id in ids:
        volunteer = found.get(volunteer_id)
        if volunteer is None:
            raise NotFound(N_("This volunteer could not be found."))
        if not volunteers.can_review(worker, volunteer):
            raise PermissionDenied(N_("Only a social worker of the volunteer's community or a coordinator can do "
                                      "this."))
        if volunteer.status is not VolunteerStatus.APPROVED:
            raise InvalidState(N_("{name} is not an approved volunteer now, so no training can be recorded for "
                                  "them."), name=volunteer.real_name)
        chosen.append(volunteer)
    return chosen


# --- recording and reading ------------------------------------------------------------------------------


async def record(
    session: AsyncSession, worker: User, *, name: str | None, content: str | None, minutes: int,
    organiser: str | None, held_on: date, volunteer_ids: Sequence[int], now: datetime,
) -> Training:
    """Check everything, store the training with its volunteers and tell each of them; nothing is half-saved."""
    if not may_record(worker):
        raise PermissionDenied(STAFF_ONLY)
    name = clean_name(name)
    content = clean_content(content)
    minutes = check_minutes(minutes)
    organiser = clean_organiser(organiser)
    check_held_on(held_on, today_for(worker, now))
    chosen = await check_attendees(session, worker, volunteer_ids)

    community = home_community(worker)
    training = Training(name=name, content=content, minutes=minutes, organiser=organiser, held_on=held_on,
                        community_id=community.id if community is not None else None, recorded_by_id=worker.id,
                        created_at=now)
    session.add(training)
    await session.flush()
    session.add_all(TrainingAttendee(training_id=training.id, volunteer_id=v.user_id) for v in chosen)

    people = (await session.scalars(select(User).where(User.id.in_([v.user_id for v in chosen]))
                                    .order_by(User.id))).all()
    phrase, figure = hours_phrase(minutes)
    params = {"name": name, "date": localized(day_text(held_on, "zh_CN"), day_text(held_on, "en")),
              "hours": formatted(phrase, hours=figure), "organiser": organiser}
    enqueue(session, *(Notice(person, N_("📚 A training was recorded for you: {name}, {date}, {hours}, by "
                                         "{organiser}.\nSee all your trainings with /trainings."), params)
                       for person in people), now=now)
    await session.flush()
    return training


async def for_volunteer(session: AsyncSession, volunteer_user_id: int, *, limit: int = 20) -> VolunteerTrainings:
    """A volunteer's trainings, newest first, and the count and hours of all of them."""
    mine = select(TrainingAttendee.training_id).where(TrainingAttendee.volunteer_id == volunteer_user_id)
    count, total = (await session.execute(
        select(func.count(Training.id), func.coalesce(func.sum(Training.minutes), 0)).where(Training.id.in_(mine))
    )).one()
    items = (await session.scalars(select(Training).where(Training.id.in_(mine))
                                   .order_by(Training.held_on.desc(), Training.id.desc()).limit(limit))).all()
    return VolunteerTrainings(items=list(items), count=int(count), total_minutes=int(total))


async def recent_for_worker(session: AsyncSession, worker: User, limit: int = 10) -> list[RecordedTraining]:
    """The trainings this staff member recorded, latest recorded first, each with how many volunteers took part."""
    if not may_record(worker):
        raise PermissionDenied(STAFF_ONLY)
    attendees = (select(func.count()).where(TrainingAttendee.training_id == Training.id)
                 .correlate(Training).scalar_subquery())
    rows = (await session.execute(
        select(Training, attendees).where(Training.recorded_by_id == worker.id)
        .order_by(Training.created_at.desc(), Training.id.desc()).limit(limit)
    )).all()
    return [RecordedTraining(training=row[0], attendees=int(row[1])) for row in rows]
