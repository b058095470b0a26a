"""The HTTP server and the public :class:`BotAPIEmulator` facade.

aiogram (or any client) talks to ``{base_url}/bot{token}/{method}`` exactly as
to api.telegram.org; tests act as users through :meth:`BotAPIEmulator.user`.
Everything runs in the caller's event loop, so a test can interleave bot
polling, user actions and assertions without threads.

Each call passes, in this order, injected latency and errors
(:mod:`tgemu.faults`) and, if it sends a message, the flood limits
(:mod:`tgemu.limits`, off by default) before its method runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import time
from collections.abc import Iterable, Sequence
from functools import partial
from types import TracebackType
from typing import Any

from aiohttp import web

from .errors import ApiError, not_found, too_many_requests, unauthorized
from .faults import Faults
from .limits import Clock, RateLimiter, RateLimits, busiest_window, is_message_send
from .markup import validate_language_code
from .methods import CallContext, Described, Handler, MethodRegistry
from .models import ApiCall, ApiFailure, RateLimitHit, TranscriptEntry
from .params import Params
from .state import EmulatorState, UserProfile
from .transcript import format_transcript
from .user import EmulatedUser
from .webhook import WebhookDeliverer

__all__ = ["BotAPIEmulator"]

logger = logging.getLogger(__name__)

_MAX_REQUEST_SIZE = 52 * 1024 * 1024  # 50 MB uploads plus form overhead
_json_dumps = partial(json.dumps, ensure_ascii=False)

class BotAPIEmulator:
    """A local Telegram Bot API server plus a Python API to act as users."""

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        bot_username: str = "linli_bot",
        bot_name: str = "邻里",
        first_update_id: int = 1,
    ) -> None:
        self._state = EmulatorState(
            token, bot_username=bot_username, bot_name=bot_name, first_update_id=first_update_id
        )
        self._methods = MethodRegistry(self._state, on_webhook_changed=self._webhook_changed)
        self._webhook = WebhookDeliverer(self._state, self._execute_webhook_reply)
        self._users: dict[int, EmulatedUser] = {}
        self._faults = Faults()
        self._limiter: RateLimiter | None = None
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- lifecycle ------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> BotAPIEmulator:
        """Start listening; ``port=0`` picks a free port (see :attr:`base_url`)."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        app = web.Application(client_max_size=_MAX_REQUEST_SIZE)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._state.closing = False
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        display_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        self._base_url = f"http://{display_host}:{bound_port}"
        logger.debug("Bot API emulator listening on %s", self._base_url)
        return self

    async def stop(self) -> None:
        """Stop the server; pending long polls return immediately."""
        self._state.closing = True
        self._state.wake_pollers()
        await self._webhook.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIEmulator:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` for ``TelegramAPIServer.from_base``."""
        if self._base_url is None:
            raise RuntimeError("emulator is not started")
        return self._base_url

    # -- identity ---------------------------------------------------------------------

    @property
    def token(self) -> str:
        return self._state.token

    # -- users ---------------------------------------------------------------------------

    def user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        started: bool = True,
    ) -> EmulatedUser:
        """The user with this id (created on first call, same object afterwards).

        ``started=False`` models an account that never opened the bot: sends
        to it fail with 403 until it writes to the bot.
        """
        existing = self._users.get(user_id)
        if existing is not None:
            return existing
        if user_id <= 0:
            raise ValueError("private chats need a positive user id")
        if user_id == self._state.bot_id:
            raise ValueError("user id collides with the bot id")
        profile = UserProfile(user_id, first_name, last_name, username, language_code)
        chat = self._state.add_chat(profile, started=started)
        emulated = EmulatedUser(self._state, chat)
        self._users[user_id] = emulated
        return emulated

    # -- observation ---------------------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        """Every authenticated API request, in arrival order."""
        return list(self._state.calls)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """Parameters of every call of ``method`` (case-insensitive)."""
        wanted = method.lower()
        return [call.params for call in self._state.calls if call.method.lower() == wanted]

    @property
    def failures(self) -> list[ApiFailure]:
        """Every error response sent, for debugging bots that swallow errors."""
        return list(self._state.failures)

    @property
    def rate_limited(self) -> list[RateLimitHit]:
        """Every 429 the flood limits (:meth:`set_rate_limits`) answered, oldest first."""
        return list(self._state.rate_limited)

    def sent_messages_per_window(self, window: float = 1.0) -> int:
        """The most successful message-sending calls that arrived within ``window`` seconds.

        Counts the calls the flood limits apply to (``send*`` but
        ``sendChatAction``, forward and copy), by arrival time, in the busiest
        half-open interval of that length - e.g. ``<= 30`` proves a bot kept
        to Telegram's 30 messages per second, whether the limits are on or not.
        """
        if window <= 0:
            raise ValueError("window must be positive")
        return busiest_window(self._state.message_sends, window)

    @property
    def transcript(self) -> list[TranscriptEntry]:
        return list(self._state.transcript)

    def format_transcript(
        self, chat_ids: Iterable[int] | None = None, *, timestamps: bool = False
    ) -> str:
        """Readable chat log, optionally restricted to some chats."""
        return format_transcript(
            self._state.transcript,
            bot_name=self._state.bot_name,
            chat_ids=chat_ids,
            timestamps=timestamps,
        )

    def commands(
        self,
        language_code: str | None = None,
        scope_type: str = "default",
        *,
        chat_id: int | None = None,
    ) -> list[dict[str, str]]:
        """Commands stored by setMyCommands for exactly this scope and language."""
        scope = (scope_type,) if chat_id is None else (scope_type, chat_id)
        key = (scope, validate_language_code(language_code))
        return [dict(command) for command in self._state.commands.get(key, [])]

    async def settle(self, quiet: float = 0.3, timeout: float = 5.0) -> None:
        """Wait until all updates were fetched and no API call happened for ``quiet`` s."""
        await self._state.settle(quiet=quiet, timeout=timeout)

    # -- fault injection -------------------------------------------------------------------

    def inject_error(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | Sequence[int] = 1,
        times: int = 1,
        every: int | None = None,
    ) -> None:
        """Make calls of ``method`` fail with this error, ``times`` times in all.

        Without ``every`` the next ``times`` calls fail; with it only every
        ``every``-th call counted from now (the 10th, 20th... for 10) fails
        and the others go through, until ``times`` have failed - a flood
        storm is ``inject_error("sendMessage", every=10, times=1000,
        retry_after=[1, 2, 3, 4, 5])``.  A sequence of ``retry_after`` values
        is used in turn, round and round.  Injected 429s show in
        :attr:`failures` but not in :attr:`rate_limited`.
        """
        self._faults.add_error(
            method,
            error_code=error_code,
            description=description,
            retry_after=retry_after,
            times=times,
            every=every,
        )

    def delay(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` wait ``seconds`` before they are processed.

        The wait is asynchronous: other requests are served meanwhile, as a
        slow Telegram would, so a bot handler awaiting the call is slow.
        """
        self._faults.add_delay(method, seconds, times)

    def clear_faults(self, method: str | None = None) -> None:
        """End a staged outage: forget injected errors and delays not used yet
        (of ``method`` only, if given)."""
        self._faults.clear(method)

    def set_rate_limits(self, limits: RateLimits | None, *, clock: Clock = time.monotonic) -> None:
        """Answer 429 like Telegram's flood control from now on; None turns it off (the default).

        The buckets start full.  ``clock`` (seconds, monotonic) lets a test
        advance time instead of sleeping.
        """
        self._limiter = None if limits is None else RateLimiter(limits, clock=clock)

    # -- webhook re-sending ----------------------------------------------------------------

    def redeliver(self, update_id: int, times: int = 1) -> None:
        """Send an update the bot already had ``times`` more times, as Telegram re-sends
        one whose delivery it thinks failed; the bot should act on it once."""
        self._state.updates.redeliver(update_id, times)
        self._state.touch()

    # -- direct calls ------------------------------------------------------------------------

    async def call(self, method: str, **params: Any) -> Any:
        """Invoke an API method in-process (same validation); raises :class:`ApiError`."""
        _, payload = await self._dispatch(self._state.token, method, Params(params), CallContext())
        if not payload["ok"]:
            raise ApiError(
                payload["error_code"],
                payload["description"],
                retry_after=payload.get("parameters", {}).get("retry_after"),
            )
        return payload["result"]

    # -- HTTP plumbing ---------------------------------------------------------------------

    async def _dispatch(
        self, token: str, method: str, params: Params, ctx: CallContext
    ) -> tuple[int, dict[str, Any]]:
        state = self._state
        if token != state.token:
            return 401, unauthorized().to_payload()
        resolved = self._methods.resolve(method)
        snapshot = params.snapshot()
        if resolved is None:
            state.calls.append(ApiCall(method, snapshot))
            error = not_found()
            state.record_failure(method, error, snapshot)
            return error.error_code, error.to_payload()
        name, handler = resolved
        call = ApiCall(name, snapshot, time.monotonic(), _chat_id(snapshot.get("chat_id")))
        state.calls.append(call)
        tracked = name != "getUpdates"
        if tracked:
            state.begin_call()
        try:
            result = await self._invoke(call, handler, params, ctx)
        except ApiError as error:
            state.record_failure(name, error, snapshot)
            return error.error_code, error.to_payload()
        except Exception:
            logger.exception("Bot API emulator failed on %s", name)
            internal = ApiError(500, "Internal Server Error")
            state.record_failure(name, internal, snapshot)
            return 500, internal.to_payload()
        finally:
            if tracked:
                state.end_call()
        if isinstance(result, Described):
            return 200, {"ok": True, "result": result.result, "description": result.description}
        return 200, {"ok": True, "result": result}

    async def _invoke(self, call: ApiCall, handler: Handler, params: Params, ctx: CallContext) -> Any:
        """Injected latency and errors, then flood control, then the method itself."""
        delay = self._faults.take_delay(call.method)
        if delay > 0:
            await asyncio.sleep(delay)
        fault = self._faults.take_error(call.method)
        if fault is not None:
            raise fault
        if not is_message_send(call.method):
            return await handler(params, ctx)
        limiter = self._limiter
        if limiter is not None:
            retry_after = limiter.acquire(call.chat_id)
            if retry_after:
                self._state.rate_limited.append(
                    RateLimitHit(call.method, call.chat_id, retry_after, limiter.clock())
                )
                raise too_many_requests(retry_after)
        try:
            result = await handler(params, ctx)
        except BaseException:
            # Nothing was sent: Telegram's limits count messages, not attempts.
            if limiter is not None:
                limiter.release(call.chat_id)
            raise
        self._state.message_sends.append(call.at)
        return result

    async def _handle_api(self, request: web.Request) -> web.Response:
        try:
            params = await Params.from_request(request)
        except ApiError as error:
            return web.json_response(error.to_payload(), status=error.error_code, dumps=_json_dumps)
        except web.HTTPRequestEntityTooLarge:
            too_large = ApiError(413, "Request Entity Too Large")
            return web.json_response(too_large.to_payload(), status=413, dumps=_json_dumps)
        transport = request.transport

        def connected() -> bool:
            return transport is not None and not transport.is_closing()

        status, payload = await self._dispatch(
            request.match_info["token"],
            request.match_info["method"],
            params,
            CallContext(connected),
        )
        return web.json_response(payload, status=status, dumps=_json_dumps)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self._state.token:
            error = unauthorized()
            return web.json_response(error.to_payload(), status=error.error_code)
        stored = self._state.files.by_path(request.match_info["path"])
        if stored is None:
            error = not_found()
            return web.json_response(error.to_payload(), status=error.error_code)
        content_type = (
            stored.mime_type
            or mimetypes.guess_type(stored.file_path)[0]
            or "application/octet-stream"
        )
        return web.Response(body=stored.data, content_type=content_type)

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        error = not_found()
        return web.json_response(error.to_payload(), status=error.error_code)

    # -- webhook ---------------------------------------------------------------------------

    def _webhook_changed(self) -> None:
        self._webhook.ensure_running()

    async def _execute_webhook_reply(self, method: str, params: Params) -> None:
        status, payload = await self._dispatch(self._state.token, method, params, CallContext())
        if status != 200:
            logger.info("webhook reply %s failed: %s", method, payload.get("description"))


def _chat_id(value: Any) -> Any:
    """A ``chat_id`` parameter for the records: numeric strings as int, since
    form-encoded requests (aiogram's) carry every value as text; anything else
    (``"@channel"``, garbage) as given."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value.strip())
    return value
