"""Staff onboarding: coordinators invite social workers through single-use, expiring links."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from models import Invite, Role, SocialWorker
from tests.conftest import CLOCK, next_telegram_id
from tests.support import COMMUNITY_BUTTON, T, fill_request, has_button, onboard, user_row

pytestmark = pytest.mark.usefixtures("app")

LINK = re.compile(r"https://t\.me/\w+\?start=(inv_[\w-]+)")


async def _invite_link(coordinator, role_label: str, lang: str = "zh_CN") -> str:
    await coordinator.send_text("/invite")
    await coordinator.wait_for_message(has_button(role_label))
    await coordinator.press(role_label)
    message = await coordinator.wait_for_message(lambda m: LINK.search(m.text) is not None)
    return LINK.search(message.text).group(1)


@pytest.mark.parametrize("lang", ["zh_CN", "en"])
async def test_a_coordinator_invites_a_social_worker_who_then_receives_requests(emulator, session, world, lang):
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    payload = await _invite_link(zhou, T("Social worker"))

    newcomer = emulator.user(next_telegram_id(), "吴<社工>", language_code="en" if lang == "en" else "zh-hans")
    zhou_mark = zhou.mark()
    await newcomer.send_text(f"/start {payload}")
    # Their client's language is spoken from the first message.
    await newcomer.wait_for_message(T("Welcome to Linli! You are now registered as a social worker.", lang))
    await newcomer.wait_for_message(has_button(COMMUNITY_BUTTON[("桃园社区", lang)]))
    await newcomer.press(COMMUNITY_BUTTON[("桃园社区", lang)])
    await newcomer.wait_for_message(COMMUNITY_BUTTON[("桃园社区", lang)].split(" · ")[0])
    await zhou.wait_for_message("吴<社工>", after=zhou_mark, timeout=10)

    row = await user_row(session, newcomer)
    assert row.has_role(Role.SOCIAL_WORKER) and row.social_worker.home_community.name == "桃园社区"
    assert row.locale == lang

    # With 桃园's other two social workers off duty, a request there is offered to the new colleague,
    # in their language.
    await session.execute(update(SocialWorker).where(SocialWorker.user_id.in_(
        [world.people["chen_gang"].id, world.people["zhao_min"].id])).values(on_duty=False))
    await session.commit()
    resident = await onboard(emulator, community="桃园社区")
    mark = newcomer.mark()
    await fill_request(resident, group="低收入家庭", service="就业辅导", description="孩子爸爸失业了，想找份工作。")
    await resident.press(T("✅ Send request"))
    await resident.wait_for_message(T("Send /my to see how it is going."))
    notice = await newcomer.wait_for_message(has_button(T("✅ Accept", lang)), after=mark, timeout=10)
    assert "孩子爸爸失业了" in notice.text
    await newcomer.press(T("Open request", lang), message_id=notice.message_id)
    card = await newcomer.wait_for_message(T("Timeline:", lang))
    assert "孩子爸爸失业了" in card.text
    assert "吴<社工>" in card.text  # the timeline names whom it was offered to, as typed


async def test_an_invite_link_works_once(emulator, session, world):
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    payload = await _invite_link(zhou, T("Coordinator"))
    first = emulator.user(next_telegram_id(), "甲")
    await first.send_text(f"/start {payload}")
    await first.wait_for_message(T("Welcome to Linli! You are now a coordinator. Send /invite to invite social workers."))
    second = emulator.user(next_telegram_id(), "乙")
    await second.send_text(f"/start {payload}")
    await second.wait_for_message(
        T("This invitation link has already been used. Please ask your coordinator for a new one."))
    assert not (await user_row(session, second)).has_role(Role.COORDINATOR)
    assert (await user_row(session, first)).has_role(Role.COORDINATOR)


async def test_an_expired_or_unknown_invite_is_refused(emulator, session, world):
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    payload = await _invite_link(zhou, T("Social worker"))
    await session.execute(
        update(Invite).where(Invite.token == payload.removeprefix("inv_")).values(expires_at=CLOCK.now() - timedelta(minutes=1))
    )
    await session.commit()
    late = emulator.user(next_telegram_id(), "迟到的人")
    await late.send_text(f"/start {payload}")
    await late.wait_for_message(T("This invitation link has expired. Please ask your coordinator for a new one."))
    await late.send_text("/start inv_made-up-token")
    await late.wait_for_message(T("This invitation link is not valid. Please ask your coordinator for a new one."))
    assert not (await user_row(session, late)).has_role(Role.SOCIAL_WORKER)


async def test_only_coordinators_can_invite(emulator, session, world):
    resident = await onboard(emulator)
    await resident.send_text("/invite")
    await resident.wait_for_message(T("Only coordinators can invite staff."))
    # Forged invitation buttons, in the dialog's own format, are refused on the server too:
    # a resident has no invitation dialog, whatever intent id the data names.
    for forged in ("aBcD1234\x1drole:coordinator", "role:social_worker", "iv:social_worker"):
        query = await resident.press_data(forged, message_id=resident.last_message.message_id)
        answer = await resident.wait_for_callback_answer(query)
        assert answer.text == T("This button is no longer active. Please use the menu below.")
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    await li_jing.send_text("/invite")
    await li_jing.wait_for_message(T("Only coordinators can invite staff."))
    count = len((await session.scalars(select(Invite).where(Invite.created_by_id == (await user_row(session, resident)).id))).all())
    assert count == 0


async def test_a_request_with_no_social_worker_on_duty_reaches_the_coordinators(emulator, session, world):
    from models import SocialWorker

    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    # Nobody serves 柳林村 as home community in the sample world (赵敏 only supports it).
    resident = await onboard(emulator, community="柳林村")
    mark = zhou.mark()
    await fill_request(resident, group="留守儿童", service="学习辅导", description="孙子的作业我辅导不了。")
    await resident.press(T("✅ Send request"))
    await resident.wait_for_message(T("Send /my to see how it is going."))
    notice = await zhou.wait_for_message("孙子的作业我辅导不了", after=mark, timeout=10)
    assert "⚠️" in notice.text
    workers = (await session.scalars(select(SocialWorker))).all()
    assert all(w.home_community.name != "柳林村" for w in workers)


async def test_admin_ids_become_coordinators_when_the_bot_starts(app, emulator, session):
    from bot.app import on_startup

    admin_id = next_telegram_id()
    app.settings.admin_ids = [admin_id]
    try:
        await on_startup(app)
    finally:
        app.settings.admin_ids = []
    admin = emulator.user(admin_id, "街道主任")
    assert (await user_row(session, admin)).has_role(Role.COORDINATOR)
    await admin.send_text("/invite")
    await admin.wait_for_message(has_button(T("Social worker")))
