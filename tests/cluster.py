"""Several real `linli run --webhook` processes against the emulator, for the reliability tests and bench/.

* `Cluster` makes its own PostgreSQL database (migrated and seeded with the sample
  world) and its own Redis database number, so the shared test database and the
  polling bot of the other tests never see its rows or keys;
* the bots reach PostgreSQL and Redis through `TcpProxy`s, which a test can cut (a
  database or Redis that went away) and restore;
* Telegram's webhook goes to `RoundRobin`, a small load balancer that alternates
  between the replicas and, like nginx's ``proxy_next_upstream``, tries the next one
  when a replica does not answer;
* each replica is a child process (`Replica`): started, stopped with SIGTERM, or
  killed with SIGKILL, its output kept in a log file for a failing test to show.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from tgemu import BotAPIEmulator

ROOT = Path(__file__).resolve().parent.parent
SECRET = "cluster-secret_0123456789"


class TcpProxy:
    """A TCP relay a test can cut: while cut, open connections are dropped and new ones closed at once."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut = False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()
        self.port = 0

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def sever(self) -> None:
        """Cut: every open connection is dropped, and new ones are closed until `restore`."""
        self.cut = True
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    def restore(self) -> None:
        self.cut = False

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            sink.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._open.difference_update((writer, up_writer))


class RoundRobin:
    """The load balancer in front of the replicas: each POST to the next one that answers."""

    def __init__(self) -> None:
        self.upstreams: list[str] = []
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.served: dict[str, int] = {}

    async def start(self) -> RoundRobin:
        app = web.Application()
        app.router.add_post("/telegram", self._forward)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith(("content-type", "x-telegram"))}
        start = next(self._turn)
        for step in range(len(self.upstreams)):
            upstream = self.upstreams[(start + step) % len(self.upstreams)]
            try:
                async with aiohttp.ClientSession() as http, http.post(
                        upstream + "/telegram", data=body, headers=headers,
                        timeout=aiohttp.ClientTimeout(total=70)) as answer:
                    if answer.status == 503 and step + 1 < len(self.upstreams):
                        continue  # that replica is stopping (or lost its database): the next one
                    self.served[upstream] = self.served.get(upstream, 0) + 1
                    return web.Response(status=answer.status, body=await answer.read())
            except aiohttp.ClientConnectionError:
                continue
        return web.Response(status=502, text="no replica answered")


@dataclass
class Replica:
    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 60.0) -> None:
        env = {**self.env, "HTTP_PORT": str(self.port)}
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", "--webhook", cwd=ROOT, env=env, stdout=out, stderr=out)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as http:
            while loop.time() < deadline:
                if self.process.returncode is not None:
                    raise AssertionError(f"{self.name} exited {self.process.returncode}:\n{self.tail()}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(self.base + "/readyz") as ready:
                        if ready.status == 200:
                            return
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.name} not ready within {timeout}s:\n{self.tail()}")

    def kill(self) -> None:
        """kill -9: no shutdown, nothing flushed."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self, timeout: float = 40.0) -> int | None:
        if self.process is None:
            return None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


@dataclass
class Cluster:
    emulator: BotAPIEmulator
    database_url: str  # direct, for the test's own reads and writes
    redis: Redis  # direct, the cluster's database number
    postgres_proxy: TcpProxy
    redis_proxy: TcpProxy
    balancer: RoundRobin
    replicas: list[Replica] = field(default_factory=list)

    def logs(self) -> str:
        return "\n".join(f"--- {r.name} ---\n{r.tail()}" for r in self.replicas)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _with_host_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    auth = parts.netloc.rpartition("@")[0]
    netloc = f"{auth}@127.0.0.1:{port}" if auth else f"127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


async def _run(*args: str, env: dict[str, str]) -> None:
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot", *args, cwd=ROOT, env=env,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise AssertionError(f"linli {' '.join(args)} failed:\n{out.decode(errors='replace')}")


@contextlib.asynccontextmanager
async def cluster(token: str, tmp: Path, *, replicas: int = 2, redis_db: int = 9,
                  database: str = "linli_cluster", extra_env: dict[str, str] | None = None) -> AsyncIterator[Cluster]:
    """Replicas of Linli in webhook mode, on their own PostgreSQL database and Redis database number."""
    base_pg = os.environ["DATABASE_URL"]
    base_redis = os.environ["REDIS_URL"]
    plain = urlsplit(base_pg.replace("+asyncpg", ""))
    admin = await asyncpg.connect(host=plain.hostname, port=plain.port or 5432, user=plain.username or "postgres",
                                  password=plain.password, database=plain.path.lstrip("/") or "postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    database_url = _with_database(base_pg, database)
    redis_parts = urlsplit(base_redis)
    redis_direct = urlunsplit((redis_parts.scheme, redis_parts.netloc, f"/{redis_db}", "", ""))
    redis = Redis.from_url(redis_direct)
    await redis.flushdb()

    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update({"DATABASE_URL": database_url, "LOG_LEVEL": "WARNING", "PYTHONUNBUFFERED": "1"})
    await _run("db", "upgrade", env=env)
    await _run("seed", "--sample", env=env)

    emulator = BotAPIEmulator(token)
    await emulator.start()
    pg_proxy = await TcpProxy(plain.hostname or "127.0.0.1", plain.port or 5432).start()
    redis_proxy = await TcpProxy(redis_parts.hostname or "127.0.0.1", redis_parts.port or 6379).start()
    balancer = await RoundRobin().start()
    env.update({
        "BOT_TOKEN": token,
        "DATABASE_URL": _with_host_port(database_url, pg_proxy.port),
        "REDIS_URL": urlunsplit(("redis", f"127.0.0.1:{redis_proxy.port}", f"/{redis_db}", "", "")),
        "TELEGRAM_API_BASE": emulator.base_url,
        "WEBHOOK_URL": f"http://127.0.0.1:{balancer.port}/telegram",
        "WEBHOOK_SECRET": SECRET,
        "HTTP_HOST": "127.0.0.1",
        "REMINDER_INTERVAL_SECONDS": "1",
        **(extra_env or {}),
    })
    made = Cluster(emulator, database_url, redis, pg_proxy, redis_proxy, balancer)
    try:
        for n in range(replicas):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                port = probe.getsockname()[1]
            replica = Replica(f"replica-{n + 1}", port, dict(env), tmp / f"replica-{n + 1}.log")
            made.replicas.append(replica)
        await asyncio.gather(*(replica.start() for replica in made.replicas))
        balancer.upstreams = [replica.base for replica in made.replicas]
        yield made
    finally:
        await asyncio.gather(*(replica.stop() for replica in made.replicas), return_exceptions=True)
        await balancer.stop()
        await pg_proxy.stop()
        await redis_proxy.stop()
        await emulator.stop()
        await redis.flushdb()
        await redis.aclose()
