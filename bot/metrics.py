"""Prometheus metrics of one Linli process, served at /metrics (bot/web.py).

Counters count what this process did; Prometheus sums them over the replicas. The
outbox gauges describe the shared outbox and are read from the database when
/metrics is scraped, so every replica reports the same backlog.

Each `App` has its own registry (not prometheus_client's global one), so several
apps in one test process never collide.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models import OutboxStatus, OutgoingMessage

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.updates = Counter("linli_updates", "Updates handled, by type", ["type"], registry=r)
        self.duplicates = Counter("linli_updates_duplicate", "Updates dropped because they were already handled",
                                  registry=r)
        self.handler_errors = Counter("linli_handler_errors", "Updates whose handling failed; transient means the "
                                      "database or Redis could not be reached", ["kind"], registry=r)
        self.sends = Counter("linli_outbox_sends", "Outbox messages by outcome: sent, retried, dead (dead-lettered) "
                             "or blocked (the person blocked the bot)", ["outcome"], registry=r)
        self.rate_limited = Counter("linli_telegram_429", "429 Too Many Requests answers from Telegram, by who "
                                    "got them: the outbox sender or a direct reply", ["source"], registry=r)
        self.reminders = Counter("linli_reminders", "Reminders claimed, by kind and outcome (fired, failed, "
                                 "skipped when stale)", ["kind", "outcome"], registry=r)
        self.backlog = Gauge("linli_outbox_backlog", "Outbox messages waiting to be sent (all processes)",
                             registry=r)
        self.oldest_pending = Gauge("linli_outbox_oldest_pending_seconds",
                                    "Age of the oldest message waiting to be sent, 0 when none", registry=r)
        self.dead_letters = Gauge("linli_outbox_dead", "Dead-lettered outbox messages kept for an operator",
                                  registry=r)

    async def refresh_outbox(self, session_factory: async_sessionmaker[AsyncSession], now: datetime) -> None:
        """Read the outbox gauges from the database (at scrape time)."""
        waiting = (OutboxStatus.PENDING, OutboxStatus.SENDING)
        async with session_factory() as session:
            count, oldest = (await session.execute(
                select(func.count(OutgoingMessage.id), func.min(OutgoingMessage.created_at))
                .where(OutgoingMessage.status.in_(waiting))
            )).one()
            dead = await session.scalar(
                select(func.count(OutgoingMessage.id)).where(OutgoingMessage.status == OutboxStatus.DEAD))
        self.backlog.set(count or 0)
        self.oldest_pending.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
        self.dead_letters.set(dead or 0)

    def render(self) -> bytes:
        return generate_latest(self.registry)
