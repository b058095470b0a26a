"""Validation of keyboards, bot commands and command scopes.

Markup is read the way the Bot API server reads it (first usable action of a
button wins, an empty keyboard means no markup), then checked like tdlib and
Telegram do: buttons without text are dropped, rows keep at most 12 buttons
and a keyboard 300, callback data is 1-64 bytes.  The result is a normalised
copy (string reply buttons become ``{"text": ...}``) that emulated users press.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .errors import bad_request

__all__ = [
    "REPLY_CALLBACK_SYMBOLS",
    "CommandScopeKey",
    "inline_buttons",
    "normalize_scope",
    "parse_commands",
    "validate_commands",
    "validate_language_code",
    "validate_reply_markup",
    "visible_label",
]

MAX_ROW_BUTTONS = 12
MAX_KEYBOARD_BUTTONS = 300
MAX_CALLBACK_DATA_BYTES = 64
MAX_COMMANDS = 100
MAX_COMMAND_LENGTH = 32
MAX_COMMAND_DESCRIPTION = 256
_COMMAND_RE = re.compile(r"^[a-z0-9_]+$")
_TD_SPACES = " \t\r\n\v\0"  # td::trim
_LANGUAGE_RE = re.compile(r"^[a-z]{2}$")
_URL_SCHEMES = frozenset({"http", "https", "tg", "ton"})
_CONTROL_CHARS = re.compile("[\\x00-\\x09\\x0b\\x0c\\x0e-\\x1f]")

#: Invisible characters aiogram-dialog appends to reply-keyboard button texts to
#: carry callback data (``aiogram_dialog.utils.REPLY_CALLBACK_SYMBOLS``): two per
#: byte, so an ASCII payload uses U+200C..U+2064 and U+00AD as well as the
#: "musical symbol" formatting characters U+1D173..U+1D17A.  Telegram sends the
#: full text back when the button is tapped; a person only sees the label.
REPLY_CALLBACK_SYMBOLS = (
    "\u200c\u200d\u2060\u2061\u2062\u2063\u2064\u00ad"
    "\U0001d173\U0001d174\U0001d175\U0001d176\U0001d177\U0001d178\U0001d179\U0001d17a"
)

#: Hashable identity of a BotCommandScope: ``("default",)``, ``("chat", 42)``...
CommandScopeKey = tuple[Any, ...]


# -- reading JSON fields the way the Bot API server does ----------------------------


def _string(obj: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    """A string field (numbers are accepted and kept as text)."""
    if name not in obj:
        if required:
            raise ValueError(f'Can\'t find field "{name}"')
        return None
    value = obj[name]
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f'Field "{name}" must be of type String')


def _boolean(obj: dict[str, Any], name: str) -> bool:
    value = obj.get(name, False)
    if not isinstance(value, bool):
        raise ValueError(f'Field "{name}" must be of type Boolean')
    return value


def _object(obj: dict[str, Any], name: str) -> dict[str, Any]:
    value = obj[name]
    if not isinstance(value, dict):
        raise ValueError(f'Field "{name}" must be of type Object')
    return value


def _array(obj: dict[str, Any], name: str) -> list[Any] | None:
    if name not in obj:
        return None
    value = obj[name]
    if not isinstance(value, list):
        raise ValueError(f'Field "{name}" must be of type Array')
    return value


# -- buttons --------------------------------------------------------------------------


def _validate_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in _URL_SCHEMES or not (
        parts.netloc or parts.scheme.lower() == "tg"
    ):
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _inline_button(button: Any) -> dict[str, Any]:
    """An InlineKeyboardButton: text plus the first action the Bot API recognises."""
    if not isinstance(button, dict):
        raise ValueError("InlineKeyboardButton must be an Object")
    text = _string(button, "text")
    for name in ("url", "callback_data"):
        value = _string(button, name, required=False)
        if value:
            return {"text": text, name: value}
    for name in ("callback_game", "pay"):
        if name in button:
            return {"text": text, name: button[name]}
    for name in (
        "switch_inline_query",
        "switch_inline_query_chosen_chat",
        "switch_inline_query_current_chat",
        "login_url",
        "web_app",
        "copy_text",
    ):
        if name not in button:
            continue
        if name in ("switch_inline_query", "switch_inline_query_current_chat"):
            return {"text": text, name: _string(button, name)}
        value = _object(button, name)
        if name in ("login_url", "web_app"):
            _string(value, "url")
        elif name == "copy_text":
            _string(value, "text")
        return {"text": text, name: value}
    raise ValueError("Text buttons are unallowed in the inline keyboard")


def _reply_button(button: Any) -> dict[str, Any]:
    """A KeyboardButton: a string, or text plus the first request the Bot API recognises."""
    if isinstance(button, str):
        return {"text": button}
    if not isinstance(button, dict):
        raise ValueError("KeyboardButton must be a String or an Object")
    text = _string(button, "text")
    if _boolean(button, "request_phone_number") or _boolean(button, "request_contact"):
        return {"text": text, "request_contact": True}
    if _boolean(button, "request_location"):
        return {"text": text, "request_location": True}
    for name in ("request_poll", "web_app", "request_users", "request_user", "request_chat"):
        if name in button:
            return {"text": text, name: _object(button, name)}
    return {"text": text}


def _keyboard(markup: dict[str, Any], name: str, read: Any, rows_error: str) -> list[list[Any]]:
    """Rows of one keyboard field: parsed by the Bot API, then filtered like tdlib."""
    kind = "inline keyboard button" if name == "inline_keyboard" else "keyboard button"
    try:
        rows = _array(markup, name) or []
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    parsed: list[list[dict[str, Any]]] = []
    for row in rows:
        if not isinstance(row, list):
            raise bad_request(rows_error)
        try:
            parsed.append([read(button) for button in row])
        except ValueError as exc:
            raise bad_request(f"can't parse {kind}: {exc}") from None
    if not parsed:
        return []
    kept: list[list[dict[str, Any]]] = []
    total = 0
    for row in parsed:
        kept_row: list[dict[str, Any]] = []
        for button in row:
            if button["text"] == "":
                continue  # tdlib drops buttons without text (and without an icon)
            button["text"] = _CONTROL_CHARS.sub(" ", button["text"]).replace("\r", "")
            if not button["text"]:
                raise bad_request(f"{kind} text must be non-empty")
            kept_row.append(button)
            total += 1
            if len(kept_row) >= MAX_ROW_BUTTONS or total >= MAX_KEYBOARD_BUTTONS:
                break
        if kept_row:
            kept.append(kept_row)
        if total >= MAX_KEYBOARD_BUTTONS:
            break
    return kept


def validate_reply_markup(value: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Validate any ``reply_markup`` value and return its normalised form (None: no markup)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("object expected as reply markup")
    rows = _keyboard(
        value, "keyboard", _reply_button, 'Field "keyboard" must be an Array of Arrays'
    )
    inline_rows = _keyboard(
        value,
        "inline_keyboard",
        _inline_button,
        'Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays',
    )
    try:
        flags = {
            name: _boolean(value, name)
            for name in (
                "hide_keyboard",
                "remove_keyboard",
                "personal_keyboard",
                "selective",
                "force_reply_keyboard",
                "force_reply",
                "resize_keyboard",
                "one_time_keyboard",
                "is_persistent",
            )
        }
        placeholder = _string(value, "input_field_placeholder", required=False)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    selective = flags["personal_keyboard"] or flags["selective"]
    markup: dict[str, Any] | None = None
    if rows:
        markup = {"keyboard": rows}
        markup.update(
            (name, True)
            for name in ("is_persistent", "resize_keyboard", "one_time_keyboard")
            if flags[name]
        )
        if placeholder:
            markup["input_field_placeholder"] = placeholder
    elif inline_rows:
        markup = {"inline_keyboard": inline_rows}
    elif flags["hide_keyboard"] or flags["remove_keyboard"]:
        markup = {"remove_keyboard": True}
    elif flags["force_reply"] or flags["force_reply_keyboard"]:
        markup = {"force_reply": True}
        if placeholder:
            markup["input_field_placeholder"] = placeholder
    if markup is None:
        return None
    if inline_only and "inline_keyboard" not in markup:
        raise bad_request("inline keyboard expected")
    if selective and "inline_keyboard" not in markup:
        markup["selective"] = True
    # What the Telegram server itself checks.
    buttons = inline_buttons(markup) or [b for row in markup.get("keyboard", []) for b in row]
    for button in buttons:
        if not button["text"].strip():
            raise bad_request("BUTTON_TEXT_INVALID")
        if "callback_data" in button:
            if len(button["callback_data"].encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
                raise bad_request("BUTTON_DATA_INVALID")
        elif "url" in button:
            _validate_url(button["url"])
    return markup


def visible_label(text: str) -> str:
    """A button text as a person sees it: without an aiogram-dialog payload suffix."""
    return text.rstrip(REPLY_CALLBACK_SYMBOLS)


def inline_buttons(markup: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Flat list of the inline buttons of a (normalised) markup."""
    if not markup or "inline_keyboard" not in markup:
        return []
    return [button for row in markup["inline_keyboard"] for button in row]


def _json_string(obj: dict[str, Any], name: str, what: str) -> str:
    """A required string field the way the Bot API reads it (numbers are accepted)."""
    if name not in obj:
        raise bad_request(f"can't parse {what}: Can't find field \"{name}\"")
    value = obj[name]
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise bad_request(f'can\'t parse {what}: Field "{name}" must be of type String')


def parse_commands(value: Any) -> list[dict[str, str]]:
    """The Bot API's reading of ``setMyCommands.commands`` (shape only, see :func:`validate_commands`)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("expected an Array of BotCommand")
    commands: list[dict[str, str]] = []
    for item in value:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        commands.append(
            {
                "command": _json_string(item, "command", "BotCommand"),
                "description": _json_string(item, "description", "BotCommand"),
            }
        )
    return commands


def validate_commands(commands: list[dict[str, str]]) -> list[dict[str, str]]:
    """tdlib's checks (trim, leading "/", lengths), then the server's; returns what is stored."""
    cleaned: list[dict[str, str]] = []
    for item in commands:
        command = item["command"].strip(_TD_SPACES)
        if command.startswith("/"):
            command = command[1:]
        if not command:
            raise bad_request("command must be non-empty")
        if len(command) > MAX_COMMAND_LENGTH:
            raise bad_request(f"command length must not exceed {MAX_COMMAND_LENGTH}")
        description = item["description"].strip(_TD_SPACES)
        if not description:
            raise bad_request("command description must be non-empty")
        if len(description) > MAX_COMMAND_DESCRIPTION:
            raise bad_request(
                f"command description length must not exceed {MAX_COMMAND_DESCRIPTION}"
            )
        cleaned.append({"command": command, "description": description})
    if len(cleaned) > MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    if any(not _COMMAND_RE.match(item["command"]) for item in cleaned):
        raise bad_request("BOT_COMMAND_INVALID")
    return cleaned


def validate_language_code(value: str | None) -> str:
    """Commands are stored per two-letter ISO 639-1 code ("" = all languages)."""
    code = value or ""
    if code and not _LANGUAGE_RE.match(code):
        raise bad_request("invalid language code specified")
    return code


def normalize_scope(value: Any) -> CommandScopeKey:
    """Read a BotCommandScope object: ``("default",)``, ``("chat", "42")``...

    Chat scopes keep the chat_id as the string the Bot API reads; resolving the
    chat (and refusing non-"chat" scopes in private chats) is the caller's job.
    """
    if value is None:
        return ("default",)
    what = "BotCommandScope"
    if not isinstance(value, dict):
        raise bad_request(f"can't parse {what}: BotCommandScope must be an Object")
    scope_type = _json_string(value, "type", what)
    if scope_type in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
        return (scope_type,)
    if scope_type not in ("chat", "chat_administrators", "chat_member"):
        raise bad_request(f"can't parse {what}: Unsupported type specified")
    chat_id = _json_string(value, "chat_id", what)
    if not chat_id:
        raise bad_request(f"can't parse {what}: Empty chat_id specified")
    if scope_type != "chat_member":
        return (scope_type, chat_id)
    if "user_id" not in value:
        raise bad_request(f"can't parse {what}: Can't find field \"user_id\"")
    user_id = value["user_id"]
    if isinstance(user_id, str):
        try:
            user_id = int(user_id)
        except ValueError:
            raise bad_request(
                f'can\'t parse {what}: Field "user_id" must be a valid Number'
            ) from None
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        raise bad_request(f'can\'t parse {what}: Field "user_id" must be a Number')
    if user_id <= 0:
        raise bad_request(f"can't parse {what}: Invalid user_id specified")
    return (scope_type, chat_id, user_id)
