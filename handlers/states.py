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
    confirm = State()


class InviteStaff(StatesGroup):
    role = State()
    link = State()


STEPS_TOTAL = 5
