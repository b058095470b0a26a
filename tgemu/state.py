"""All mutable emulator state, shared by the HTTP methods and the user API.

Keeping it in one object (instead of inside the HTTP server class) lets the
Bot API method handlers, the webhook deliverer and :class:`EmulatedUser`
operate on the same chats, queue and transcript without reaching into each
other's internals.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request, forbidden
from .markup import CommandScopeKey, visible_label
from .media import FileStore, photo_sizes
from .models import ApiCall, ApiFailure, BotMessage, CallbackAnswer, RateLimitHit, TranscriptEntry
from .updates import Pulse, UpdateQueue

__all__ = [
    "ChatState",
    "EmulatorState",
    "PendingCallback",
    "UserProfile",
    "WebhookConfig",
]


@dataclass
class UserProfile:
    """The Telegram account behind an emulated user."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code:
            data["language_code"] = self.language_code
        return data


@dataclass
class ChatState:
    """A private chat between the bot and one user (chat id == user id)."""

    profile: UserProfile
    chat_instance: str
    started: bool = True
    blocked: bool = False
    next_message_id: int = 1
    bot_messages: dict[int, BotMessage] = field(default_factory=dict)
    user_messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted_user_messages: set[int] = field(default_factory=set)
    reply_keyboard: dict[str, Any] | None = None
    #: The message that set :attr:`reply_keyboard` (tdlib's reply_markup_message_id):
    #: deleting it takes the keyboard away, as Telegram clients do.
    reply_keyboard_message_id: int | None = None
    chat_actions: list[str] = field(default_factory=list)
    callback_answers: list[CallbackAnswer] = field(default_factory=list)
    last_action_seq: int = 0
    #: update_id of every update queued because of this user, in order.
    update_ids: list[int] = field(default_factory=list)

    @property
    def chat_id(self) -> int:
        return self.profile.id

    def allocate_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.profile.id,
            "type": "private",
            "first_name": self.profile.first_name,
        }
        if self.profile.last_name:
            data["last_name"] = self.profile.last_name
        if self.profile.username:
            data["username"] = self.profile.username
        return data


@dataclass
class PendingCallback:
    """A callback query waiting for ``answerCallbackQuery``."""

    query_id: str
    chat_id: int
    message_id: int
    data: str
    answered: bool = False


@dataclass
class WebhookConfig:
    url: str
    secret_token: str | None = None
    max_connections: int = 40
    ip_address: str | None = None
    has_custom_certificate: bool = False
    last_error_date: int | None = None
    last_error_message: str | None = None


class EmulatorState:
    """Chats, messages, files, commands, update queue and bookkeeping."""

    def __init__(
        self,
        token: str,
        *,
        bot_username: str,
        bot_name: str,
        first_update_id: int = 1,
    ) -> None:
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError(f"malformed bot token {token!r}; expected '<digits>:<secret>'")
        self.token = token
        self.bot_id = int(bot_id)
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.chats: dict[int, ChatState] = {}
        self.files = FileStore()
        self.updates = UpdateQueue(first_update_id)
        self.commands: dict[tuple[CommandScopeKey, str], list[dict[str, str]]] = {}
        self.callbacks: dict[str, PendingCallback] = {}
        self.transcript: list[TranscriptEntry] = []
        self.calls: list[ApiCall] = []
        self.failures: list[ApiFailure] = []
        self.rate_limited: list[RateLimitHit] = []
        #: Arrival times of the message-sending calls that succeeded.
        self.message_sends: list[float] = []
        self.webhook: WebhookConfig | None = None
        self.closing = False
        self.poll_generation = 0
        self.changed = Pulse()
        self.inflight = 0
        self.last_activity = time.monotonic()
        self._seq = 0

    # -- bookkeeping ----------------------------------------------------------

    def bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    @property
    def seq(self) -> int:
        return self._seq

    def touch(self) -> None:
        """Record activity and wake every waiter (settle, wait_for_message...)."""
        self.last_activity = time.monotonic()
        self.changed.fire()

    def wake_pollers(self) -> None:
        """Make pending long polls re-check webhook/closing/generation state."""
        self.updates.pulse.fire()
        self.changed.fire()

    def begin_call(self) -> None:
        self.inflight += 1
        self.touch()

    def end_call(self) -> None:
        self.inflight -= 1
        self.touch()

    def idle(self, quiet: float) -> bool:
        return (
            self.inflight == 0
            and self.updates.undelivered_count == 0
            and time.monotonic() - self.last_activity >= quiet
        )

    async def settle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Wait until the bot has taken every update and stayed quiet for ``quiet`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.idle(quiet):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"emulator did not settle within {timeout}s: "
                    f"{self.updates.undelivered_count} update(s) not yet fetched by the bot, "
                    f"{self.inflight} API call(s) in flight, last activity "
                    f"{time.monotonic() - self.last_activity:.2f}s ago"
                )
            idle_for = time.monotonic() - self.last_activity
            await self.changed.wait(min(remaining, max(quiet - idle_for, 0.01)))

    # -- chats ----------------------------------------------------------------

    def add_chat(self, profile: UserProfile, *, started: bool) -> ChatState:
        chat = ChatState(profile=profile, chat_instance=str(secrets.randbits(62)), started=started)
        self.chats[profile.id] = chat
        return chat

    def get_chat(self, chat_id: Any) -> ChatState:
        """Resolve a ``chat_id`` parameter (int or numeric string)."""
        if isinstance(chat_id, str):
            try:
                chat_id = int(chat_id.strip())
            except ValueError:
                raise bad_request("chat not found") from None
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            raise bad_request("chat_id is empty" if chat_id is None else "chat not found")
        chat = self.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        return chat

    @staticmethod
    def ensure_reachable(chat: ChatState) -> None:
        """The 403 errors Telegram returns for chats the bot may not write to."""
        if chat.blocked:
            raise forbidden("bot was blocked by the user")
        if not chat.started:
            raise forbidden("bot can't initiate conversation with a user")

    # -- transcript -----------------------------------------------------------

    def record(
        self,
        chat: ChatState,
        direction: str,
        kind: str,
        text: str,
        *,
        markup: dict[str, Any] | None = None,
        edited: bool = False,
        message_id: int | None = None,
    ) -> None:
        buttons: tuple[tuple[str, ...], ...] = ()
        keyboard: str | None = None
        if markup:
            if "inline_keyboard" in markup:
                keyboard = "inline"
                buttons = tuple(tuple(b["text"] for b in row) for row in markup["inline_keyboard"])
            elif "keyboard" in markup:
                keyboard = "reply"
                buttons = tuple(
                    tuple(visible_label(b["text"]) for b in row) for row in markup["keyboard"]
                )
            elif markup.get("remove_keyboard"):
                keyboard = "remove"
        self.transcript.append(
            TranscriptEntry(
                timestamp=time.time(),
                chat_id=chat.chat_id,
                user_name=chat.profile.full_name,
                direction=direction,
                kind=kind,
                text=text,
                buttons=buttons,
                edited=edited,
                message_id=message_id,
                keyboard=keyboard,
            )
        )

    # -- bot messages -----------------------------------------------------------

    def add_bot_message(self, chat: ChatState, message: BotMessage) -> BotMessage:
        """Store an outgoing message, apply keyboard side effects, log it."""
        message.seq = self.next_seq()
        chat.bot_messages[message.message_id] = message
        markup = message.reply_markup
        if markup is not None:
            if "keyboard" in markup:
                chat.reply_keyboard = markup
                chat.reply_keyboard_message_id = message.message_id
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
                chat.reply_keyboard_message_id = None
        self.record(
            chat,
            "bot",
            message.kind,
            _transcript_text(message),
            markup=markup,
            message_id=message.message_id,
        )
        self.touch()
        return message

    def message_edited(self, chat: ChatState, message: BotMessage) -> None:
        message.edit_date = int(time.time())
        message.seq = self.next_seq()
        self.record(
            chat,
            "bot",
            message.kind,
            _transcript_text(message),
            markup=message.reply_markup,
            edited=True,
            message_id=message.message_id,
        )
        self.touch()

    def message_deleted(self, chat: ChatState, message_id: int) -> bool:
        """Mark a bot or user message deleted; False if there is no such message."""
        message = chat.bot_messages.get(message_id)
        if message is not None and not message.deleted:
            message.deleted = True
            message.seq = self.next_seq()
            if chat.reply_keyboard_message_id == message_id:
                chat.reply_keyboard = None
                chat.reply_keyboard_message_id = None
            self.record(
                chat, "bot", "delete", f"deleted message #{message_id}", message_id=message_id
            )
            self.touch()
            return True
        if message_id in chat.user_messages and message_id not in chat.deleted_user_messages:
            chat.deleted_user_messages.add(message_id)
            self.record(
                chat, "bot", "delete", f"deleted user message #{message_id}", message_id=message_id
            )
            self.touch()
            return True
        return False

    def render_file(self, message: BotMessage) -> dict[str, Any]:
        stored = message.file
        assert stored is not None
        if message.kind == "photo":
            sizes = photo_sizes(stored.width or 1, stored.height or 1)
            return {
                "photo": [
                    {
                        "file_id": file_id,
                        "file_unique_id": f"{stored.file_unique_id}{index}",
                        "width": width,
                        "height": height,
                        "file_size": stored.size,
                    }
                    for index, (file_id, (width, height)) in enumerate(
                        zip(stored.file_ids, sizes, strict=True)
                    )
                ]
            }
        if message.kind == "voice":
            voice: dict[str, Any] = {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "duration": stored.duration or 1,
                "file_size": stored.size,
            }
            if stored.mime_type:
                voice["mime_type"] = stored.mime_type
            return {"voice": voice}
        if message.kind == "video_note":
            return {
                "video_note": {
                    "file_id": stored.file_id,
                    "file_unique_id": stored.file_unique_id,
                    "length": stored.width or 384,
                    "duration": stored.duration or 1,
                    "file_size": stored.size,
                }
            }
        document: dict[str, Any] = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.size,
        }
        if stored.filename:
            document["file_name"] = stored.filename
        if stored.mime_type:
            document["mime_type"] = stored.mime_type
        return {"document": document}

    def render_message(self, message: BotMessage, *, with_reply: bool = True) -> dict[str, Any]:
        """The Message JSON of a bot message in its current state."""
        chat = self.chats[message.chat_id]
        data: dict[str, Any] = {
            "message_id": message.message_id,
            "from": self.bot_user(),
            "chat": chat.to_api(),
            "date": message.date,
        }
        if message.kind == "text":
            data["text"] = message.text
            if message.entities:
                data["entities"] = message.entities
        elif message.kind == "location":
            data["location"] = {
                "latitude": message.latitude,
                "longitude": message.longitude,
                **message.location_extra,
            }
        else:
            data.update(self.render_file(message))
            if message.text:
                data["caption"] = message.text
                if message.entities:
                    data["caption_entities"] = message.entities
        if message.edit_date is not None:
            data["edit_date"] = message.edit_date
        if message.media_group_id is not None:
            data["media_group_id"] = message.media_group_id
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            data["reply_markup"] = message.reply_markup
        if with_reply and message.reply_to_message_id is not None:
            replied = self.render_any(chat, message.reply_to_message_id)
            if replied is not None:
                data["reply_to_message"] = replied
        return data

    def render_any(self, chat: ChatState, message_id: int) -> dict[str, Any] | None:
        """Render a bot or user message of the chat (without nested replies)."""
        bot_message = chat.bot_messages.get(message_id)
        if bot_message is not None and not bot_message.deleted:
            return self.render_message(bot_message, with_reply=False)
        if message_id in chat.user_messages and message_id not in chat.deleted_user_messages:
            return {
                k: v for k, v in chat.user_messages[message_id].items() if k != "reply_to_message"
            }
        return None

    # -- user side --------------------------------------------------------------

    def queue_update(self, chat: ChatState, update_type: str, payload: dict[str, Any]) -> None:
        """Queue an update caused by the user of ``chat`` and remember its id there.

        Updates of a type the bot excluded with ``allowed_updates`` are not
        queued (as on Telegram), so they get no id.
        """
        update = self.updates.push(update_type, payload)
        if update is not None:
            chat.update_ids.append(update["update_id"])

    def set_blocked(self, chat: ChatState, blocked: bool) -> None:
        """Block/unblock the bot and emit the my_chat_member update Telegram sends."""
        if chat.blocked == blocked:
            return
        chat.blocked = blocked
        old_status, new_status = ("member", "kicked") if blocked else ("kicked", "member")

        def member(status: str) -> dict[str, Any]:
            data: dict[str, Any] = {"status": status, "user": self.bot_user()}
            if status == "kicked":
                data["until_date"] = 0
            return data

        self.queue_update(
            chat,
            "my_chat_member",
            {
                "chat": chat.to_api(),
                "from": chat.profile.to_api(),
                "date": int(time.time()),
                "old_chat_member": member(old_status),
                "new_chat_member": member(new_status),
            },
        )
        chat.last_action_seq = self.next_seq()
        self.record(
            chat,
            "user",
            "block" if blocked else "unblock",
            "blocked the bot" if blocked else "unblocked the bot",
        )
        self.touch()

    def push_user_message(
        self,
        chat: ChatState,
        fields: dict[str, Any],
        *,
        kind: str,
        transcript_text: str,
    ) -> dict[str, Any]:
        """Create a message from the user and queue it as a ``message`` update."""
        if chat.blocked:
            # Writing to a blocked bot means pressing "Restart", which unblocks it.
            self.set_blocked(chat, False)
        chat.started = True
        message_id = chat.allocate_message_id()
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": chat.profile.to_api(),
            "chat": chat.to_api(),
            "date": int(time.time()),
            **fields,
        }
        chat.user_messages[message_id] = message
        chat.last_action_seq = self.next_seq()
        self.record(chat, "user", kind, transcript_text, message_id=message_id)
        self.queue_update(chat, "message", message)
        self.touch()
        return message

    def push_callback(self, chat: ChatState, message: BotMessage, data: str, label: str) -> str:
        """Queue a ``callback_query`` as if the user pressed a button of ``message``."""
        if chat.blocked:
            self.set_blocked(chat, False)
        query_id = str(secrets.randbits(63))
        self.callbacks[query_id] = PendingCallback(query_id, chat.chat_id, message.message_id, data)
        payload = {
            "id": query_id,
            "from": chat.profile.to_api(),
            "message": self.render_message(message),
            "chat_instance": chat.chat_instance,
            "data": data,
        }
        chat.last_action_seq = self.next_seq()
        self.record(chat, "user", "press", label, message_id=message.message_id)
        self.queue_update(chat, "callback_query", payload)
        self.touch()
        return query_id

    def record_failure(self, method: str, error: ApiError, params: dict[str, Any]) -> None:
        self.failures.append(ApiFailure(method, error.error_code, error.description, params))


def _transcript_text(message: BotMessage) -> str:
    if message.kind == "document":
        name = message.file.filename if message.file else None
        size = message.file.size if message.file else 0
        head = f"📄 {name or 'document'} ({_human_size(size)})"
        return f"{head} {message.text}".rstrip()
    if message.kind == "photo":
        return f"🖼 {message.text}".rstrip()
    if message.kind == "voice":
        duration = message.file.duration if message.file and message.file.duration else 1
        return f"🎤 voice {duration}s {message.text}".rstrip()
    if message.kind == "video_note":
        duration = message.file.duration if message.file and message.file.duration else 1
        return f"⏺ video note {duration}s"
    if message.kind == "location":
        return f"📍 {message.latitude}, {message.longitude}"
    return message.text


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / (1024 * 1024):.1f} MB"
