"""No filter runs in a worker thread.

aiogram runs a filter that is not a coroutine (a plain function, a magic ``F`` expression)
with ``asyncio.to_thread``: a thread hop per update, and under load a queue for the default
executor's few threads. Every filter of every router and every dialog input must be awaitable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiogram import Router
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.enums import ContentType
from aiogram.types import Chat, Message
from aiogram_dialog import Dialog
from aiogram_dialog.widgets.input.combined import CombinedInput

from handlers import ROUTERS
from handlers.widgets import MessageInput


def _routers(router: Router) -> Iterator[Router]:
    yield router
    for child in router.sub_routers:
        yield from _routers(child)


def _router_filters(router: Router) -> Iterator[tuple[str, FilterObject]]:
    for name, observer in router.observers.items():
        for event_filter in observer._handler.filters or []:  # noqa: SLF001 - router-level filters
            yield f"{router.name}.{name} (router)", event_filter
        for handler in observer.handlers:
            for event_filter in handler.filters or []:
                yield f"{router.name}.{name} {handler.callback.__name__}", event_filter


def _inputs(widget: Any) -> Iterator[Any]:
    if isinstance(widget, CombinedInput):
        for child in widget.inputs:
            yield from _inputs(child)
    elif widget is not None:
        yield widget


def _dialog_filters(dialog: Dialog) -> Iterator[tuple[str, FilterObject]]:
    for state, window in dialog.windows.items():
        for widget in _inputs(window.on_message):
            for event_filter in getattr(widget, "filters", []):
                yield f"{state} input", event_filter


def _all_filters() -> list[tuple[str, FilterObject]]:
    found: list[tuple[str, FilterObject]] = []
    for top in ROUTERS:
        for router in _routers(top):
            found.extend(_router_filters(router))
            if isinstance(router, Dialog):
                found.extend(_dialog_filters(router))
    return found


def test_every_filter_of_every_router_and_dialog_input_runs_on_the_event_loop() -> None:
    found = _all_filters()
    assert len(found) > 50  # the walk reaches the handlers and the dialogs' inputs
    in_thread = [where for where, event_filter in found if not event_filter.awaitable]
    assert in_thread == []


def _message(**content: Any) -> Message:
    return Message(message_id=1, date=0, chat=Chat(id=1, type="private"), **content)


@pytest.mark.parametrize("content_types", [[ContentType.TEXT], ContentType.TEXT])
async def test_message_input_checks_the_content_type_as_the_library_does(content_types: Any) -> None:
    widget = MessageInput(None, content_types=content_types)
    assert all(event_filter.awaitable for event_filter in widget.filters)
    check = widget.filters[0]
    assert await check.call(_message(text="你好")) is True
    assert await check.call(_message(location={"latitude": 37.87, "longitude": 112.55})) is False


def test_message_input_of_any_content_adds_no_check() -> None:
    assert MessageInput(None).filters == []


# -- the gate in front of the command routers ---------------------------------------------------------


def _query(data: str | None) -> Any:
    from aiogram.types import CallbackQuery, User

    return CallbackQuery(id="1", from_user=User(id=1, is_bot=False, first_name="王"), chat_instance="1", data=data)


async def test_buttons_of_every_factory_reach_the_command_routers_and_dialog_buttons_do_not() -> None:
    from handlers.callbacks import PREFIXES, CaseCB, LanguageCB, MenuCB
    from handlers.filters import one_of_our_buttons

    assert {"menu", "rq", "case", "lang", "task", "asg", "rec", "exp", "vol"} <= PREFIXES
    for data in (MenuCB(action="new").pack(), CaseCB(action="accept", id=7).pack(), LanguageCB(code="en").pack(),
                 "menu:forged", "case:accept:not-a-number"):
        assert await one_of_our_buttons(_query(data)) is True, data
    # aiogram-dialog's buttons: an intent id and the widget's id, joined by \x1d.
    for data in ("tbGDY\x1dlang:zh_CN", "kFJFW8\x1dconfirm", "", None, "menus:new"):
        assert await one_of_our_buttons(_query(data)) is False, data


@pytest.mark.parametrize(("content", "expected"), [
    ({"text": "/help"}, True),
    ({"text": "  /my"}, True),  # aiogram's Command filter splits on whitespace first, so this is /my too
    ({"caption": "/start", "photo": [{"file_id": "p", "file_unique_id": "p", "width": 1, "height": 1}]}, True),
    ({"text": "上周摔了一跤 /help"}, False),
    ({"text": "跳过"}, False),
    ({"location": {"latitude": 37.87, "longitude": 112.55}}, False),
])
async def test_only_what_may_be_a_command_reaches_the_command_routers(content: dict[str, Any], expected: bool) -> None:
    from handlers.filters import looks_like_a_command

    assert await looks_like_a_command(_message(**content)) is expected


def test_every_button_handler_behind_the_gate_uses_a_factory_the_gate_knows() -> None:
    """A factory defined outside handlers/callbacks.py would be gated off without a word."""
    from aiogram.filters.callback_data import CallbackQueryFilter

    from handlers import commands
    from handlers.callbacks import PREFIXES

    factories = [
        event_filter.callback.callback_data
        for router in _routers(commands)
        for handler in router.callback_query.handlers
        for event_filter in handler.filters or []
        if isinstance(event_filter.callback, CallbackQueryFilter)
    ]
    assert len(factories) > 30
    assert {factory.__prefix__ for factory in factories} <= PREFIXES
