"""Liveness of `linli run`: a heartbeat file touched while the bot is really polling Telegram.

A process that is up is not necessarily working: its event loop may be stuck, every
update slot may hang on a dead handler (the polling loop then stops asking for more),
or Telegram may be out of reach. So the heartbeat is not a timer: the file is touched
when a `getUpdates` call *succeeds*, which long polling does at least every
`polling_timeout` seconds (10 by default) even when nobody writes. `linli health`
exits 0 only when the file is younger than its `--max-age`, which a container's
healthcheck runs.

This module imports no aiogram at load time: `linli health` runs every half minute
and should start in well under a second.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiogram import Bot
    from aiogram.client.session.middlewares.base import NextRequestMiddlewareType
    from aiogram.methods import TelegramMethod
    from aiogram.methods.base import Response

log = logging.getLogger(__name__)

# The file is touched at most this often: under load getUpdates returns many times a second.
BEAT_EVERY_SECONDS = 5.0

# `linli health` calls the bot dead when the last beat is older than this: several long polls
# (10 s each) plus aiogram's back-off after a failed one.
DEFAULT_MAX_AGE_SECONDS = 60.0


class Heartbeat:
    """A request middleware for the Bot's session: touches `path` after each successful getUpdates.

    At most every `every` seconds. (aiogram takes any such callable as a request middleware.)
    """

    def __init__(
        self, path: Path, *, every: float = BEAT_EVERY_SECONDS, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.every = every
        self._monotonic = monotonic
        self._last: float | None = None
        from aiogram.methods import GetUpdates

        self._get_updates = GetUpdates

    def reset(self) -> None:
        """Forget an earlier run's beat: only this process's polling may make the file fresh."""
        self.path.unlink(missing_ok=True)
        self._last = None

    def beat(self) -> None:
        now = self._monotonic()
        if self._last is not None and now - self._last < self.every:
            return
        try:
            self.path.touch()  # sets the time of an existing file too
        except OSError as error:  # reporting liveness must never stop the polling it reports on
            log.warning("cannot touch HEARTBEAT_FILE %s: %s", self.path, error)
            return
        self._last = now

    async def __call__(
        self, make_request: NextRequestMiddlewareType[Any], bot: Bot, method: TelegramMethod[Any]
    ) -> Response[Any]:
        response = await make_request(bot, method)
        if isinstance(method, self._get_updates):
            self.beat()
        return response


def heartbeat_age(path: Path, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds since the last beat, or None when there is no heartbeat file."""
    try:
        return max(0.0, now() - path.stat().st_mtime)
    except FileNotFoundError:
        return None
