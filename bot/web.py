"""The HTTP side of a Linli process: Telegram's webhook, health and metrics (aiohttp).

* ``POST <WEBHOOK_URL's path>``: an update from Telegram. The
  ``X-Telegram-Bot-Api-Secret-Token`` header must equal WEBHOOK_SECRET (else 401).
  The update is handled before the answer, which is 200 when it was handled, or was
  a repeat (bot/updates.py), and 503 when it failed in a way a later delivery can
  cure (the database or Redis out of reach, nothing committed): Telegram delivers
  it again, here or on another replica. A process that is stopping answers 503 at
  once, so the update goes to a replica that is not.
* ``GET /healthz``: the process and its event loop are alive (200).
* ``GET /readyz``: the database and Redis answer (200), else 503 with what failed;
  503 too while the process is stopping, so a proxy stops sending it work.
* ``GET /metrics``: Prometheus text (bot/metrics.py). Serve it to the internal
  network only (deploy/nginx.conf does not pass it on).

aiogram's own `SimpleRequestHandler` answers 200 whatever the handler did (or
before it ran, in the background); here the answer must follow the outcome.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import TYPE_CHECKING, Any

from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import text

from bot.metrics import CONTENT_TYPE
from bot.updates import UpdateOutcome

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
CHECK_TIMEOUT = 3.0
# Telegram's updates are small; anything bigger is not one.
MAX_UPDATE_BYTES = 1024 * 1024


class WebServer:
    def __init__(self, app: App, *, webhook_path: str | None = None, secret: str | None = None) -> None:
        self.app = app
        self.webhook_path = webhook_path
        self.secret = secret
        self.stopping = False
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        # As polling's tasks_concurrency_limit: no more updates in hand than the database pool is sized for.
        self._slots = asyncio.Semaphore(app.settings.update_concurrency)

    def application(self) -> web.Application:
        web_app = web.Application(client_max_size=MAX_UPDATE_BYTES)
        web_app.router.add_get("/healthz", self.healthz)
        web_app.router.add_get("/readyz", self.readyz)
        web_app.router.add_get("/metrics", self.metrics)
        if self.webhook_path is not None:
            web_app.router.add_post(self.webhook_path, self.update)
        return web_app

    async def start(self, host: str, port: int) -> None:
        runner = web.AppRunner(self.application(), access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]
        log.info("HTTP server on %s:%s%s", host, self.port,
                 f" (webhook at {self.webhook_path})" if self.webhook_path else "")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- endpoints -------------------------------------------------------------
    async def update(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if self.secret is None or not secrets.compare_digest(given.encode(), self.secret.encode()):
            return web.Response(status=401, text="Unauthorized")
        if self.stopping:
            return web.Response(status=503, text="stopping")
        try:
            body: Any = await request.json()
            update = Update.model_validate(body, context={"bot": self.app.bot})
        except (ValueError, ValidationError):
            return web.Response(status=400, text="not an update")
        outcome = UpdateOutcome()
        try:
            async with self._slots:
                await self.app.dispatcher.feed_update(self.app.bot, update, outcome=outcome)
        except Exception:  # the error handlers report everything; this is the net below them
            # A failure of the bot's own: delivering it again would fail again (see bot/updates.py).
            log.exception("update %s failed outside the error handlers", update.update_id)
            return web.json_response({})
        if outcome.redeliver:
            return web.Response(status=503, text="not handled, deliver again")
        return web.json_response({})

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(self, _request: web.Request) -> web.Response:
        checks = await self.checks()
        ready = not self.stopping and all(value == "ok" for value in checks.values())
        if self.stopping:
            checks["process"] = "stopping"
        return web.Response(status=200 if ready else 503, content_type="application/json",
                            text=json.dumps(checks))

    async def checks(self) -> dict[str, str]:
        """'ok' or why not, for the database and (when configured) Redis."""
        results: dict[str, str] = {}

        async def database() -> None:
            async with self.app.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

        async def redis() -> None:
            await self.app.redis.ping()  # type: ignore[union-attr]

        probes = {"database": database}
        if self.app.redis is not None:
            probes["redis"] = redis
        for name, probe in probes.items():
            try:
                await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT)
            except TimeoutError:
                results[name] = f"no answer within {CHECK_TIMEOUT:.0f}s"
            except Exception as error:  # what failed is the answer
                results[name] = f"{type(error).__name__}: {error}"[:200]
            else:
                results[name] = "ok"
        return results

    async def metrics(self, _request: web.Request) -> web.Response:
        try:
            await asyncio.wait_for(
                self.app.metrics.refresh_outbox(self.app.session_factory, self.app.clock.now()), CHECK_TIMEOUT)
        except Exception as error:  # the counters are still worth reading
            log.warning("outbox gauges not refreshed: %s: %s", type(error).__name__, error)
        response = web.Response(body=self.app.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response
