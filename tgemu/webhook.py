"""Webhook delivery: POST queued updates to the bot's URL, like Telegram.

Up to ``max_connections`` updates (``setWebhook``, 1-100, default 40) are in
flight at once.  Each is confirmed on its own after a 2xx answer; one that
fails stays queued and is retried after a capped exponential back-off of its
own, while the others go on, so one bad update never holds up the rest for
long.  As on Telegram, updates of the same chat may be delivered concurrently
and complete out of order (and a failed update is retried after later ones,
even with ``max_connections=1``): a bot that needs a chat's updates in
sequence must serialise them itself.  A method call in the response
body - aiogram's "webhook reply", sent as JSON or multipart form - is executed
like a normal API request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from .params import Params, UploadedFile
from .state import EmulatorState, WebhookConfig
from .updates import QueuedUpdate

__all__ = ["WebhookDeliverer"]

logger = logging.getLogger(__name__)

_REQUEST_TIMEOUT = 60.0
_MAX_BACKOFF = 2.0
#: setWebhook's upper bound for max_connections; the HTTP pool must not be the bottleneck.
_MAX_CONNECTIONS = 100

ReplyExecutor = Callable[[str, Params], Awaitable[None]]


class WebhookDeliverer:
    """Background task that drains the update queue into the webhook."""

    def __init__(self, state: EmulatorState, execute_reply: ReplyExecutor) -> None:
        self._state = state
        self._execute_reply = execute_reply
        self._task: asyncio.Task[None] | None = None
        self._deliveries: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def ensure_running(self) -> None:
        """Start the delivery loop if a webhook is configured and none runs."""
        if self._state.webhook is None or self._state.closing:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="bot-api-emulator-webhook")

    async def close(self) -> None:
        tasks = [task for task in (self._task, *self._deliveries) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None
        self._deliveries.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _stopped(self) -> bool:
        return self._state.closing or self._state.webhook is None

    async def _run(self) -> None:
        """Start deliveries while connections are free; sleep until something changes.

        Every event that can make a new delivery possible fires the queue's
        pulse: a new or re-sent update, a finished delivery, a webhook change,
        shutdown.  The only other wake-up is the earliest back-off expiring.
        """
        queue = self._state.updates
        loop = asyncio.get_running_loop()
        config: WebhookConfig | None = None
        while not self._stopped():
            current = self._state.webhook
            assert current is not None
            if current is not config:
                # Back-offs were about the old webhook; a new one gets everything now.
                config = current
                for queued in queue:
                    queued.retry_at = 0.0
            now = loop.time()
            free = config.max_connections - sum(1 for queued in queue if queued.in_flight)
            next_retry: float | None = None
            for queued in queue:
                if free <= 0:
                    break  # a finishing delivery fires the pulse
                if queued.in_flight:
                    continue
                if queued.retry_at > now:
                    next_retry = queued.retry_at if next_retry is None else min(next_retry, queued.retry_at)
                    continue
                free -= 1
                self._start(config, queued)
            await queue.pulse.wait(None if next_retry is None else next_retry - now)

    def _start(self, config: WebhookConfig, queued: QueuedUpdate) -> None:
        queued.in_flight = True
        task = asyncio.create_task(
            self._attempt(config, queued), name=f"bot-api-emulator-webhook-{queued.update_id}"
        )
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def _attempt(self, config: WebhookConfig, queued: QueuedUpdate) -> None:
        """Deliver one update: confirm it on a 2xx, otherwise schedule its retry."""
        state = self._state
        try:
            error = await self._deliver(config, queued.update)
        finally:
            queued.in_flight = False
        if error is None:
            state.updates.ack(queued)
            state.touch()
            return
        queued.failed_attempts += 1
        delay = min(0.05 * 2**queued.failed_attempts, _MAX_BACKOFF)
        queued.retry_at = asyncio.get_running_loop().time() + delay
        config.last_error_date = int(time.time())
        config.last_error_message = error
        logger.debug("webhook delivery of update %s failed: %s", queued.update_id, error)
        state.updates.pulse.fire()

    async def _deliver(self, config: WebhookConfig, update: dict[str, Any]) -> str | None:
        """POST one update; returns an error text like getWebhookInfo shows, or None."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=_MAX_CONNECTIONS),
                timeout=aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT),
            )
        headers = {"Content-Type": "application/json"}
        if config.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = config.secret_token
        body = json.dumps(update, ensure_ascii=False).encode("utf-8")
        try:
            async with self._session.post(config.url, data=body, headers=headers) as response:
                if not 200 <= response.status < 300:
                    reason = f"{response.status} {response.reason or ''}".rstrip()
                    return f"Wrong response from the webhook: {reason}"
                reply = await _read_reply(response)
        except TimeoutError:
            return "Timeout expired"
        except aiohttp.ClientConnectorError:
            return "Connection refused"
        except aiohttp.ClientError as exc:
            return f"Connection error: {type(exc).__name__}"
        if reply is not None:
            method, params = reply
            try:
                await self._execute_reply(method, params)
            except Exception:  # a failing reply must not stop delivery, as on Telegram
                logger.exception("webhook reply %s failed", method)
        return None


async def _read_reply(response: aiohttp.ClientResponse) -> tuple[str, Params] | None:
    """Extract a ``{"method": ...}`` webhook reply from a JSON or multipart body."""
    content_type = response.content_type
    if content_type == "application/json":
        try:
            body = await response.json(content_type=None)
        except ValueError:
            return None
        if isinstance(body, dict) and isinstance(body.get("method"), str):
            arguments = {k: v for k, v in body.items() if k != "method"}
            return body["method"], Params(arguments)
        return None
    if content_type.startswith("multipart/"):
        reader = aiohttp.MultipartReader.from_response(response)
        values: dict[str, Any] = {}
        files: dict[str, UploadedFile] = {}
        method: str | None = None
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, aiohttp.BodyPartReader) or part.name is None:
                continue
            if part.filename:
                files[part.name] = UploadedFile(
                    filename=part.filename,
                    content_type=part.headers.get("Content-Type", "application/octet-stream"),
                    data=bytes(await part.read()),
                )
                continue
            text = await part.text()
            if part.name == "method":
                method = text
            else:
                values[part.name] = text
        if method:
            return method, Params(values, files)
    return None
