"""aiogram routers, one module per role or flow, included in this order."""

from __future__ import annotations

from aiogram import Router

from handlers import (
    additions,
    cases,
    casework,
    common,
    errors,
    fallback,
    offers,
    onboarding,
    profile,
    records,
    resident,
    staff,
    tasks,
    team,
    training,
    volunteer,
)
from handlers.filters import looks_like_a_command, one_of_our_buttons

# The command and button handlers of every role. Their messages are all /commands and their buttons
# all carry data of `handlers.callbacks`, so whatever else arrives (text typed into a dialog step,
# a dialog's own buttons) skips their sixty filters with these two checks.
commands = Router(name="commands")
commands.message.filter(looks_like_a_command)
commands.callback_query.filter(one_of_our_buttons)
commands.include_routers(
    common.router,
    onboarding.router,
    resident.router,
    cases.router,
    offers.router,
    casework.router,
    volunteer.router,
    tasks.router,
    records.router,
    training.router,
    additions.router,
    staff.router,
    profile.router,
    team.router,
)

# Order matters: commands that work anywhere first, the catch-all last.
ROUTERS: tuple[Router, ...] = (
    commands,
    # Dialogs (aiogram-dialog) after the commands, so /help or /my work mid-flow.
    onboarding.onboarding_dialog,
    resident.new_request_dialog,
    additions.add_information_dialog,
    offers.decline_dialog,
    casework.cases_dialog,
    casework.case_text_dialog,
    casework.handover_dialog,
    casework.rate_dialog,
    volunteer.volunteer_dialog,
    volunteer.review_dialog,
    volunteer.availability_dialog,
    volunteer.staff_dialog,
    volunteer.profile_dialog,
    tasks.task_list_dialog,
    tasks.create_dialog,
    tasks.manage_dialog,
    tasks.cancel_dialog,
    records.checkin_dialog,
    records.review_dialog,
    records.correction_dialog,
    training.training_dialog,
    staff.invite_dialog,
    profile.specialties_dialog,
    team.team_dialog,
    fallback.router,
    errors.router,
)


def build_routers() -> list[Router]:
    """The routers, detached from any previous Dispatcher.

    Routers are module singletons and aiogram lets a router have one parent;
    tests and the demo build more than one Dispatcher in a process.
    """
    for router in ROUTERS:
        parent = router.parent_router
        if parent is not None:
            parent.sub_routers.remove(router)
            router._parent_router = None  # noqa: SLF001 - no public detach in aiogram
    return list(ROUTERS)
