"""A district set up by `linli import`: its invited social worker joins through the printed
link, and a resident of an imported community files a request that reaches them."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from bot.services.importer import Status, import_tables
from models import Community, Organization, Role
from tests.conftest import CLOCK, next_telegram_id
from tests.support import T, fill_request, has_button, requests_of, settled, user_row
from tests.test_import import table

pytestmark = pytest.mark.usefixtures("app")

NUMBER = re.compile(r"\d{4}-\d{6}")

# Names no sample-world community shares, so the resident can only be in the imported one.
DISTRICT = [["name", "name_en", "kind"], ["双塔街道", "Shuangta Street", "street"]]
ORGANISATION = [["code", "name", "name_en"], ["52140100MJY654321A", "双塔社会工作服务中心", "Shuangta Social Work Centre"]]
COMMUNITY = [["code", "name", "name_en", "district", "area", "timezone", "station", "organisation"],
             ["140106004001", "文庙社区", "Wenmiao Community", "双塔街道", "urban", "", "文庙社区社会工作室",
              "52140100MJY654321A"]]
WORKER = [["name", "phone", "community", "organisation", "supervisor"],
          ["郭静", "+86 139 0351 7788", "140106004001", "", "yes"]]


async def test_an_imported_district_serves_its_residents(emulator, session):
    report = await import_tables(session, [table("districts.csv", DISTRICT), table("orgs.csv", ORGANISATION),
                                           table("communities.csv", COMMUNITY), table("workers.csv", WORKER)],
                                 now=CLOCK.now())
    assert report.errors == [] and report.total(Status.NEW) == 4
    await session.commit()
    [invitation] = report.invites
    wenmiao_id = await session.scalar(select(Community.id).where(Community.code == "140106004001"))
    organisation_id = await session.scalar(select(Organization.id).where(Organization.code == "52140100MJY654321A"))
    await session.commit()

    # The social worker opens the link the import printed: no question of where they work.
    worker = emulator.user(next_telegram_id(), "Guo")
    await worker.send_text(f"/start inv_{invitation.token}")
    welcome = await worker.wait_for_message(T(
        "Welcome to Linli! You are now registered as a social worker of {community}. "
        "New requests there will come to you here.", community="文庙社区"))
    assert T("🙋 Ask for help") in welcome.buttons  # the menu, not a question
    await settled(worker)
    asked = T("Please choose your home community: new requests there will come to you.")
    assert all(asked not in message.text for message in worker.messages)
    row = await user_row(session, worker)
    assert row.has_role(Role.SOCIAL_WORKER) and row.real_name == "郭静"
    assert row.social_worker.home_community_id == wenmiao_id and row.social_worker.is_supervisor
    assert row.social_worker.organization_id == organisation_id and row.community_id == wenmiao_id

    # A resident finds the imported community by name and asks for help.
    resident = emulator.user(next_telegram_id(), "居民", language_code="zh-hans")
    await resident.send_text("/start")  # a Chinese client: no language question
    await resident.wait_for_message(T("Tap it below, or type its name to search."))
    await resident.send_text("文庙")
    await resident.wait_for_message(has_button("文庙社区 · 双塔街道"))
    await resident.press("文庙社区 · 双塔街道")
    await resident.wait_for_message(has_button(T("🙋 Ask for help")))

    mark = worker.mark()
    await fill_request(resident, description="老伴住院了，想请人帮忙买菜。")
    await resident.press(T("✅ Send request"))
    receipt = await resident.wait_for_message(T("Send /my to see how it is going."))
    number = NUMBER.search(receipt.text).group(0)
    notice = await worker.wait_for_message(number, after=mark, timeout=10)
    assert "文庙社区" in notice.text and "老伴住院了" in notice.text

    [request] = await requests_of(session, resident)
    assert request.community_id == wenmiao_id

    # The same link does not work for anyone else.
    stranger = emulator.user(next_telegram_id(), "Someone")
    await stranger.send_text(f"/start inv_{invitation.token}")
    await stranger.wait_for_message(
        T("This invitation link has already been used. Please ask your coordinator for a new one."))
    assert not (await user_row(session, stranger)).has_role(Role.SOCIAL_WORKER)
