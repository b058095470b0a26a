"""Webhook delivery: POST queued updates to the bot's URL.

Updates are delivered one at a time in order and confirmed only after a 2xx
answer, with a capped exponential back-off on failure (Telegram retries too).
A method call in the response body - aiogram's "webhook reply", sent as JSON
or multipart form - is executed like a normal API request.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import aiohttp

from .params import Params, UploadedFile
from .state import EmulatorState, WebhookConfig

__all__ = ["WebhookDeliverer"]

logger = logging.getLogger(__name__)

_REQUEST_TIMEOUT = 60.0
_MAX_BACKOFF = 2.0

ReplyExecutor = Callable[[str, Params], Awaitable[None]]


class WebhookDeliverer:
    """Background task that drains the update queue into the webhook."""

    def __init__(self, state: EmulatorState, execute_reply: ReplyExecutor) -> None:
        self._state = state
        self._execute_reply = execute_reply
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def ensure_running(self) -> None:
        """Start the delivery loop if a webhook is configured and none runs."""
        if self._state.webhook is None or self._state.closing:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="bot-api-emulator-webhook")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _stopped(self) -> bool:
        return self._state.closing or self._state.webhook is None

    def _reconfigured(self, config: WebhookConfig) -> bool:
        """Cut a retry back-off short when the webhook is changed or removed."""
        return self._stopped() or self._state.webhook is not config

    async def _run(self) -> None:
        state = self._state
        failures = 0
        while not self._stopped():
            update = state.updates.first()
            if update is None:
                await state.updates.pulse.wait_for(
                    lambda: self._stopped() or state.updates.first() is not None, None
                )
                continue
            config = state.webhook
            assert config is not None
            error = await self._deliver(config, update)
            if error is None:
                failures = 0
                state.updates.confirm(update["update_id"] + 1)
                state.updates.mark_delivered([update])
                state.touch()
                continue
            failures += 1
            config.last_error_date = int(time.time())
            config.last_error_message = error
            logger.debug("webhook delivery of update %s failed: %s", update["update_id"], error)
            delay = min(0.05 * 2**failures, _MAX_BACKOFF)
            await state.updates.pulse.wait_for(partial(self._reconfigured, config), delay)

    async def _deliver(self, config: WebhookConfig, update: dict[str, Any]) -> str | None:
        """POST one update; returns an error text like getWebhookInfo shows, or None."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT)
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
