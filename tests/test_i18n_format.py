"""Times are shown the way people say them: 11月29日 下午3:00, 29 Nov, 3:00 PM."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.i18n import format_local_time, render

SHANGHAI = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("utc_hour", "minute", "zh", "en"),
    [
        (16, 5, "11月30日 凌晨0:05", "30 Nov, 12:05 AM"),
        (22, 30, "11月30日 上午6:30", "30 Nov, 6:30 AM"),
        (4, 0, "11月29日 中午12:00", "29 Nov, 12:00 PM"),
        (7, 0, "11月29日 下午3:00", "29 Nov, 3:00 PM"),
        (12, 45, "11月29日 晚上8:45", "29 Nov, 8:45 PM"),
    ],
)
def test_local_times_in_both_languages(utc_hour, minute, zh, en):
    moment = datetime(2026, 11, 29, utc_hour, minute, tzinfo=UTC)
    assert format_local_time(moment, "zh_CN", SHANGHAI) == zh
    assert format_local_time(moment, "en", SHANGHAI) == en


def test_notice_parameters_are_localized_and_escaped():
    from bot.i18n import make_i18n
    from bot.services.notices import localized, timestamp

    i18n = make_i18n("zh_CN")
    params = {
        "number": "2026-000001",
        "community": localized("晨光社区", "Chenguang Community"),
        "service": localized("<康复>", "<Rehab>"),
        "name": "小明<3",
        "hours": 2,
    }
    template = ("⚠️ Request {number} in {community}, held by {name}, has not been resolved in time.\n"
                "Service: {service}\nIf it is still open in {hours} h, the coordinators are told.")
    zh = render(i18n, template, params, "zh_CN", SHANGHAI)
    en = render(i18n, template, params, "en", SHANGHAI)
    assert zh.startswith("⚠️ 晨光社区的求助 2026-000001（由小明&lt;3负责）") and "&lt;康复&gt;" in zh
    assert en.startswith("⚠️ Request 2026-000001 in Chenguang Community, held by 小明&lt;3") and "&lt;Rehab&gt;" in en
    when = render(i18n, "It works once and expires on {time}. Send it only to the person you mean.",
                  {"time": timestamp(datetime(2026, 11, 29, 7, 0, tzinfo=UTC))}, "zh_CN", SHANGHAI)
    assert "11月29日 下午3:00失效" in when
