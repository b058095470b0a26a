"""End-to-end tests of the Bot API emulator with a real aiogram Bot over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiohttp import web

from tgemu import ApiError, BotAPIEmulator, EmulatedUser
from tgemu.formatting import format_message_text, parse_html, parse_markdown_v2
from tgemu.media import make_png

pytestmark = pytest.mark.asyncio

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator() as emu:
        yield emu


class PlainHttpSession(AiohttpSession):
    """aiogram sleeps 250 ms on close to let TLS connections shut down; the
    emulator speaks plain HTTP, so skipping that keeps the suite fast."""

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def make_bot(emu: BotAPIEmulator, token: str | None = None) -> Bot:
    session = PlainHttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    return Bot(token or emu.token, session=session)


@pytest_asyncio.fixture
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    instance = make_bot(emulator)
    try:
        yield instance
    finally:
        await instance.session.close()


@contextlib.asynccontextmanager
async def polling(dp: Dispatcher, bot: Bot) -> AsyncIterator[None]:
    task = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    try:
        yield
    finally:
        await dp.stop_polling()
        await task


def kb(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=text, callback_data=data)] for text, data in buttons
        ]
    )


def echo_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message, command: CommandObject) -> None:
        await message.answer(f"欢迎, {message.from_user.first_name}! payload={command.args}")

    @router.message(Command("ping"))
    async def ping(message: Message) -> None:
        await message.answer(
            "<b>pong</b>", parse_mode="HTML", reply_markup=kb(("Like", "like"), ("Bye", "bye"))
        )

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    @router.callback_query(F.data == "like")
    async def like(query: CallbackQuery) -> None:
        await query.answer("Thanks!")
        await query.message.edit_text("liked ✅", reply_markup=kb(("Bye", "bye")))

    @router.callback_query()
    async def other(query: CallbackQuery) -> None:
        await query.answer(f"unknown: {query.data}", show_alert=True)

    return router


# ---------------------------------------------------------------------------
# Basics
# ---------------------------------------------------------------------------


async def test_get_me_and_auth(emulator: BotAPIEmulator, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.is_bot, me.first_name, me.username) == (123456, True, "邻里", "linli_bot")

    wrong = make_bot(emulator, "123456:WRONG")
    try:
        with pytest.raises(TelegramUnauthorizedError, match="Unauthorized"):
            await wrong.get_me()
    finally:
        await wrong.session.close()

    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emulator.base_url}/bot{emulator.token}/noSuchMethod") as resp:
            assert resp.status == 404
            assert await resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
        # Method names are case-insensitive; JSON bodies and GET queries work too.
        async with http.get(f"{emulator.base_url}/bot{emulator.token}/GETME") as resp:
            assert (await resp.json())["result"]["username"] == "linli_bot"
        user = emulator.user(7, "Ann")
        async with http.post(
            f"{emulator.base_url}/bot{emulator.token}/sendmessage",
            json={
                "chat_id": user.id,
                "text": "json body",
                "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
            },
        ) as resp:
            body = await resp.json()
            assert (
                body["ok"]
                and body["result"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "A"
            )
    assert [c.method for c in emulator.calls][-1] == "sendMessage"


async def test_get_updates_offset_limit_timeout(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(1001, "王秀兰")
    for text in ("one", "two", "three"):
        await user.send_text(text)

    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first] == ["one", "two"]
    assert first[1].update_id == first[0].update_id + 1
    # Not confirmed yet: returned again.
    assert [u.message.text for u in await bot.get_updates()] == ["one", "two", "three"]
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest] == ["three"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == []
    assert await bot.get_updates() == []  # confirmed updates are gone

    # Long poll wakes up as soon as an update arrives.
    started = time.monotonic()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    await user.send_text("wake up")
    woke = await poll
    assert [u.message.text for u in woke] == ["wake up"]
    assert time.monotonic() - started < 1.5

    # Negative offset keeps only the tail of the queue.
    for text in ("a", "b", "c"):
        await user.send_text(text)
    tail = await bot.get_updates(offset=-2)
    assert [u.message.text for u in tail] == ["b", "c"]
    assert [u.message.text for u in await bot.get_updates()] == ["b", "c"]
    await bot.get_updates(offset=tail[-1].update_id + 1)

    # allowed_updates is remembered and filters what gets queued.
    await bot.get_updates(allowed_updates=["callback_query"])
    await user.send_text("ignored")
    assert await bot.get_updates() == []
    await bot.get_updates(allowed_updates=[])
    await user.send_command("start", "ref42")
    (update,) = await bot.get_updates()
    assert update.message.text == "/start ref42"
    assert (
        update.message.entities[0].type == "bot_command" and update.message.entities[0].length == 6
    )

    # A timeout with nothing to deliver returns an empty list after ~timeout.
    await bot.get_updates(offset=update.update_id + 1)
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 2.0


async def test_second_poller_terminates_first(emulator: BotAPIEmulator, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(bot.get_updates(timeout=5))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first
    await emulator.user(5, "Bo").send_text("hi")
    assert [u.message.text for u in await second] == ["hi"]


# ---------------------------------------------------------------------------
# A real dispatcher
# ---------------------------------------------------------------------------


async def test_echo_router_with_polling(emulator: BotAPIEmulator, bot: Bot) -> None:
    dp = Dispatcher()
    dp.include_router(echo_router())
    user = emulator.user(1001, "王秀兰", username="wxl")

    async with polling(dp, bot):
        await user.send_command("start", "invite_7")
        welcome = await user.wait_for_message("欢迎")
        assert welcome.text == "欢迎, 王秀兰! payload=invite_7"

        await user.send_text("你好")
        assert (await user.wait_for_message()).text == "echo: 你好"

        await user.send_command("ping")
        pong = await user.wait_for_message("pong")
        assert pong.text == "pong" and pong.html == "<b>pong</b>"
        assert pong.entities == [{"type": "bold", "offset": 0, "length": 4}]
        assert pong.buttons == ["Like", "Bye"]

        query_id = await user.press("Like")
        answer = await user.wait_for_callback_answer(query_id)
        assert (answer.text, answer.show_alert, answer.data) == ("Thanks!", False, "like")
        edited = await user.wait_for_message("liked")
        assert edited is pong and edited.edited and edited.buttons == ["Bye"]

        # Stale data from an old keyboard still reaches the bot.
        stale = await user.press_data("like-v0", message_id=pong.message_id)
        assert (await user.wait_for_callback_answer(stale)).show_alert

        await emulator.settle(quiet=0.1)

    assert len(user.messages) == 3
    assert user.last_message is pong
    with pytest.raises(AssertionError, match=r"Visible buttons:\n  #6: \[Bye\]"):
        await user.press("Nope")
    with pytest.raises(AssertionError, match="echo: 你好"):
        await user.wait_for_message("never", timeout=0.05, after=0)

    transcript = emulator.format_transcript()
    assert "王秀兰 ▶ /start invite_7" in transcript
    assert "邻里 ◀ (edited) liked ✅" in transcript
    assert "王秀兰 ▶ [Like]" in transcript
    assert "    [Like]\n    [Bye]" in transcript
    assert "邻里 ◀ 💬 Thanks!" in transcript


# ---------------------------------------------------------------------------
# Message semantics and limits
# ---------------------------------------------------------------------------


async def test_edit_message_text(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    sent = await bot.send_message(user.id, "draft", reply_markup=kb(("OK", "ok")))
    assert sent.message_id == 1 and sent.chat.id == 42 and sent.from_user.is_bot

    edited = await bot.edit_message_text(
        "final", chat_id=user.id, message_id=sent.message_id, reply_markup=kb(("OK", "ok"))
    )
    assert edited.text == "final" and edited.edit_date is not None
    assert user.last_message.text == "final" and user.last_message.buttons == ["OK"]

    with pytest.raises(TelegramBadRequest) as not_modified:
        await bot.edit_message_text(
            "final", chat_id=user.id, message_id=sent.message_id, reply_markup=kb(("OK", "ok"))
        )
    assert not_modified.value.message == NOT_MODIFIED

    # Omitting reply_markup removes the keyboard, which is a modification.
    await bot.edit_message_text("final", chat_id=user.id, message_id=sent.message_id)
    assert user.last_message.buttons == []
    with pytest.raises(
        TelegramBadRequest, match=r"^Telegram server says - Bad Request: message is not modified"
    ):
        await bot.edit_message_reply_markup(chat_id=user.id, message_id=sent.message_id)

    with pytest.raises(TelegramBadRequest, match="Bad Request: message to edit not found"):
        await bot.edit_message_text("x", chat_id=user.id, message_id=999)
    with pytest.raises(TelegramBadRequest, match="Bad Request: chat not found"):
        await bot.send_message(777, "nobody")

    assert await bot.delete_message(user.id, sent.message_id)
    assert user.messages[0].deleted and user.last_message is None
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(user.id, sent.message_id)


async def test_text_limits_and_parsing(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")

    for text in ("", "   \n "):
        with pytest.raises(TelegramBadRequest, match="Bad Request: message text is empty"):
            await bot.send_message(user.id, text)
    with pytest.raises(TelegramBadRequest, match="Bad Request: message is too long"):
        await bot.send_message(user.id, "x" * 4097)
    assert len((await bot.send_message(user.id, "x" * 4096)).text) == 4096
    # Length is measured after HTML parsing and entity decoding.
    long_html = await bot.send_message(user.id, "<b>" + "&lt;" * 4096 + "</b>", parse_mode="HTML")
    assert long_html.text == "<" * 4096

    msg = await bot.send_message(
        user.id, '  <b>Hi</b> <a href="https://t.me">王</a> &amp; 😀<i>x</i>  ', parse_mode="HTML"
    )
    assert msg.text == "Hi 王 & 😀x"
    assert [(e.type, e.offset, e.length) for e in msg.entities] == [
        ("bold", 0, 2),
        ("text_link", 3, 1),
        ("italic", 9, 1),  # the emoji is two UTF-16 units
    ]
    with pytest.raises(
        TelegramBadRequest,
        match=r"can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    ):
        await bot.send_message(user.id, "<b>bold", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match=r"Unsupported start tag \"\" at byte offset 2"):
        await bot.send_message(user.id, "1 < 2", parse_mode="HTML")

    with pytest.raises(TelegramBadRequest, match="Bad Request: message caption is too long"):
        await bot.send_photo(
            user.id, BufferedInputFile(make_png(10, 10), "p.png"), caption="c" * 1025
        )

    ok_data = "邻" * 21  # 63 bytes
    await bot.send_message(user.id, "ok", reply_markup=kb(("A", ok_data)))
    with pytest.raises(TelegramBadRequest, match="Bad Request: BUTTON_DATA_INVALID"):
        await bot.send_message(user.id, "x", reply_markup=kb(("A", "d" * 65)))
    with pytest.raises(
        TelegramBadRequest, match="Text buttons are unallowed in the inline keyboard"
    ):
        await bot.send_message(
            user.id,
            "x",
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="A")]]),
        )

    with pytest.raises(TelegramBadRequest, match="Bad Request: BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Start", description="Go")])
    with pytest.raises(TelegramBadRequest, match="Bad Request: BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="x" * 33, description="Go")])
    with pytest.raises(TelegramBadRequest, match="Bad Request: command description is empty"):
        await bot.set_my_commands([BotCommand(command="start", description=" ")])

    # Nothing invalid was stored.
    assert [m.text for m in user.messages] == ["x" * 4096, "<" * 4096, "Hi 王 & 😀x", "ok"]


async def test_parsers_directly() -> None:
    html = parse_html(
        '<pre><code class="language-python">x = 1</code></pre><blockquote expandable>q</blockquote>'
    )
    assert html.text == "x = 1q"
    assert html.entities == [
        {"offset": 0, "length": 5, "type": "pre", "language": "python"},
        {"offset": 5, "length": 1, "type": "expandable_blockquote"},
    ]
    md = parse_markdown_v2(r"*bold* _it_ [link](https://e.x) \. ||s||")
    assert md.text == "bold it link . s"
    assert [e["type"] for e in md.entities] == ["bold", "italic", "text_link", "spoiler"]
    with pytest.raises(ApiError, match=r"Character '\.' is reserved"):
        format_message_text("1.5", parse_mode="MarkdownV2")
    with pytest.raises(
        ApiError, match=r'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'
    ):
        format_message_text("<b>x</i>", parse_mode="HTML")


async def test_inject_retry_after_and_blocked_user(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    emulator.inject_error("sendMessage", retry_after=3)
    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(user.id, "hi")
    assert flood.value.retry_after == 3
    assert "Original description: Too Many Requests: retry after 3" in flood.value.message
    await bot.send_message(user.id, "hi")  # only the next call failed

    emulator.inject_error("SENDMESSAGE", error_code=500, times=2)
    for _ in range(2):
        with pytest.raises(Exception, match="Internal Server Error"):
            await bot.send_message(user.id, "hi")

    user.block_bot()
    with pytest.raises(TelegramForbiddenError, match="Forbidden: bot was blocked by the user"):
        await bot.send_message(user.id, "are you there?")
    (update,) = [u for u in await bot.get_updates() if u.my_chat_member]
    assert update.my_chat_member.new_chat_member.status == "kicked"
    user.unblock_bot()
    await bot.send_message(user.id, "welcome back")

    stranger = emulator.user(43, "Never", started=False)
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation with a user"):
        await bot.send_message(stranger.id, "hello?")
    assert [f.error_code for f in emulator.failures] == [429, 500, 500, 403, 403]


async def test_answer_callback_query_once(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    sent = await bot.send_message(user.id, "pick", reply_markup=kb(("Yes please", "yes")))
    query_id = await user.press("Yes")  # substring match
    (update,) = await bot.get_updates()
    assert update.callback_query.id == query_id and update.callback_query.data == "yes"
    assert update.callback_query.message.message_id == sent.message_id
    assert await bot.answer_callback_query(query_id, text="done")
    with pytest.raises(
        TelegramBadRequest,
        match="query is too old and response timeout expired or query ID is invalid",
    ):
        await bot.answer_callback_query(query_id)
    assert user.callback_answers[0].text == "done"


# ---------------------------------------------------------------------------
# Files, keyboards, commands, webhook
# ---------------------------------------------------------------------------


async def test_send_document_and_photo(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    payload = "姓名,电话\n王秀兰,123\n".encode()
    sent = await bot.send_document(
        user.id,
        BufferedInputFile(payload, filename="report.csv"),
        caption="<i>月报</i>",
        parse_mode="HTML",
    )
    assert sent.document.file_name == "report.csv"
    assert sent.document.file_size == len(payload) and sent.document.mime_type == "text/csv"
    assert sent.caption == "月报" and sent.caption_entities[0].type == "italic"
    assert user.last_message.kind == "document"
    assert (
        user.last_message.document_bytes == payload
        and user.last_message.document_name == "report.csv"
    )

    file = await bot.get_file(sent.document.file_id)
    downloaded = await bot.download_file(file.file_path)
    assert downloaded.read() == payload

    again = await bot.send_document(user.id, sent.document.file_id)  # file_id re-use
    assert again.document.file_unique_id == sent.document.file_unique_id
    with pytest.raises(TelegramBadRequest, match="wrong file identifier/HTTP URL specified"):
        await bot.send_document(user.id, "no-such-file-id")

    photo = await bot.send_photo(user.id, BufferedInputFile(make_png(1000, 500), "p.png"))
    assert [(p.width, p.height) for p in photo.photo] == [
        (90, 45),
        (320, 160),
        (800, 400),
        (1000, 500),
    ]
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(user.id, BufferedInputFile(b"not an image", "p.png"))

    await user.send_document(b"%PDF-1.4", "form.pdf")
    (update,) = await bot.get_updates()
    user_file = await bot.get_file(update.message.document.file_id)
    assert (await bot.download_file(user_file.file_path)).read() == b"%PDF-1.4"


async def test_reply_keyboard_contact_and_location(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li", last_name="Wei")
    user.phone = "+8613912345678"
    markup = ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text="📱 分享手机号", request_contact=True)],
            [KeyboardButton(text="📍 位置", request_location=True), KeyboardButton(text="取消")],
        ],
        resize_keyboard=True,
    )
    await bot.send_message(user.id, "请分享", reply_markup=markup)
    assert user.reply_buttons == ["📱 分享手机号", "📍 位置", "取消"]

    await user.tap_reply("分享手机号")
    await user.tap_reply("位置")
    await user.tap_reply("取消")
    contact, location, cancel = [u.message for u in await bot.get_updates()]
    assert (contact.contact.phone_number, contact.contact.user_id, contact.contact.last_name) == (
        "+8613912345678",
        42,
        "Wei",
    )
    assert (location.location.latitude, location.location.longitude) == user.location
    assert cancel.text == "取消"

    await bot.send_message(user.id, "好的", reply_markup=ReplyKeyboardRemove())
    assert user.reply_keyboard is None
    with pytest.raises(AssertionError, match="no reply keyboard"):
        await user.tap_reply("取消")

    sent = await bot.send_location(user.id, latitude=31.2, longitude=121.5)
    assert sent.location.latitude == 31.2 and user.last_message.kind == "location"
    assert await bot.send_chat_action(user.id, "typing")
    assert user.chat_actions == ["typing"]


async def test_set_my_commands_per_language(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li", language_code="zh-hans")
    await bot.set_my_commands(
        [
            BotCommand(command="start", description="Start"),
            BotCommand(command="help", description="Help"),
        ]
    )
    await bot.set_my_commands([BotCommand(command="start", description="开始")], language_code="zh")
    await bot.set_my_commands(
        [BotCommand(command="admin", description="管理")],
        scope=BotCommandScopeChat(chat_id=user.id),
    )

    assert [c["command"] for c in emulator.commands()] == ["start", "help"]
    assert emulator.commands("zh") == [{"command": "start", "description": "开始"}]
    assert emulator.commands(scope_type="chat", chat_id=user.id)[0]["command"] == "admin"
    assert [c.description for c in await bot.get_my_commands(language_code="zh")] == ["开始"]
    assert user.visible_commands()[0]["command"] == "admin"

    await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=user.id))
    assert user.visible_commands() == [{"command": "start", "description": "开始"}]
    assert emulator.calls_to("setMyCommands")[1]["language_code"] == "zh"
    with pytest.raises(TelegramBadRequest, match="LANG_CODE_INVALID"):
        await bot.set_my_commands(
            [BotCommand(command="start", description="x")], language_code="zh-hans"
        )


async def test_webhook(emulator: BotAPIEmulator, bot: Bot) -> None:
    received: list[tuple[dict, str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        update = await request.json()
        received.append((update, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        message = update["message"]
        # A webhook reply: the method call is executed by the emulator.
        return web.json_response(
            {
                "method": "sendMessage",
                "chat_id": message["chat"]["id"],
                "text": f"got {message['text']}",
            }
        )

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        user = emulator.user(42, "Li")
        await user.send_text("queued before webhook")
        assert await bot.set_webhook(
            f"http://127.0.0.1:{port}/hook", secret_token="s3cr3t", drop_pending_updates=True
        )
        with pytest.raises(TelegramConflictError) as conflict:
            await bot.get_updates()
        assert conflict.value.message == (
            "Conflict: can't use getUpdates method while webhook is active; "
            "use deleteWebhook to delete the webhook first"
        )

        await user.send_text("hello hook")
        reply = await user.wait_for_message("got hello hook")
        assert reply.text == "got hello hook"
        assert [(u["message"]["text"], secret) for u, secret in received] == [
            ("hello hook", "s3cr3t")
        ]
        info = await bot.get_webhook_info()
        assert info.url.endswith("/hook") and info.pending_update_count == 0

        assert await bot.delete_webhook()
        await user.send_text("polling again")
        assert [u.message.text for u in await bot.get_updates()] == ["polling again"]
    finally:
        await runner.cleanup()


async def test_settle_and_wait_idle(emulator: BotAPIEmulator, bot: Bot) -> None:
    router = Router()

    @router.message()
    async def slow_reply(message: Message) -> None:
        await asyncio.sleep(0.05)
        await message.answer("step 1")
        await asyncio.sleep(0.05)
        await message.answer("step 2")

    dp = Dispatcher()
    dp.include_router(router)
    users: list[EmulatedUser] = [emulator.user(100 + i, f"U{i}") for i in range(3)]
    async with polling(dp, bot):
        for u in users:
            await u.send_text("go")
        await emulator.settle(quiet=0.15)
        assert all([m.text for m in u.messages] == ["step 1", "step 2"] for u in users)
        mark = users[0].mark()
        await users[0].send_text("again")
        await users[0].wait_idle(quiet=0.15)
        assert [m.text for m in users[0].messages if m.seq > mark] == ["step 1", "step 2"]

    # With nobody polling, the update is never fetched: settle must not pretend.
    await users[0].send_text("nobody polls")
    with pytest.raises(AssertionError, match="1 update\\(s\\) not yet fetched"):
        await emulator.settle(quiet=0.05, timeout=0.2)
