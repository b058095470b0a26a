"""End-to-end tests of the Bot API emulator with a real aiogram Bot over HTTP."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router
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
    ReplyParameters,
)
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from tgemu import ApiError, BotAPIEmulator, EmulatedUser
from tgemu.formatting import format_message_text, parse_html, parse_markdown_v2
from tgemu.media import image_size, make_png
from tgemu.tests.support import kb, make_bot, polling

pytestmark = pytest.mark.asyncio

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
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

    with pytest.raises(TelegramBadRequest, match="Bad Request: message text is empty"):
        await bot.send_message(user.id, "")
    with pytest.raises(TelegramBadRequest, match="Bad Request: text must be non-empty"):
        await bot.send_message(user.id, "   \n ")
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
    with pytest.raises(TelegramBadRequest, match="Bad Request: command length must not exceed 32"):
        await bot.set_my_commands([BotCommand(command="x" * 33, description="Go")])
    with pytest.raises(
        TelegramBadRequest, match="Bad Request: command description must be non-empty"
    ):
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
    with pytest.raises(TelegramBadRequest, match="Bad Request: invalid language code specified"):
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


# ---------------------------------------------------------------------------
# Per-user update ids
# ---------------------------------------------------------------------------


async def test_update_ids_per_user() -> None:
    async with BotAPIEmulator(first_update_id=500) as emulator:
        bot = make_bot(emulator)
        try:
            ann, bo = emulator.user(1, "Ann"), emulator.user(2, "Bo")
            assert ann.update_ids == [] and ann.last_update_id is None

            # Every user action queues updates and keeps its usual return value.
            message = await ann.send_text("hi")
            assert message["text"] == "hi" and message["from"]["id"] == ann.id
            assert (await bo.send_command("start"))["text"] == "/start"
            await bot.send_message(ann.id, "pick", reply_markup=kb(("Yes", "yes")))
            query_id = await ann.press("Yes")
            assert isinstance(query_id, str)
            assert "contact" in await ann.share_contact()
            assert "location" in await ann.send_location()
            assert "photo" in await ann.send_photo()
            assert ann.block_bot() is None
            await ann.send_text("back")  # unblocks first: my_chat_member, then the message

            updates = await bot.get_updates()

            def sender(update) -> int:  # noqa: ANN001
                event = update.message or update.callback_query or update.my_chat_member
                return event.from_user.id

            assert ann.update_ids == [u.update_id for u in updates if sender(u) == ann.id]
            assert bo.update_ids == [u.update_id for u in updates if sender(u) == bo.id]
            assert ann.update_ids[0] == 500 and len(ann.update_ids) == 8
            assert ann.last_update_id == ann.update_ids[-1] == updates[-1].update_id
            assert bo.last_update_id == 501

            # Updates the bot opted out of are never queued, so they get no id.
            await bot.get_updates(offset=updates[-1].update_id + 1, allowed_updates=["message"])
            before = ann.update_ids
            await ann.press("Yes")
            ann.block_bot()
            assert ann.update_ids == before
            await ann.send_text("still here")
            assert ann.last_update_id == (await bot.get_updates())[-1].update_id
        finally:
            await bot.session.close()


# ---------------------------------------------------------------------------
# Reply keyboards carrying aiogram-dialog payloads
# ---------------------------------------------------------------------------

# What aiogram-dialog appends to "跳过" for callback data "s1": two invisible
# characters per byte, from U+200C..U+2064, U+00AD and U+1D173..U+1D17A.
SKIP_PAYLOAD = "\U0001d176\u2062\U0001d174\u2062"
AGREE_PAYLOAD = "\u200d\U0001d173\U0001d17a\u00ad"


async def test_tap_reply_by_visible_label(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    markup = ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text="跳过" + SKIP_PAYLOAD)],
            [KeyboardButton(text="📞 同意" + AGREE_PAYLOAD), KeyboardButton(text="取消")],
        ]
    )
    await bot.send_message(user.id, "请选择", reply_markup=markup)
    assert user.reply_buttons == ["跳过", "📞 同意", "取消"]
    assert user.last_message.button_rows == [["跳过"], ["📞 同意", "取消"]]

    # The label finds the button; the message carries the full text, as on Telegram.
    assert (await user.tap_reply("跳过"))["text"] == "跳过" + SKIP_PAYLOAD
    assert (await user.tap_reply("同意"))["text"] == "📞 同意" + AGREE_PAYLOAD  # substring
    assert (await user.tap_reply("取消"))["text"] == "取消"
    assert (await user.tap_reply("跳过" + SKIP_PAYLOAD))["text"] == "跳过" + SKIP_PAYLOAD
    texts = [u.message.text for u in await bot.get_updates()]
    assert texts == [
        "跳过" + SKIP_PAYLOAD,
        "📞 同意" + AGREE_PAYLOAD,
        "取消",
        "跳过" + SKIP_PAYLOAD,
    ]

    with pytest.raises(AssertionError, match=r"keyboard: \[跳过\] \[📞 同意\] \[取消\]$"):
        await user.tap_reply("返回")
    transcript = emulator.format_transcript()
    assert "    ⌨ [📞 同意] [取消]" in transcript
    assert "Li ▶ 跳过\n" in transcript and SKIP_PAYLOAD not in transcript

    # Inline buttons carry their data in callback_data: labels stay exact.
    await bot.send_message(user.id, "inline", reply_markup=kb(("OK" + SKIP_PAYLOAD, "ok")))
    assert user.last_message.buttons == ["OK" + SKIP_PAYLOAD]


async def test_tap_reply_with_aiogram_dialog_keyboard(emulator: BotAPIEmulator, bot: Bot) -> None:
    dialog = pytest.importorskip("aiogram_dialog.utils")
    user = emulator.user(42, "Li")
    markup = ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=dialog.join_reply_callback("跳过", "skip:1"))],
            [KeyboardButton(text=dialog.join_reply_callback("返回", "back"))],
        ]
    )
    await bot.send_message(user.id, "请选择", reply_markup=markup)
    assert user.reply_buttons == ["跳过", "返回"]
    await user.tap_reply("跳过")
    (update,) = await bot.get_updates()
    assert dialog.split_reply_callback(update.message.text) == ("跳过", "skip:1")


# ---------------------------------------------------------------------------
# Replies, image formats, webhook replies
# ---------------------------------------------------------------------------


async def test_bot_replies_to_messages(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    question = await user.send_text("有人吗？")
    answer = await bot.send_message(
        user.id, "在的", reply_parameters=ReplyParameters(message_id=question["message_id"])
    )
    assert answer.reply_to_message.text == "有人吗？"
    follow_up = await bot.send_message(
        user.id, "还有吗", reply_parameters=ReplyParameters(message_id=answer.message_id)
    )
    assert follow_up.reply_to_message.text == "在的"
    assert follow_up.reply_to_message.reply_to_message is None  # replies are not nested

    with pytest.raises(TelegramBadRequest, match="Bad Request: message to be replied not found"):
        await bot.send_message(user.id, "x", reply_parameters=ReplyParameters(message_id=99))
    lenient = await bot.send_message(
        user.id,
        "x",
        reply_parameters=ReplyParameters(message_id=99, allow_sending_without_reply=True),
    )
    assert lenient.reply_to_message is None

    # A callback query shows the message with what it replies to.
    await bot.send_message(
        user.id,
        "确认？",
        reply_markup=kb(("是", "y")),
        reply_parameters=ReplyParameters(message_id=question["message_id"]),
    )
    await user.press("是")
    *_, update = await bot.get_updates()
    assert update.callback_query.message.reply_to_message.text == "有人吗？"


def _jpeg(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = (
        b"\xff\xc0\x00\x11\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big") + bytes(12)
    )
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


@pytest.mark.parametrize(
    ("data", "size"),
    [
        (make_png(3, 2), (3, 2)),
        (_jpeg(640, 480), (640, 480)),
        (b"GIF89a" + (5).to_bytes(2, "little") + (4).to_bytes(2, "little") + bytes(4), (5, 4)),
        (
            b"BM" + bytes(16) + (7).to_bytes(4, "little") + (-6).to_bytes(4, "little", signed=True),
            (7, 6),
        ),
        (
            b"RIFF\0\0\0\0WEBPVP8 "
            + bytes(10)
            + (9).to_bytes(2, "little")
            + (8).to_bytes(2, "little"),
            (9, 8),
        ),
        (
            b"RIFF\0\0\0\0WEBPVP8L"
            + bytes(5)
            + (((8 - 1) << 14) | (10 - 1)).to_bytes(4, "little")
            + bytes(5),
            (10, 8),
        ),
        (
            b"RIFF\0\0\0\0WEBPVP8X"
            + bytes(8)
            + (11).to_bytes(3, "little")
            + (12).to_bytes(3, "little"),
            (12, 13),
        ),
        (b"RIFF\0\0\0\0WEBPABCD" + bytes(16), None),  # a chunk type image_size does not read
        (b"not an image", None),
    ],
)
async def test_image_size(data: bytes, size: tuple[int, int] | None) -> None:
    assert image_size(data) == size


async def test_send_photo_checks_the_image(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    photo = await bot.send_photo(user.id, BufferedInputFile(_jpeg(3000, 1500), "p.jpg"))
    assert [(p.width, p.height) for p in photo.photo][-1] == (2560, 1280)
    assert user.last_message.describe() == f"#{photo.message_id}: '🖼'"
    for data, error in (
        (_jpeg(100, 2001), "PHOTO_INVALID_DIMENSIONS"),
        (_jpeg(9000, 2000), "PHOTO_INVALID_DIMENSIONS"),
        (b"", "file must be non-empty"),
    ):
        with pytest.raises(TelegramBadRequest, match=error):
            await bot.send_photo(user.id, BufferedInputFile(data, "p.jpg"))
    document = await bot.send_document(user.id, BufferedInputFile(b"x", "a.txt"))
    with pytest.raises(TelegramBadRequest, match="can't use file of type Document as Photo"):
        await bot.send_photo(user.id, document.document.file_id)
    with pytest.raises(TelegramBadRequest, match="does not fetch files by HTTP URL"):
        await bot.send_photo(user.id, "https://example.com/p.jpg")
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_webhook_multipart_reply_and_retries(emulator: BotAPIEmulator, bot: Bot) -> None:
    router = Router()

    @router.message()
    async def reply_with_file(message: Message):  # noqa: ANN202 - a webhook reply
        return message.answer_document(
            BufferedInputFile(f"收到: {message.text}".encode(), "receipt.txt"), caption="回执"
        )

    dp = Dispatcher()
    dp.include_router(router)
    hits: list[int] = []

    async def flaky(request: web.Request) -> web.StreamResponse:
        hits.append(1)
        if len(hits) == 1:
            return web.Response(status=500)
        return await handler.handle(request)

    handler = SimpleRequestHandler(dp, bot, handle_in_background=False, secret_token="s3cr3t")
    app = web.Application()
    app.router.add_post("/hook", flaky)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        user = emulator.user(42, "Li")
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cr3t")
        await user.send_text("你好")
        receipt = await user.wait_for_message(lambda m: m.kind == "document")
        assert receipt.document_bytes == "收到: 你好".encode() and receipt.text == "回执"
        assert len(hits) == 2  # the 500 was retried
        info = await bot.get_webhook_info()
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )
        assert info.pending_update_count == 0

        with pytest.raises(TelegramBadRequest, match="secret token contains unallowed characters"):
            await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="no spaces")
        with pytest.raises(TelegramBadRequest, match="An HTTPS URL must be provided"):
            await bot.set_webhook("ftp://example.com/hook")
        assert await bot.set_webhook("")  # an empty URL removes the webhook
        assert (await bot.get_webhook_info()).url == ""
    finally:
        await runner.cleanup()


async def test_voice_messages_video_notes_and_albums_go_both_ways(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(43, "Wang")
    voice = await user.send_voice(12, caption="买菜")
    note = await user.send_video_note(7)
    album = [await user.send_photo(media_group_id="a1") for _ in range(2)]
    updates = await bot.get_updates()
    messages = [u.message for u in updates]
    assert messages[0].voice.duration == 12 and messages[0].caption == "买菜"
    assert messages[1].video_note.duration == 7 and messages[1].video_note.length == 384
    assert [m.media_group_id for m in messages[2:]] == ["a1", "a1"]
    assert voice["voice"]["file_id"] != note["video_note"]["file_id"] and len(album) == 2

    # The bot re-sends what it received by file_id, as it shows a resident's media to staff.
    sent = await bot.send_voice(user.id, messages[0].voice.file_id, caption="from the resident")
    assert sent.voice.file_unique_id == messages[0].voice.file_unique_id and sent.voice.duration == 12
    round_video = await bot.send_video_note(user.id, messages[1].video_note.file_id)
    assert round_video.video_note.duration == 7
    assert user.last_message.kind == "video_note"
    with pytest.raises(TelegramBadRequest, match="can't use file of type Voice as Video_Note"):
        await bot.send_video_note(user.id, messages[0].voice.file_id)
    with pytest.raises(ValueError):
        await user.send_voice(0)


async def test_an_album_of_photos_by_file_id(emulator: BotAPIEmulator, bot: Bot) -> None:
    from aiogram.types import InputMediaPhoto

    user = emulator.user(44, "Zhao")
    for _ in range(3):
        await user.send_photo()
    photos = [u.message.photo[-1].file_id for u in await bot.get_updates()]
    sent = await bot.send_media_group(
        user.id, [InputMediaPhoto(media=photos[0], caption="<b>Request</b> 1", parse_mode="HTML"),
                  *(InputMediaPhoto(media=p) for p in photos[1:])]
    )
    assert len(sent) == 3 and len({m.media_group_id for m in sent}) == 1 and sent[0].media_group_id
    assert sent[0].caption == "Request 1" and sent[1].caption is None
    assert [m.kind for m in user.messages[-3:]] == ["photo"] * 3
    with pytest.raises(TelegramBadRequest, match="2-10 items"):
        await bot.send_media_group(user.id, [InputMediaPhoto(media=photos[0])])
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_media_group(user.id, [InputMediaPhoto(media="nope"), InputMediaPhoto(media=photos[1])])
