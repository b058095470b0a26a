"""Reminders: APScheduler ticks, the rows say what is due.

Deadlines, offer timeouts and (later) volunteer reminders are `Reminder` rows written in
the transaction of the work that made them. An APScheduler interval job calls
`ReminderSweeper.sweep`, which takes "now" from the injectable clock and works through
the due rows one at a time, each in its own transaction:

1. claim it with one conditional statement, ``UPDATE reminder SET status='done' …
   WHERE id = (SELECT id … WHERE status='pending' AND due_at <= :now ORDER BY due_at
   LIMIT 1 [FOR UPDATE SKIP LOCKED]) AND status='pending' RETURNING …``: on PostgreSQL
   another process skips the row this one holds; on SQLite every transaction takes the
   write lock first (BEGIN IMMEDIATE), and the ``status='pending'`` condition makes a
   second claim of the same row change nothing;
2. run the kind's handler in the same transaction, so the claim and its effects (events,
   notices in the outbox, follow-up reminders) commit together or not at all.

A handler that raises is rolled back to a savepoint: the reminder goes back to pending
with a later ``due_at`` (1, 2, 4… minutes) and is marked failed after `MAX_ATTEMPTS`.
The scheduler's own job store is in memory and never shared: several bot processes may
each run a sweeper against one database, and each reminder fires once.

Reminders that fell due while every process was down fire once when one comes back,
except the kinds in `STALE_AFTER`: a nudge that is only useful near its time ("the
task starts in an hour", "please check out now") is marked 'skipped' instead when it
is later than its limit. Deadlines, offer timeouts, escalations and waves always fire:
late is still better than never for them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.metrics import Metrics
from bot.services import cases, casework, records, tasks
from bot.transaction import OUTBOX_WRITTEN
from models import Reminder, ReminderStatus

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5

# A reminder of these kinds claimed this late is skipped, not fired (its moment has passed).
STALE_AFTER: dict[str, timedelta] = {
    # "Starts tomorrow / in an hour": a day-before reminder a day late would arrive beside the hour-before one.
    tasks.TASK_REMINDER: timedelta(minutes=30),
    # "The task has ended, please check out": after an hour the missing check-out is the social worker's.
    records.CHECKOUT_DUE: timedelta(hours=1),
    # "Please rate the help you got": still fine a day late, odd a week late (the case auto-closes anyway).
    casework.RATING_REMINDER: timedelta(days=2),
}
# Rows handled per sweep at most, so one sweep never runs for long; the next tick goes on.
SWEEP_LIMIT = 500

Handler = Callable[..., Awaitable[None]]


def case_handlers(policy: cases.CasePolicy) -> dict[str, Callable[[AsyncSession, Reminder, datetime], Awaitable[None]]]:
    """The reminder kinds of a case, bound to the operator's policy."""

    def bind(handler: Handler) -> Callable[[AsyncSession, Reminder, datetime], Awaitable[None]]:
        async def run(session: AsyncSession, reminder: Reminder, now: datetime) -> None:
            await handler(session, reminder, now=now, policy=policy)

        return run

    return {kind: bind(handler) for kind, handler in (cases.HANDLERS | casework.HANDLERS).items()}


def task_handlers(policy: tasks.TaskPolicy) -> dict[str, Callable[[AsyncSession, Reminder, datetime],
                                                                  Awaitable[None]]]:
    """The reminder kinds of volunteer tasks (next wave, day-before and hour-before, a forgotten check-out),
    bound to the policy."""

    def bind(handler: Handler) -> Callable[[AsyncSession, Reminder, datetime], Awaitable[None]]:
        async def run(session: AsyncSession, reminder: Reminder, now: datetime) -> None:
            await handler(session, reminder, now=now, policy=policy)

        return run

    return {kind: bind(handler) for kind, handler in (tasks.HANDLERS | records.HANDLERS).items()}


class ReminderSweeper:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        clock: Clock,
        handlers: dict[str, Callable[[AsyncSession, Reminder, datetime], Awaitable[None]]],
        *,
        on_outbox: Callable[[], None] | None = None,
        stale_after: dict[str, timedelta] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.handlers = handlers
        self.on_outbox = on_outbox
        self.stale_after = STALE_AFTER if stale_after is None else stale_after
        self.metrics = metrics
        self._lock = asyncio.Lock()  # one sweep at a time in this process (a test's and the job's)

    async def _claim(self, session: AsyncSession, now: datetime) -> Reminder | None:
        due = (
            select(Reminder.id)
            .where(Reminder.status == ReminderStatus.PENDING, Reminder.due_at <= now)
            .order_by(Reminder.due_at, Reminder.id)
            .limit(1)
        )
        if session.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        claimed = await session.scalars(
            update(Reminder)
            .where(Reminder.id == due.scalar_subquery(), Reminder.status == ReminderStatus.PENDING)
            .values(status=ReminderStatus.DONE, done_at=now, attempts=Reminder.attempts + 1)
            .returning(Reminder)
            .execution_options(synchronize_session=False)
        )
        return claimed.first()

    async def sweep(self) -> int:
        """Fire every reminder due by the clock's now; returns how many were claimed."""
        async with self._lock:
            now = self.clock.now()
            fired = 0
            while fired < SWEEP_LIMIT:
                if not await self._one(now):
                    break
                fired += 1
            return fired

    async def _one(self, now: datetime) -> bool:
        wrote_outbox = False
        async with self.session_factory() as session, session.begin():
            reminder = await self._claim(session, now)
            if reminder is None:
                return False
            stale = self.stale_after.get(reminder.kind)
            if stale is not None and now - reminder.due_at > stale:
                reminder.status = ReminderStatus.SKIPPED
                log.info("reminder %s (%s) was due at %s and is stale now; skipped", reminder.id, reminder.kind,
                         reminder.due_at.isoformat())
                self._count(reminder.kind, "skipped")
                return True
            handler = self.handlers.get(reminder.kind)
            try:
                async with session.begin_nested():
                    if handler is None:
                        raise LookupError(f"no handler for reminder kind {reminder.kind!r}")
                    await handler(session, reminder, now)
            except Exception as error:  # the claim stays; the work is retried later
                self._failed(reminder, error, now)
                self._count(reminder.kind, "failed")
            else:
                self._count(reminder.kind, "fired")
            wrote_outbox = bool(session.info.pop(OUTBOX_WRITTEN, False))
        if wrote_outbox and self.on_outbox is not None:
            self.on_outbox()
        return True

    def _count(self, kind: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.reminders.labels(kind, outcome).inc()

    @staticmethod
    def _failed(reminder: Reminder, error: Exception, now: datetime) -> None:
        reminder.last_error = f"{type(error).__name__}: {error}"[:500]
        if reminder.attempts >= MAX_ATTEMPTS:
            reminder.status = ReminderStatus.FAILED
            log.error("reminder %s (%s) failed %d times, given up: %s", reminder.id, reminder.kind,
                      reminder.attempts, reminder.last_error)
            return
        reminder.status = ReminderStatus.PENDING
        reminder.done_at = None
        reminder.due_at = now + timedelta(minutes=2 ** (reminder.attempts - 1))
        log.warning("reminder %s (%s) failed, retried at %s: %s", reminder.id, reminder.kind,
                    reminder.due_at.isoformat(), reminder.last_error, exc_info=error)

    async def idle(self) -> None:
        """Return once no sweep is running (a graceful shutdown lets the one in progress finish)."""
        async with self._lock:
            return

    async def pending(self) -> int:
        """Reminders not yet fired (for health and tests)."""
        async with self.session_factory() as session:
            rows = await session.scalars(select(Reminder.id).where(Reminder.status == ReminderStatus.PENDING))
            return len(rows.all())


class Scheduler:
    """APScheduler 3 driving the sweeper every `interval` seconds (an in-memory job store per process)."""

    def __init__(self, sweeper: ReminderSweeper, *, interval: float) -> None:
        self.sweeper = sweeper
        self.interval = interval
        self._scheduler: AsyncIOScheduler | None = None

    async def _tick(self) -> None:
        try:
            await self.sweeper.sweep()
        except Exception:  # keep ticking: the rows stay for the next round
            log.exception("reminder sweep failed")

    def start(self) -> None:
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None})
        scheduler.add_job(self._tick, IntervalTrigger(seconds=self.interval), id="reminders",
                          next_run_time=datetime.now().astimezone())  # noqa: DTZ005 - APScheduler's own tick time
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None

    async def stop_gracefully(self, timeout: float) -> None:
        """No new tick; the sweep in progress finishes (APScheduler's shutdown would cancel it)."""
        if self._scheduler is None:
            return
        self._scheduler.pause()
        try:
            await asyncio.wait_for(self.sweeper.idle(), timeout)
        except TimeoutError:
            log.warning("a reminder sweep was still running after %.0fs; its reminder is retried later", timeout)
        self.stop()

    @property
    def running(self) -> bool:
        return self._scheduler is not None
