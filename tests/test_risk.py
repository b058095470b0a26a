"""Crisis words and emergency numbers: what matches, what does not, and the operator's own list."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.services.risk import load_risk_words, parse_risk_words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我不想活了", ["self_harm"]),
        ("最近总想割腕", ["self_harm"]),
        ("I keep thinking about suicide", ["self_harm"]),
        ("他喝了酒就家暴，我不敢回家", ["domestic_violence"]),
        ("My husband BEATS ME", ["domestic_violence"]),
        ("孩子一个人在家，已经两天了", ["child_danger"]),
        ("a child alone in the flat next door", ["child_danger"]),
        ("不想活了，孩子没人管", ["self_harm", "child_danger"]),
        # Everyday words that only look alike.
        ("请打我电话", []),
        ("想请人帮忙买菜", []),
        ("He was unabused and fine", []),
        ("", []),
        (None, []),
    ],
)
def test_the_bundled_words(text: str | None, expected: list[str]) -> None:
    assert load_risk_words().matches(text) == expected


def test_english_phrases_match_whole_words_only() -> None:
    words = parse_risk_words('[x]\nen = ["hit me"]\n')
    assert words.matches("he hit me") == ["x"]
    assert words.matches("white hit mexico") == []


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("[x]\nzh = ['a']\nfr = ['b']\n", "unknown keys fr"),
        ("[x]\nzh = []\n", "no words"),
        ("x = 1\n", "expected a table"),
        ("[x\n", "not valid TOML"),
    ],
)
def test_a_malformed_list_is_refused_with_the_reason(source: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_risk_words(source)


def test_the_operator_can_replace_the_list_and_the_numbers(tmp_path: Path) -> None:
    own = tmp_path / "words.toml"
    own.write_text('[elder_abuse]\nzh = ["虐待老人"]\nen = ["elder abuse"]\n', encoding="utf-8")
    settings = load_settings(_env_file=None, risk_words_file=str(own), emergency_numbers="110, 120,12356")
    assert settings.risk_words().matches("怀疑邻居虐待老人") == ["elder_abuse"]
    assert settings.risk_words().matches("我不想活了") == []
    assert settings.emergency_numbers == ["110", "120", "12356"]
    assert load_settings(_env_file=None).emergency_numbers == ["110", "120"]


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [("EMERGENCY_NUMBERS", "110,police", "EMERGENCY_NUMBERS"), ("RISK_WORDS_FILE", "/nowhere/words.toml", "RISK_WORDS_FILE")],
)
def test_a_bad_setting_is_one_line(name: str, value: str, shown: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None, **{name.lower(): value})
    assert str(caught.value).startswith(shown)
