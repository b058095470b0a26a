"""Crisis words: descriptions that make a request urgent at once, and the emergency numbers.

The words live in a TOML file (`bot/data/risk_words.toml`, or the operator's
`RISK_WORDS_FILE`): one table per category, with ``zh`` phrases that match anywhere in
the text and ``en`` phrases that match whole words in any case. No aiogram here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from bot.services.errors import N_

RISK_WORDS_FILE = Path(__file__).resolve().parent.parent / "data" / "risk_words.toml"

# What staff are told a request may be about (msgids; categories not listed here are shown by name).
CATEGORY_LABELS = {
    "self_harm": N_("self-harm or suicide"),
    "domestic_violence": N_("violence at home"),
    "child_danger": N_("a child alone or in danger"),
}

# Emergency and hotline numbers of mainland China with what they are for.
EMERGENCY_LABELS = {
    "110": N_("police"),
    "119": N_("fire"),
    "120": N_("ambulance"),
    "122": N_("traffic accidents"),
    "12338": N_("women's rights hotline"),
    "12355": N_("youth hotline"),
    "12356": N_("psychological help hotline"),
}


@dataclass(frozen=True)
class RiskWords:
    """Compiled risk phrases by category."""

    patterns: dict[str, re.Pattern[str]]

    def matches(self, text: str | None) -> list[str]:
        """The categories whose phrases occur in the text, in file order."""
        if not text:
            return []
        return [category for category, pattern in self.patterns.items() if pattern.search(text)]


def parse_risk_words(source: str) -> RiskWords:
    """Risk words from TOML text; ValueError naming what is wrong."""
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as error:
        raise ValueError(f"not valid TOML: {error}") from None
    patterns: dict[str, re.Pattern[str]] = {}
    for category, table in data.items():
        if not isinstance(table, dict):
            raise ValueError(f"{category}: expected a table with zh = [...] and en = [...]")
        zh = [str(word).strip() for word in table.get("zh", []) if str(word).strip()]
        en = [str(word).strip() for word in table.get("en", []) if str(word).strip()]
        unknown = set(table) - {"zh", "en"}
        if unknown:
            raise ValueError(f"{category}: unknown keys {', '.join(sorted(unknown))} (use zh and en)")
        if not zh and not en:
            raise ValueError(f"{category}: no words")
        alternatives = [re.escape(word) for word in zh]
        alternatives += [rf"(?<![\w']){re.escape(word)}(?![\w'])" for word in en]
        patterns[category] = re.compile("|".join(alternatives), re.IGNORECASE)
    return RiskWords(patterns)


@lru_cache(maxsize=4)
def load_risk_words(path: Path = RISK_WORDS_FILE) -> RiskWords:
    return parse_risk_words(path.read_text(encoding="utf-8"))
