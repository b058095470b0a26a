"""The transaction boundary, the reply retry middleware and the clock, without Telegram."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter, TelegramServerError
from aiogram.methods import GetUpdates, SendMessage

from bot.clock import ManualClock, SystemClock
from bot.delivery.retry import RetryRequestMiddleware
from bot.transaction import CommitBeforeSend, NotSaved, update_scope
from models import Community


class Calls:
    def __init__(self, *failures: Exception) -> None:
        self.failures = list(failures)
        self.count = 0

    async def __call__(self, bot, method):  # noqa: ANN001, ANN204
        self.count += 1
        if self.failures:
            raise self.failures.pop(0)
        return "ok"


def _middleware() -> tuple[RetryRequestMiddleware, list[float]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    return RetryRequestMiddleware(attempts=4, max_retry_after=30, sleep=sleep), slept


METHOD = SendMessage(chat_id=1, text="hi")


async def test_a_429_on_a_reply_waits_retry_after_and_tries_again(session):
    retry, slept = _middleware()
    calls = Calls(TelegramRetryAfter(METHOD, "flood", retry_after=3))
    with update_scope(session, on_outbox=lambda: None):
        assert await retry(calls, None, METHOD) == "ok"
    assert calls.count == 2 and slept == [3.0]


async def test_server_errors_back_off_and_give_up_after_the_last_attempt(session):
    retry, slept = _middleware()
    calls = Calls(*(TelegramServerError(METHOD, "Bad Gateway") for _ in range(4)))
    with update_scope(session, on_outbox=lambda: None), pytest.raises(TelegramServerError):
        await retry(calls, None, METHOD)
    assert calls.count == 4 and len(slept) == 3
    assert slept == sorted(slept) and slept[0] < slept[-1] <= 8 * 1.1  # bounded exponential backoff


async def test_a_long_flood_wait_is_not_waited_out_by_a_person(session):
    retry, slept = _middleware()
    calls = Calls(TelegramRetryAfter(METHOD, "flood", retry_after=300))
    with update_scope(session, on_outbox=lambda: None), pytest.raises(TelegramRetryAfter):
        await retry(calls, None, METHOD)
    assert slept == []


async def test_bad_requests_and_calls_outside_an_update_are_not_retried(session):
    retry, slept = _middleware()
    calls = Calls(TelegramBadRequest(METHOD, "message is not modified"))
    with update_scope(session, on_outbox=lambda: None), pytest.raises(TelegramBadRequest):
        await retry(calls, None, METHOD)
    # The outbox sender reschedules by itself; the polling loop has its own backoff.
    outside = Calls(TelegramRetryAfter(METHOD, "flood", retry_after=1))
    with pytest.raises(TelegramRetryAfter):
        await retry(outside, None, METHOD)
    polling = Calls(TelegramServerError(METHOD, "Bad Gateway"))
    with update_scope(session, on_outbox=lambda: None), pytest.raises(TelegramServerError):
        await retry(polling, None, GetUpdates())
    assert slept == []


async def test_a_telegram_call_commits_the_updates_work_first(session_factory):
    woken: list[bool] = []
    seen_open: list[bool] = []

    async def make_request(bot, method):  # noqa: ANN001, ANN202
        seen_open.append(session.in_transaction())
        return "ok"

    async with session_factory() as session:
        with update_scope(session, on_outbox=lambda: woken.append(True)):
            await session.get(Community, 1)
            session.info["outbox_written"] = True
            assert session.in_transaction()
            await CommitBeforeSend()(make_request, None, METHOD)
    # No transaction (and so no connection) was open during the call; notices were woken.
    assert seen_open == [False] and woken == [True]


async def test_a_failed_commit_stops_the_reply(session_factory):
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    def fail(_session) -> None:  # noqa: ANN001
        raise ConnectionError("gone")

    calls = Calls()
    async with session_factory() as session:
        event.listen(session.sync_session, "before_commit", fail)
        with update_scope(session, on_outbox=lambda: None):
            await session.get(Community, 1)
            with pytest.raises(NotSaved):
                await CommitBeforeSend()(calls, None, METHOD)
        assert not session.in_transaction()
    assert calls.count == 0
    assert Session  # the listener was on this session only


def test_the_manual_clock_stands_still_until_moved():
    start = datetime(2026, 11, 29, 7, 0, tzinfo=UTC)
    clock = ManualClock(start)
    assert clock.now() == start == clock.now()
    assert clock.advance(minutes=30) == start + timedelta(minutes=30)
    clock.set(start + timedelta(days=1))
    assert clock.now() == start + timedelta(days=1)
    with pytest.raises(ValueError):
        clock.set(datetime(2026, 1, 1))  # naive
    assert SystemClock().now().tzinfo is UTC


async def test_relationships_that_are_not_loaded_explicitly_raise(session_factory, world):
    """A missing eager load fails here, in tests, not as a MissingGreenlet at run time."""
    from sqlalchemy import select
    from sqlalchemy.exc import InvalidRequestError

    from models import SocialWorker

    async with session_factory() as session:
        worker = await session.scalar(select(SocialWorker).limit(1))
        with pytest.raises(InvalidRequestError, match="lazy='raise'"):
            _ = worker.organization
        await session.rollback()


def test_response_models_are_built_once_and_kept():
    import gc

    from aiogram.methods import SendMessage as Send
    from aiogram.methods.base import Response

    from bot.perf import pin_response_models

    assert pin_response_models() > 20
    first = Response[Send.__returning__]
    gc.collect()
    # After a collection the same class comes back: pydantic did not rebuild it.
    assert Response[Send.__returning__] is first


async def test_a_message_that_may_have_arrived_is_not_sent_again(session):
    from aiogram.exceptions import TelegramNetworkError
    from aiogram.methods import EditMessageText

    retry, slept = _middleware()
    # A timed-out sendMessage may have reached Telegram: repeating it could show it twice.
    timed_out = Calls(TelegramNetworkError(METHOD, "Request timeout error"))
    with update_scope(session, on_outbox=lambda: None), pytest.raises(TelegramNetworkError):
        await retry(timed_out, None, METHOD)
    assert timed_out.count == 1
    # A connection that was never made is safe to try again, and so is any edit.
    import aiohttp
    from aiohttp.client_reqrep import ConnectionKey

    never_left = TelegramNetworkError(METHOD, "ClientConnectorDNSError: Cannot connect to host")
    key = ConnectionKey("api.telegram.org", 443, True, True, None, None, None)
    never_left.__cause__ = aiohttp.ClientConnectorError(key, OSError("no route"))
    refused = Calls(never_left)
    edit = EditMessageText(chat_id=1, message_id=2, text="x")
    timed_out_edit = Calls(TelegramNetworkError(edit, "Request timeout error"))
    with update_scope(session, on_outbox=lambda: None):
        assert await retry(refused, None, METHOD) == "ok"
        assert await retry(timed_out_edit, None, edit) == "ok"
    assert refused.count == 2 and timed_out_edit.count == 2


async def test_all_attempts_stay_within_one_time_budget(session):
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    retry = RetryRequestMiddleware(attempts=10, max_retry_after=100, budget=5, sleep=sleep)
    calls = Calls(*(TelegramRetryAfter(METHOD, "flood", retry_after=2) for _ in range(5)))
    with update_scope(session, on_outbox=lambda: None), pytest.raises(Exception, match="gave up"):
        await retry(calls, None, METHOD)
    assert sum(slept) <= 5


def test_freezing_start_up_objects_keeps_them_out_of_collections():
    import gc

    from bot.perf import freeze_startup_objects

    before = gc.get_threshold()
    try:
        freeze_startup_objects()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == 5_000
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_no_router_filter_or_handler_runs_in_a_worker_thread(app):
    # aiogram runs a plain function (or an F expression) in a thread of its own, per update.
    def routers(router):
        yield router
        for sub in router.sub_routers:
            yield from routers(sub)

    in_threads = []
    for router in routers(app.dispatcher):
        for name, observer in router.observers.items():
            if name == "aiogd_update":  # aiogram-dialog's own background updates, not Telegram's
                continue
            for handler in observer.handlers:
                in_threads += [f"{router.name} {name}: {obj.callback!r}"
                               for obj in (handler, *(handler.filters or ())) if not obj.awaitable]
            in_threads += [f"{router.name} {name} filter: {obj.callback!r}"
                           for obj in observer._handler.filters or () if not obj.awaitable]  # noqa: SLF001
    assert in_threads == []
