"""The outbox sender: each notice reaches its reader in their language, within Telegram's limits.

The sender talks to a fake bot that records what it is asked to send and fails on cue,
the way aiogram raises Telegram's answers. Rows are written to the shared database for
fresh people; the sender claims every due row, so other tests' leftovers may reach the
fake bot too, and the assertions look at this test's people only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.ratelimit import LocalRateLimiter
from bot.delivery.sender import MAX_ATTEMPTS, OutboxSender, due_messages
from bot.i18n import make_i18n
from bot.services import users
from bot.services.notices import Notice, NoticeButton, enqueue, localized, timestamp
from handlers.callbacks import notice_button_data
from models import OutboxStatus, OutgoingMessage, User
from tests.conftest import CLOCK, next_telegram_id

# The bot started by the end-to-end tests has its own sender on the same outbox: pause it.
pytestmark = pytest.mark.usefixtures("quiet_outbox")

OFFER = ("📋 Request {number} in {community} is offered to you.\nService: {service}\n“{description}”\n"
         "Please accept or decline within {minutes} minutes.")
CANCELLED = "Request {number} was cancelled by the resident."
INVITE_EXPIRES = "It works once and expires on {time}. Send it only to the person you mean."

PER_CHAT = 0.2  # seconds between two messages to one chat (Telegram's is 1 s; kept small to be fast)
TOLERANCE = 0.01


# --- a fake Telegram -----------------------------------------------------------------


@dataclass
class Delivery:
    chat_id: int
    text: str
    reply_markup: InlineKeyboardMarkup | None
    at: float  # time.monotonic() when the bot was asked


class FakeBot:
    """Records `send_message` calls; raises the errors queued for a chat, one per call."""

    def __init__(self) -> None:
        self.attempts: list[Delivery] = []
        self.sent: list[Delivery] = []
        self._failures: dict[int, list[Exception]] = {}
        self._message_ids = iter(range(5_000, 10**9))

    def fail(self, chat_id: int, *errors: Exception) -> None:
        self._failures.setdefault(chat_id, []).extend(errors)

    async def send_message(
        self, chat_id: int, text: str, reply_markup: InlineKeyboardMarkup | None = None, **_: Any
    ) -> SimpleNamespace:
        delivery = Delivery(chat_id, text, reply_markup, time.monotonic())
        self.attempts.append(delivery)
        if self._failures.get(chat_id):
            raise self._failures[chat_id].pop(0)
        self.sent.append(delivery)
        return SimpleNamespace(message_id=next(self._message_ids))

    def sent_to(self, user: User) -> list[Delivery]:
        return [d for d in self.sent if d.chat_id == user.telegram_id]

    def tried(self, user: User) -> list[Delivery]:
        return [d for d in self.attempts if d.chat_id == user.telegram_id]


# Telegram's answers, built the way aiogram builds them from an API response.
def _method(chat_id: int) -> SendMessage:
    return SendMessage(chat_id=chat_id, text="…")


def flood(chat_id: int, retry_after: int) -> TelegramRetryAfter:
    return TelegramRetryAfter(method=_method(chat_id), message="Too Many Requests: retry after 1",
                              retry_after=retry_after)


def blocked(chat_id: int) -> TelegramForbiddenError:
    return TelegramForbiddenError(method=_method(chat_id), message="Forbidden: bot was blocked by the user")


def bad_request(chat_id: int) -> TelegramBadRequest:
    return TelegramBadRequest(method=_method(chat_id), message="Bad Request: can't parse entities")


def network_down(chat_id: int) -> TelegramNetworkError:
    return TelegramNetworkError(method=_method(chat_id), message="Request timeout error")


# --- fixtures and helpers ------------------------------------------------------------


@pytest.fixture(scope="module")
def i18n() -> I18n:
    return make_i18n("zh_CN")


MakeSender = Callable[..., Awaitable[tuple[FakeBot, OutboxSender]]]


@pytest.fixture
def make_sender(session_factory: async_sessionmaker[AsyncSession], i18n: I18n) -> MakeSender:
    async def _make(per_chat_interval: float = PER_CHAT) -> tuple[FakeBot, OutboxSender]:
        # Whatever other tests left due goes out first, so this test's rows have the sender to themselves.
        leftovers = OutboxSender(FakeBot(), session_factory, i18n, default_locale="zh_CN", clock=CLOCK,  # type: ignore[arg-type]
                                 timezone="Asia/Shanghai", limiter=LocalRateLimiter(10_000, private_interval=0),
                                 pack_button=notice_button_data)
        await leftovers.drain()
        bot = FakeBot()
        sender = OutboxSender(bot, session_factory, i18n, default_locale="zh_CN", clock=CLOCK,  # type: ignore[arg-type]
                              timezone="Asia/Shanghai",
                              limiter=LocalRateLimiter(1_000, private_interval=per_chat_interval),
                              pack_button=notice_button_data)
        return bot, sender

    return _make


async def people(session_factory: async_sessionmaker[AsyncSession], *locales: str | None) -> list[User]:
    """Fresh people who have talked to the bot, each with a language (None: not chosen yet)."""
    async with session_factory() as session, session.begin():
        made = []
        for locale in locales:
            user = await users.touch_user(session, users.TelegramProfile(next_telegram_id(), "测试"), now=CLOCK.now())
            user.locale = locale
            made.append(user)
    return made


async def write(session_factory: async_sessionmaker[AsyncSession], *notices: Notice) -> list[int]:
    """Commit notices to the outbox, as a service's transaction does."""
    async with session_factory() as session, session.begin():
        rows = enqueue(session, *notices, now=CLOCK.now())
        await session.flush()
        return [row.id for row in rows]


async def rows(session_factory: async_sessionmaker[AsyncSession], ids: Sequence[int]) -> list[OutgoingMessage]:
    async with session_factory() as session:
        found = {r.id: r for r in (await session.scalars(select(OutgoingMessage).where(OutgoingMessage.id.in_(ids))))}
        return [found[i] for i in ids]


async def row(session_factory: async_sessionmaker[AsyncSession], row_id: int) -> OutgoingMessage:
    return (await rows(session_factory, [row_id]))[0]


async def time_passes(session_factory: async_sessionmaker[AsyncSession], ids: Sequence[int]) -> None:
    """Make waiting rows due now instead of sleeping until their next attempt."""
    async with session_factory() as session, session.begin():
        await session.execute(update(OutgoingMessage).where(OutgoingMessage.id.in_(ids)).values(next_attempt_at=CLOCK.now()))


def cancelled(user: User, number: str) -> Notice:
    return Notice(user, CANCELLED, {"number": number, "at": timestamp(CLOCK.now())})


# --- rendering -------------------------------------------------------------------------


async def test_each_reader_gets_the_notice_in_their_own_language(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender, i18n: I18n
) -> None:
    bot, sender = await make_sender()
    li_jing, colleague, undecided = await people(session_factory, "zh_CN", "en", None)
    params = {
        "number": "2026-000042",
        "community": localized("晨光社区", "Chenguang Community"),
        "service": localized("生活照料", "Daily help"),
        "minutes": 30,
        "description": "王秀兰 <b>: 请帮忙买菜 & <看病>",
    }
    button = (NoticeButton("Open request", "request.view", 42),)
    ids = await write(session_factory, *(Notice(u, OFFER, params, button) for u in (li_jing, colleague, undecided)))

    await sender.send_due()

    chinese_template = i18n.gettext(OFFER, locale="zh_CN")
    assert chinese_template != OFFER
    [zh] = bot.sent_to(li_jing)
    assert zh.text == chinese_template.format(
        number="2026-000042", community="晨光社区", service="生活照料", minutes=30,
        description="王秀兰 &lt;b&gt;: 请帮忙买菜 &amp; &lt;看病&gt;",
    )
    [en] = bot.sent_to(colleague)
    assert en.text == (
        "📋 Request 2026-000042 in Chenguang Community is offered to you.\nService: Daily help\n"
        "“王秀兰 &lt;b&gt;: 请帮忙买菜 &amp; &lt;看病&gt;”\nPlease accept or decline within 30 minutes."
    )
    [default] = bot.sent_to(undecided)
    assert default.text == zh.text, "no language chosen yet: the default, Chinese"

    assert i18n.gettext("Open request", locale="zh_CN") != "Open request"
    for delivery, label in ((zh, i18n.gettext("Open request", locale="zh_CN")), (en, "Open request")):
        assert isinstance(delivery.reply_markup, InlineKeyboardMarkup)
        [[only]] = delivery.reply_markup.inline_keyboard
        assert only.text == label
        assert only.callback_data == "rq:view:42"

    for message in await rows(session_factory, ids):
        assert message.status is OutboxStatus.SENT
        assert message.sent_at is not None and message.telegram_message_id is not None
        assert message.attempts == 1


async def test_times_are_shown_in_the_communitys_clock_and_each_language(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender, i18n: I18n
) -> None:
    bot, sender = await make_sender()
    zh_reader, en_reader = await people(session_factory, "zh_CN", "en")
    expires = timestamp(datetime(2026, 11, 29, 7, 0, tzinfo=UTC))  # 15:00 in Shanghai

    await write(session_factory, *(Notice(u, INVITE_EXPIRES, {"time": expires}) for u in (zh_reader, en_reader)))
    await sender.send_due()

    assert [d.text for d in bot.sent_to(zh_reader)] == [
        i18n.gettext(INVITE_EXPIRES, locale="zh_CN").format(time="11月29日 下午3:00")
    ]
    assert [d.text for d in bot.sent_to(en_reader)] == [
        "It works once and expires on 29 Nov, 3:00 PM. Send it only to the person you mean."
    ]
    assert bot.sent_to(zh_reader)[0].reply_markup is None


async def test_a_notice_that_cannot_be_rendered_is_dead_lettered_not_sent(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    bot, sender = await make_sender()
    [reader] = await people(session_factory, "zh_CN")
    [broken] = await write(session_factory, Notice(reader, CANCELLED, {}))  # {number} is missing

    await sender.send_due()

    assert bot.tried(reader) == []
    message = await row(session_factory, broken)
    assert message.status is OutboxStatus.DEAD
    assert message.last_error and message.last_error.startswith("render:")


# --- Telegram says no --------------------------------------------------------------------


async def test_flood_control_pauses_all_sending_for_retry_after_without_counting_an_attempt(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    bot, sender = await make_sender()
    reader, *others = await people(session_factory, "zh_CN", "zh_CN", "en", "en")
    ids = await write(session_factory, cancelled(reader, "2026-000101"),
                      *(cancelled(other, f"2026-00010{n}") for n, other in enumerate(others, start=2)))
    bot.fail(reader.telegram_id, flood(reader.telegram_id, retry_after=1))

    await sender.send_due()

    [refused, delivered] = bot.tried(reader)
    assert bot.sent_to(reader) == [delivered], "tried again after the pause, in the same round"
    assert delivered.at - refused.at >= 1 - TOLERANCE
    after = [d for d in bot.attempts if d.at > refused.at and d is not delivered]
    assert all(d.at - refused.at >= 1 - TOLERANCE for d in after), "nobody was sent anything during the pause"
    for message in await rows(session_factory, ids):
        assert message.status is OutboxStatus.SENT
        assert message.attempts == 1, "a 429 is Telegram's pacing, not a failure"


async def test_a_message_paused_again_and_again_goes_back_to_the_queue(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    from bot.delivery.sender import MAX_PAUSES_PER_MESSAGE

    bot, sender = await make_sender()
    sender.limiter = LocalRateLimiter(1_000, private_interval=0)
    paused: list[float] = []

    async def no_wait(seconds: float) -> None:  # the pauses are recorded, not slept
        paused.append(seconds)

    sender.limiter.pause = no_wait  # type: ignore[method-assign]
    [reader] = await people(session_factory, "zh_CN")
    [first] = await write(session_factory, cancelled(reader, "2026-000111"))
    bot.fail(reader.telegram_id, *(flood(reader.telegram_id, retry_after=3) for _ in range(MAX_PAUSES_PER_MESSAGE)))

    await sender.send_due()

    assert paused == [3] * MAX_PAUSES_PER_MESSAGE
    waiting = await row(session_factory, first)
    assert waiting.status is OutboxStatus.PENDING and waiting.claimed_by is None
    assert waiting.attempts == 0
    assert waiting.next_attempt_at == CLOCK.now() + timedelta(seconds=3)


async def test_a_person_who_blocked_the_bot_is_marked_and_their_messages_dead_lettered(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    bot, sender = await make_sender()
    gone, still_here = await people(session_factory, "zh_CN", "zh_CN")
    ids = await write(
        session_factory,
        cancelled(gone, "2026-000201"),
        cancelled(gone, "2026-000202"),
        cancelled(still_here, "2026-000203"),
    )
    bot.fail(gone.telegram_id, blocked(gone.telegram_id))

    await sender.send_due()

    assert len(bot.tried(gone)) == 1, "once blocked, the rest of their queue is not tried"
    first, second, other = await rows(session_factory, ids)
    assert first.status is OutboxStatus.DEAD and "blocked" in (first.last_error or "")
    assert second.status is OutboxStatus.DEAD
    assert other.status is OutboxStatus.SENT
    async with session_factory() as session:
        marked = await session.scalar(select(User.blocked_bot_at).where(User.id == gone.id))
        unmarked = await session.scalar(select(User.blocked_bot_at).where(User.id == still_here.id))
    assert marked is not None
    assert unmarked is None


async def test_a_bad_request_dead_letters_that_message_only(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    bot, sender = await make_sender()
    [reader] = await people(session_factory, "en")
    bad, fine = await write(session_factory, cancelled(reader, "2026-000301"), cancelled(reader, "2026-000302"))
    bot.fail(reader.telegram_id, bad_request(reader.telegram_id))

    await sender.drain()  # one message of a chat per batch: the second goes once the first is settled

    rejected, delivered = await rows(session_factory, [bad, fine])
    assert rejected.status is OutboxStatus.DEAD
    assert "can't parse entities" in (rejected.last_error or "")
    assert delivered.status is OutboxStatus.SENT
    assert [d.text for d in bot.sent_to(reader)] == ["Request 2026-000302 was cancelled by the resident."]
    async with session_factory() as session:
        assert await session.scalar(select(User.blocked_bot_at).where(User.id == reader.id)) is None


async def test_a_network_error_is_retried_later_and_then_delivered(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    bot, sender = await make_sender(per_chat_interval=0.02)
    [reader] = await people(session_factory, "zh_CN")
    [message_id] = await write(session_factory, cancelled(reader, "2026-000401"))
    bot.fail(reader.telegram_id, network_down(reader.telegram_id), network_down(reader.telegram_id))

    for attempt, backoff in ((1, 1), (2, 2)):
        before = CLOCK.now()
        await sender.send_due()
        after = CLOCK.now()
        waiting = await row(session_factory, message_id)
        assert waiting.status is OutboxStatus.PENDING
        assert waiting.attempts == attempt
        assert before + timedelta(seconds=backoff) <= waiting.next_attempt_at <= after + timedelta(seconds=backoff)
        assert "Request timeout error" in (waiting.last_error or "")
        await sender.send_due()
        assert len(bot.tried(reader)) == attempt, "not retried before its time"
        await time_passes(session_factory, [message_id])

    await sender.send_due()

    delivered = await row(session_factory, message_id)
    assert delivered.status is OutboxStatus.SENT
    assert delivered.attempts == 3
    assert len(bot.sent_to(reader)) == 1


async def test_a_message_that_keeps_failing_is_dead_after_max_attempts(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    bot, sender = await make_sender(per_chat_interval=0.01)
    [reader] = await people(session_factory, "zh_CN")
    [message_id] = await write(session_factory, cancelled(reader, "2026-000501"))
    bot.fail(reader.telegram_id, *(network_down(reader.telegram_id) for _ in range(MAX_ATTEMPTS + 2)))

    backoffs = []
    for attempt in range(1, MAX_ATTEMPTS + 1):
        before = CLOCK.now()
        await sender.send_due()
        waiting = await row(session_factory, message_id)
        assert waiting.attempts == attempt
        if attempt < MAX_ATTEMPTS:
            assert waiting.status is OutboxStatus.PENDING
            backoffs.append(round((waiting.next_attempt_at - before).total_seconds()))
            await time_passes(session_factory, [message_id])

    assert backoffs == [2**n for n in range(MAX_ATTEMPTS - 1)], "exponential backoff"
    dead = await row(session_factory, message_id)
    assert dead.status is OutboxStatus.DEAD
    await sender.send_due()
    assert len(bot.tried(reader)) == MAX_ATTEMPTS, "a dead letter is not tried again"


async def test_an_unexpected_telegram_error_does_not_strand_the_other_messages(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    bot, sender = await make_sender()
    odd, reader = await people(session_factory, "zh_CN", "zh_CN")
    strange, ordinary = await write(session_factory, cancelled(odd, "2026-000601"), cancelled(reader, "2026-000602"))
    bot.fail(odd.telegram_id, TelegramNotFound(method=_method(odd.telegram_id), message="Not Found"))

    await sender.send_due()

    assert (await row(session_factory, ordinary)).status is OutboxStatus.SENT
    waiting = await row(session_factory, strange)
    assert waiting.status is OutboxStatus.PENDING, "retried later, not stuck in 'sending'"
    assert waiting.attempts == 1 and "TelegramNotFound" in (waiting.last_error or "")

    await time_passes(session_factory, [strange])
    await sender.send_due()

    assert (await row(session_factory, strange)).status is OutboxStatus.SENT


# --- pacing ------------------------------------------------------------------------------


async def test_one_chat_is_paced_while_another_is_not_kept_waiting(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    bot, sender = await make_sender(per_chat_interval=PER_CHAT)
    busy, quiet = await people(session_factory, "en", "en")
    await write(
        session_factory,
        cancelled(busy, "2026-000701"),
        cancelled(busy, "2026-000702"),
        cancelled(quiet, "2026-000703"),
    )

    await sender.drain()

    first, second = bot.sent_to(busy)
    [other] = bot.sent_to(quiet)
    assert "2026-000701" in first.text and "2026-000702" in second.text, "order within a chat is kept"
    assert second.at - first.at >= PER_CHAT - TOLERANCE
    assert other.at < second.at, "the quiet chat did not queue behind the busy one"

    # The next round remembers when the busy chat last got a message.
    await write(session_factory, cancelled(busy, "2026-000704"))
    await sender.send_due()

    third = bot.sent_to(busy)[2]
    assert third.at - second.at >= PER_CHAT - TOLERANCE


async def test_two_senders_sharing_the_queue_keep_each_chats_order(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender, i18n: I18n
) -> None:
    """Two processes' senders claim batches at the same time; nobody's notices arrive out of order.

    Each of 40 people has three notices, written round by round, so every batch a sender claims
    holds the start of some chats whose rest the other sender could claim at the same moment.
    """
    bot, first = await make_sender(per_chat_interval=0)
    second = OutboxSender(bot, session_factory, i18n, default_locale="zh_CN", clock=CLOCK,  # type: ignore[arg-type]
                          timezone="Asia/Shanghai", limiter=LocalRateLimiter(10_000, private_interval=0),
                          pack_button=notice_button_data)
    assert first.process_id != second.process_id
    readers = await people(session_factory, *["en"] * 40)
    for round_ in range(1, 4):
        await write(session_factory, *(cancelled(reader, f"2026-9{i:02d}00{round_}") for i, reader in enumerate(readers)))

    await asyncio.gather(first.drain(), second.drain(), first.drain(), second.drain())

    assert len(bot.sent) == 120, "each notice sent exactly once"
    for i, reader in enumerate(readers):
        numbers = [d.text.split()[1] for d in bot.sent_to(reader)]
        assert numbers == [f"2026-9{i:02d}00{r}" for r in (1, 2, 3)], reader.telegram_id


async def test_the_claims_order_check_reads_the_partial_index(session_factory: async_sessionmaker[AsyncSession]) -> None:
    """With bound statuses SQLite scanned every open row for each candidate (seconds per claim at 5,000)."""
    async with session_factory() as session:
        dialect = session.get_bind().dialect
        # As executed: expanding parameters are rendered into the statement just before it runs.
        compiled = due_messages(CLOCK.now()).compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        assert "status IN ('pending', 'sending')" in compiled.string
        if dialect.name != "sqlite":
            return  # PostgreSQL's planner picks by table size; the literal statuses are what it needs
        params = [str(compiled.params[name]) for name in compiled.positiontup or []]
        connection = await session.connection()
        raw = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.string}", tuple(params))
        plan = " | ".join(str(row[-1]) for row in raw.all())
    assert "ix_outgoing_message_open_chat" in plan, plan


async def test_rows_that_could_not_be_given_back_are_given_back_next_round(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    """The database was gone when a batch ended: its unsent row must not hold back its chat until a restart."""
    bot, sender = await make_sender(per_chat_interval=0)
    [reader] = await people(session_factory, "en")
    first, second = await write(session_factory, cancelled(reader, "2026-000921"), cancelled(reader, "2026-000922"))
    finish, give_back = sender._finish, sender._give_back
    outage = True

    async def finish_or_fail(message_id: int, *args: object, **kwargs: object) -> None:
        if outage:
            raise ConnectionError("the database went away")
        await finish(message_id, *args, **kwargs)  # type: ignore[arg-type]

    async def give_back_or_fail(ids: list[int] | None = None) -> bool:
        return False if outage else await give_back(ids)

    sender._finish = finish_or_fail  # type: ignore[method-assign]
    sender._give_back = give_back_or_fail  # type: ignore[method-assign]
    await sender.send_due()
    stuck, waiting = await rows(session_factory, [first, second])
    assert stuck.status is OutboxStatus.SENDING and waiting.status is OutboxStatus.PENDING

    outage = False
    await sender.drain()

    assert [d.text.split()[1] for d in bot.sent_to(reader)] == ["2026-000921", "2026-000921", "2026-000922"], (
        "sent again (its outcome was never recorded), then the next one, in order")
    assert {m.status for m in await rows(session_factory, [first, second])} == {OutboxStatus.SENT}


# --- a sender that must not, or cannot, finish ------------------------------------------------------


async def test_a_sender_that_may_have_been_given_up_for_dead_sends_nothing_and_gives_its_rows_back(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    bot, sender = await make_sender()
    [reader] = await people(session_factory, "zh_CN")
    ids = await write(session_factory, cancelled(reader, "2026-000901"), cancelled(reader, "2026-000902"))
    sender._alive_until = 0.0  # its liveness key could not be renewed for longer than the key lives

    await sender.send_due()

    assert bot.tried(reader) == []
    for message in await rows(session_factory, ids):
        assert message.status is OutboxStatus.PENDING and message.claimed_by is None


async def test_an_outcome_that_cannot_be_recorded_strands_nothing_in_sending(
    session_factory: async_sessionmaker[AsyncSession], make_sender: MakeSender
) -> None:
    bot, sender = await make_sender(per_chat_interval=0)
    reader, other = await people(session_factory, "zh_CN", "zh_CN")
    first, second, third = await write(session_factory, cancelled(reader, "2026-000911"),
                                       cancelled(reader, "2026-000912"), cancelled(other, "2026-000913"))
    finish = sender._finish

    async def database_gone(message_id: int, *args: object, **kwargs: object) -> None:
        if message_id == first:
            raise ConnectionError("the database went away")
        await finish(message_id, *args, **kwargs)  # type: ignore[arg-type]

    sender._finish = database_gone  # type: ignore[method-assign]

    await sender.send_due()

    by_id = {m.id: m for m in await rows(session_factory, [first, second, third])}
    assert by_id[third].status is OutboxStatus.SENT, "the other chat went on"
    assert by_id[first].status is OutboxStatus.PENDING, "sent, but not recorded: queued again (at least once)"
    assert by_id[second].status is OutboxStatus.PENDING, "its chat's next message waits, in order"
    assert {m.claimed_by for m in by_id.values()} == {None}
