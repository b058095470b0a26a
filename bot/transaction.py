"""Where an update's transaction ends: before the first Telegram call.

Two rules hold for every flow, old and new:

* nothing is reported before it is committed: a reply that says "received",
  "cancelled" or "saved" goes out only after the commit succeeded;
* no database connection (nor, on SQLite, the one write slot) is held while
  the bot waits for Telegram.

Instead of trusting each handler to remember, the update's session is put in a
context variable by `DbSessionMiddleware`, and `CommitBeforeSend`, a request
middleware on the Bot's HTTP session, commits whatever the update has done so
far before any Bot API call made while handling it. If that commit fails, the
call is not made: `NotSaved` propagates, the update rolls back, aiogram-dialog
keeps the dialog as it was, and the error handler says "not saved, please try
again". Work done after a reply starts a new transaction, ended by the next
call or by the middleware at the end of the update.

Handlers therefore do their work first and talk afterwards, and a Telegram call
must not sit in the middle of work that has to be all-or-nothing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

if TYPE_CHECKING:
    from aiogram import Bot

log = logging.getLogger(__name__)

_update_session: ContextVar[AsyncSession | None] = ContextVar("linli_update_session", default=None)

COMMITTED = "linli.committed"  # session.info: something of this update is saved
WROTE = "linli.wrote"  # session.info: the open transaction changed rows
OUTBOX_WRITTEN = "outbox_written"  # session.info: notices were written (set by services.notices)
ON_OUTBOX = "linli.on_outbox"  # session.info: what to call once notices are committed


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, _flush: UOWTransaction) -> None:
    session.info[WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _executed(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[WROTE] = True


class NotSaved(Exception):
    """The commit before a reply failed; nothing of the update's open work was saved."""


@contextlib.contextmanager
def update_scope(session: AsyncSession, on_outbox: Callable[[], None]) -> Iterator[None]:
    """Make `session` the one whose work a Telegram call commits first."""
    session.info[ON_OUTBOX] = on_outbox
    token = _update_session.set(session)
    try:
        yield
    finally:
        _update_session.reset(token)


def current_session() -> AsyncSession | None:
    return _update_session.get()


async def end_transaction(session: AsyncSession) -> None:
    """Commit the session's open transaction, if any; `NotSaved` when that fails."""
    if not session.in_transaction():
        return
    try:
        await session.commit()
    except Exception as exc:
        log.error("commit failed: %s: %s", type(exc).__name__, exc)
        session.info.pop(WROTE, None)
        with contextlib.suppress(Exception):
            await session.rollback()
        raise NotSaved from exc
    if session.info.pop(WROTE, False):
        session.info[COMMITTED] = True
    if session.info.pop(OUTBOX_WRITTEN, False):
        wake: Callable[[], None] | None = session.info.get(ON_OUTBOX)
        if wake is not None:
            wake()


class CommitBeforeSend(BaseRequestMiddleware):
    """Commit the current update's work before any Bot API call made while handling it."""

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        session = _update_session.get()
        if session is not None:
            await end_transaction(session)
        return await make_request(bot, method)


def committed(data: dict[str, Any]) -> bool:
    """Whether the update whose middleware data this is changed anything before failing."""
    session: AsyncSession | None = data.get("session")
    return bool(session is not None and session.info.get(COMMITTED))
