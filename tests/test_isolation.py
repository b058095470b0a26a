"""Each test has the database to itself: the sample world and nothing another test left."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.services import requests
from models import OutgoingMessage, ServiceRequest, User
from tests.conftest import CLOCK
from tests.test_services import draft


async def _count(session, model) -> int:  # noqa: ANN001
    return await session.scalar(select(func.count()).select_from(model))


async def test_a_test_leaves_rows_behind(session, world):
    wang = await session.get(User, world.people["wang_xiulan"].id)
    await requests.file_request(session, wang, await draft(session), now=CLOCK.now())
    await session.commit()
    assert await _count(session, ServiceRequest) == 1
    assert await _count(session, OutgoingMessage) >= 1


async def test_the_next_test_does_not_see_them(session, world):
    assert await _count(session, ServiceRequest) == 0
    assert await _count(session, OutgoingMessage) == 0
    # ...and has the whole sample world again.
    assert {"li_jing", "wang_xiulan", "zhou"} <= set(world.people)
