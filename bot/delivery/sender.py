"""The outbox sender.

Services write notices as `OutgoingMessage` rows in the transaction that caused
them; every bot process runs this sender, which claims due rows in batches, renders
each in its recipient's language and sends it.

* **Claims.** A batch is claimed in one short transaction: the rows move to
  'sending' with this process's id (`claimed_by`). On PostgreSQL the claim reads
  with ``FOR UPDATE SKIP LOCKED``, so processes share the queue without taking a
  row twice; on SQLite the claim holds the one write lock. A row is sent, then
  marked 'sent' in its own transaction.
* **Order.** A chat's messages arrive in the order they were written: a row is
  claimed only when nothing older to its chat is still pending or being sent (by
  any process, its claim committed or not). A message waiting out a backoff holds
  back the later ones to its chat; other chats go on.
* **Budget.** Each message waits for its slot in the shared `RateLimiter`
  (bot/delivery/ratelimit.py): 30 a second for the bot, one a second per chat, 20 a
  minute per group, across every process when Redis is there. Up to `concurrency`
  messages are in flight at once (each to a different chat), so a slow Telegram
  does not cap the rate.
* **Failures.** A 429 pauses every process for `retry_after` and the message is
  tried again after the pause. A person who blocked the bot is marked unreachable
  and their messages are dead-lettered, not retried.
  Network errors and 5xx are retried with backoff; after `MAX_ATTEMPTS` the message
  is dead-lettered (logged and counted in the metrics).
* **Crashes.** Rows held by a process that is gone go back to the queue: with Redis
  each sender keeps a liveness key and the others release a dead process's rows as
  soon as the key expires; without Redis (one process) a new process releases every
  claim at start. Telegram cannot be asked whether a message arrived, so a message
  that was on the wire when its process was killed is sent again: a crash can repeat
  at most the `concurrency` messages in flight at that instant, and loses none.
* **Stopping.** `stop()` takes no new batch, sends what it has claimed (within a
  time limit) and gives back the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

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
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import Select, Update, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from bot.clock import Clock, SystemClock
from bot.delivery.ratelimit import LocalRateLimiter, RateLimiter
from bot.i18n import render
from bot.metrics import Metrics
from models import OutboxStatus, OutgoingMessage, User

log = logging.getLogger(__name__)

# Network errors and 5xx are retried 1, 2, 4 … 256 s apart: about 8.5 minutes of Telegram out of reach
# before a message is dead-lettered.
MAX_ATTEMPTS = 10
BATCH_SIZE = 50
# Messages in flight at once in one process (each to a different chat).
CONCURRENCY = 8
# A 429 is retried in place this many times before the message goes back to the queue.
MAX_PAUSES_PER_MESSAGE = 5
# Without Redis, a claim this old whose owner is not this process is taken to be a dead process's
# (longer than any batch, 429 pauses included).
STALE_CLAIM = timedelta(minutes=10)
# With Redis: a sender's liveness key lives this long and is renewed three times as often.
LIVENESS_SECONDS = 15


# A chat's messages go out in the order of their ids (the order they were written): only the oldest
# unsent message of a chat may be claimed. Another replica's claim (committed or not, its rows are pending or sending)
# and a message waiting out its backoff hold back what was written to that chat after them.
# The statuses are rendered into the SQL, not bound: a partial index (ix_outgoing_message_open_chat) is
# used only when the query's condition matches its own literally (SQLite, and PostgreSQL's generic plans).
_earlier = aliased(OutgoingMessage)
_EARLIER_UNSENT = exists().where(_earlier.status.in_(
    bindparam("open_statuses", [OutboxStatus.PENDING, OutboxStatus.SENDING], expanding=True, literal_execute=True)))


def _update_rows() -> Update:
    """An UPDATE of outbox rows, run in one of the sender's fresh sessions (`OutboxSender._transaction`):
    there are no objects in it to bring up to date, so SQLAlchemy is not asked to evaluate the WHERE in
    Python against them (its default)."""
    return update(OutgoingMessage).execution_options(synchronize_session=False)


def due_messages(now: datetime) -> Select[tuple[OutgoingMessage, str | None]]:
    """The next batch a sender may claim, with each recipient's language, oldest first."""
    return (
        # Only the recipient's language: loading the whole person (community, roles, staff
        # profile) cost three statements per claim.
        select(OutgoingMessage, User.locale)
        .join(User, User.id == OutgoingMessage.user_id)
        .where(OutgoingMessage.status == OutboxStatus.PENDING, OutgoingMessage.next_attempt_at <= now,
               ~_EARLIER_UNSENT.where(_earlier.chat_id == OutgoingMessage.chat_id, _earlier.id < OutgoingMessage.id))
        .order_by(OutgoingMessage.id)
        .limit(BATCH_SIZE)
    )


def new_process_id() -> str:
    """This process among the replicas: host, pid and a random part (a restarted pid is a new process)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _Claimed:
    id: int
    chat_id: int
    text: str
    markup: InlineKeyboardMarkup | None
    attempts: int
    pauses: int = 0


class Liveness:
    """Which sender processes are alive: a Redis key per process, renewed while it runs."""

    def __init__(self, redis: Redis | None, process_id: str) -> None:
        self.redis = redis
        self.process_id = process_id

    @staticmethod
    def _key(process_id: str) -> str:
        return f"linli:sender:{process_id}"

    async def beat(self) -> bool:
        """Renew this process's key; False when Redis could not be told."""
        if self.redis is None:
            return True
        try:
            await self.redis.set(self._key(self.process_id), b"1", ex=LIVENESS_SECONDS)
        except RedisError as error:
            log.warning("cannot renew the sender's liveness key: %s", error)
            return False
        return True

    async def forget(self) -> None:
        if self.redis is None:
            return
        with contextlib.suppress(RedisError):
            await self.redis.delete(self._key(self.process_id))

    async def dead(self, owners: list[str]) -> list[str] | None:
        """The owners with no liveness key; None when that cannot be known (no Redis, or unreachable)."""
        if self.redis is None or not owners:
            return None if self.redis is None else []
        try:
            pipe = self.redis.pipeline(transaction=False)
            for owner in owners:
                pipe.exists(self._key(owner))
            found = await pipe.execute()
        except RedisError as error:
            log.warning("cannot read the senders' liveness keys: %s", error)
            return None
        return [owner for owner, exists in zip(owners, found, strict=True) if not exists]


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        session_factory: async_sessionmaker[AsyncSession],
        i18n: I18n,
        *,
        default_locale: str,
        timezone: str,
        pack_button: Callable[[str, int], str],
        limiter: RateLimiter | None = None,
        liveness: Liveness | None = None,
        metrics: Metrics | None = None,
        concurrency: int = CONCURRENCY,
        poll_interval: float = 2.0,
        clock: Clock | None = None,
    ) -> None:
        self.bot = bot
        self.session_factory = session_factory
        self.i18n = i18n
        self.default_locale = default_locale
        self.timezone = timezone
        self.limiter: RateLimiter = limiter or LocalRateLimiter()
        self.liveness = liveness or Liveness(None, new_process_id())
        self.process_id = self.liveness.process_id
        self.metrics = metrics
        self.concurrency = concurrency
        self.poll_interval = poll_interval
        self.clock = clock or SystemClock()
        # Turns a notice button (action, ref) into callback data; given by the app,
        # which knows the handlers' CallbackData factories.
        self.pack_button = pack_button
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._beating: asyncio.Task[None] | None = None
        self._last_orphan_check = float("-inf")
        # Rows of finished batches this process could not give back (the database was out of reach):
        # nobody else releases a live process's rows, and each holds back its chat, so they are retried.
        self._unreturned: set[int] = set()
        # When this process last renewed its liveness key (loop time): past the key's life, another
        # process may take its rows back, so it starts no send (it fences itself).
        self._alive_until = float("inf")
        # Owners seen without a key, and since when: released only when still missing a key's life later,
        # so a Redis blip that let a live sender's key lapse does not hand its rows to another.
        self._missing_since: dict[str, float] = {}

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name="outbox-sender")
            if self.liveness.redis is not None:
                self._alive_until = asyncio.get_running_loop().time() + LIVENESS_SECONDS * 0.8
                self._beating = asyncio.create_task(self._beat(), name="outbox-sender-liveness")

    async def _beat(self) -> None:
        """Renew the liveness key on its own clock: a batch may take long (429 pauses), its rows stay ours."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            if await self.liveness.beat():
                self._alive_until = started + LIVENESS_SECONDS * 0.8
            await asyncio.sleep(LIVENESS_SECONDS / 3)

    def _fenced(self) -> bool:
        return asyncio.get_running_loop().time() > self._alive_until

    async def stop(self, timeout: float = 10.0) -> None:
        """Take no new batch; send what is claimed (within `timeout`), give back the rest."""
        if self._task is None:
            return
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=timeout)
        except TimeoutError:
            log.warning("the outbox sender did not finish its batch within %.0fs; the rest goes back to the queue",
                        timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._give_back()
        if self._beating is not None:
            self._beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beating
            self._beating = None
        await self.liveness.forget()

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        # A fresh session each time, holding no objects (see `_update_rows`).
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
        while await self.send_due():
            pass

    # -- work ----------------------------------------------------------------
    async def _run(self) -> None:
        await self.liveness.beat()
        with contextlib.suppress(Exception):
            await self._release_orphans(force=True)
        while not self._stopping.is_set():
            try:
                await self._release_orphans()
                if await self.send_due():
                    continue  # more may be due: no pause between batches of a broadcast
            except Exception:  # keep the sender alive; the rows stay for the next round
                log.exception("outbox round failed")
            with contextlib.suppress(TimeoutError):  # no wake-up: poll anyway
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            self._wake.clear()

    async def _release_orphans(self, *, force: bool = False) -> None:
        """Rows claimed by a process that is gone go back to the queue."""
        loop = asyncio.get_running_loop()
        if not force and loop.time() - self._last_orphan_check < LIVENESS_SECONDS / 3:
            return
        self._last_orphan_check = loop.time()
        async with self.session_factory() as session:  # a read: no transaction is held across Redis below
            owners = [owner for owner in (await session.scalars(
                select(OutgoingMessage.claimed_by).distinct()
                .where(OutgoingMessage.status == OutboxStatus.SENDING))).all() if owner != self.process_id]
        if not owners:
            return
        dead = await self.liveness.dead([owner for owner in owners if owner is not None])
        if dead is not None:
            now = loop.time()
            missing = set(dead)
            self._missing_since = {o: t for o, t in self._missing_since.items() if o in missing}
            for owner in missing:
                self._missing_since.setdefault(owner, now)
            dead = [o for o in dead if now - self._missing_since[o] >= LIVENESS_SECONDS]
        if dead is None:
            if force and self.liveness.redis is None:
                # One process without Redis: whatever was claimed was claimed by an earlier run.
                condition = OutgoingMessage.claimed_by.is_distinct_from(self.process_id)
            else:
                condition = (OutgoingMessage.claimed_by.is_distinct_from(self.process_id)
                             & (OutgoingMessage.next_attempt_at < self.clock.now() - STALE_CLAIM))
        else:
            # Rows without an owner predate claimed_by: only a stale one is taken.
            condition = (OutgoingMessage.claimed_by.in_(dead)
                         | (OutgoingMessage.claimed_by.is_(None)
                            & (OutgoingMessage.next_attempt_at < self.clock.now() - STALE_CLAIM)))
        async with self._transaction() as session:
            released = await session.execute(
                _update_rows().where(OutgoingMessage.status == OutboxStatus.SENDING, condition)
                .values(status=OutboxStatus.PENDING, claimed_by=None))
        if released.rowcount:
            log.warning("%d outbox message(s) of a stopped process went back to the queue", released.rowcount)

    async def _give_back(self, ids: list[int] | None = None) -> bool:
        """This process's claimed rows (of `ids`, or all) that were not sent go back to the queue."""
        try:
            async with self._transaction() as session:
                stmt = (_update_rows()
                        .where(OutgoingMessage.status == OutboxStatus.SENDING,
                               OutgoingMessage.claimed_by == self.process_id)
                        .values(status=OutboxStatus.PENDING, claimed_by=None))
                if ids is not None:
                    stmt = stmt.where(OutgoingMessage.id.in_(ids))
                await session.execute(stmt)
        except Exception:  # the database is gone: tried again next round (or by another process if this one dies)
            log.exception("could not give back the claimed outbox messages")
            return False
        return True

    async def _give_back_unreturned(self) -> None:
        if self._unreturned:
            ids = sorted(self._unreturned)
            if await self._give_back(ids):
                self._unreturned.difference_update(ids)

    async def _claim(self) -> list[_Claimed]:
        now = self.clock.now()
        async with self._transaction() as session:
            stmt = due_messages(now)
            if session.get_bind().dialect.name == "postgresql":
                # Several bot processes share one outbox: each row goes to one of them.
                stmt = stmt.with_for_update(skip_locked=True, of=OutgoingMessage)
            rows = (await session.execute(stmt)).all()
            claimed: list[_Claimed] = []
            for message, user_locale in rows:
                locale = user_locale or self.default_locale
                try:
                    text = render(self.i18n, message.template, message.params, locale, self.timezone)
                    markup = self._markup(message.buttons, locale)
                except (KeyError, ValueError, IndexError) as exc:
                    log.error("outbox message %s cannot be rendered: %s", message.id, exc)
                    message.status = OutboxStatus.DEAD
                    message.last_error = f"render: {exc}"[:500]
                    self._count("dead")
                    continue
                message.status = OutboxStatus.SENDING
                message.claimed_by = self.process_id
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

    def _count(self, outcome: str, n: int = 1) -> None:
        if self.metrics is not None and n:
            self.metrics.sends.labels(outcome).inc(n)

    async def send_due(self) -> int:
        """Claim and send one batch; returns how many rows were handled."""
        await self._give_back_unreturned()  # rows of batches that are over: none is in flight
        claimed = await self._claim()
        if not claimed:
            return 0
        # A batch holds at most one message per chat (`due_messages`): each worker takes the next one.
        ready: deque[_Claimed] = deque(claimed)

        async def worker() -> None:
            while ready:
                item = ready.popleft()
                if self._fenced():
                    continue  # this process may have been given up for dead: its rows go back (below)
                try:
                    again = await self._send_one(item)
                except Exception:  # recording the outcome failed (the database): the row goes back (below)
                    log.exception("outbox message %s: outcome not recorded", item.id)
                    continue
                if again:
                    ready.append(item)  # after the pause

        try:
            await asyncio.gather(*(worker() for _ in range(min(self.concurrency, len(ready)))))
        finally:
            # Whatever of this batch is still ours and unsent (fenced, failed to record, cancelled) is queued again.
            ids = [item.id for item in claimed]
            if not await self._give_back(ids):
                self._unreturned.update(ids)
        return len(claimed)

    async def _wait_for_slot(self, chat_id: int) -> None:
        while True:
            wait = await self.limiter.reserve(chat_id)
            if wait > 0:
                await asyncio.sleep(wait)
            paused = await self.limiter.paused_for()
            if paused <= 0:
                return
            await asyncio.sleep(paused)  # a 429 came while this one waited: book again after it

    async def _send_one(self, item: _Claimed) -> bool:
        """Send one message and record the outcome; True when it is to be tried again after a 429's pause."""
        await self._wait_for_slot(item.chat_id)
        try:
            sent = await self.bot.send_message(item.chat_id, item.text, reply_markup=item.markup)
        except TelegramRetryAfter as exc:
            await self.limiter.pause(exc.retry_after)
            if self.metrics is not None:
                self.metrics.rate_limited.labels("outbox").inc()
            item.pauses += 1
            if item.pauses < MAX_PAUSES_PER_MESSAGE:
                log.info("429 on outbox message %s: everyone waits %ss", item.id, exc.retry_after)
                return True
            await self._retry(item, delay=exc.retry_after, error=str(exc), count=False)
        except TelegramForbiddenError as exc:
            await self._finish(item.id, OutboxStatus.DEAD, error=str(exc), blocked_chat=item.chat_id)
            self._count("blocked")
        except TelegramBadRequest as exc:
            await self._finish(item.id, OutboxStatus.DEAD, error=str(exc))
            self._count("dead")
        except (TelegramNetworkError, TelegramServerError, OSError) as exc:
            await self._retry(item, delay=min(2 ** item.attempts, 300), error=str(exc), count=True)
        except (TelegramAPIError, ValueError, TypeError) as exc:
            # Anything else Telegram or aiogram reports: retried with backoff, then dead-lettered,
            # so one odd message never strands the rest of its batch in 'sending'.
            log.warning("outbox message %s: unexpected %s: %s", item.id, type(exc).__name__, exc)
            await self._retry(item, delay=min(2 ** item.attempts, 300), error=f"{type(exc).__name__}: {exc}",
                              count=True)
        else:
            await self._finish(item.id, OutboxStatus.SENT, telegram_message_id=sent.message_id)
            self._count("sent")
        return False

    async def _retry(self, item: _Claimed, *, delay: float, error: str, count: bool) -> None:
        attempts = item.attempts + (1 if count else 0)
        status = OutboxStatus.DEAD if attempts >= MAX_ATTEMPTS else OutboxStatus.PENDING
        async with self._transaction() as session:
            await session.execute(
                _update_rows()
                .where(OutgoingMessage.id == item.id, OutgoingMessage.claimed_by == self.process_id)
                .values(status=status, attempts=attempts, last_error=error[:500], claimed_by=None,
                        next_attempt_at=self.clock.now() + timedelta(seconds=delay))
            )
        if status is OutboxStatus.DEAD:
            log.error("outbox message %s dead after %s attempts: %s", item.id, attempts, error)
            self._count("dead")
        else:
            self._count("retried")

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
                _update_rows()
                .where(OutgoingMessage.id == message_id, OutgoingMessage.claimed_by == self.process_id)
                .values(status=status, sent_at=now if status is OutboxStatus.SENT else None,
                        last_error=error[:500] if error else None, telegram_message_id=telegram_message_id,
                        attempts=OutgoingMessage.attempts + 1, claimed_by=None)
            )
            rest = 0
            if blocked_chat is not None:
                await session.execute(update(User).where(User.telegram_id == blocked_chat).values(blocked_bot_at=now)
                                      .execution_options(synchronize_session=False))
                # What else waits for this chat is not tried: each would only be refused again.
                rest = (await session.execute(
                    _update_rows()
                    .where(OutgoingMessage.chat_id == blocked_chat, OutgoingMessage.status == OutboxStatus.PENDING)
                    .values(status=OutboxStatus.DEAD, last_error="recipient blocked the bot")
                )).rowcount
        self._count("dead", rest)
