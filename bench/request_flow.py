"""Benchmark: Linli as its own process next to a minimal aiogram echo bot, in one run.

Prints figures; never part of the test run. Usage (from the repository root):

    .venv/bin/python bench/request_flow.py [--residents 15] [--concurrency 15] [--rounds 2]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/linli_bench]
        [--redis-url redis://127.0.0.1:6379/7] [--bot-dir /tmp/linli-before] [--pin auto|on|off]

What happens:

* the database is prepared (a temporary SQLite file by default; for PostgreSQL the
  database is created if missing and its public schema dropped and recreated), then
  migrated and seeded by the measured tree's own CLI: ``python -m bot db upgrade``,
  ``python -m bot seed --sample``;
* two Bot API emulators (tgemu, one per token: an emulator serves one bot) run in this
  process on 127.0.0.1; Linli (``python -m bot run`` in ``--bot-dir``) and
  bench/echo_bot.py run as their own processes against them, with LOG_LEVEL=WARNING;
* a warm-up (by default as many residents as run at once, so every database connection
  a round needs is already open) is not measured; then each round drives ``--residents``
  simulated residents through the filing flow of Linli (:func:`resident_files_a_request`,
  10 updates each), waits for the outbox to announce every request to the social worker,
  then drives as many echo users through as many updates (texts and button presses) of
  the echo bot (:func:`echo_chat`), so the two never compete for the CPU;
* both bots are stopped (SIGINT, SIGKILL after 20 s) whatever happens.

Reported per bot and round: updates handled, updates/s, bot CPU per update (on-CPU time
of every thread of the bot process, /proc/<pid>/task/*/schedstat, over the measured
phase only, divided by the updates it handled; utime+stime ticks of /proc/<pid>/stat if
a thread exited meanwhile), for Linli also including the outbox tail, step latency (from
a user's action to the bot's visible answer in the emulator) p50/p95/max, peak RSS
(VmHWM) of the bot process, and the CPU this bench process (emulators + simulated users)
spent per update, since on a small machine it competes with the bot. Then the ratios
Linli/echo, medians and ranges over the rounds, and the goal: at most 8 ms of bot CPU per
update, p95 step latency under 250 ms.

``--pin``: whether aiogram's Response[T] models are pinned (bot/perf.py). ``auto`` pins
the echo bot exactly when the measured Linli tree pins on its own start-up; ``on`` pins
both (injecting the call before Linli's CLI when its tree does not, e.g. an old commit).
PostgreSQL's own CPU (server processes) is not part of "bot CPU"; note it when comparing
backends. Use a Redis database of your own: the tests delete ``linli:*`` keys in theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tgemu import BotAPIEmulator, BotMessage  # noqa: E402
from tgemu.user import EmulatedUser  # noqa: E402

PYTHON = sys.executable
CLK_TCK = os.sysconf("SC_CLK_TCK")
LOCAL_HOSTS = {"127.0.0.1", "localhost", None}
# Settings the bot reads from the environment; the bench sets them, nothing leaks in from ours.
BOT_SETTINGS = {"BOT_TOKEN", "DATABASE_URL", "REDIS_URL", "TELEGRAM_API_BASE", "DEFAULT_LOCALE", "TIMEZONE",
                "ADMIN_IDS", "INVITE_TTL_HOURS", "LOG_LEVEL", "PYTHONPATH"}
# Staff of the sample world (bot/data/sample_world.toml) who may be told about new requests.
STAFF = {10001: "李静", 10002: "陈刚", 10003: "赵敏", 10010: "周主任"}
SOCIAL_WORKER = 10001  # 李静, social worker of 晨光社区

#: step(name, action, expected answer: a substring or a predicate on a BotMessage)
Step = Callable[[str, Callable[[], Awaitable[Any]], Any], Awaitable[None]]


# -- the resident's filing flow: the one place to adapt when Linli's dialogs change ----------------------

#: Labels that come from data (language names, sample world, service catalogue), not from the catalogue.
LANGUAGE = "中文"
COMMUNITY = "晨光社区 · 和平街道"
TARGET_GROUP = "老年人"
SERVICE = "生活照料（买菜、陪同就医等）"
DESCRIPTION = "上周摔了一跤，需要有人帮忙买菜。"
#: msgids looked up in the measured tree's own translation catalogue (zh_CN), see :func:`load_labels`.
MSGIDS = (
    "What would you like to do?",
    "Please tell us in a few words what help you need.",
    "If you would like a home visit, you can send your location.",
    "Skip",
    "May the social worker call you? Tap the button to share your phone number.",
    "✅ Send request",
    "Send /my to see how it is going.",
)
UPDATES_PER_RESIDENT = 10


def has_button(label: str) -> Callable[[BotMessage], bool]:
    return lambda message: any(label in button for button in message.buttons)


async def resident_files_a_request(person: EmulatedUser, t: Callable[[str], str], step: Step) -> None:
    """/start → language → community → /new → group → service → description → skip ×2 → confirm.

    Each ``step(name, action, expected)`` performs one user action (one update for the
    bot) and waits for the bot's answer by its content: a substring of a new or edited
    message, or a predicate. Labels are matched as substrings (reply buttons may carry
    invisible suffixes).
    """
    await step("/start", lambda: person.send_text("/start"), has_button(LANGUAGE))
    await step("language", lambda: person.press(LANGUAGE), has_button(COMMUNITY))
    await step("community", lambda: person.press(COMMUNITY), t("What would you like to do?"))
    await step("/new", lambda: person.send_text("/new"), has_button(TARGET_GROUP))
    await step("group", lambda: person.press(TARGET_GROUP), has_button(SERVICE))
    await step("service", lambda: person.press(SERVICE), t("Please tell us in a few words what help you need."))
    await step("description", lambda: person.send_text(DESCRIPTION),
               t("If you would like a home visit, you can send your location."))
    await step("skip location", lambda: person.tap_reply(t("Skip")),
               t("May the social worker call you? Tap the button to share your phone number."))
    await step("skip phone", lambda: person.tap_reply(t("Skip")), has_button(t("✅ Send request")))
    await step("confirm", lambda: person.press(t("✅ Send request")), t("Send /my to see how it is going."))


ECHO_ROUNDS = UPDATES_PER_RESIDENT // 2


async def echo_chat(person: EmulatedUser, step: Step) -> None:
    """As many updates as a resident's flow, half texts, half button presses, for bench/echo_bot.py."""
    for i in range(ECHO_ROUNDS):
        text = f"回声 {person.id} #{i}"
        await step("echo text", lambda text=text: person.send_text(text), lambda m, text=text: m.text == text)
        await step("echo press", lambda: person.press("🔁 again"), lambda m, text=text: m.text == f"{text} ✓")


# -- bot processes -------------------------------------------------------------------------------------


class BotDied(RuntimeError):
    pass


@dataclass(frozen=True)
class CpuSnapshot:
    ticks: float  # utime + stime in seconds, 1/CLK_TCK resolution, includes exited threads
    threads: dict[str, int]  # on-CPU ns per live thread

    def exact_since(self, start: CpuSnapshot) -> bool:
        return bool(self.threads) and set(start.threads) <= set(self.threads)

    def since(self, start: CpuSnapshot) -> float:
        """Seconds of CPU since ``start``: ns-exact unless a thread exited meanwhile (then ticks)."""
        if self.exact_since(start):
            return sum(ns - start.threads.get(tid, 0) for tid, ns in self.threads.items()) / 1e9
        return self.ticks - start.ticks


@dataclass
class BotProcess:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def cpu_snapshot(self) -> CpuSnapshot:
        """CPU time of the whole process: per thread in ns (schedstat) and utime+stime in ticks (stat)."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
        threads: dict[str, int] = {}
        for task in Path(f"/proc/{self.pid}/task").iterdir():
            with contextlib.suppress(OSError, ValueError, IndexError):
                threads[task.name] = int((task / "schedstat").read_text().split()[0])
        return CpuSnapshot((int(fields[11]) + int(fields[12])) / CLK_TCK, threads)

    def status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0

    def log_tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def log_head(self, lines: int = 20) -> list[str]:
        try:
            with self.log_path.open(errors="replace") as log:
                return [line.rstrip("\n") for _, line in zip(range(lines), log, strict=False)]
        except OSError:
            return []

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise BotDied(f"{self.name} exited with code {code}; last output:\n{self.log_tail()}")

    async def stop(self, grace: float = 20.0) -> None:
        """SIGINT (aiogram stops polling and runs its shutdown), then SIGKILL after ``grace`` s.

        Async on purpose: the emulators must keep answering while the bot shuts down.
        """
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            deadline = time.monotonic() + grace
            while self.proc.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)


def bot_env(bot_dir: Path, **settings: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in BOT_SETTINGS}
    env["PYTHONPATH"] = str(bot_dir)
    env["LOG_LEVEL"] = "WARNING"
    env["PYTHONUNBUFFERED"] = "1"
    for key, value in settings.items():
        if value is not None:
            env[key.upper()] = value
    return env


def run_cli(bot_dir: Path, env: dict[str, str], *args: str, stdin: str | None = None, timeout: float = 300) -> str:
    """``python -m bot <args>`` (or ``python -c`` when args start with -c) in the measured tree."""
    argv = [PYTHON, *args] if args[0] == "-c" else [PYTHON, "-m", "bot", *args]
    shown = " ".join(args) if args[0] != "-c" else "-c <labels>"
    try:
        done = subprocess.run(argv, cwd=bot_dir, env=env, input=stdin, capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise SystemExit(f"python -m bot {shown}: no answer within {timeout:.0f}s") from None
    if done.returncode != 0:
        raise SystemExit(f"python -m bot {shown} failed ({done.returncode}) in {bot_dir}:\n"
                         f"{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout.strip()


_LABELS_CODE = """
import json, sys
from bot.i18n import make_i18n
i18n = make_i18n("zh_CN")
json.dump({m: i18n.gettext(m, locale="zh_CN") for m in json.load(sys.stdin)}, sys.stdout, ensure_ascii=False)
"""


def load_labels(bot_dir: Path, env: dict[str, str]) -> dict[str, str]:
    """The zh_CN texts of MSGIDS from the measured tree's own catalogue (a subprocess: its code, not ours)."""
    return json.loads(run_cli(bot_dir, env, "-c", _LABELS_CODE, stdin=json.dumps(list(MSGIDS))))


# Run Linli with Response[T] pinned by bench's bot/perf.py, loaded by path so older trees work too.
_PINNED_LINLI_CODE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("linli_bench_perf", sys.argv[1])
perf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(perf)
print(f"linli: pinned {perf.pin_response_models()} Response[T] models (injected by the bench)", flush=True)
from bot.cli import main
sys.exit(main(["run"]))
"""


def linli_pins_itself(bot_dir: Path) -> bool:
    """Whether the measured tree calls pin_response_models() on its own (outside bot/perf.py)."""
    for folder in ("bot", "handlers"):
        for path in (bot_dir / folder).rglob("*.py"):
            if path.name != "perf.py" and "pin_response_models(" in path.read_text(errors="replace"):
                return True
    return False


def spawn(name: str, argv: list[str], cwd: Path, env: dict[str, str], logs: Path) -> BotProcess:
    log_path = logs / f"{name}.log"
    with log_path.open("wb") as log:
        # A session of its own: a Ctrl-C at the terminal reaches the bench, which stops the bots in order.
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return BotProcess(name, argv, proc, log_path)


async def wait_until_polling(emulator: BotAPIEmulator, bot: BotProcess, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not any(call.method.lower() == "getupdates" for call in emulator.calls):
        bot.check_alive()
        if time.monotonic() > deadline:
            raise BotDied(f"{bot.name} did not start polling within {timeout:.0f}s; last output:\n{bot.log_tail()}")
        await asyncio.sleep(0.05)


# -- driving and measuring -----------------------------------------------------------------------------


@dataclass
class Phase:
    bot: str
    round: int
    updates: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    cpu_with_tail: float | None = None
    bench_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    peak_rss_kib: int = 0
    api_calls: int = 0  # Bot API requests other than getUpdates during the phase
    cpu_in_ticks: bool = False  # a thread exited during the phase: CPU from /proc/<pid>/stat ticks

    def ms_per_update(self, cpu: float | None = None) -> float:
        return 1000 * (self.cpu if cpu is None else cpu) / max(self.updates, 1)

    @property
    def throughput(self) -> float:
        return self.updates / self.wall if self.wall else 0.0

    def quantile_ms(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def drive(
    phase: Phase | None,
    people: list[EmulatedUser],
    flow: Callable[[EmulatedUser, Step], Awaitable[None]],
    concurrency: int,
    step_timeout: float,
    phase_timeout: float,
) -> list[str]:
    """Run ``flow`` for every person, at most ``concurrency`` at once; record steps into ``phase``."""
    limit = asyncio.Semaphore(concurrency)

    async def one(person: EmulatedUser) -> None:
        async def step(name: str, act: Callable[[], Awaitable[Any]], expected: Any) -> None:
            began = time.perf_counter()
            await act()
            if phase is not None:
                phase.updates += 1
            try:
                await person.wait_for_message(expected, timeout=step_timeout)
            except AssertionError as error:
                raise AssertionError(f"step {name!r}: {error}") from None
            if phase is not None:
                phase.latencies.append(time.perf_counter() - began)

        async with limit:
            await flow(person, step)

    outcomes = await asyncio.wait_for(
        asyncio.gather(*(one(p) for p in people), return_exceptions=True), timeout=phase_timeout
    )
    failures = [f"{p.full_name}: {o}" for p, o in zip(people, outcomes, strict=True) if isinstance(o, BaseException)]
    if phase is not None:
        phase.failures = failures
    return failures


async def make_room(url: str) -> None:
    """Every request of a run is offered to 李静 (routing: the only worker of 晨光社区 on duty), and each open
    offer counts against her capacity (10 by default): give her room for all of them, so that each filed
    request reaches her as in a real station with more staff. Trees without capacities are left alone."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE social_worker SET capacity = 100000"))
    except DBAPIError:
        pass  # an older tree (--bot-dir) without capacities: requests were announced to every worker then
    finally:
        await engine.dispose()


async def wait_for_announcements(
    social_worker: EmulatedUser, mark: int, count: int, timeout: float, bot: BotProcess
) -> bool:
    """Wait until ``count`` new messages reached the social worker after ``mark`` (the outbox's work)."""
    deadline = time.monotonic() + timeout
    while sum(1 for m in social_worker.messages if m.seq > mark) < count:
        bot.check_alive()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        with contextlib.suppress(AssertionError):
            await social_worker.wait_for_message(after=social_worker.mark(),
                                                 timeout=min(1.0, remaining))
    return True


def _api_calls(emulator: BotAPIEmulator, since: int) -> int:
    return sum(1 for call in emulator.calls[since:] if call.method.lower() != "getupdates")


@dataclass
class Bench:
    args: argparse.Namespace
    bot_dir: Path
    labels: dict[str, str]
    linli_emulator: BotAPIEmulator
    echo_emulator: BotAPIEmulator
    linli: BotProcess
    echo: BotProcess
    first_id: int = 900_000
    next_id: int = 900_000

    def t(self, msgid: str) -> str:
        return self.labels.get(msgid, msgid)

    def people(self, emulator: BotAPIEmulator, count: int, name: str) -> list[EmulatedUser]:
        # No client language: the greeting asks for one, so every tree (before and after Linli
        # adopted a zh/en client's language) sees the same ten updates per resident.
        people = [emulator.user(self.next_id + i, f"{name}{i}", language_code=None) for i in range(count)]
        self.next_id += count
        return people

    async def linli_round(self, number: int, residents: int, *, measured: bool = True) -> Phase | None:
        args = self.args
        social_worker = self.linli_emulator.user(SOCIAL_WORKER, STAFF[SOCIAL_WORKER])
        people = self.people(self.linli_emulator, residents, "居民")
        phase = Phase("linli", number) if measured else None
        mark = social_worker.mark()
        calls0 = len(self.linli_emulator.calls)
        cpu0, bench0, began = self.linli.cpu_snapshot(), time.process_time(), time.perf_counter()
        failures = await drive(
            phase,
            people,
            lambda person, step: resident_files_a_request(person, self.t, step),
            args.concurrency,
            args.step_timeout,
            args.phase_timeout,
        )
        wall, cpu1, bench1 = time.perf_counter() - began, self.linli.cpu_snapshot(), time.process_time()
        self.linli.check_alive()
        filed = residents - len(failures)
        told = await wait_for_announcements(social_worker, mark, filed, args.outbox_timeout, self.linli)
        if not told:
            print(f"warning: the social worker was not told of all {filed} requests within {args.outbox_timeout:.0f}s",
                  file=sys.stderr)
        if phase is None:
            if failures:
                raise RuntimeError("warm-up failed:\n  " + "\n  ".join(failures[:3]))
            return None
        phase.wall, phase.cpu, phase.bench_cpu = wall, cpu1.since(cpu0), bench1 - bench0
        phase.cpu_in_ticks = not cpu1.exact_since(cpu0)
        phase.cpu_with_tail = self.linli.cpu_snapshot().since(cpu0) if told else None
        phase.peak_rss_kib = self.linli.status_kib("VmHWM")
        phase.api_calls = _api_calls(self.linli_emulator, calls0)
        return phase

    async def echo_round(self, number: int, users: int, *, measured: bool = True) -> Phase | None:
        args = self.args
        people = self.people(self.echo_emulator, users, "回声")
        phase = Phase("echo", number) if measured else None
        calls0 = len(self.echo_emulator.calls)
        cpu0, bench0, began = self.echo.cpu_snapshot(), time.process_time(), time.perf_counter()
        failures = await drive(phase, people, echo_chat, args.concurrency, args.step_timeout, args.phase_timeout)
        wall, cpu1, bench1 = time.perf_counter() - began, self.echo.cpu_snapshot(), time.process_time()
        self.echo.check_alive()
        if phase is None:
            if failures:
                raise RuntimeError("echo warm-up failed:\n  " + "\n  ".join(failures[:3]))
            return None
        phase.wall, phase.cpu, phase.bench_cpu = wall, cpu1.since(cpu0), bench1 - bench0
        phase.cpu_in_ticks = not cpu1.exact_since(cpu0)
        phase.peak_rss_kib = self.echo.status_kib("VmHWM")
        phase.api_calls = _api_calls(self.echo_emulator, calls0)
        return phase


# -- database and redis ----------------------------------------------------------------------------------


def _local(host: str | None, what: str) -> None:
    if host not in LOCAL_HOSTS:
        raise SystemExit(f"{what}: only 127.0.0.1 is allowed, not {host}")


async def reset_postgres(url: str) -> None:
    """Create the database if missing, then drop and recreate its public schema."""
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    _local(parsed.host, "--database-url")
    if parsed.database in (None, "", "test", "postgres"):  # the tests' database, or the server's own
        raise SystemExit(f"--database-url: use a database of the bench's own, not {parsed.database!r}")
    where = {"host": parsed.host or "127.0.0.1", "port": parsed.port or 5432, "user": parsed.username or "postgres",
             "password": parsed.password, "timeout": 10}
    try:
        conn = await asyncpg.connect(database=parsed.database, **where)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(database="postgres", **where)
        try:
            await admin.execute(f'CREATE DATABASE "{parsed.database}"')
        finally:
            await admin.close()
        conn = await asyncpg.connect(database=parsed.database, **where)
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


async def forget_fsm(redis_url: str, user_ids: range) -> None:
    """Delete the FSM keys of this run's simulated users (Linli's keys name chat and user, not the bot)."""
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url, socket_timeout=5)
    try:
        ours = {str(user_id) for user_id in user_ids}
        keys = [key async for key in client.scan_iter(match="linli:fsm:*", count=1000)
                if key.decode(errors="replace").split(":")[2] in ours]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def describe_tree(bot_dir: Path) -> str:
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    try:
        rev = subprocess.run(["git", "-C", str(bot_dir), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10, env=env, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(bot_dir), "diff-index", "--quiet", "HEAD", "--"],
                               capture_output=True, timeout=30, env=env, check=False).returncode != 0
    except (OSError, subprocess.TimeoutExpired):
        return str(bot_dir)
    return f"{bot_dir} @ {rev or '?'}{' + uncommitted changes' if dirty else ''}"


# -- report ------------------------------------------------------------------------------------------------


def report(phases: list[Phase], header: list[str]) -> None:
    print()
    for line in header:
        print(line)
    columns = ("round", "bot", "updates", "wall s", "upd/s", "CPU ms/upd", "+outbox", "CPU util", "p50 ms",
               "p95 ms", "max ms", "RSS MiB", "bench ms/upd", "calls/upd")
    rows = []
    for p in phases:
        rows.append((
            str(p.round), p.bot, str(p.updates), f"{p.wall:.2f}", f"{p.throughput:.1f}",
            f"{p.ms_per_update():.2f}{'*' if p.cpu_in_ticks else ''}",
            "-" if p.cpu_with_tail is None else f"{p.ms_per_update(p.cpu_with_tail):.2f}",
            f"{p.cpu / p.wall:.2f}" if p.wall else "-", f"{p.quantile_ms(0.5):.0f}", f"{p.quantile_ms(0.95):.0f}",
            f"{p.quantile_ms(1.0):.0f}", f"{p.peak_rss_kib / 1024:.0f}", f"{p.ms_per_update(p.bench_cpu):.2f}",
            f"{p.api_calls / max(p.updates, 1):.1f}",
        ))
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print("  ".join(v.rjust(w) for v, w in zip(row, widths, strict=True)))
    print()
    by_round: dict[int, dict[str, Phase]] = {}
    for p in phases:
        by_round.setdefault(p.round, {})[p.bot] = p
    for number, pair in sorted(by_round.items()):
        linli, echo = pair.get("linli"), pair.get("echo")
        if linli and echo and echo.updates and linli.updates:
            print(f"round {number}: Linli/echo CPU per update {linli.ms_per_update() / echo.ms_per_update():.1f}x, "
                  f"throughput {linli.throughput / echo.throughput:.2f}x, "
                  f"p95 step latency {linli.quantile_ms(0.95) / echo.quantile_ms(0.95):.1f}x")
    summary = {bot: [p for p in phases if p.bot == bot] for bot in ("linli", "echo")}
    if all(summary.values()) and len(phases) > 2:
        def spread(bot: str, value: Callable[[Phase], float], fmt: str) -> str:
            values = [value(p) for p in summary[bot]]
            return f"{statistics.median(values):{fmt}} ({min(values):{fmt}}–{max(values):{fmt}})"

        for bot in ("linli", "echo"):
            print(f"{bot:>5} over {len(summary[bot])} rounds, median (range): CPU ms/update "
                  f"{spread(bot, Phase.ms_per_update, '.2f')}, updates/s {spread(bot, lambda p: p.throughput, '.0f')}, "
                  f"p95 ms {spread(bot, lambda p: p.quantile_ms(0.95), '.0f')}")
        cpu = {bot: statistics.median(p.ms_per_update() for p in summary[bot]) for bot in summary}
        rate = {bot: statistics.median(p.throughput for p in summary[bot]) for bot in summary}
        print(f"medians: Linli/echo CPU per update {cpu['linli'] / cpu['echo']:.1f}x, "
              f"throughput {rate['linli'] / rate['echo']:.2f}x")
    linli_phases = summary["linli"]
    if linli_phases:
        worst_cpu = max(p.ms_per_update() for p in linli_phases)
        worst_p95 = max(p.quantile_ms(0.95) for p in linli_phases)
        print(f"goal: Linli CPU per update <= 8 ms: {'met' if worst_cpu <= 8 else 'NOT met'} "
              f"(worst round {worst_cpu:.2f} ms); p95 step latency < 250 ms: "
              f"{'met' if worst_p95 < 250 else 'NOT met'} (worst round {worst_p95:.0f} ms)")
    for p in phases:
        for failure in p.failures[:3]:
            print(f"FAILED ({p.bot}, round {p.round}): {failure[:600]}")


# -- main --------------------------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> int:
    bot_dir = Path(args.bot_dir).resolve()
    if not (bot_dir / "bot" / "__main__.py").is_file():
        raise SystemExit(f"--bot-dir {bot_dir}: no bot/__main__.py there")
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        tmpdir = Path(tmp)
        url = args.database_url or f"sqlite+aiosqlite:///{tmpdir / 'bench.sqlite3'}"
        backend = "postgresql" if url.startswith("postgres") else "sqlite"
        if backend == "postgresql":
            await reset_postgres(url)
        if args.redis_url:
            from urllib.parse import urlsplit

            _local(urlsplit(args.redis_url).hostname, "--redis-url")
        # Fresh user ids per run: FSM keys left in Redis by an earlier run never meet this one's.
        first_id = random.randrange(10**9, 2 * 10**9, 10**5)
        linli_token = f"{random.randint(10**8, 10**9 - 1)}:LINLI-BENCH"
        echo_token = f"{random.randint(10**8, 10**9 - 1)}:ECHO-BENCH"
        env = bot_env(bot_dir, database_url=url, redis_url=args.redis_url)
        print(run_cli(bot_dir, env, "db", "upgrade"), flush=True)
        print(run_cli(bot_dir, env, "seed", "--sample"), flush=True)
        await make_room(url)
        labels = load_labels(bot_dir, env)

        self_pinned = linli_pins_itself(bot_dir)
        inject = args.pin == "on" and not self_pinned
        echo_pin = args.pin == "on" or (args.pin == "auto" and self_pinned)
        perf_path = REPO / "bot" / "perf.py"
        linli_argv = [PYTHON, "-c", _PINNED_LINLI_CODE, str(perf_path)] if inject else [PYTHON, "-m", "bot", "run"]
        echo_argv = [PYTHON, str(REPO / "bench" / "echo_bot.py"), *(["--pin"] if echo_pin else [])]
        linli_pin_note = "yes (its own start-up)" if self_pinned else "yes (injected by the bench)" if inject else "no"

        processes: list[BotProcess] = []
        bench: Bench | None = None
        phases: list[Phase] = []
        linli_emulator = BotAPIEmulator(linli_token, bot_username="linli_bench_bot")
        echo_emulator = BotAPIEmulator(echo_token, bot_username="echo_bench_bot", bot_name="echo")
        try:
            await linli_emulator.start("127.0.0.1")
            await echo_emulator.start("127.0.0.1")
            for person_id, name in STAFF.items():  # the outbox may tell any of them
                linli_emulator.user(person_id, name, language_code="zh-hans")
            linli = spawn("linli", linli_argv, bot_dir,
                          {**env, "BOT_TOKEN": linli_token, "TELEGRAM_API_BASE": linli_emulator.base_url}, tmpdir)
            processes.append(linli)
            echo = spawn("echo", echo_argv, REPO,
                         bot_env(REPO, bot_token=echo_token, telegram_api_base=echo_emulator.base_url), tmpdir)
            processes.append(echo)
            await wait_until_polling(linli_emulator, linli, args.start_timeout)
            await wait_until_polling(echo_emulator, echo, args.start_timeout)
            bench = Bench(args, bot_dir, labels, linli_emulator, echo_emulator, linli, echo, first_id, first_id)

            if args.warmup:
                await bench.linli_round(0, args.warmup, measured=False)
                await bench.echo_round(0, args.warmup, measured=False)
            for number in range(1, args.rounds + 1):
                for phase in (await bench.linli_round(number, args.residents),
                              await bench.echo_round(number, args.residents)):
                    if phase is not None:
                        phases.append(phase)
                        print(f"round {number} {phase.bot}: {phase.updates} updates in {phase.wall:.2f}s, "
                              f"{phase.ms_per_update():.2f} ms CPU/update", flush=True)
            echo_pin_note = next((line for line in echo.log_head() if line.startswith("echo bot:")), "?")
            if inject and not any(line.startswith("linli: pinned") for line in linli.log_head()):
                linli_pin_note = "injection did not report"
        finally:
            for process in processes:
                await process.stop()
            await linli_emulator.stop()
            await echo_emulator.stop()
            if args.redis_url and bench is not None:
                with contextlib.suppress(Exception):
                    await forget_fsm(args.redis_url, range(bench.first_id, bench.next_id))
            for process in processes:
                process.kill()

    header = [
        f"Linli tree: {describe_tree(bot_dir)}",
        f"backend: {backend}{' + redis' if args.redis_url else ''}; residents {args.residents} "
        f"(concurrency {args.concurrency}), {UPDATES_PER_RESIDENT} updates each; warm-up {args.warmup}; "
        f"rounds {args.rounds}; cores {os.cpu_count()}; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after",
        f"Response[T] pinned: linli {linli_pin_note}; {echo_pin_note}",
        "bot CPU = on-CPU time of every thread of the bot process over the measured phase (/proc/<pid>/task/*/"
        "schedstat; * = a thread exited, utime+stime ticks used); +outbox = until every request was announced "
        "to the social worker (Linli's calls/upd include that tail too); bench = this process (emulators, "
        "simulated users); calls/upd = Bot API requests other than getUpdates per update",
    ]
    report(phases, header)
    return 1 if any(p.failures for p in phases) else 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=15, help="residents per round (and echo users)")
    parser.add_argument("--concurrency", type=int, default=None, help="residents at once (default: all)")
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds per bot (Linli, then echo)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="residents (and echo users) before measuring (default: --concurrency, so every "
                             "database connection a round needs is open before it)")
    parser.add_argument("--database-url", default=None,
                        help="default: a temporary SQLite file; PostgreSQL: its public schema is recreated")
    parser.add_argument("--redis-url", default=None, help="FSM storage and event isolation in Redis")
    parser.add_argument("--bot-dir", default=str(REPO), help="the Linli tree to run (default: this checkout)")
    parser.add_argument("--pin", choices=("auto", "on", "off"), default="auto",
                        help="pin Response[T]: auto = echo bot alike Linli; on = both (injected into Linli "
                             "if it does not pin itself); off = the echo bot does not")
    parser.add_argument("--step-timeout", type=float, default=30.0)
    parser.add_argument("--phase-timeout", type=float, default=600.0)
    parser.add_argument("--outbox-timeout", type=float, default=None,
                        help="wait for the announcements (default 30 s + 1.5 s per resident)")
    parser.add_argument("--start-timeout", type=float, default=60.0)
    return parser


if __name__ == "__main__":
    arguments = _parser().parse_args()
    if arguments.concurrency is None:
        arguments.concurrency = arguments.residents
    if arguments.warmup is None:
        arguments.warmup = arguments.concurrency
    if arguments.outbox_timeout is None:
        arguments.outbox_timeout = 30.0 + 1.5 * arguments.residents
    try:
        sys.exit(asyncio.run(main(arguments)))
    except BotDied as died:
        print(f"bench: {died}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("bench: interrupted; the bot processes were stopped", file=sys.stderr)
        sys.exit(130)
