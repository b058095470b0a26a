"""Social workers set their duty and specialties in chat; nobody else can."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from handlers.team import months_later
from models import ServiceCategory, SocialWorker, SupportAssignment, WorkerSpecialty
from tests.conftest import CLOCK
from tests.support import T, callback_data_of, has_button, onboard, settled

pytestmark = pytest.mark.usefixtures("app")

DAILY = "生活照料（买菜、陪同就医等）"
REHAB = "康复训练"


async def profile_of(session, world):  # noqa: ANN001, ANN201
    await session.commit()
    worker = await session.get(SocialWorker, world.people["li_jing"].id, populate_existing=True)
    specialties = set((await session.scalars(
        select(ServiceCategory.name_zh).join(WorkerSpecialty, WorkerSpecialty.category_id == ServiceCategory.id)
        .where(WorkerSpecialty.worker_id == worker.user_id))).all())
    await session.commit()
    return worker.on_duty, specialties


async def test_duty_goes_off_and_on_again(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    await li_jing.send_text("/duty")
    off = await li_jing.wait_for_message(
        T("You are off duty: no new requests will be offered to you until you send /duty again."))
    assert T("🔔 On / off duty") in off.buttons
    await settled(li_jing)
    assert (await profile_of(session, world))[0] is False
    await li_jing.press(T("🔔 On / off duty"), message_id=off.message_id)
    await li_jing.wait_for_message(T("You are on duty: new requests in {community} can be offered to you.",
                                     community="晨光社区"))
    await settled(li_jing)
    assert (await profile_of(session, world))[0] is True


async def test_a_resident_has_no_duty_and_no_specialties(emulator, session):
    person = await onboard(emulator)
    assert T("🔔 On / off duty") not in person.last_message.buttons
    for command in ("/duty", "/specialties"):
        await person.send_text(command)
        await person.wait_for_message(T("Only social workers have a duty status and specialties."))


async def test_a_social_worker_chooses_specialties_and_sees_them_again(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    await li_jing.send_text("/specialties")
    picker = await li_jing.wait_for_message(has_button(f"▫️ {DAILY}"))
    assert T("Tap to choose or unchoose, then “Save”. Chosen: {count}.", count=0) in picker.text
    await li_jing.press(f"▫️ {DAILY}")
    await li_jing.wait_for_message(has_button(f"✅ {DAILY}"))
    await li_jing.press(f"▫️ {REHAB}")
    await li_jing.wait_for_message(has_button(f"✅ {REHAB}"))
    await li_jing.press(f"✅ {REHAB}")  # changed her mind
    await li_jing.wait_for_message(has_button(f"▫️ {REHAB}"))
    await li_jing.press(T("💾 Save"))
    await li_jing.wait_for_message(T("Saved. New requests for these {count} services will be offered to you first.",
                                     count=1))
    await settled(li_jing)
    assert (await profile_of(session, world))[1] == {DAILY}

    await li_jing.send_text("/specialties")
    again = await li_jing.wait_for_message(has_button(f"✅ {DAILY}"))
    assert T("Tap to choose or unchoose, then “Save”. Chosen: {count}.", count=1) in again.text


async def test_a_forged_service_id_saves_nothing(emulator, session, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    await li_jing.send_text("/specialties")
    picker = await li_jing.wait_for_message(has_button(f"▫️ {DAILY}"))
    real = callback_data_of(picker, f"▫️ {DAILY}")
    item = real.rsplit(":", 1)[1]
    for forged_item in ("999999", "x"):
        await li_jing.press_data(real[: -len(item)] + forged_item, message_id=picker.message_id)
    await settled(li_jing)
    await li_jing.press(f"▫️ {DAILY}")
    await li_jing.wait_for_message(has_button(f"✅ {DAILY}"))
    await li_jing.press(T("💾 Save"))
    await settled(li_jing)
    assert li_jing.callback_answers[-1].text == T(
        "One of these services is not offered in your community. Please choose again.")
    assert (await profile_of(session, world))[1] == set()


async def test_a_coordinator_sets_capacity_supervisor_and_a_support_assignment(emulator, session, world):
    zhou = emulator.user(world.people["zhou"].telegram_id, "周主任")
    await zhou.send_text("/team")
    listing = await zhou.wait_for_message(lambda m: any("李静" in b for b in m.buttons))
    await zhou.press(next(b for b in listing.buttons if "李静" in b))
    card = await zhou.wait_for_message(has_button(T("📦 Capacity")))
    assert T("Open cases: {open} of at most {capacity}", open=0, capacity=10) in card.text
    await zhou.press(T("📦 Capacity"))
    await zhou.wait_for_message(has_button("5"))
    await zhou.press("5")
    card = await zhou.wait_for_message(lambda m: T("Open cases: {open} of at most {capacity}", open=0, capacity=5)
                                       in m.text)
    await zhou.press(T("⭐ Make supervisor"))
    await zhou.wait_for_message(has_button(T("☆ No longer supervisor")))
    await zhou.press(T("➕ Support another community"))
    await zhou.wait_for_message(has_button("桃园社区 · 和平街道"))
    await zhou.press("桃园社区 · 和平街道")
    periods = await zhou.wait_for_message(lambda m: any("3" in b for b in m.buttons) and T("For how long?") in m.text)
    three = next(b for b in periods.buttons if "3" in b)
    await zhou.press(three)
    card = await zhou.wait_for_message(lambda m: "桃园社区:" in m.text and T("Supports:") in m.text)
    await settled(zhou)

    await session.commit()
    worker = await session.get(SocialWorker, world.people["li_jing"].id, populate_existing=True)
    assert worker.capacity == 5 and worker.is_supervisor
    [assignment] = (await session.scalars(select(SupportAssignment).where(
        SupportAssignment.worker_id == worker.user_id))).all()
    today = CLOCK.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert assignment.starts_on == today and assignment.ends_on == months_later(today, 3)
    await session.commit()

    # A forged capacity or a forged worker id changes nothing.
    await zhou.press(T("📦 Capacity"))
    picker = await zhou.wait_for_message(has_button("5"))
    data = callback_data_of(picker, "5")
    await zhou.press_data(data[: -1] + "9999", message_id=picker.message_id)
    await settled(zhou)
    assert zhou.callback_answers[-1].show_alert
    await session.commit()
    assert (await session.get(SocialWorker, worker.user_id, populate_existing=True)).capacity == 5
    await session.commit()


async def test_the_team_is_for_coordinators_only(emulator, world):
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    await li_jing.send_text("/team")
    await li_jing.wait_for_message(T("Only a coordinator can change this."))


async def test_why_a_request_went_to_her_is_on_the_staff_timeline_only(emulator, session, world):
    from tests.support import fill_request, requests_of

    person = await onboard(emulator)
    li_jing = emulator.user(world.people["li_jing"].telegram_id, "李静")
    mark = li_jing.mark()
    await fill_request(person)
    await person.press(T("✅ Send request"))
    await person.wait_for_message(T("Send /my to see how it is going."))
    [filed] = await requests_of(session, person)
    assert filed.assigned_worker_id == world.people["li_jing"].id  # filing routed it to her

    notice = await li_jing.wait_for_message(has_button(T("Open request")), after=mark, timeout=10)
    await li_jing.press(T("Open request"), message_id=notice.message_id)
    card = await li_jing.wait_for_message(T("Timeline:"))
    assert T("routed to {name} ({reason})", name="李静",
             reason=T("a social worker of the community on duty")) in card.text

    await person.send_text("/my")
    await person.wait_for_message(lambda m: any(filed.number in b for b in m.buttons))
    await person.press(filed.number)
    own = await person.wait_for_message(T("Timeline:"))
    routed = T("routed to {name} ({reason})", name="李静", reason=T("a social worker of the community on duty"))
    assert routed not in own.text and "已分派" not in own.text
