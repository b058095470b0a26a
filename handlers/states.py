"""State groups, one per flow (aiogram-dialog dialogs)."""

from __future__ import annotations

from aiogram.fsm.state import State, StatesGroup


class Onboarding(StatesGroup):
    language = State()
    community = State()


class NewRequest(StatesGroup):
    group = State()
    service = State()
    description = State()
    location = State()
    phone = State()
    phone_owner = State()  # whose number it is (本人 / 家属 / 其他联系人)
    contact_name = State()  # a relative's or other contact's name
    confirm = State()


class AddInformation(StatesGroup):
    """A resident adds words, photos or recordings to an open request."""

    waiting = State()


class InviteStaff(StatesGroup):
    role = State()
    link = State()


STEPS_TOTAL = 5


class Specialties(StatesGroup):
    """A social worker chooses the services they are qualified for."""

    choose = State()


class Team(StatesGroup):
    """A coordinator looks after the social workers: capacity, supervisors, support assignments."""

    workers = State()
    card = State()
    capacity = State()
    support_community = State()
    support_period = State()
    end_support = State()


class DeclineCase(StatesGroup):
    """A social worker declines an offered case: a reason from buttons, or their own words."""

    reason = State()
    note = State()


class CaseText(StatesGroup):
    """Words about a case: a worker's note, message or resolution summary; a resident's reply or reason to reopen."""

    note = State()
    message = State()
    resolve = State()
    reply = State()
    reopen = State()


class HandOver(StatesGroup):
    """A supervisor or coordinator moves a case to another social worker."""

    choose = State()


class RateCase(StatesGroup):
    """The resident confirms a resolved case and rates the help."""

    stars = State()
    comment = State()


class Cases(StatesGroup):
    """/cases: a social worker's offered, open and overdue cases."""

    browse = State()


class VolunteerSignup(StatesGroup):
    """/volunteer: registration with the fields of the national volunteer record."""

    name = State()
    sex = State()
    birth = State()
    id_type = State()
    id_number = State()
    phone = State()
    guardian_name = State()
    guardian_phone = State()
    skills = State()
    interests = State()
    availability = State()
    summary = State()


class VolunteerReview(StatesGroup):
    """A social worker gives the reason for not approving a registration."""

    reason = State()


class VolunteerStaff(StatesGroup):
    """/volunteers: a social worker's or coordinator's list of volunteers, one's record, a suspension's reason."""

    browse = State()
    card = State()
    suspend = State()


class VolunteerAvailabilityEdit(StatesGroup):
    """A volunteer changes their weekly availability."""

    edit = State()


class VolunteerProfileEdit(StatesGroup):
    """A volunteer changes their phone, skills and the services they would help with."""

    menu = State()
    phone = State()


class TaskList(StatesGroup):
    """/tasks for staff: the tasks they made."""

    browse = State()


class TaskCreate(StatesGroup):
    """A social worker creates a volunteer task (from a case, or an activity)."""

    kind = State()
    title = State()
    place = State()
    day = State()
    start = State()
    length = State()
    needed = State()
    skills = State()
    summary = State()


class TaskAdd(StatesGroup):
    """A social worker gives a volunteer a place directly."""

    choose = State()


class TaskCancel(StatesGroup):
    """A social worker cancels a task, with the reason everyone reads."""

    reason = State()


class TrainingRecord(StatesGroup):
    """/training: a social worker or coordinator records a training for volunteers (in this order)."""

    name = State()
    content = State()
    hours = State()
    organiser = State()
    held_on = State()
    volunteers = State()
    summary = State()


class CheckIn(StatesGroup):
    """A volunteer checks in: a location (optional) with a reply-keyboard button."""

    location = State()


class RecordReview(StatesGroup):
    """The task's social worker decides its service records: verify, adjust (hours, then why) or reject (why)."""

    pick = State()
    record = State()
    adjust_hours = State()
    adjust_reason = State()
    reject_reason = State()


class RecordCorrection(StatesGroup):
    """A volunteer asks for a correction of a decided record."""

    note = State()
