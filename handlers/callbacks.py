"""Callback data factories for every inline button.

Payloads carry an id and an action only. Whatever they name is looked up and
permission-checked again on the server: callback data is never trusted.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class LanguageCB(CallbackData, prefix="lang"):
    code: str


class MenuCB(CallbackData, prefix="menu"):
    action: str  # new | my | help


class RequestCB(CallbackData, prefix="rq"):
    action: str  # view | add | cancel | cancel_yes | list | reply | rate | reopen
    id: int = 0


class CaseCB(CallbackData, prefix="case"):
    action: str  # accept | decline | start | note | message | resolve | handover | task
    id: int


class VolunteerCB(CallbackData, prefix="vol"):
    action: str  # approve | reject | suspend | reinstate
    id: int  # the volunteer's user id


class TaskCB(CallbackData, prefix="task"):
    action: str  # view | refresh | new | add | more | cancel | verify
    id: int  # the task's id (0 for new)


class AssignmentCB(CallbackData, prefix="asg"):
    action: str  # accept | decline | withdraw | withdraw_yes | keep | confirm
    id: int  # the task assignment's id
    listed: bool = False  # pressed in the /tasks list (which is shown again afterwards), not on a notice


class RecordCB(CallbackData, prefix="rec"):
    action: str  # in | out (id: the task assignment's) | review | correct (id: the service record's)
    id: int


class ExportCB(CallbackData, prefix="exp"):
    period: str  # this_month | last_month | this_year


NOTICE_ACTIONS = {
    "request.view": lambda ref: RequestCB(action="view", id=ref),
    "case.accept": lambda ref: CaseCB(action="accept", id=ref),
    "case.decline": lambda ref: CaseCB(action="decline", id=ref),
    "case.message": lambda ref: CaseCB(action="message", id=ref),
    "request.reply": lambda ref: RequestCB(action="reply", id=ref),
    "request.rate": lambda ref: RequestCB(action="rate", id=ref),
    "request.reopen": lambda ref: RequestCB(action="reopen", id=ref),
    "volunteer.approve": lambda ref: VolunteerCB(action="approve", id=ref),
    "volunteer.reject": lambda ref: VolunteerCB(action="reject", id=ref),
    "task.view": lambda ref: TaskCB(action="view", id=ref),
    "task.accept": lambda ref: AssignmentCB(action="accept", id=ref),
    "task.decline": lambda ref: AssignmentCB(action="decline", id=ref),
    "task.withdraw": lambda ref: AssignmentCB(action="withdraw", id=ref),
    "task.confirm": lambda ref: AssignmentCB(action="confirm", id=ref),
    "record.checkin": lambda ref: RecordCB(action="in", id=ref),
    "record.checkout": lambda ref: RecordCB(action="out", id=ref),
    "record.review": lambda ref: RecordCB(action="review", id=ref),
    "record.correct": lambda ref: RecordCB(action="correct", id=ref),
}


def notice_button_data(action: str, ref: int) -> str:
    """Callback data for a button a service attached to a notice."""
    make = NOTICE_ACTIONS.get(action)
    if make is not None:
        return make(ref).pack()
    raise ValueError(f"unknown notice button action {action!r}")


#: The prefix of every factory above: a button's data starting with one of these (up to the first ":")
#: is for the command routers; anything else (aiogram-dialog's widgets, stale or forged data) is not.
PREFIXES: frozenset[str] = frozenset(
    factory.__prefix__ for factory in CallbackData.__subclasses__() if factory.__module__ == __name__
)
