"""The outbox sender.

Services write notices as `OutgoingMessage` rows in the transaction that caused
them; this task claims due rows, renders each in its recipient's language and
sends it, keeping to about one message a second per chat and thirty a second
overall. A 429 pauses sending for `retry_after`; a blocked bot marks the user
and dead-letters the message; network errors are retried with backoff and
dead-lettered after `MAX_ATTEMPTS`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock, SystemClock
from bot.i18n import render
from models import OutboxStatus, OutgoingMessage, User

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6
BATCH_SIZE = 100
STALE_CLAIM = timedelta(minutes=5)


@dataclass
class _Claimed:
    id: int
    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None
    attempts: int


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        i18n: I18n,
        *,
        default_locale: str,
        timezone: str,
        per_chat_interval: float = 1.0,
        global_rate: float = 30.0,
        poll_interval: float = 2.0,
        pack_button: Callable[[str, int], str],
        clock: Clock | None = None,
    ) -> None:
        self.bot = bot
        self.session_factory = session_factory
        self.i18n = i18n
        self.default_locale = default_locale
        self.timezone = timezone
        self.per_chat_interval = per_chat_interval
        self.global_interval = 1.0 / global_rate
        self.poll_interval = poll_interval
        self.clock = clock or SystemClock()
        # Turns a notice button (action, ref) into callback data; given by the app,
        # which knows the handlers' CallbackData factories.
        self.pack_button = pack_button
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._chat_ready: dict[int, float] = {}
        self._global_ready = 0.0
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self, drain_timeout: float = 10.0) -> None:
        """Send what is due (bounded by `drain_timeout`), then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self.drain(), timeout=drain_timeout)
        except TimeoutError:
            log.warning("outbox not drained within %.0fs; the rest is sent on next start", drain_timeout)
        self._stopping.set()
        self._wake.set()
        await self._task
        self._task = None

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.session_factory() as session, session.begin():
            yield session

    @property
    def running(self) -> bool:
        return self._task is not None

    def wake(self) -> None:
        """Called after a commit that wrote notices, so they go out at once."""
        self._wake.set()

    async def drain(self) -> None:
        """Return once nothing is due right now."""
        while True:
            sent = await self.send_due()
            if sent == 0:
                return

    # -- work ----------------------------------------------------------------
    async def _run(self) -> None:
        await self._release_stale_claims()
        while not self._stopping.is_set():
            try:
                await self.send_due()
            except Exception:  # keep the sender alive; the rows stay for the next round
                log.exception("outbox round failed")
            with contextlib.suppress(TimeoutError):  # no wake-up: poll anyway
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            self._wake.clear()

    async def _release_stale_claims(self) -> None:
        """Rows claimed by a process that died mid-send go back to the queue (at-least-once)."""
        async with self._transaction() as session:
            await session.execute(
                update(OutgoingMessage)
                .where(OutgoingMessage.status == OutboxStatus.SENDING,
                       OutgoingMessage.next_attempt_at < self.clock.now() - STALE_CLAIM)
                .values(status=OutboxStatus.PENDING)
            )

    async def _claim(self) -> list[_Claimed]:
        now = self.clock.now()
        async with self._transaction() as session:
            stmt = (
                select(OutgoingMessage, User)
                .join(User, User.id == OutgoingMessage.user_id)
                .where(OutgoingMessage.status == OutboxStatus.PENDING, OutgoingMessage.next_attempt_at <= now)
                .order_by(OutgoingMessage.id)
                .limit(BATCH_SIZE)
            )
            if session.get_bind().dialect.name == "postgresql":
                # Several bot processes may share one outbox: each row goes to one of them.
                stmt = stmt.with_for_update(skip_locked=True, of=OutgoingMessage)
            rows = (await session.execute(stmt)).all()
            claimed: list[_Claimed] = []
            for message, user in rows:
                locale = user.locale or self.default_locale
                try:
                    text = render(self.i18n, message.template, message.params, locale, self.timezone)
                    markup = self._markup(message.buttons, locale)
                except (KeyError, ValueError, IndexError) as exc:
                    log.error("outbox message %s cannot be rendered: %s", message.id, exc)
                    message.status = OutboxStatus.DEAD
                    message.last_error = f"render: {exc}"[:500]
                    continue
                message.status = OutboxStatus.SENDING
                message.next_attempt_at = now
                claimed.append(_Claimed(message.id, message.chat_id, text, markup, message.attempts))
            return claimed

    def _markup(self, buttons: list[dict[str, object]], locale: str) -> InlineKeyboardMarkup | None:
        if not buttons:
            return None
        return InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=self.i18n.gettext(str(b["label"]), locale=locale),
                        callback_data=self.pack_button(str(b["action"]), int(str(b["ref"]))),
                    )
                ]
                for b in buttons
            ]
        )

    async def send_due(self) -> int:
        """Claim and send one batch; returns how many rows were handled."""
        claimed = await self._claim()
        if not claimed:
            return 0
        queues: dict[int, deque[_Claimed]] = {}
        for item in claimed:
            queues.setdefault(item.chat_id, deque()).append(item)
        while queues:
            # The chat that may receive soonest goes next; order within a chat is kept.
            chat_id = min(queues, key=lambda c: self._chat_ready.get(c, 0.0))
            wait = max(self._chat_ready.get(chat_id, 0.0), self._global_ready) - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            item = queues[chat_id].popleft()
            if not queues[chat_id]:
                del queues[chat_id]
            blocked_chat = await self._send_one(item)
            if blocked_chat:
                for rest in queues.pop(chat_id, ()):
                    await self._finish(rest.id, OutboxStatus.DEAD, error="recipient blocked the bot")
        return len(claimed)

    async def _send_one(self, item: _Claimed) -> bool:
        """Send one message and record the outcome; True when the chat is unreachable."""
        now = time.monotonic()
        self._chat_ready[item.chat_id] = now + self.per_chat_interval
        self._global_ready = now + self.global_interval
        try:
            sent = await self.bot.send_message(item.chat_id, item.text, reply_markup=item.markup)
        except TelegramRetryAfter as exc:
            self._global_ready = time.monotonic() + exc.retry_after
            await self._retry(item, delay=exc.retry_after, error=str(exc), count=False)
        except TelegramForbiddenError as exc:
            await self._finish(item.id, OutboxStatus.DEAD, error=str(exc), blocked_chat=item.chat_id)
            return True
        except TelegramBadRequest as exc:
            await self._finish(item.id, OutboxStatus.DEAD, error=str(exc))
        except (TelegramNetworkError, TelegramServerError, OSError) as exc:
            await self._retry(item, delay=min(2 ** item.attempts, 300), error=str(exc), count=True)
        except (TelegramAPIError, ValueError, TypeError) as exc:
            # Anything else Telegram or aiogram reports: retried with backoff, then dead-lettered,
            # so one odd message never strands the rest of its batch in 'sending'.
            log.warning("outbox message %s: unexpected %s: %s", item.id, type(exc).__name__, exc)
            await self._retry(item, delay=min(2 ** item.attempts, 300), error=f"{type(exc).__name__}: {exc}", count=True)
        else:
            await self._finish(item.id, OutboxStatus.SENT, telegram_message_id=sent.message_id)
        return False

    async def _retry(self, item: _Claimed, *, delay: float, error: str, count: bool) -> None:
        attempts = item.attempts + (1 if count else 0)
        status = OutboxStatus.DEAD if attempts >= MAX_ATTEMPTS else OutboxStatus.PENDING
        async with self._transaction() as session:
            await session.execute(
                update(OutgoingMessage)
                .where(OutgoingMessage.id == item.id)
                .values(status=status, attempts=attempts, last_error=error[:500],
                        next_attempt_at=self.clock.now() + timedelta(seconds=delay))
            )
        if status is OutboxStatus.DEAD:
            log.error("outbox message %s dead after %s attempts: %s", item.id, attempts, error)

    async def _finish(
        self,
        message_id: int,
        status: OutboxStatus,
        *,
        error: str | None = None,
        telegram_message_id: int | None = None,
        blocked_chat: int | None = None,
    ) -> None:
        now = self.clock.now()
        async with self._transaction() as session:
            await session.execute(
                update(OutgoingMessage)
                .where(OutgoingMessage.id == message_id)
                .values(status=status, sent_at=now if status is OutboxStatus.SENT else None,
                        last_error=error[:500] if error else None, telegram_message_id=telegram_message_id,
                        attempts=OutgoingMessage.attempts + 1)
            )
            if blocked_chat is not None:
                await session.execute(update(User).where(User.telegram_id == blocked_chat).values(blocked_bot_at=now))
