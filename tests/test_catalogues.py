"""Every word the bot says exists in both languages, and the service catalogue is complete.

An older resident who reads only Chinese must never meet an English sentence because
someone added a message and forgot the catalogue; a village must never see an empty
service menu because the data file lost its rural services.
"""

from __future__ import annotations

import os
import re
import shutil
import string
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiogram.utils.i18n import I18n
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import SUPPORTED_LOCALES
from bot.i18n import DOMAIN, LOCALES_DIR, ensure_compiled
from bot.services.catalogue import CATALOGUE_FILE, target_groups_for
from bot.services.world import SampleWorld
from models import AreaType, Community

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("bot", "handlers")
# The keywords of babel.cfg / pybabel extract: `_` and `gettext` from aiogram, `N_` for
# msgids marked where they are defined, `ngettext(singular, plural, n)`.
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2), "Tr": None}

# Messages that are the same in Chinese on purpose: the language picker shows both names.
SAME_IN_CHINESE = {"/language — 中文 / English", "中文 / English"}

CJK = re.compile(r"[\u3400-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


@dataclass(frozen=True)
class SourceMessage:
    ids: tuple[str, ...]  # (msgid,) or (msgid, msgid_plural)
    where: str

    @property
    def msgid(self) -> str:
        return self.ids[0]


def _extract() -> list[SourceMessage]:
    found: dict[tuple[str, ...], SourceMessage] = {}
    for folder in SOURCE_DIRS:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            ids = message if isinstance(message, tuple) else (message,)
            if not ids[0]:
                continue
            found.setdefault(ids, SourceMessage(ids, f"{folder}/{filename}:{lineno}"))
    return list(found.values())


SOURCE_MESSAGES = _extract()


def _catalogue(locale: str) -> Catalog:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        return read_po(po, locale=locale)


CATALOGUES = {locale: _catalogue(locale) for locale in SUPPORTED_LOCALES}


def _translations(entry: Message) -> tuple[str, ...]:
    return entry.string if isinstance(entry.string, tuple) else (entry.string,)


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


def test_the_source_has_messages_to_translate() -> None:
    # A broken extractor (wrong keywords, wrong folder) would make every check below vacuous.
    assert len(SOURCE_MESSAGES) > 50
    assert any(len(m.ids) == 2 for m in SOURCE_MESSAGES), "ngettext plurals are extracted"
    assert any("services/" in m.where for m in SOURCE_MESSAGES), "N_() msgids of services are extracted"
    assert any(m.where.startswith("handlers/") for m in SOURCE_MESSAGES), "handlers' _() are extracted"


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_every_message_is_translated(locale: str) -> None:
    catalogue = CATALOGUES[locale]
    problems = []
    for message in SOURCE_MESSAGES:
        entry = catalogue.get(message.msgid)
        if entry is None:
            problems.append(f"{message.where}: missing {message.msgid!r}")
        elif entry.fuzzy:
            problems.append(f"{message.where}: fuzzy (not compiled) {message.msgid!r}")
        elif len(message.ids) == 2 and (not isinstance(entry.id, tuple) or entry.id[1] != message.ids[1]):
            problems.append(f"{message.where}: plural msgid differs for {message.msgid!r}")
        elif len(message.ids) == 2 and len(_translations(entry)) != catalogue.num_plurals:
            problems.append(f"{message.where}: needs {catalogue.num_plurals} plural forms: {message.msgid!r}")
        elif not all(t.strip() for t in _translations(entry)):
            problems.append(f"{message.where}: empty translation of {message.msgid!r}")
    assert not problems, f"{locale}:\n" + "\n".join(problems)


@pytest.mark.parametrize("locale", SUPPORTED_LOCALES)
def test_translations_keep_every_placeholder(locale: str) -> None:
    problems = []
    for message in SOURCE_MESSAGES:
        entry = CATALOGUES[locale].get(message.msgid)
        if entry is None:
            continue  # reported by the test above
        needed = set().union(*(_placeholders(i) for i in message.ids))
        for translation in _translations(entry):
            if missing := needed - _placeholders(translation):
                problems.append(f"{message.where}: {translation!r} lost {sorted(missing)}")
            if unknown := _placeholders(translation) - needed:
                problems.append(f"{message.where}: {translation!r} has {sorted(unknown)}, which .format() cannot fill")
    assert not problems, f"{locale}:\n" + "\n".join(problems)


def _has_english_words(msgid: str) -> bool:
    # Placeholders, /commands and HTML tags stay as they are in every language.
    return bool(LATIN_WORD.search(re.sub(r"\{\w+\}|/\w+|<[^>]+>", "", msgid)))


def test_chinese_is_not_just_the_english_text() -> None:
    problems = []
    for message in SOURCE_MESSAGES:
        entry = CATALOGUES["zh_CN"].get(message.msgid)
        if entry is None or message.msgid in SAME_IN_CHINESE or not _has_english_words(message.msgid):
            continue
        for translation in _translations(entry):
            if translation == message.msgid:
                problems.append(f"{message.where}: kept in English: {translation!r}")
            elif not CJK.search(translation):
                problems.append(f"{message.where}: no Chinese in {translation!r}")
    assert not problems, "\n".join(problems)


def test_the_messages_identical_in_chinese_are_few_and_still_used() -> None:
    in_source = {m.msgid for m in SOURCE_MESSAGES}
    for msgid in SAME_IN_CHINESE:
        assert msgid in in_source, f"{msgid!r} is no longer used: drop it from SAME_IN_CHINESE"
        assert _translations(CATALOGUES["zh_CN"][msgid]) == (msgid,)


def test_the_catalogues_have_no_leftovers_from_removed_code() -> None:
    in_source = {m.msgid for m in SOURCE_MESSAGES}
    for locale, catalogue in CATALOGUES.items():
        stale = {e.id if isinstance(e.id, str) else e.id[0] for e in catalogue if e.id} - in_source
        assert not stale, f"{locale} translates messages no code uses any more: {sorted(stale)}"


def test_compiled_catalogues_load_in_aiogram_in_both_languages(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, locales, ignore=shutil.ignore_patterns("*.mo"))

    compiled = ensure_compiled(locales)

    assert sorted(p.relative_to(locales).as_posix() for p in compiled) == sorted(
        f"{locale}/LC_MESSAGES/{DOMAIN}.mo" for locale in SUPPORTED_LOCALES
    )
    i18n = I18n(path=locales, default_locale="zh_CN", domain=DOMAIN)
    assert set(SUPPORTED_LOCALES) <= set(i18n.available_locales)
    assert i18n.gettext("Open request", locale="zh_CN") != "Open request"
    assert CJK.search(i18n.gettext("Open request", locale="zh_CN"))
    assert i18n.gettext("Open request", locale="en") == "Open request"
    assert i18n.gettext("{count} day", "{count} days", 3, locale="zh_CN").format(count=3) == "3天"
    assert i18n.gettext("{count} day", "{count} days", 1, locale="en").format(count=1) == "1 day"

    # Up to date now: a second start compiles nothing.
    assert ensure_compiled(locales) == []


def test_an_edited_po_file_is_compiled_again(tmp_path: Path) -> None:
    locales = tmp_path / "locales"
    shutil.copytree(LOCALES_DIR, locales, ignore=shutil.ignore_patterns("*.mo"))
    ensure_compiled(locales)
    po = locales / "en" / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    newer = mo.stat().st_mtime + 10
    os.utime(po, (newer, newer))

    assert ensure_compiled(locales) == [mo]


# --- the service catalogue ------------------------------------------------------

CATALOGUE = tomllib.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
GROUP_CODES = {g["code"] for g in CATALOGUE["target_group"]}


def test_target_groups_have_both_names_and_unique_codes() -> None:
    codes = [g["code"] for g in CATALOGUE["target_group"]]
    assert len(codes) == len(set(codes))
    for group in CATALOGUE["target_group"]:
        assert group.get("name_zh", "").strip() and CJK.search(group["name_zh"]), group
        assert group.get("name_en", "").strip() and LATIN_WORD.search(group["name_en"]), group


@pytest.mark.parametrize("service", CATALOGUE["service"], ids=lambda s: s["code"])
def test_every_service_is_named_in_both_languages_for_a_known_group(service: dict[str, object]) -> None:
    assert str(service.get("name_zh", "")).strip() and CJK.search(str(service["name_zh"]))
    assert str(service.get("name_en", "")).strip() and LATIN_WORD.search(str(service["name_en"]))
    assert service["target_group"] in GROUP_CODES
    assert str(service["code"]).startswith(f"{service['target_group']}."), "codes read group.type"
    # The loader's defaults: urban unless said otherwise, rural only when said.
    assert service.get("urban", True) or service.get("rural", False), "offered nowhere"
    assert int(service.get("response_minutes", 1440)) > 0


def test_service_codes_are_unique() -> None:
    codes = [s["code"] for s in CATALOGUE["service"]]
    assert len(codes) == len(set(codes))


def test_every_target_group_offers_something() -> None:
    used = {s["target_group"] for s in CATALOGUE["service"]}
    assert used == GROUP_CODES


@pytest.mark.parametrize(("name", "area"), [("晨光社区", AreaType.URBAN), ("柳林村", AreaType.RURAL)])
async def test_urban_and_rural_communities_both_get_a_real_menu(
    world: SampleWorld, session: AsyncSession, name: str, area: AreaType
) -> None:
    community = await session.get(Community, world.communities[name].id)
    assert community is not None and community.area_type is area

    groups = await target_groups_for(session, community)

    assert len(groups) >= 3, [g.code for g in groups]
    if area is AreaType.RURAL:
        # The policy's rural focus: left-behind children, elderly people and women.
        assert {"left_behind_children", "left_behind_elderly", "left_behind_women"} <= {g.code for g in groups}
    else:
        assert "left_behind_children" not in {g.code for g in groups}
