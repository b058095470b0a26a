"""The user-side API: act as a Telegram user in a private chat with the bot.

Tests and the demo script drive the bot exclusively through these methods, so
they mirror what a person can do in a Telegram client (type, press a visible
button, share a contact...) and fail with readable assertion messages that
show what the chat actually looks like when an expectation is not met.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .formatting import command_entities
from .markup import inline_buttons, visible_label
from .media import guess_mime_type, make_png, photo_sizes
from .models import BotMessage, CallbackAnswer
from .state import ChatState, EmulatorState

__all__ = ["EmulatedUser", "MessagePredicate"]

MessagePredicate = Callable[[BotMessage], bool]

DEFAULT_LOCATION: tuple[float, float] = (31.2304, 121.4737)


class EmulatedUser:
    """A Telegram user chatting privately with the bot (chat id == user id)."""

    def __init__(self, state: EmulatorState, chat: ChatState) -> None:
        self._state = state
        self._chat = chat
        self.phone: str = f"+86138{chat.chat_id % 10**8:08d}"
        self.location: tuple[float, float] = DEFAULT_LOCATION

    # -- identity -------------------------------------------------------------

    @property
    def id(self) -> int:
        return self._chat.profile.id

    @property
    def chat_id(self) -> int:
        return self._chat.chat_id

    @property
    def first_name(self) -> str:
        return self._chat.profile.first_name

    @property
    def last_name(self) -> str | None:
        return self._chat.profile.last_name

    @property
    def username(self) -> str | None:
        return self._chat.profile.username

    @property
    def language_code(self) -> str | None:
        return self._chat.profile.language_code

    @property
    def full_name(self) -> str:
        return self._chat.profile.full_name

    def __repr__(self) -> str:
        return f"EmulatedUser(id={self.id}, name={self.full_name!r})"

    # -- sending ----------------------------------------------------------------

    async def send_text(self, text: str) -> dict[str, Any]:
        """Send a text message; ``/commands`` get ``bot_command`` entities.

        Deliberately permissive (whitespace-only or over-long texts are sent
        as given) so tests can probe how the bot copes with odd input.
        """
        return self._push_text(text, shown=text)

    def _push_text(self, text: str, *, shown: str) -> dict[str, Any]:
        if text == "":
            raise ValueError("a text message cannot be empty")
        fields: dict[str, Any] = {"text": text}
        entities = command_entities(text)
        if entities:
            fields["entities"] = entities
        return self._state.push_user_message(self._chat, fields, kind="text", transcript_text=shown)

    async def send_command(self, command: str, args: str | None = None) -> dict[str, Any]:
        """Send ``/command [args]`` (``command`` may include the slash)."""
        text = "/" + command.lstrip("/")
        if args:
            text = f"{text} {args}"
        return await self.send_text(text)

    async def send_photo(
        self,
        caption: str | None = None,
        *,
        width: int = 640,
        height: int = 480,
        media_group_id: str | None = None,
    ) -> dict[str, Any]:
        """Send a photo (a generated solid-colour image of this size).

        Photos sent as one album share a ``media_group_id``: Telegram delivers
        each as its own message update.
        """
        payload = make_png(width, height)
        sizes = photo_sizes(width, height)
        stored = self._state.files.add(
            "photo",
            payload,
            mime_type="image/jpeg",
            width=width,
            height=height,
            variants=len(sizes),
        )
        fields: dict[str, Any] = {
            "photo": [
                {
                    "file_id": file_id,
                    "file_unique_id": f"{stored.file_unique_id}{index}",
                    "width": w,
                    "height": h,
                    "file_size": stored.size,
                }
                for index, (file_id, (w, h)) in enumerate(zip(stored.file_ids, sizes, strict=True))
            ]
        }
        if caption:
            fields["caption"] = caption
        if media_group_id:
            fields["media_group_id"] = media_group_id
        return self._state.push_user_message(
            self._chat, fields, kind="photo", transcript_text=f"🖼 {caption or ''}".rstrip()
        )

    async def send_voice(self, duration: int = 5, *, caption: str | None = None) -> dict[str, Any]:
        """Send a voice message of ``duration`` seconds (placeholder OGG bytes)."""
        if duration < 1:
            raise ValueError("a voice message lasts at least one second")
        stored = self._state.files.add(
            "voice", b"OggS" + bytes(16 * duration), mime_type="audio/ogg", duration=duration
        )
        fields: dict[str, Any] = {
            "voice": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "duration": duration,
                "mime_type": "audio/ogg",
                "file_size": stored.size,
            }
        }
        if caption:
            fields["caption"] = caption
        return self._state.push_user_message(
            self._chat, fields, kind="voice", transcript_text=f"🎤 voice {duration}s {caption or ''}".rstrip()
        )

    async def send_video_note(self, duration: int = 5, *, length: int = 384) -> dict[str, Any]:
        """Send a round video message (a video note) of ``duration`` seconds."""
        if duration < 1:
            raise ValueError("a video note lasts at least one second")
        stored = self._state.files.add(
            "video_note", bytes(32 * duration), mime_type="video/mp4", duration=duration,
            width=length, height=length,
        )
        fields = {
            "video_note": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "length": length,
                "duration": duration,
                "file_size": stored.size,
            }
        }
        return self._state.push_user_message(
            self._chat, fields, kind="video_note", transcript_text=f"⏺ video note {duration}s"
        )

    async def send_document(
        self,
        data: bytes = b"Linli test document\n",
        filename: str = "document.txt",
        *,
        mime_type: str | None = None,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """Send a file as a document."""
        mime = guess_mime_type(filename, mime_type)
        stored = self._state.files.add("document", data, filename=filename, mime_type=mime)
        fields: dict[str, Any] = {
            "document": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_name": filename,
                "mime_type": mime,
                "file_size": stored.size,
            }
        }
        if caption:
            fields["caption"] = caption
        return self._state.push_user_message(
            self._chat,
            fields,
            kind="document",
            transcript_text=f"📄 {filename} {caption or ''}".rstrip(),
        )

    async def send_sticker(self, emoji: str = "👍") -> dict[str, Any]:
        """Send a static sticker (placeholder image bytes)."""
        stored = self._state.files.add(
            "sticker", make_png(64, 64), filename="sticker.webp", mime_type="image/webp"
        )
        fields = {
            "sticker": {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": emoji,
                "file_size": stored.size,
            }
        }
        return self._state.push_user_message(
            self._chat, fields, kind="sticker", transcript_text=f"{emoji} sticker"
        )

    async def send_location(
        self, latitude: float | None = None, longitude: float | None = None
    ) -> dict[str, Any]:
        """Share a location (defaults to :attr:`location`)."""
        lat = self.location[0] if latitude is None else latitude
        lon = self.location[1] if longitude is None else longitude
        fields = {"location": {"latitude": lat, "longitude": lon}}
        return self._state.push_user_message(
            self._chat, fields, kind="location", transcript_text=f"📍 {lat}, {lon}"
        )

    async def share_contact(
        self,
        phone_number: str | None = None,
        *,
        user_id: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        """Share a contact; defaults to the user's own (phone :attr:`phone`).

        ``user_id=0`` shares a phone-book contact without a Telegram account.
        """
        contact: dict[str, Any] = {
            "phone_number": phone_number or self.phone,
            "first_name": first_name or self.first_name,
        }
        resolved_last = last_name if first_name is not None else (last_name or self.last_name)
        if resolved_last:
            contact["last_name"] = resolved_last
        contact_user_id = self.id if user_id is None else user_id
        if contact_user_id:
            contact["user_id"] = contact_user_id
        return self._state.push_user_message(
            self._chat,
            {"contact": contact},
            kind="contact",
            transcript_text=f"📇 {contact['phone_number']}",
        )

    # -- buttons ------------------------------------------------------------------

    async def press(self, button_text: str, *, message_id: int | None = None) -> str:
        """Press an inline button by its text; returns the callback query id.

        Searches the newest message first; an exact text match anywhere wins
        over a substring match.
        """
        candidates = [m for m in reversed(self.messages) if not m.deleted]
        if message_id is not None:
            candidates = [m for m in candidates if m.message_id == message_id]
            if not candidates:
                raise AssertionError(f"{self.full_name}: no bot message #{message_id} in the chat")
        found: tuple[BotMessage, dict[str, Any]] | None = None
        for matcher in (
            lambda text: text == button_text,
            lambda text: button_text in text,
        ):
            for message in candidates:
                for button in inline_buttons(message.reply_markup):
                    if matcher(button["text"]):
                        found = (message, button)
                        break
                if found:
                    break
            if found:
                break
        if found is None:
            visible = [
                f"#{m.message_id}: " + " ".join(f"[{b}]" for b in m.buttons)
                for m in candidates
                if m.buttons
            ]
            raise AssertionError(
                f"{self.full_name}: no inline button {button_text!r}. Visible buttons:\n  "
                + ("\n  ".join(visible) if visible else "(none)")
            )
        message, button = found
        data = button.get("callback_data")
        if data is None:
            kind = next((k for k in button if k != "text"), "unknown")
            raise AssertionError(
                f"{self.full_name}: button {button['text']!r} on #{message.message_id} is a "
                f"{kind} button, pressing it does not reach the bot"
            )
        return self._state.push_callback(self._chat, message, data, f"[{button['text']}]")

    async def press_data(self, data: str, *, message_id: int) -> str:
        """Send arbitrary callback data from a message (forged or stale buttons)."""
        message = self._chat.bot_messages.get(message_id)
        if message is None or message.deleted:
            raise AssertionError(f"{self.full_name}: no bot message #{message_id} to press on")
        return self._state.push_callback(self._chat, message, data, f"[data:{data}]")

    @property
    def reply_keyboard(self) -> dict[str, Any] | None:
        """The reply keyboard currently shown under the input field."""
        return self._chat.reply_keyboard

    @property
    def reply_buttons(self) -> list[str]:
        """Labels of the reply keyboard as a person sees them (see :meth:`tap_reply`)."""
        keyboard = self._chat.reply_keyboard
        if not keyboard:
            return []
        return [visible_label(button["text"]) for row in keyboard["keyboard"] for button in row]

    async def tap_reply(self, button_text: str) -> dict[str, Any]:
        """Tap a reply-keyboard button by its visible label; returns the sent message.

        The label is matched without the invisible callback payload aiogram-dialog
        appends to reply buttons (exact match first, then substring), and the
        message carries the button's full text, exactly as Telegram sends it.
        Contact and location requests are honoured.
        """
        keyboard = self._chat.reply_keyboard
        if not keyboard:
            raise AssertionError(f"{self.full_name}: no reply keyboard is shown")
        buttons = [button for row in keyboard["keyboard"] for button in row]
        button = next(
            (b for b in buttons if button_text in (visible_label(b["text"]), b["text"])), None
        ) or next((b for b in buttons if button_text in visible_label(b["text"])), None)
        if button is None:
            raise AssertionError(
                f"{self.full_name}: no reply button {button_text!r}; keyboard: "
                + " ".join(f"[{visible_label(b['text'])}]" for b in buttons)
            )
        if button.get("request_contact"):
            return await self.share_contact()
        if button.get("request_location"):
            return await self.send_location()
        unsupported = [
            k
            for k in ("request_poll", "request_users", "request_user", "request_chat", "web_app")
            if k in button
        ]
        if unsupported:
            raise AssertionError(
                f"reply button {visible_label(button['text'])!r} uses {unsupported[0]}, not emulated"
            )
        return self._push_text(button["text"], shown=visible_label(button["text"]))

    # -- observing ---------------------------------------------------------------------

    @property
    def messages(self) -> list[BotMessage]:
        """Bot messages of this chat in order, current state (incl. deleted)."""
        return list(self._chat.bot_messages.values())

    def message(self, message_id: int) -> BotMessage:
        """One bot message of this chat as it is now (edited text, buttons), by id."""
        try:
            return self._chat.bot_messages[message_id]
        except KeyError:
            raise AssertionError(f"{self.full_name}: no bot message #{message_id} in the chat") from None

    @property
    def last_message(self) -> BotMessage | None:
        """The newest bot message that is not deleted."""
        for message in reversed(self._chat.bot_messages.values()):
            if not message.deleted:
                return message
        return None

    @property
    def update_ids(self) -> list[int]:
        """update_id of every update queued on behalf of this user, oldest first.

        Messages, button presses, shared contacts and locations, and the
        my_chat_member updates of blocking/unblocking all count; a test can
        wait until the bot has handled :attr:`last_update_id`.
        """
        return list(self._chat.update_ids)

    @property
    def last_update_id(self) -> int | None:
        """The newest of :attr:`update_ids` (None before the first action)."""
        return self._chat.update_ids[-1] if self._chat.update_ids else None

    @property
    def callback_answers(self) -> list[CallbackAnswer]:
        return list(self._chat.callback_answers)

    @property
    def chat_actions(self) -> list[str]:
        return list(self._chat.chat_actions)

    def mark(self) -> int:
        """A sequence marker; pass as ``after=`` to only see later messages."""
        return self._state.seq

    async def wait_for_message(
        self,
        predicate_or_substring: str | MessagePredicate | None = None,
        *,
        timeout: float = 5.0,
        after: int | None = None,
    ) -> BotMessage:
        """Wait for a new or edited bot message matching the condition.

        ``after`` defaults to the moment of this user's last action, so the
        usual "act, then wait for the reply" pattern needs no marker.
        """
        since = self._chat.last_action_seq if after is None else after
        predicate = _as_predicate(predicate_or_substring)

        def find() -> BotMessage | None:
            changed = [
                m for m in self._chat.bot_messages.values() if m.seq > since and not m.deleted
            ]
            for message in sorted(changed, key=lambda m: m.seq):
                if predicate(message):
                    return message
            return None

        result: list[BotMessage] = []

        def check() -> bool:
            message = find()
            if message is not None:
                result.append(message)
                return True
            return False

        if await self._state.changed.wait_for(check, timeout):
            return result[-1]
        wanted = _describe(predicate_or_substring)
        raise AssertionError(
            f"{self.full_name}: no bot message {wanted} within {timeout}s "
            f"(after marker {since}).\n{self._chat_dump()}"
        )

    async def wait_for_callback_answer(self, query_id: str, timeout: float = 5.0) -> CallbackAnswer:
        """Wait until the bot answers the given callback query."""

        def find() -> CallbackAnswer | None:
            return next((a for a in self._chat.callback_answers if a.query_id == query_id), None)

        if await self._state.changed.wait_for(lambda: find() is not None, timeout):
            answer = find()
            assert answer is not None
            return answer
        raise AssertionError(
            f"{self.full_name}: callback query {query_id} not answered within {timeout}s.\n"
            f"{self._chat_dump()}"
        )

    async def wait_idle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Wait until the bot fetched all updates and made no API call for ``quiet`` s."""
        await self._state.settle(quiet=quiet, timeout=timeout)

    def _chat_dump(self, last: int = 6) -> str:
        lines = ["Last bot messages:"]
        messages = self.messages[-last:]
        lines += [f"  {m.describe()}" for m in messages] or ["  (none)"]
        failures = [
            f
            for f in self._state.failures[-20:]
            if str(f.params.get("chat_id")) == str(self.chat_id) or "chat_id" not in f.params
        ][-5:]
        if failures:
            lines.append("Recent API errors:")
            lines += [f"  {f.method}: {f.error_code} {f.description}" for f in failures]
        return "\n".join(lines)

    # -- blocking ----------------------------------------------------------------------

    @property
    def blocked(self) -> bool:
        return self._chat.blocked

    def block_bot(self) -> None:
        """Block the bot: sends fail with 403 and a my_chat_member update is queued."""
        self._state.set_blocked(self._chat, True)

    def unblock_bot(self) -> None:
        self._state.set_blocked(self._chat, False)

    # -- commands menu -------------------------------------------------------------------

    def visible_commands(self) -> list[dict[str, str]]:
        """The command menu this user's client would show in the private chat.

        Telegram's fallback: the chat scope, then all_private_chats, then
        default; in each, the user's language before the language-less list.
        """
        language = (self.language_code or "").split("-")[0].lower()
        scopes: list[tuple[Any, ...]] = [
            ("chat", self.chat_id),
            ("all_private_chats",),
            ("default",),
        ]
        for scope in scopes:
            for code in (language, "") if language else ("",):
                commands = self._state.commands.get((scope, code))
                if commands:
                    return [dict(c) for c in commands]
        return []


def _as_predicate(value: str | MessagePredicate | None) -> MessagePredicate:
    if value is None:
        return lambda message: True
    if isinstance(value, str):
        needle = value
        return lambda message: needle in message.text or needle in (message.document_name or "")
    return value


def _describe(value: str | MessagePredicate | None) -> str:
    if value is None:
        return "(any)"
    if isinstance(value, str):
        return f"containing {value!r}"
    return f"matching {getattr(value, '__name__', 'predicate')}"
