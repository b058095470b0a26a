"""Helpers that act as people through the emulator, in the bot's own words."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import make_i18n
from models import ServiceRequest, User
from tests.conftest import HANDLED, next_telegram_id
from tgemu import BotAPIEmulator
from tgemu.user import EmulatedUser

LANGUAGE_BUTTON = {"zh_CN": "中文", "en": "English"}
COMMUNITY_BUTTON = {
    ("晨光社区", "zh_CN"): "晨光社区 · 和平街道",
    ("晨光社区", "en"): "Chenguang Community · Heping Street",
    ("桃园社区", "zh_CN"): "桃园社区 · 和平街道",
    ("桃园社区", "en"): "Taoyuan Community · Heping Street",
    ("柳林村", "zh_CN"): "柳林村 · 东山乡",
    ("柳林村", "en"): "Liulin Village · Dongshan Township",
}


@lru_cache(maxsize=1)
def _i18n():  # noqa: ANN202
    return make_i18n("zh_CN")


def T(msgid: str, lang: str = "zh_CN", **params: object) -> str:  # noqa: N802 - reads like _()
    text = _i18n().gettext(msgid, locale=lang)
    return text.format(**params) if params else text


def callback_data_of(message, label: str) -> str:  # noqa: ANN001 - a tgemu BotMessage
    """The callback data behind an inline button, kept to press it after the menu changed."""
    for row in (message.reply_markup or {}).get("inline_keyboard", []):
        for button in row:
            if button.get("text") == label:
                return button["callback_data"]
    raise AssertionError(f"no inline button {label!r}")


def has_button(label: str):  # noqa: ANN201
    return lambda message: label in message.buttons


async def onboard(
    emulator: BotAPIEmulator, *, lang: str = "zh_CN", community: str = "晨光社区", name: str = "居民"
) -> EmulatedUser:
    """A new person: /start, community; returns them at the main menu.

    Their Telegram client speaks ``lang`` (zh-hans or en), so the bot adopts it without asking.
    """
    person = emulator.user(next_telegram_id(), name, language_code="zh-hans" if lang == "zh_CN" else "en")
    await person.send_text("/start")
    label = COMMUNITY_BUTTON[(community, lang)]
    await person.wait_for_message(has_button(label))
    await person.press(label)
    await person.wait_for_message(has_button(T("🙋 Ask for help", lang)))
    return person


ELDERLY = {"zh_CN": "老年人", "en": "Older people"}
DAILY_CARE = {"zh_CN": "生活照料（买菜、陪同就医等）", "en": "Daily help (shopping, hospital visits…)"}


async def fill_request(
    person: EmulatedUser,
    *,
    lang: str = "zh_CN",
    group: str | None = None,
    service: str | None = None,
    description: str = "上周摔了一跤，需要有人帮忙买菜。",
    location: bool = False,
    phone: bool = False,
) -> None:
    """Walk /new up to the summary (not confirmed)."""
    group = group or ELDERLY[lang]
    service = service or DAILY_CARE[lang]
    await person.send_text("/new")
    await person.wait_for_message(has_button(group))
    await person.press(group)
    await person.wait_for_message(has_button(service))
    await person.press(service)
    await person.wait_for_message(T("Please tell us in a few words what help you need.", lang))
    await person.send_text(description)
    await person.wait_for_message(T("If you would like a home visit, you can send your location.", lang))
    if location:
        await person.send_location(37.87, 112.55)
    else:
        await person.tap_reply(T("Skip", lang))
    await person.wait_for_message(T("May the social worker call you? Tap the button to share your phone number.", lang))
    if phone:
        await person.tap_reply(T("📞 I agree: share my phone number", lang))
    else:
        await person.tap_reply(T("Skip", lang))
    await person.wait_for_message(has_button(T("✅ Send request", lang)))


async def accept_offer(worker: EmulatedUser, number: str, mark: int, lang: str = "zh_CN"):  # noqa: ANN201
    """The worker waits for the offer of request `number` (sent after `mark`), accepts it and gets the card."""
    offer = await worker.wait_for_message(number, after=mark, timeout=10)
    accepted = worker.mark()
    await worker.press(T("✅ Accept", lang), message_id=offer.message_id)
    return await worker.wait_for_message(T("Timeline:", lang), after=accepted)


async def requests_of(session: AsyncSession, person: EmulatedUser) -> list[ServiceRequest]:
    """The person's requests, read once the bot has finished with their last update.

    Waits for the dispatcher's own signal that every update this person sent is
    fully handled (its transaction ended), so "nothing was stored" means it.
    """
    await settled(person)
    telegram_id = person.id
    session.expire_all()
    user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
    if user is None:
        await session.commit()
        return []
    rows = await session.scalars(
        select(ServiceRequest).where(ServiceRequest.resident_id == user.id).order_by(ServiceRequest.id)
    )
    found = list(rows.all())
    await session.commit()  # end the read transaction: on SQLite it holds the write lock
    return found


async def settled(person: EmulatedUser) -> None:
    """Return once the bot has finished handling everything this person did."""
    await HANDLED.wait_for(person.update_ids)


async def user_row(session: AsyncSession, person: EmulatedUser) -> User | None:
    await settled(person)
    telegram_id = person.id
    session.expire_all()
    user = await session.scalar(select(User).where(User.telegram_id == telegram_id))
    await session.commit()  # end the read transaction: on SQLite it holds the write lock
    return user


class CommitFailure:
    """Make the next commit of an update that changed rows fail, as a lost database would.

    Armed by a test right before the person's action; only the bot's per-update
    sessions are affected (their session is the one `bot.transaction` knows), so
    the test's own reads and the outbox sender commit as usual.
    """

    def __init__(self) -> None:
        self.armed = 0
        self.fired = 0

    def arm(self, times: int = 1) -> None:
        self.armed = times

    def before_commit(self, session) -> None:  # noqa: ANN001 - a sync Session
        from bot.transaction import WROTE, current_session

        current = current_session()
        if not self.armed or current is None or current.sync_session is not session:
            return
        if not session.info.get(WROTE) and not (session.new or session.dirty or session.deleted):
            return
        self.armed -= 1
        self.fired += 1
        raise ConnectionError("injected: the database went away at commit")
