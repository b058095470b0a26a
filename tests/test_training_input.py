"""A training's length and day, typed the way social workers type them."""

from __future__ import annotations

from datetime import date

import pytest

from bot.services.errors import InvalidInput
from handlers.training import parse_day, parse_minutes


@pytest.mark.parametrize(
    ("typed", "minutes"),
    [("2", 120), ("1.5", 90), ("1,5", 90), ("１.５", 90), ("2h", 120), ("1小时30分", 90), ("1小时30分钟", 90),
     ("1h30", 90), ("1:30", 90), ("90分钟", 90), ("45 min", 45), ("半小时", 30), ("一个半小时", 90),
     ("两小时", 120), ("3个小时", 180), ("0", 0)],
)
def test_lengths_are_read_as_people_type_them(typed: str, minutes: int) -> None:
    assert parse_minutes(typed) == minutes


@pytest.mark.parametrize("typed", ["", "abc", "两三个小时", "1.5.5", "-2", "1:75"])
def test_a_length_that_cannot_be_read_says_how_to_type_it(typed: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_minutes(typed)
    assert caught.value.message == "Please type how long it was in hours, like 2 or 1.5."


def test_dates_are_read_as_people_type_them() -> None:
    day = date(2026, 1, 2)
    assert parse_day("2026-01-01", day) == date(2026, 1, 1)
    assert parse_day("2025年12月30日", day) == date(2025, 12, 30)
    assert parse_day("20251230", day) == date(2025, 12, 30)
    assert parse_day("12月30日", day) == date(2025, 12, 30), "without a year: the last such day"
    assert parse_day("1月2日", day) == date(2026, 1, 2)
    with pytest.raises(InvalidInput) as caught:
        parse_day("2026-02-30", day)
    assert caught.value.params == {"text": "2026-02-30", "example": "2026-01-01"}
    with pytest.raises(InvalidInput):
        parse_day("yesterday", day)
