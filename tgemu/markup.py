"""Validation of keyboards, bot commands and command scopes.

Telegram rejects a whole ``sendMessage`` because of one bad button, so the
emulator validates markup with the same limits the real server enforces and
returns a normalised copy (string reply buttons become ``{"text": ...}``) that
the emulated users can later press.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from .errors import bad_request

__all__ = [
    "INLINE_ACTION_FIELDS",
    "CommandScopeKey",
    "inline_buttons",
    "normalize_scope",
    "validate_commands",
    "validate_language_code",
    "validate_reply_markup",
]

#: Mutually exclusive "what the button does" fields of InlineKeyboardButton.
INLINE_ACTION_FIELDS: tuple[str, ...] = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_REPLY_REQUEST_FIELDS: tuple[str, ...] = (
    "request_contact",
    "request_location",
    "request_poll",
    "request_users",
    "request_chat",
    "web_app",
)
MAX_KEYBOARD_BUTTONS = 100
MAX_CALLBACK_DATA_BYTES = 64
MAX_COMMANDS = 100
MAX_COMMAND_DESCRIPTION = 256
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_LANGUAGE_RE = re.compile(r"^[a-z]{2}$")
_URL_SCHEMES = frozenset({"http", "https", "tg", "ton"})

#: Hashable identity of a BotCommandScope: ``("default",)``, ``("chat", 42)``...
CommandScopeKey = tuple[Any, ...]


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value is False


def _validate_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme.lower() not in _URL_SCHEMES or not (
        parts.netloc or parts.scheme.lower() == "tg"
    ):
        raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")


def _rows(markup: dict[str, Any], key: str, what: str) -> list[list[Any]]:
    rows = markup.get(key)
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(f'Field "{key}" of the {what} must be an Array of Arrays')
    return rows


def _validate_inline_button(button: Any) -> dict[str, Any]:
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    text = button.get("text")
    if not isinstance(text, str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    if not text.strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [name for name in INLINE_ACTION_FIELDS if not _is_empty(button.get(name))]
    # switch_inline_query* may legitimately be the empty string ("insert @bot only").
    for name in ("switch_inline_query", "switch_inline_query_current_chat"):
        if button.get(name) == "" and name not in actions:
            actions.append(name)
    if not actions:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        )
    if len(actions) > 1:
        raise bad_request(
            "can't parse inline keyboard button: exactly one of the optional fields must be used, "
            f"got {', '.join(actions)}"
        )
    action = actions[0]
    value = button[action]
    if action == "callback_data":
        if not isinstance(value, str):
            raise bad_request(
                'can\'t parse inline keyboard button: Field "callback_data" must be of type String'
            )
        if not 1 <= len(value.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    elif action == "url":
        if not isinstance(value, str):
            raise bad_request(
                'can\'t parse inline keyboard button: Field "url" must be of type String'
            )
        _validate_url(value)
    return {key: value for key, value in button.items() if value is not None}


def _validate_reply_button(button: Any) -> dict[str, Any]:
    if isinstance(button, str):
        button = {"text": button}
    if not isinstance(button, dict):
        raise bad_request(
            "can't parse keyboard button: KeyboardButton must be a String or an Object"
        )
    text = button.get("text")
    if not isinstance(text, str):
        raise bad_request('can\'t parse keyboard button: Field "text" must be of type String')
    if not text.strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    requests = [name for name in _REPLY_REQUEST_FIELDS if not _is_empty(button.get(name))]
    if len(requests) > 1:
        fields = ", ".join(requests)
        raise bad_request(f"can't parse keyboard button: only one of {fields} can be used")
    return {key: value for key, value in button.items() if value is not None and value is not False}


def validate_reply_markup(value: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Validate any ``reply_markup`` value and return its normalised form."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in value:
        rows = _rows(value, "inline_keyboard", "InlineKeyboardMarkup")
        normalized_rows = [[_validate_inline_button(button) for button in row] for row in rows]
        normalized_rows = [row for row in normalized_rows if row]
        if sum(len(row) for row in normalized_rows) > MAX_KEYBOARD_BUTTONS:
            raise bad_request("BUTTONS_TOO_MUCH")
        return {"inline_keyboard": normalized_rows}
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in value:
        rows = _rows(value, "keyboard", "ReplyKeyboardMarkup")
        normalized_rows = [[_validate_reply_button(button) for button in row] for row in rows]
        normalized_rows = [row for row in normalized_rows if row]
        if not normalized_rows:
            raise bad_request("keyboard must be non-empty")
        if sum(len(row) for row in normalized_rows) > MAX_KEYBOARD_BUTTONS:
            raise bad_request("BUTTONS_TOO_MUCH")
        placeholder = value.get("input_field_placeholder")
        if isinstance(placeholder, str) and len(placeholder) > 64:
            raise bad_request("input field placeholder is too long")
        extras = {
            key: value[key]
            for key in (
                "is_persistent",
                "resize_keyboard",
                "one_time_keyboard",
                "input_field_placeholder",
                "selective",
            )
            if value.get(key) is not None
        }
        return {"keyboard": normalized_rows, **extras}
    if "remove_keyboard" in value:
        if value.get("remove_keyboard") is not True:
            raise bad_request('Field "remove_keyboard" of the ReplyKeyboardRemove must be true')
        return {key: item for key, item in value.items() if item is not None}
    if "force_reply" in value:
        if value.get("force_reply") is not True:
            raise bad_request('Field "force_reply" of the ForceReply must be true')
        return {key: item for key, item in value.items() if item is not None}
    raise bad_request("can't parse reply keyboard markup JSON object")


def inline_buttons(markup: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Flat list of the inline buttons of a (normalised) markup."""
    if not markup or "inline_keyboard" not in markup:
        return []
    return [button for row in markup["inline_keyboard"] for button in row]


def validate_commands(value: Any) -> list[dict[str, str]]:
    """Validate ``setMyCommands.commands`` against Telegram's limits."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad_request("can't parse commands JSON object")
    if len(value) > MAX_COMMANDS:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    commands: list[dict[str, str]] = []
    for item in value:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        command, description = item.get("command"), item.get("description")
        if not isinstance(command, str):
            raise bad_request("can't parse BotCommand: Can't find field \"command\"")
        if not isinstance(description, str):
            raise bad_request("can't parse BotCommand: Can't find field \"description\"")
        if not _COMMAND_RE.match(command):
            raise bad_request("BOT_COMMAND_INVALID")
        description = description.strip()
        if not description:
            raise bad_request("command description is empty")
        if len(description) > MAX_COMMAND_DESCRIPTION:
            raise bad_request("command description is too long")
        commands.append({"command": command, "description": description})
    return commands


def validate_language_code(value: str | None) -> str:
    """Commands are stored per two-letter ISO 639-1 code ("" = all languages)."""
    code = value or ""
    if code and not _LANGUAGE_RE.match(code):
        raise bad_request("LANG_CODE_INVALID")
    return code


def normalize_scope(value: Any) -> CommandScopeKey:
    """Turn a BotCommandScope object into a hashable key (no chat checks)."""
    if value is None:
        return ("default",)
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise bad_request("can't parse BotCommandScope JSON object")
    scope_type = value["type"]
    if scope_type in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
        return (scope_type,)
    if scope_type in ("chat", "chat_administrators", "chat_member"):
        chat_id = value.get("chat_id")
        if isinstance(chat_id, str):
            try:
                chat_id = int(chat_id)
            except ValueError:
                raise bad_request("chat not found") from None
        if not isinstance(chat_id, int):
            raise bad_request("chat not found")
        if scope_type != "chat_member":
            return (scope_type, chat_id)
        user_id = value.get("user_id")
        if not isinstance(user_id, int):
            raise bad_request("user not found")
        return (scope_type, chat_id, user_id)
    raise bad_request("unsupported bot command scope type")
