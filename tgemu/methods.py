"""Bot API method implementations.

Each handler validates its parameters in the same order and with the same
error texts as Telegram, mutates :class:`EmulatorState` and returns the JSON
``result``.  Handlers never touch HTTP; the server wraps them, which is also
what lets webhook replies execute methods without a network round trip.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from .errors import ApiError, bad_request, conflict
from .formatting import FormattedText, format_message_text
from .markup import (
    normalize_scope,
    parse_commands,
    validate_commands,
    validate_language_code,
    validate_reply_markup,
)
from .media import MAX_DOWNLOAD_SIZE, StoredFile, guess_mime_type, image_size, photo_sizes
from .models import BotMessage, CallbackAnswer
from .params import Params, UploadedFile
from .state import ChatState, EmulatorState, WebhookConfig

__all__ = ["CallContext", "Described", "Handler", "MethodRegistry"]

_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_SECRET_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_MAX_PHOTO_BYTES = 10 * 1024 * 1024
_NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


@dataclass(frozen=True)
class CallContext:
    """Per-request facts a handler may need but cannot get from parameters."""

    connected: Callable[[], bool] = lambda: True


@dataclass(frozen=True)
class Described:
    """A successful result that also carries Telegram's ``description``."""

    result: Any
    description: str


Handler = Callable[[Params, CallContext], Awaitable[Any]]


class MethodRegistry:
    """Maps case-insensitive method names to handlers over one state."""

    def __init__(
        self,
        state: EmulatorState,
        *,
        on_webhook_changed: Callable[[], None],
    ) -> None:
        self._state = state
        self._on_webhook_changed = on_webhook_changed
        handlers: dict[str, Handler] = {
            "getMe": self.get_me,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "sendMessage": self.send_message,
            "editMessageText": self.edit_message_text,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "answerCallbackQuery": self.answer_callback_query,
            "sendDocument": self.send_document,
            "sendPhoto": self.send_photo,
            "sendVoice": self.send_voice,
            "sendMediaGroup": self.send_media_group,
            "sendVideoNote": self.send_video_note,
            "sendLocation": self.send_location,
            "sendChatAction": self.send_chat_action,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "getFile": self.get_file,
        }
        self._handlers = {name.lower(): (name, handler) for name, handler in handlers.items()}

    def resolve(self, method: str) -> tuple[str, Handler] | None:
        """(canonical name, handler) for a method name in any letter case."""
        return self._handlers.get(method.lower())

    # -- helpers --------------------------------------------------------------

    def _chat(self, params: Params) -> ChatState:
        return self._state.get_chat(params.get("chat_id"))

    def _reply_target(self, chat: ChatState, params: Params) -> int | None:
        reply = params.get_json("reply_parameters", "reply parameters")
        message_id: int | None
        allow_without = params.get_bool("allow_sending_without_reply")
        if isinstance(reply, dict):
            raw_id = reply.get("message_id")
            message_id = raw_id if isinstance(raw_id, int) else None
            allow_without = bool(reply.get("allow_sending_without_reply", allow_without))
        else:
            message_id = params.get_int("reply_to_message_id")
        if message_id is None:
            return None
        if self._state.render_any(chat, message_id) is None:
            if allow_without:
                return None
            raise bad_request("message to be replied not found")
        return message_id

    def _new_message(self, chat: ChatState, params: Params, kind: str, **fields: Any) -> BotMessage:
        return BotMessage(
            message_id=chat.allocate_message_id(),
            chat_id=chat.chat_id,
            date=int(time.time()),
            kind=kind,
            **fields,
        )

    def _editable(self, params: Params) -> tuple[ChatState, BotMessage]:
        if params.has("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        if not params.has("chat_id"):
            raise bad_request("chat_id is empty")
        chat = self._chat(params)
        message_id = params.require_int(
            "message_id", bad_request("message identifier is not specified")
        )
        message = chat.bot_messages.get(message_id)
        if message is None or message.deleted:
            if message_id in chat.user_messages and message_id not in chat.deleted_user_messages:
                raise bad_request("message can't be edited")
            raise bad_request("message to edit not found")
        return chat, message

    async def _resolve_file(
        self, value: UploadedFile | str | None, kind: str, what: str
    ) -> StoredFile:
        """Turn an upload or a file_id into a stored file of ``kind``."""
        if value is None:
            raise bad_request(f"there is no {what} in the request")
        if isinstance(value, UploadedFile):
            return self._store_upload(kind, value.data, value.filename, value.content_type)
        stored = self._state.files.get(value)
        if stored is not None:
            if stored.kind != kind:
                raise bad_request(f"can't use file of type {stored.kind.title()} as {kind.title()}")
            return stored
        if value.startswith(("http://", "https://")):
            # Telegram would download it; nothing here sends URLs, so say so plainly.
            raise ApiError(
                400, "Bad Request: tgemu does not fetch files by HTTP URL; upload the file"
            )
        raise bad_request("wrong file identifier/HTTP URL specified")

    def _store_upload(self, kind: str, data: bytes, filename: str, content_type: str) -> StoredFile:
        if not data:
            raise bad_request("file must be non-empty")
        if kind == "photo":
            if len(data) > _MAX_PHOTO_BYTES:
                raise bad_request("PHOTO_SAVE_FILE_INVALID")
            size = image_size(data)
            if size is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
            width, height = size
            if (
                width == 0
                or height == 0
                or width + height > 10000
                or max(width, height) / min(width, height) > 20
            ):
                raise bad_request("PHOTO_INVALID_DIMENSIONS")
            return self._state.files.add(
                "photo",
                data,
                filename=filename,
                mime_type="image/jpeg",
                width=width,
                height=height,
                variants=len(photo_sizes(width, height)),
            )
        return self._state.files.add(
            kind,
            data,
            filename=filename,
            mime_type=guess_mime_type(filename, content_type),
        )

    # -- getMe / updates / webhook ---------------------------------------------

    async def get_me(self, params: Params, ctx: CallContext) -> Any:
        return self._state.bot_user()

    async def get_updates(self, params: Params, ctx: CallContext) -> Any:
        state = self._state
        if state.webhook is not None:
            raise conflict(
                "can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first"
            )
        offset = params.get_int("offset", 0) or 0
        limit = min(max(params.get_int("limit", 100) or 100, 1), 100)
        timeout = max(params.get_int("timeout", 0) or 0, 0)
        if "allowed_updates" in params:
            allowed = params.get_json("allowed_updates", "allowed updates")
            if allowed is not None and not isinstance(allowed, list):
                raise bad_request("can't parse allowed updates JSON object")
            state.updates.set_allowed_updates(allowed)
        state.updates.confirm(offset)
        state.poll_generation += 1
        generation = state.poll_generation
        # A new poll supersedes a pending one, exactly like two bot instances do.
        state.wake_pollers()

        def interrupted() -> bool:
            return state.closing or state.webhook is not None or state.poll_generation != generation

        if not state.updates.peek(1) and timeout > 0:
            await state.updates.wait_nonempty(float(timeout), interrupted)
            if not state.closing:
                if state.webhook is not None:
                    raise conflict(
                        "can't use getUpdates method while webhook is active; "
                        "use deleteWebhook to delete the webhook first"
                    )
                if state.poll_generation != generation:
                    raise conflict(
                        "terminated by other getUpdates request; "
                        "make sure that only one bot instance is running"
                    )
        batch = state.updates.peek(limit)
        if ctx.connected():
            state.updates.mark_delivered(batch)
            if batch:
                state.touch()
        return [queued.update for queued in batch]

    async def set_webhook(self, params: Params, ctx: CallContext) -> Any:
        state = self._state
        url = (params.get_str("url") or "").strip()
        if not url:
            return await self.delete_webhook(params, ctx)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if not parts.hostname:
            raise bad_request("bad webhook: Failed to resolve host: Name or service not known")
        secret = params.get_str("secret_token")
        if secret is not None and secret != "" and not _SECRET_TOKEN_RE.match(secret):
            raise bad_request("secret token contains unallowed characters")
        max_connections = params.get_int("max_connections", 40) or 40
        if not 1 <= max_connections <= 100:
            raise bad_request("bad webhook: max_connections must be between 1 and 100")
        if "allowed_updates" in params:
            allowed = params.get_json("allowed_updates", "allowed updates")
            if allowed is not None and not isinstance(allowed, list):
                raise bad_request("can't parse allowed updates JSON object")
            state.updates.set_allowed_updates(allowed)
        if params.get_bool("drop_pending_updates"):
            state.updates.clear()
        already = state.webhook is not None and state.webhook.url == url
        state.webhook = WebhookConfig(
            url=url,
            secret_token=secret or None,
            max_connections=max_connections,
            ip_address=params.get_str("ip_address"),
            has_custom_certificate=params.has("certificate"),
        )
        state.wake_pollers()
        self._on_webhook_changed()
        return Described(True, "Webhook is already set" if already else "Webhook was set")

    async def delete_webhook(self, params: Params, ctx: CallContext) -> Any:
        state = self._state
        existed = state.webhook is not None
        if params.get_bool("drop_pending_updates"):
            state.updates.clear()
        state.webhook = None
        state.wake_pollers()
        self._on_webhook_changed()
        return Described(True, "Webhook was deleted" if existed else "Webhook is already deleted")

    async def get_webhook_info(self, params: Params, ctx: CallContext) -> Any:
        state = self._state
        webhook = state.webhook
        info: dict[str, Any] = {
            "url": webhook.url if webhook else "",
            "has_custom_certificate": bool(webhook and webhook.has_custom_certificate),
            "pending_update_count": state.updates.pending_count,
        }
        if webhook is not None:
            info["max_connections"] = webhook.max_connections
            info["ip_address"] = webhook.ip_address or "127.0.0.1"
            if webhook.last_error_date is not None:
                info["last_error_date"] = webhook.last_error_date
                info["last_error_message"] = webhook.last_error_message
        if state.updates.allowed_updates_explicit:
            info["allowed_updates"] = state.updates.allowed_updates_explicit
        return info

    # -- messages -----------------------------------------------------------------

    async def send_message(self, params: Params, ctx: CallContext) -> Any:
        chat = self._chat(params)
        formatted = format_message_text(
            params.get_str("text"),
            parse_mode=params.get_str("parse_mode"),
            entities=_input_entities(params, "entities"),
        )
        markup = validate_reply_markup(params.get_json("reply_markup", "reply keyboard markup"))
        reply_to = self._reply_target(chat, params)
        self._state.ensure_reachable(chat)
        message = self._new_message(
            chat,
            params,
            "text",
            text=formatted.text,
            raw_text=params.get_str("text") or "",
            parse_mode=params.get_str("parse_mode"),
            entities=formatted.entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
        )
        self._state.add_bot_message(chat, message)
        return self._state.render_message(message)

    async def edit_message_text(self, params: Params, ctx: CallContext) -> Any:
        chat, message = self._editable(params)
        if message.kind != "text":
            raise bad_request("there is no text in the message to edit")
        formatted = format_message_text(
            params.get_str("text"),
            parse_mode=params.get_str("parse_mode"),
            entities=_input_entities(params, "entities"),
        )
        return self._commit_edit(chat, message, params, formatted, params.get_str("text"))

    async def edit_message_reply_markup(self, params: Params, ctx: CallContext) -> Any:
        chat, message = self._editable(params)
        return self._commit_edit(chat, message, params, None, None)

    def _commit_edit(
        self,
        chat: ChatState,
        message: BotMessage,
        params: Params,
        formatted: FormattedText | None,
        source: str | None,
    ) -> Any:
        """Apply an edit unless it changes nothing (Telegram's "not modified")."""
        markup = validate_reply_markup(
            params.get_json("reply_markup", "reply keyboard markup"), inline_only=True
        )
        self._state.ensure_reachable(chat)
        current = message.reply_markup
        current_inline = current if current and "inline_keyboard" in current else None
        same_content = formatted is None or (formatted.text, formatted.entities) == (
            message.text,
            message.entities,
        )
        if same_content and markup == current_inline:
            raise bad_request(_NOT_MODIFIED)
        if formatted is not None:
            message.text = formatted.text
            message.raw_text = source or ""
            message.parse_mode = params.get_str("parse_mode")
            message.entities = formatted.entities
        # Edits replace (or drop) the inline keyboard; a reply keyboard sent
        # with the message is not part of what an edit can change.
        if markup is not None or current_inline is not None:
            message.reply_markup = markup
        self._state.message_edited(chat, message)
        return self._state.render_message(message)

    async def delete_message(self, params: Params, ctx: CallContext) -> Any:
        chat = self._chat(params)
        message_id = params.require_int(
            "message_id", bad_request("message identifier is not specified")
        )
        if chat.blocked:
            self._state.ensure_reachable(chat)
        if not self._state.message_deleted(chat, message_id):
            raise bad_request("message to delete not found")
        return True

    async def answer_callback_query(self, params: Params, ctx: CallContext) -> Any:
        state = self._state
        query_id = params.get_str("callback_query_id") or ""
        pending = state.callbacks.get(query_id)
        if pending is None or pending.answered:
            raise bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.get_str("text")
        if text is not None and len(text) > 200:
            raise bad_request("MESSAGE_TOO_LONG")
        pending.answered = True
        answer = CallbackAnswer(
            query_id=query_id,
            text=text or None,
            show_alert=params.get_bool("show_alert"),
            url=params.get_str("url"),
            cache_time=params.get_int("cache_time", 0) or 0,
            message_id=pending.message_id,
            data=pending.data,
        )
        chat = state.chats[pending.chat_id]
        chat.callback_answers.append(answer)
        if answer.text:
            state.record(chat, "bot", "alert" if answer.show_alert else "toast", answer.text)
        state.touch()
        return True

    # -- media ---------------------------------------------------------------------

    async def _send_file(self, params: Params, kind: str, field_name: str) -> Any:
        chat = self._chat(params)
        stored = await self._resolve_file(params.get_file(field_name), kind, field_name)
        formatted = format_message_text(
            params.get_str("caption"),
            parse_mode=params.get_str("parse_mode"),
            entities=_input_entities(params, "caption_entities"),
            caption=True,
        )
        markup = validate_reply_markup(params.get_json("reply_markup", "reply keyboard markup"))
        reply_to = self._reply_target(chat, params)
        self._state.ensure_reachable(chat)
        message = self._new_message(
            chat,
            params,
            kind,
            text=formatted.text,
            raw_text=params.get_str("caption") or "",
            parse_mode=params.get_str("parse_mode"),
            entities=formatted.entities,
            reply_markup=markup,
            reply_to_message_id=reply_to,
            file=stored,
            file_ids=list(stored.file_ids),
        )
        self._state.add_bot_message(chat, message)
        return self._state.render_message(message)

    async def send_document(self, params: Params, ctx: CallContext) -> Any:
        return await self._send_file(params, "document", "document")

    async def send_photo(self, params: Params, ctx: CallContext) -> Any:
        return await self._send_file(params, "photo", "photo")

    async def send_media_group(self, params: Params, ctx: CallContext) -> Any:
        """An album: 2-10 photos or documents (not mixed), each its own message, one media_group_id."""
        chat = self._chat(params)
        media = params.get_json("media", "media")
        if not isinstance(media, list) or not media:
            raise bad_request("parameter \"media\" is required")
        if not 2 <= len(media) <= 10:
            raise bad_request("wrong number of media items: must include 2-10 items")
        kinds = {item.get("type") if isinstance(item, dict) else None for item in media}
        if not kinds <= {"photo", "document"} or len(kinds) != 1:
            raise bad_request("tgemu supports albums of photos or of documents, not mixed")
        kind = kinds.pop()
        resolved = []
        for item in media:
            source = item.get("media")
            if isinstance(source, str) and source.startswith("attach://"):
                upload = params.get_file_by_key(source.removeprefix("attach://"))
                stored = await self._resolve_file(upload, kind, "media")
            else:
                stored = await self._resolve_file(source if isinstance(source, str) else None, kind, "media")
            caption = item.get("caption")
            formatted = format_message_text(
                caption, parse_mode=item.get("parse_mode"), entities=item.get("caption_entities"), caption=True
            )
            resolved.append((stored, formatted, caption))
        reply_to = self._reply_target(chat, params)
        self._state.ensure_reachable(chat)
        group_id = str(self._state.next_seq() * 7919 + 10**12)
        sent = []
        for stored, formatted, caption in resolved:
            message = self._new_message(
                chat,
                params,
                kind,
                text=formatted.text,
                raw_text=caption or "",
                parse_mode=None,
                entities=formatted.entities,
                reply_markup=None,
                reply_to_message_id=reply_to,
                file=stored,
                file_ids=list(stored.file_ids),
            )
            message.media_group_id = group_id
            self._state.add_bot_message(chat, message)
            sent.append(self._state.render_message(message))
        return sent

    async def send_voice(self, params: Params, ctx: CallContext) -> Any:
        return await self._send_file(params, "voice", "voice")

    async def send_video_note(self, params: Params, ctx: CallContext) -> Any:
        if params.get_str("caption"):
            # Telegram's sendVideoNote has no caption parameter: it would be ignored there.
            raise bad_request("video notes can't have a caption")
        return await self._send_file(params, "video_note", "video_note")

    async def send_location(self, params: Params, ctx: CallContext) -> Any:
        chat = self._chat(params)
        latitude = params.get_float("latitude")
        longitude = params.get_float("longitude")
        if latitude is None or longitude is None:
            raise bad_request("wrong latitude/longitude specified")
        if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
            raise bad_request("wrong latitude/longitude specified")
        extra: dict[str, Any] = {}
        accuracy = params.get_float("horizontal_accuracy")
        if accuracy is not None:
            if not 0 <= accuracy <= 1500:
                raise bad_request("wrong horizontal accuracy specified")
            extra["horizontal_accuracy"] = accuracy
        for name in ("live_period", "heading", "proximity_alert_radius"):
            value = params.get_int(name)
            if value is not None:
                extra[name] = value
        markup = validate_reply_markup(params.get_json("reply_markup", "reply keyboard markup"))
        reply_to = self._reply_target(chat, params)
        self._state.ensure_reachable(chat)
        message = self._new_message(
            chat,
            params,
            "location",
            latitude=latitude,
            longitude=longitude,
            location_extra=extra,
            reply_markup=markup,
            reply_to_message_id=reply_to,
        )
        self._state.add_bot_message(chat, message)
        return self._state.render_message(message)

    async def send_chat_action(self, params: Params, ctx: CallContext) -> Any:
        chat = self._chat(params)
        action = params.get_str("action") or ""
        if action not in _CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self._state.ensure_reachable(chat)
        chat.chat_actions.append(action)
        self._state.touch()
        return True

    async def get_file(self, params: Params, ctx: CallContext) -> Any:
        file_id = params.get_str("file_id") or ""
        stored = self._state.files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        if stored.size > MAX_DOWNLOAD_SIZE:
            raise bad_request("file is too big")
        unique_id = stored.file_unique_id
        if stored.kind == "photo":
            unique_id = f"{unique_id}{stored.file_ids.index(file_id)}"
        return {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_size": stored.size,
            "file_path": stored.file_path,
        }

    # -- commands ------------------------------------------------------------------

    def _command_key(self, params: Params) -> tuple[tuple[Any, ...], str]:
        """Resolve scope and language in the Bot API's order (chat, then tdlib's checks)."""
        scope = normalize_scope(params.get_json("scope", "BotCommandScope"))
        if len(scope) > 1:
            chat = self._state.get_chat(scope[1])
            # Every emulated chat is private: only the plain "chat" scope applies to it.
            if scope[0] != "chat":
                raise bad_request("can't use specified scope in private chats")
            scope = (scope[0], chat.chat_id)
        return scope, validate_language_code(params.get_str("language_code"))

    async def set_my_commands(self, params: Params, ctx: CallContext) -> Any:
        commands = parse_commands(params.get_json("commands"))
        key = self._command_key(params)
        commands = validate_commands(commands)
        if commands:
            self._state.commands[key] = commands
        else:
            self._state.commands.pop(key, None)
        self._state.touch()
        return True

    async def get_my_commands(self, params: Params, ctx: CallContext) -> Any:
        key = self._command_key(params)
        return [dict(command) for command in self._state.commands.get(key, [])]

    async def delete_my_commands(self, params: Params, ctx: CallContext) -> Any:
        key = self._command_key(params)
        self._state.commands.pop(key, None)
        self._state.touch()
        return True


def _input_entities(params: Params, name: str) -> Any:
    """``entities``: the Bot API silently ignores a value that is not JSON."""
    try:
        return params.get_json(name)
    except ApiError:
        return None
