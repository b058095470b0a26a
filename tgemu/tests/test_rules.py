"""The Telegram rules the emulator enforces, one focused test each.

Error texts follow the Bot API server (tdlib/telegram-bot-api) and tdlib
(td/telegram/MessageEntity.cpp, BotCommand.cpp, BotCommandScope.cpp): a bot
that trips one of these in a test would trip it on Telegram too.
"""

from __future__ import annotations

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError, TelegramRetryAfter
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatAdministrators,
    BotCommandScopeChatMember,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)
from aiogram.utils.formatting import Bold, Code, Text

from tgemu import ApiError, BotAPIEmulator
from tgemu.media import make_png
from tgemu.tests.support import kb

pytestmark = pytest.mark.asyncio

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


async def call_error(emulator: BotAPIEmulator, method: str, **params: object) -> str:
    """The description of the error ``method`` fails with."""
    with pytest.raises(ApiError) as failure:
        await emulator.call(method, **params)
    return failure.value.description


# ---------------------------------------------------------------------------
# Entity parsing
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("王 < 2", 'Unsupported start tag "" at byte offset 4'),  # offsets count UTF-8 bytes
        ("<x>y</x>", 'Unsupported start tag "x" at byte offset 0'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("<b ", 'Empty attribute name in the tag "b" at byte offset 0'),
        ('<a ="x">y</a>', 'Empty attribute name in the tag "a" at byte offset 0'),
        ("<a href", 'Unclosed start tag "a" at byte offset 0'),
        ('<a href="x"', "Unclosed start tag at byte offset 0"),
        ("<a href=x/>y</a>", "Unexpected end of name token at byte offset 8"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ('<tg-emoji emoji-id="x">👍</tg-emoji>', "Invalid custom emoji identifier specified"),
        ('<tg-time unix="1700000000" format="x">now</tg-time>', "Invalid date format used"),
        (
            "&#xd83d;",
            "Text contains invalid Unicode characters after decoding HTML entities, "
            "check for unmatched surrogate code units",
        ),
    ],
)
async def test_html_parse_errors(emulator: BotAPIEmulator, source: str, error: str) -> None:
    user = emulator.user(42, "Li")
    description = await call_error(
        emulator, "sendMessage", chat_id=user.id, text=source, parse_mode="HTML"
    )
    assert description == f"Bad Request: can't parse entities: {error}"


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("1.5", "Character '.' is reserved and must be escaped with the preceding '\\'"),
        ("a > b", "Character '>' is reserved and must be escaped with the preceding '\\'"),
        ("a|b", "Character '|' is reserved and must be escaped with the preceding '\\'"),
        ("*bold", "Can't find end of Bold entity at byte offset 0"),
        ("x _it", "Can't find end of Italic entity at byte offset 2"),
        ("王__u", "Can't find end of Underline entity at byte offset 3"),
        ("||spoiler", "Can't find end of Spoiler entity at byte offset 0"),
        ("```\ncode", "Can't find end of Pre entity at byte offset 0"),
        ("[link](https://t.me", "Can't find end of a URL at byte offset 7"),
        (">*quoted\nbold*", "Can't find end of Bold entity at byte offset 1"),
        ("![👍]", "The entity must contain a tg://emoji or tg://time URL"),
        ("![👍](https://t.me)", "Invalid tg://emoji or tg://time URL specified"),
    ],
)
async def test_markdown_v2_parse_errors(emulator: BotAPIEmulator, source: str, error: str) -> None:
    user = emulator.user(42, "Li")
    description = await call_error(
        emulator, "sendMessage", chat_id=user.id, text=source, parse_mode="MarkdownV2"
    )
    assert description == f"Bad Request: can't parse entities: {error}"


async def test_parse_errors_reach_aiogram_and_nothing_is_sent(
    emulator: BotAPIEmulator, bot: Bot
) -> None:
    user = emulator.user(42, "Li")
    # The usual production bug: an unescaped user-provided name in HTML.
    with pytest.raises(TelegramBadRequest, match=r"can't parse entities: Unsupported start tag"):
        await bot.send_message(user.id, "来自 <王秀兰> 的求助", parse_mode="HTML")
    with pytest.raises(TelegramBadRequest, match=r"Character '!' is reserved"):
        await bot.send_message(user.id, "谢谢!", parse_mode="MarkdownV2")
    sent = await bot.send_message(user.id, "draft")
    with pytest.raises(TelegramBadRequest, match="can't parse entities: Can't find end tag"):
        await bot.edit_message_text(
            "<i>x", chat_id=user.id, message_id=sent.message_id, parse_mode="HTML"
        )
    with pytest.raises(TelegramBadRequest, match="Bad Request: unsupported parse_mode"):
        await bot.send_message(user.id, "x", parse_mode="BBCode")
    assert [m.text for m in user.messages] == ["draft"]


@pytest.mark.parametrize(
    ("mode", "source", "text", "entities"),
    [
        (
            "HTML",
            '<b>b</b><strong>s</strong> <a href="https://t.me/x?a=1&amp;b=2">链接</a> &lt;&#65;&#x42&quot;',
            'bs 链接 <AB"',
            [
                {"type": "bold", "offset": 0, "length": 1},
                {"type": "bold", "offset": 1, "length": 1},
                {"type": "text_link", "offset": 3, "length": 2, "url": "https://t.me/x?a=1&b=2"},
            ],
        ),
        (
            "HTML",
            '<span class="tg-spoiler">s</span><code class="language-py">c</code><a>https://t.me</a>',
            "schttps://t.me",
            [
                {"type": "spoiler", "offset": 0, "length": 1},
                {"type": "code", "offset": 1, "length": 1},  # only pre keeps a language
                {"type": "text_link", "offset": 2, "length": 12, "url": "https://t.me"},
            ],
        ),
        (
            "MarkdownV2",
            "*b _i_* __u__ ~s~ `c\\`` [l](https://t.me/\\)) ![👍](tg://emoji?id=5368324170671202286)",
            "b i u s c` l 👍",
            [
                {"type": "bold", "offset": 0, "length": 3},
                {"type": "italic", "offset": 2, "length": 1},
                {"type": "underline", "offset": 4, "length": 1},
                {"type": "strikethrough", "offset": 6, "length": 1},
                {"type": "code", "offset": 8, "length": 2},
                {"type": "text_link", "offset": 11, "length": 1, "url": "https://t.me/)"},
                {
                    "type": "custom_emoji",
                    "offset": 13,
                    "length": 2,
                    "custom_emoji_id": "5368324170671202286",
                },
            ],
        ),
        (
            "MarkdownV2",
            "```python\nx = 1\n```\n>quoted\n>lines\n**>hidden\n>more||",
            "x = 1\n\nquoted\nlines\nhidden\nmore",
            [
                {"type": "pre", "offset": 0, "length": 6, "language": "python"},
                {"type": "blockquote", "offset": 7, "length": 13},
                {"type": "expandable_blockquote", "offset": 20, "length": 11},
            ],
        ),
    ],
)
async def test_entities_parsed(
    emulator: BotAPIEmulator, mode: str, source: str, text: str, entities: list[dict]
) -> None:
    user = emulator.user(42, "Li")
    result = await emulator.call("sendMessage", chat_id=user.id, text=source, parse_mode=mode)
    assert result["text"] == text
    assert sorted(result["entities"], key=lambda e: (e["offset"], e["type"])) == sorted(
        entities, key=lambda e: (e["offset"], e["type"])
    )


async def test_explicit_entities(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    # aiogram's formatting helpers send text plus entities instead of a parse_mode.
    content = Text(" ", Bold("王秀兰"), ": ", Code("#A-17"), " ")
    sent = await bot.send_message(user.id, **content.as_kwargs())
    assert sent.text == "王秀兰: #A-17"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 3), ("code", 5, 5)]

    entities = [
        {"type": "italic", "offset": 0, "length": 0},  # empty: dropped
        {"type": "hashtag", "offset": 0, "length": 1},  # Telegram detects these itself
        {"type": "pre", "offset": "0", "length": 9, "language": "py"},  # clipped to the text
    ]
    result = await emulator.call("sendMessage", chat_id=user.id, text="x=1", entities=entities)
    assert result["entities"] == [{"type": "pre", "offset": 0, "length": 3, "language": "py"}]
    assert "entities" not in await emulator.call(
        "sendMessage", chat_id=user.id, text="x", entities="not JSON"
    )
    for entity, error in [
        ("bold", "expected an Object"),
        ({"type": "bold", "length": 1}, 'Can\'t find field "offset"'),
        ({"type": "bold", "offset": "one", "length": 1}, 'Field "offset" must be a valid Number'),
        (
            {"type": "bold", "offset": 0, "length": 1, "url": 1} | {"type": ""},
            "Type is not specified",
        ),
        ({"type": "shout", "offset": 0, "length": 1}, "Unsupported type specified"),
        ({"type": "text_link", "offset": 0, "length": 1}, 'Can\'t find field "url"'),
    ]:
        description = await call_error(
            emulator, "sendMessage", chat_id=user.id, text="x", entities=[entity]
        )
        assert description == f"Bad Request: can't parse MessageEntity: {error}"
    assert await call_error(
        emulator,
        "sendMessage",
        chat_id=user.id,
        text="x",
        entities=[{"type": "bold", "offset": -1, "length": 1}],
    ) == ("Bad Request: receive an entity with incorrect offset -1")


async def test_legacy_markdown_is_refused_plainly(emulator: BotAPIEmulator) -> None:
    user = emulator.user(42, "Li")
    description = await call_error(
        emulator, "sendMessage", chat_id=user.id, text="*x*", parse_mode="Markdown"
    )
    assert "does not emulate legacy parse_mode Markdown" in description


# ---------------------------------------------------------------------------
# "message is not modified"
# ---------------------------------------------------------------------------


async def test_message_is_not_modified(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    sent = await bot.send_message(
        user.id, "<b>状态</b>: 待处理", parse_mode="HTML", reply_markup=kb(("刷新", "r"))
    )
    ids = {"chat_id": user.id, "message_id": sent.message_id}

    # Same text, entities and keyboard: refused, even with different source markup.
    for source in ("<b>状态</b>: 待处理", "<strong>状态</strong>: 待处理  "):
        with pytest.raises(TelegramBadRequest) as refused:
            await bot.edit_message_text(
                source, parse_mode="HTML", reply_markup=kb(("刷新", "r")), **ids
            )
        assert refused.value.message == NOT_MODIFIED
    with pytest.raises(TelegramBadRequest) as refused:
        await bot.edit_message_reply_markup(reply_markup=kb(("刷新", "r")), **ids)
    assert refused.value.message == NOT_MODIFIED
    assert not user.last_message.edited

    # Entities alone, the callback data alone or dropping the keyboard are changes.
    await bot.edit_message_text("状态: 待处理", reply_markup=kb(("刷新", "r")), **ids)
    assert user.last_message.entities == [] and user.last_message.edited
    await bot.edit_message_reply_markup(reply_markup=kb(("刷新", "r2")), **ids)
    await bot.edit_message_reply_markup(**ids)
    assert user.last_message.buttons == []
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(**ids)


# ---------------------------------------------------------------------------
# Limits
# ---------------------------------------------------------------------------


async def test_text_and_caption_limits(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    photo = BufferedInputFile(make_png(8, 8), "p.png")

    # 4096 Unicode code points after parsing and trimming, not UTF-16 units or bytes.
    assert len((await bot.send_message(user.id, "😀" * 4096)).text) == 4096
    assert len((await bot.send_message(user.id, f"  {'x' * 4096}\n ")).text) == 4096
    for too_long in ("x" * 4097, "<b>" + "&amp;" * 4097 + "</b>"):
        with pytest.raises(
            TelegramBadRequest, match="^Telegram server says - Bad Request: message is too long$"
        ):
            await bot.send_message(user.id, too_long, parse_mode="HTML")
    sent = await bot.send_message(user.id, "short")
    with pytest.raises(TelegramBadRequest, match="Bad Request: message is too long"):
        await bot.edit_message_text("x" * 4097, chat_id=user.id, message_id=sent.message_id)

    # Empty: the Bot API's own check, or tdlib's once the markup is gone.
    with pytest.raises(TelegramBadRequest, match="Bad Request: message text is empty"):
        await bot.send_message(user.id, "")
    for blank in (" \n ", "<b> </b>", "\u200b", "\u3000"):
        with pytest.raises(TelegramBadRequest, match="Bad Request: text must be non-empty"):
            await bot.send_message(user.id, blank, parse_mode="HTML")
    # Tabs become spaces, \r disappears; only spaces and line breaks are trimmed.
    assert (await bot.send_message(user.id, "\ta\tb\r\nc\u3000")).text == "a b\nc\u3000"

    assert (await bot.send_photo(user.id, photo, caption="c" * 1024)).caption == "c" * 1024
    assert (await bot.send_photo(user.id, photo, caption="   ")).caption is None
    with pytest.raises(TelegramBadRequest, match="Bad Request: message caption is too long"):
        await bot.send_photo(user.id, photo, caption="c" * 1025)


async def test_callback_data_is_at_most_64_bytes(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    for data in ("d" * 64, "邻" * 21):  # 64 and 63 bytes
        sent = await bot.send_message(user.id, "ok", reply_markup=kb(("A", data)))
        assert user.last_message.buttons == ["A"]
    for data in ("d" * 65, "邻" * 22):  # 65 and 66 bytes, 22 characters
        with pytest.raises(
            TelegramBadRequest, match="^Telegram server says - Bad Request: BUTTON_DATA_INVALID$"
        ):
            await bot.send_message(user.id, "x", reply_markup=kb(("A", data)))
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.edit_message_reply_markup(
                chat_id=user.id, message_id=sent.message_id, reply_markup=kb(("A", data))
            )
    # Empty callback_data means "no action", and a button needs one.
    with pytest.raises(
        TelegramBadRequest, match="Text buttons are unallowed in the inline keyboard"
    ):
        await bot.send_message(
            user.id,
            "x",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[[InlineKeyboardButton(text="A", callback_data="")]]
            ),
        )
    assert [m.text for m in user.messages] == ["ok", "ok"]


# ---------------------------------------------------------------------------
# Flood control and blocked users
# ---------------------------------------------------------------------------


async def test_injected_429_carries_retry_after(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    emulator.inject_error("sendMessage", retry_after=7, times=2)

    # The raw response is Telegram's: parameters.retry_after next to the description.
    async with aiohttp.ClientSession() as http:
        url = f"{emulator.base_url}/bot{emulator.token}/sendMessage"
        async with http.post(url, json={"chat_id": user.id, "text": "hi"}) as response:
            assert response.status == 429
            assert await response.json() == {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 7",
                "parameters": {"retry_after": 7},
            }
    with pytest.raises(TelegramRetryAfter) as flood:
        await bot.send_message(user.id, "hi")
    assert flood.value.retry_after == 7

    # Only the named method is affected, and only as many times as asked.
    await bot.send_chat_action(user.id, "typing")
    await bot.send_message(user.id, "hi")
    emulator.inject_error(
        "editMessageText", retry_after=2, description="Too Many Requests: retry after 2"
    )
    with pytest.raises(TelegramRetryAfter):
        await bot.edit_message_text("x", chat_id=user.id, message_id=1)
    assert [(f.method, f.error_code) for f in emulator.failures] == [
        ("sendMessage", 429),
        ("sendMessage", 429),
        ("editMessageText", 429),
    ]
    with pytest.raises(ValueError):
        emulator.inject_error("sendMessage", times=0)
    with pytest.raises(ValueError):
        emulator.inject_error("sendMessage", error_code=302)


async def test_blocked_user_gets_403(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    sent = await bot.send_message(user.id, "hello")
    user.block_bot()
    assert user.blocked
    blocked = "Forbidden: bot was blocked by the user"
    with pytest.raises(TelegramForbiddenError, match=blocked):
        await bot.send_message(user.id, "are you there?")
    with pytest.raises(TelegramForbiddenError, match=blocked):
        await bot.edit_message_text("edited", chat_id=user.id, message_id=sent.message_id)
    with pytest.raises(TelegramForbiddenError, match=blocked):
        await bot.send_chat_action(user.id, "typing")
    with pytest.raises(TelegramForbiddenError, match=blocked):
        await bot.send_photo(user.id, BufferedInputFile(make_png(8, 8), "p.png"))

    # Writing to the bot again ("Restart") unblocks it.
    await user.send_text("/start")
    assert not user.blocked
    await bot.send_message(user.id, "welcome back")
    kinds = [
        u.my_chat_member.new_chat_member.status if u.my_chat_member else "message"
        for u in await bot.get_updates()
    ]
    assert kinds == ["kicked", "member", "message"]

    never = emulator.user(43, "Never", started=False)
    with pytest.raises(
        TelegramForbiddenError, match="Forbidden: bot can't initiate conversation with a user"
    ):
        await bot.send_message(never.id, "hello?")
    await never.send_text("hi")
    await bot.send_message(never.id, "hello!")


# ---------------------------------------------------------------------------
# Command menus
# ---------------------------------------------------------------------------


async def test_command_menus_per_scope_and_language(emulator: BotAPIEmulator, bot: Bot) -> None:
    zh = emulator.user(42, "Li", language_code="zh-hans")
    en = emulator.user(43, "Ann", language_code="en")
    nobody = emulator.user(44, "Kim", language_code=None)

    def menu(user) -> list[str]:  # noqa: ANN001
        return [c["command"] for c in user.visible_commands()]

    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    assert menu(zh) == menu(en) == menu(nobody) == ["start"]

    # Language first within a scope, then the scope without a language.
    await bot.set_my_commands([BotCommand(command="start", description="开始")], language_code="zh")
    assert zh.visible_commands() == [{"command": "start", "description": "开始"}]
    assert en.visible_commands() == [{"command": "start", "description": "Start"}]

    # A narrower scope wins over a wider one, whatever the language.
    await bot.set_my_commands(
        [BotCommand(command="help", description="Help")], scope=BotCommandScopeAllPrivateChats()
    )
    assert menu(zh) == menu(en) == ["help"]
    await bot.set_my_commands(
        [BotCommand(command="/admin ", description=" 管理 ")],
        scope=BotCommandScopeChat(chat_id=en.id),
    )
    assert en.visible_commands() == [{"command": "admin", "description": "管理"}]
    assert menu(zh) == ["help"]

    # getMyCommands and the emulator accessor read exactly one scope, no fallback.
    assert await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=zh.id)) == []
    assert [c.command for c in await bot.get_my_commands(language_code="zh")] == ["start"]
    assert emulator.commands(scope_type="chat", chat_id=en.id)[0]["command"] == "admin"
    assert emulator.commands("en") == []

    # Deleting (or setting an empty list) falls back again.
    await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=en.id))
    await bot.set_my_commands([], scope=BotCommandScopeAllPrivateChats())
    assert menu(en) == ["start"] and zh.visible_commands()[0]["description"] == "开始"


async def test_command_menu_errors(emulator: BotAPIEmulator, bot: Bot) -> None:
    user = emulator.user(42, "Li")
    go = [BotCommand(command="go", description="Go")]
    cases = [
        ({"commands": [BotCommand(command="Start", description="Go")]}, "BOT_COMMAND_INVALID"),
        ({"commands": [BotCommand(command="/", description="Go")]}, "command must be non-empty"),
        (
            {"commands": [BotCommand(command="x" * 33, description="Go")]},
            "command length must not exceed 32",
        ),
        (
            {"commands": [BotCommand(command="go", description="")]},
            "command description must be non-empty",
        ),
        (
            {"commands": [BotCommand(command="go", description="d" * 257)]},
            "command description length must not exceed 256",
        ),
        (
            {"commands": [BotCommand(command=f"c{i}", description="d") for i in range(101)]},
            "BOT_COMMANDS_TOO_MUCH",
        ),
        ({"commands": go, "language_code": "zh-hans"}, "invalid language code specified"),
        ({"commands": go, "scope": BotCommandScopeChat(chat_id=777)}, "chat not found"),
        (
            {"commands": go, "scope": BotCommandScopeChatAdministrators(chat_id=user.id)},
            "can't use specified scope in private chats",
        ),
        (
            {"commands": go, "scope": BotCommandScopeChatMember(chat_id=user.id, user_id=user.id)},
            "can't use specified scope in private chats",
        ),
    ]
    for arguments, error in cases:
        with pytest.raises(TelegramBadRequest) as refused:
            await bot.set_my_commands(**arguments)
        assert refused.value.message == f"Bad Request: {error}", arguments
    assert await call_error(emulator, "setMyCommands", commands={"x": 1}) == (
        "Bad Request: expected an Array of BotCommand"
    )
    assert await call_error(emulator, "setMyCommands", commands=[{"command": "go"}]) == (
        "Bad Request: can't parse BotCommand: Can't find field \"description\""
    )
    assert await call_error(emulator, "getMyCommands", scope={"type": "everyone"}) == (
        "Bad Request: can't parse BotCommandScope: Unsupported type specified"
    )
    assert await call_error(emulator, "deleteMyCommands", scope={"type": "chat"}) == (
        "Bad Request: can't parse BotCommandScope: Can't find field \"chat_id\""
    )
    assert user.visible_commands() == []


# ---------------------------------------------------------------------------
# Keyboards
# ---------------------------------------------------------------------------


async def test_keyboards_are_read_like_the_bot_api(emulator: BotAPIEmulator) -> None:
    user = emulator.user(42, "Li")

    async def send(markup: object) -> dict | None:
        result = await emulator.call("sendMessage", chat_id=user.id, text="x", reply_markup=markup)
        return result.get("reply_markup")

    # No usable button means no keyboard at all, not an error.
    for empty in ({}, {"inline_keyboard": []}, {"inline_keyboard": [[]]}, {"keyboard": [[]]}):
        assert await send(empty) is None
    assert await send({"remove_keyboard": False}) is None
    # The first action the Bot API knows wins; buttons without text are dropped.
    markup = await send(
        {
            "inline_keyboard": [
                [
                    {"text": "A", "callback_data": "a", "url": "https://t.me"},
                    {"text": "", "pay": True},
                ],
                [{"text": "B", "callback_data": "", "copy_text": {"text": "b"}}],
                [{"text": 7, "switch_inline_query": ""}],
            ]
        }
    )
    assert markup == {
        "inline_keyboard": [
            [{"text": "A", "url": "https://t.me"}],
            [{"text": "B", "copy_text": {"text": "b"}}],
            [{"text": "7", "switch_inline_query": ""}],
        ]
    }
    # A row keeps at most 12 buttons.
    row = [{"text": str(i), "callback_data": str(i)} for i in range(15)]
    assert len((await send({"inline_keyboard": [row]}))["inline_keyboard"][0]) == 12
    # Reply keyboards: strings are buttons, request_phone_number means request_contact.
    await send(
        {
            "keyboard": [["是", {"text": "📞", "request_phone_number": True}]],
            "one_time_keyboard": True,
        }
    )
    assert user.reply_keyboard == {
        "keyboard": [[{"text": "是"}, {"text": "📞", "request_contact": True}]],
        "one_time_keyboard": True,
    }
    assert "contact" in await user.tap_reply("📞")

    cases = [
        ([1], "object expected as reply markup"),
        ({"inline_keyboard": {}}, 'Field "inline_keyboard" must be of type Array'),
        (
            {"inline_keyboard": [{}]},
            'Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays',
        ),
        ({"keyboard": ["no"]}, 'Field "keyboard" must be an Array of Arrays'),
        (
            {"inline_keyboard": [["A"]]},
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object",
        ),
        (
            {"inline_keyboard": [[{"callback_data": "a"}]]},
            "can't parse inline keyboard button: Can't find field \"text\"",
        ),
        (
            {"inline_keyboard": [[{"text": "A"}]]},
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard",
        ),
        (
            {"inline_keyboard": [[{"text": "A", "web_app": "x"}]]},
            'can\'t parse inline keyboard button: Field "web_app" must be of type Object',
        ),
        (
            {"keyboard": [[1.5]]},
            "can't parse keyboard button: KeyboardButton must be a String or an Object",
        ),
        (
            {"keyboard": [[{"text": "A", "request_contact": "yes"}]]},
            'can\'t parse keyboard button: Field "request_contact" must be of type Boolean',
        ),
        ({"keyboard": [["\r"]]}, "keyboard button text must be non-empty"),
        ({"inline_keyboard": [[{"text": "  ", "callback_data": "a"}]]}, "BUTTON_TEXT_INVALID"),
        (
            {"inline_keyboard": [[{"text": "A", "url": "ftp://x"}]]},
            "inline keyboard button URL 'ftp://x' is invalid: Wrong HTTP URL",
        ),
        ({"force_reply": 1}, 'Field "force_reply" must be of type Boolean'),
    ]
    for markup, error in cases:
        assert await call_error(
            emulator, "sendMessage", chat_id=user.id, text="x", reply_markup=markup
        ) == (f"Bad Request: {error}"), markup

    # Edits take inline keyboards only; an empty one removes the keyboard.
    sent = await emulator.call(
        "sendMessage",
        chat_id=user.id,
        text="m",
        reply_markup=kb(("A", "a")).model_dump(exclude_none=True),
    )
    ids = {"chat_id": user.id, "message_id": sent["message_id"]}
    assert await call_error(
        emulator, "editMessageReplyMarkup", reply_markup={"keyboard": [["A"]]}, **ids
    ) == ("Bad Request: inline keyboard expected")
    edited = await emulator.call(
        "editMessageReplyMarkup", reply_markup={"inline_keyboard": []}, **ids
    )
    assert "reply_markup" not in edited


async def test_deleting_the_message_that_set_a_reply_keyboard_takes_it_away(emulator, bot) -> None:
    """tdlib keeps the keyboard's message (reply_markup_message_id); deleting it removes the keyboard."""
    from aiogram.types import KeyboardButton, ReplyKeyboardMarkup

    person = emulator.user(424242, "键盘")
    await person.send_text("/start")
    keyboard = ReplyKeyboardMarkup(keyboard=[[KeyboardButton(text="跳过")]])
    first = await bot.send_message(person.id, "带键盘", reply_markup=keyboard)
    other = await bot.send_message(person.id, "普通消息")
    assert person.reply_buttons == ["跳过"]
    await bot.delete_message(person.id, other.message_id)  # another message: the keyboard stays
    assert person.reply_buttons == ["跳过"]
    await bot.delete_message(person.id, first.message_id)
    assert person.reply_buttons == []
