"""FSM state groups, one per flow, and the typed draft of a new request."""

from __future__ import annotations

from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from pydantic import BaseModel


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


STEPS_TOTAL = 5


class Draft(BaseModel):
    """The state data of /new, read and written through this model only."""

    token: str
    group: str | None = None
    category_id: int | None = None
    description: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    phone: str | None = None
    menu_id: int | None = None  # the message whose inline buttons belong to the current step

    @classmethod
    async def load(cls, state: FSMContext) -> Draft | None:
        data = await state.get_data()
        return cls.model_validate(data) if data.get("token") else None

    async def save(self, state: FSMContext) -> None:
        await state.set_data(self.model_dump())
