"""The `linli` command line, run as an operator would, in a scratch directory."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from importlib.metadata import version
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from bot.cli import NO_DATABASE_CHECK, _parser, telegram_unreachable
from bot.config import Settings
from bot.migrate import alembic_config
from tgemu import BotAPIEmulator

ROOT = Path(__file__).resolve().parent.parent

# Every Linli setting: a test states the ones it means, none leaks in from the caller's environment.
LINLI_VARIABLES = {name.upper() for name in Settings.model_fields}


def _env(env: dict[str, str] | None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k.upper() not in LINLI_VARIABLES}
    clean.update(env or {})
    return clean


def linli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=_env(env), capture_output=True, text=True, timeout=120
    )


def linli_at_once(commands: list[tuple[str, ...]], *, cwd: Path, env: dict[str, str]) -> list[tuple[int, str, str]]:
    """Several commands started together (each is a new interpreter): (exit code, stdout, stderr) each."""
    started = [
        subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=cwd, env=_env(env),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for args in commands
    ]
    results = []
    for process in started:
        out, err = process.communicate(timeout=120)
        results.append((process.returncode, out, err))
    return results


@contextlib.contextmanager
def emulator_in_thread(token: str) -> Iterator[BotAPIEmulator]:
    """A Bot API emulator on its own event loop, for a `linli` subprocess to talk to."""
    ready = threading.Event()
    stop = threading.Event()
    box: dict[str, BotAPIEmulator] = {}

    def serve() -> None:
        async def main() -> None:
            async with BotAPIEmulator(token) as emu:
                box["emu"] = emu
                ready.set()
                while not stop.is_set():
                    await asyncio.sleep(0.05)

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield box["emu"]
    finally:
        stop.set()
        thread.join(10)


def one_line(stderr: str) -> str:
    """The single line an operator is told; fails on a traceback or several lines."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_migrate_seed_and_grant_the_first_coordinator(tmp_path: Path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'ops.sqlite3'}"}
    assert linli("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    seeded = linli("seed", cwd=tmp_path, env=env)
    assert seeded.returncode == 0 and "catalogue loaded: 10 target groups, 29 services" in seeded.stdout
    sample = linli("seed", "--sample", cwd=tmp_path, env=env)
    assert sample.returncode == 0 and "3 communities" in sample.stdout
    again = linli("seed", "--sample", cwd=tmp_path, env=env)  # idempotent
    assert again.returncode == 0 and again.stdout == sample.stdout
    first = linli("admin", "grant", "424242", cwd=tmp_path, env=env)
    assert first.returncode == 0 and first.stdout.strip() == "424242 is now a coordinator"
    second = linli("admin", "grant", "424242", cwd=tmp_path, env=env)
    assert second.stdout.strip() == "424242 is already a coordinator"


def test_the_default_database_is_a_file_in_the_working_directory(tmp_path: Path):
    assert linli("db", "upgrade", cwd=tmp_path).returncode == 0
    assert (tmp_path / "linli.sqlite3").exists()


def test_a_malformed_setting_stops_with_one_line(tmp_path: Path):
    result = linli("seed", cwd=tmp_path, env={"DATABASE_URL": "mysql://nobody@nowhere/db"})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("lang", "ending"),
    [("zh_CN", "演示结束：王秀兰的求助 "), ("en", "Demo finished: Wang Xiulan's request ")],
)
def test_the_demo_tells_the_story_without_token_or_network(tmp_path: Path, lang: str, ending: str):
    result = linli("demo", "--lang", lang, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[-1].startswith(ending)
    transcript = result.stdout
    assert "王秀兰 ▶ /start" in transcript and "李静" in transcript
    if lang == "en":
        assert "Please check your request:" in transcript and "Timeline:" in transcript
        # The volunteer part: registered and approved, offered, withdrawn after the reminder, the waitlist moved up.
        assert "Please check the task:" in transcript and "Are you still coming?" in transcript
        assert "王强 moved up from the waitlist" in transcript
        # Check-in and out, a verification and an adjustment, and the certificate read back from its PDF.
        assert "Left for about ten minutes in the middle" in transcript
        assert "Certificate of Volunteer Service" in transcript and "ZY2025000001" in transcript
    else:
        assert "请核对您的求助：" in transcript and "进展记录：" in transcript
        assert "请核对任务：" in transcript and "您还能来吗？" in transcript and "候补的 王强 已递补获得名额" in transcript
        assert "中途离开了约十分钟" in transcript and "志愿服务证明" in transcript and "ZY2025000001" in transcript
    assert not list(tmp_path.iterdir())  # the demo leaves nothing behind


def test_a_token_telegram_refuses_stops_with_one_line(tmp_path: Path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"}
    assert linli("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    # The emulator answers 401 Unauthorized to any token but its own.
    with emulator_in_thread("999:RIGHT") as emu:
        result = linli("run", cwd=tmp_path, env={**env, "BOT_TOKEN": "123:WRONG", "TELEGRAM_API_BASE": emu.base_url})
    assert result.returncode == 2
    assert "BOT_TOKEN" in one_line(result.stderr)


@pytest.mark.parametrize(("missing", "given"), [
    ("WEBHOOK_URL", {"WEBHOOK_SECRET": "abc"}),
    ("WEBHOOK_SECRET", {"WEBHOOK_URL": "https://bot.example.org/telegram"}),
])
def test_webhook_mode_without_its_settings_stops_with_one_line(tmp_path: Path, missing: str,
                                                                given: dict[str, str]):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}", "BOT_TOKEN": "123:ABC", **given}
    result = linli("run", "--webhook", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert missing in one_line(result.stderr)


def test_a_webhook_secret_telegram_would_refuse_is_refused(tmp_path: Path):
    env = {"BOT_TOKEN": "123:ABC", "WEBHOOK_URL": "https://bot.example.org/telegram", "WEBHOOK_SECRET": "no spaces!"}
    result = linli("run", "--webhook", cwd=tmp_path, env=env)
    assert result.returncode == 2 and "WEBHOOK_SECRET" in one_line(result.stderr)


def test_health_asks_a_url_when_given_one(tmp_path: Path):
    import http.server
    import threading

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            self.send_response(200 if self.path == "/healthz" else 503)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        alive = linli("health", "--url", base + "/healthz", cwd=tmp_path)
        sick = linli("health", "--url", base + "/readyz", cwd=tmp_path)
    finally:
        server.shutdown()
    assert alive.returncode == 0 and "alive" in alive.stdout
    assert sick.returncode == 1 and "503" in one_line(sick.stderr)
    server.server_close()
    gone = linli("health", "--url", base + "/healthz", cwd=tmp_path)
    assert gone.returncode == 1


# --- help, version, ids ------------------------------------------------------------------------


def _walk(parser: argparse.ArgumentParser, path: str = "linli") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, f"{path} {name}")


def test_every_command_and_argument_has_help():
    missing = []
    commands = 0
    for path, parser in _walk(_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if not action.help:
                missing.append(f"{path}: {action.dest}")
            if isinstance(action, argparse._SubParsersAction):
                described = {choice.dest for choice in action._choices_actions if choice.help}
                missing += [f"{path} {name}" for name in action.choices if name not in described]
                commands += len(action.choices)
    assert commands >= 10, "the walk found the subcommands"
    assert not missing, f"no help text: {missing}"


def test_neither_help_nor_readme_points_outside_the_repository():
    texts = {path: parser.format_help() for path, parser in _walk(_parser())}
    texts["README.md"] = (ROOT / "README.md").read_text(encoding="utf-8")
    for where, text in texts.items():
        assert "../" not in text and "DESIGN.md" not in text, where


def test_version():
    result = linli("--version", cwd=ROOT)
    assert result.returncode == 0
    assert result.stdout.strip() == f"linli {version('linli')}"


@pytest.mark.parametrize("command", ["grant", "revoke"])
@pytest.mark.parametrize("telegram_id", ["-1001234567890", "0"])
def test_a_group_or_zero_id_is_refused(tmp_path: Path, command: str, telegram_id: str):
    result = linli("admin", command, telegram_id, cwd=tmp_path)
    assert result.returncode == 2
    assert "not a person" in result.stderr and "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir()), "refused before touching any database"


# --- a database that is not there, not reachable or not migrated -------------------------------


def _revisions_oldest_first() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config())
    return [revision.revision for revision in reversed(list(script.walk_revisions("base", "heads")))]


# Each command that reads Linli's tables, `linli run` included (with a token whose Telegram is the
# emulator: if the bot got as far as Telegram, the emulator would see the call).
DATABASE_COMMANDS = [("seed",), ("seed", "--sample"), ("admin", "list"), ("admin", "grant", "5"),
                     ("admin", "revoke", "5"), ("run",)]


def _prepare(situation: str, tmp_path: Path) -> tuple[str, str]:
    """A DATABASE_URL in the given bad situation, and what its one line must say."""
    path = tmp_path / "linli.sqlite3"
    url = f"sqlite:///{path}"
    if situation == "unreachable server":
        return "postgresql://linli:s3cret@127.0.0.1:1/linli", "check that the server is running"
    if situation == "no file":
        return url, 'run "linli db upgrade" first'
    if situation == "empty file":
        path.touch()
        return url, 'run "linli db upgrade" first'
    revisions = _revisions_oldest_first()
    if situation == "older revision":
        if len(revisions) < 2:
            pytest.skip("only one migration exists: no older revision to be at")
        assert linli("db", "upgrade", revisions[-2], cwd=tmp_path, env={"DATABASE_URL": url}).returncode == 0
        return url, f"needs {revisions[-1]}; run \"linli db upgrade\" first"
    assert situation == "unknown revision"
    assert linli("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url}).returncode == 0
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'fffffffffff0'")
    return url, "does not know"


@pytest.mark.parametrize(
    "situation", ["unreachable server", "no file", "empty file", "older revision", "unknown revision"]
)
def test_a_bad_database_is_one_line_for_every_command(tmp_path: Path, situation: str):
    url, advice = _prepare(situation, tmp_path)
    before = sorted(tmp_path.iterdir())
    with emulator_in_thread("123456:LINLI-CLI") as emu:
        env = {"DATABASE_URL": url, "BOT_TOKEN": "123456:LINLI-CLI", "TELEGRAM_API_BASE": emu.base_url}
        results = linli_at_once(DATABASE_COMMANDS, cwd=tmp_path, env=env)
        assert emu.calls == [], "linli run refused before talking to Telegram"
    for command, (code, out, err) in zip(DATABASE_COMMANDS, results, strict=True):
        assert code == 1, (command, out, err)
        line = one_line(err)
        assert line.startswith("linli: DATABASE_URL: ") and advice in line, (command, line)
        assert "s3cret" not in line, "the database password is never printed"
        assert out == "", command
    assert sorted(tmp_path.iterdir()) == before, "no SQLite file is created by a refused command"


def test_every_command_but_a_few_checks_the_database_first():
    commands = {name for path, _ in _walk(_parser()) if path.count(" ") == 1 for name in [path.split()[1]]}
    # Only these may run without a migrated database; any command added later is checked.
    assert commands >= NO_DATABASE_CHECK | {"run", "seed", "admin"}
    assert {"demo", "db", "i18n", "health"} == NO_DATABASE_CHECK


def test_a_subcommand_may_say_which_of_its_uses_need_no_database():
    from bot.cli import needs_database

    assert needs_database(argparse.Namespace(command="seed"))
    assert not needs_database(argparse.Namespace(needs_database=False))
    only_with_files = argparse.Namespace(files=[], needs_database=lambda args: bool(args.files))
    assert not needs_database(only_with_files)
    only_with_files.files = ["district.xlsx"]
    assert needs_database(only_with_files)


def test_db_upgrade_of_an_unreachable_server_is_one_line(tmp_path: Path):
    result = linli("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": "postgresql://linli:s3cret@127.0.0.1:1/x"})
    assert result.returncode == 1
    line = one_line(result.stderr)
    assert "DATABASE_URL" in line and "127.0.0.1:1" in line and "s3cret" not in line


@pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgresql"), reason="needs PostgreSQL")
def test_a_database_the_server_does_not_have_is_one_line(tmp_path: Path):
    from sqlalchemy.engine import make_url

    url = make_url(os.environ["DATABASE_URL"]).set(database="linli_no_such_database")
    env = {"DATABASE_URL": url.render_as_string(hide_password=False)}
    for command in (("admin", "list"), ("db", "upgrade")):
        result = linli(*command, cwd=tmp_path, env=env)
        assert result.returncode == 1, result.stderr
        assert "linli_no_such_database" in one_line(result.stderr)


def test_db_upgrade_says_what_it_did_and_alembic_is_quiet_unless_debugging(tmp_path: Path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'linli.sqlite3'}"}
    head = _revisions_oldest_first()[-1]
    first = linli("db", "upgrade", cwd=tmp_path, env=env)
    assert first.returncode == 0
    assert first.stdout.strip().endswith(f"migrated from empty to revision {head}")
    assert first.stderr == "", "no Alembic INFO lines at the default LOG_LEVEL"
    again = linli("db", "upgrade", cwd=tmp_path, env={**env, "LOG_LEVEL": "DEBUG"})
    assert again.returncode == 0 and again.stdout.strip().endswith(f"already at revision {head}")
    assert "alembic" in again.stderr, "LOG_LEVEL=DEBUG shows them"
    unknown = linli("db", "upgrade", "nonsense", cwd=tmp_path, env=env)
    assert unknown.returncode == 1 and "nonsense" in one_line(unknown.stderr)


# --- admin list / revoke ------------------------------------------------------------------------


def test_coordinators_are_listed_and_revoked(tmp_path: Path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'linli.sqlite3'}"}
    assert linli("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    empty = linli("admin", "list", cwd=tmp_path, env=env)
    assert empty.returncode == 0 and "no coordinators yet" in empty.stdout
    assert linli("seed", "--sample", cwd=tmp_path, env=env).returncode == 0  # 周主任 (10010) is a coordinator
    assert linli("admin", "grant", "424242", cwd=tmp_path, env=env).returncode == 0

    listed = linli("admin", "list", cwd=tmp_path, env={**env, "ADMIN_IDS": "424242"})
    assert listed.returncode == 0
    rows = listed.stdout.strip().splitlines()
    assert [row.split("\t")[0] for row in rows] == ["10010", "424242"]
    assert "周主任" in rows[0] and "(ADMIN_IDS)" in rows[1] and "has not written to the bot yet" in rows[1]

    in_admin_ids = linli("admin", "revoke", "424242", cwd=tmp_path, env={**env, "ADMIN_IDS": "424242"})
    assert in_admin_ids.returncode == 1 and "ADMIN_IDS" in one_line(in_admin_ids.stderr)

    revoked = linli("admin", "revoke", "424242", cwd=tmp_path, env=env)
    assert revoked.returncode == 0 and revoked.stdout.strip() == "424242 is no longer a coordinator"
    assert [row.split("\t")[0] for row in linli("admin", "list", cwd=tmp_path, env=env).stdout.splitlines()] == [
        "10010"
    ]
    not_one = linli("admin", "revoke", "424242", cwd=tmp_path, env=env)
    assert not_one.returncode == 0 and "not a coordinator" in not_one.stdout

    unknown = linli("admin", "revoke", "999999", cwd=tmp_path, env=env)
    assert unknown.returncode == 1 and "999999" in one_line(unknown.stderr)

    last = linli("admin", "revoke", "10010", cwd=tmp_path, env=env)
    assert last.returncode == 1 and "last coordinator" in one_line(last.stderr)
    forced = linli("admin", "revoke", "10010", "--allow-none", cwd=tmp_path, env=env)
    assert forced.returncode == 0, forced.stderr
    assert "no coordinators yet" in linli("admin", "list", cwd=tmp_path, env=env).stdout


async def test_a_revoked_coordinator_loses_the_role_and_their_unused_links(session, world):
    from bot.services import invites, users
    from bot.services.admin import revoke_coordinator
    from bot.services.errors import InvalidState
    from models import Role

    now = world.people["zhou"].created_at + timedelta(days=1)
    zhou = await users.get_by_telegram_id(session, world.people["zhou"].telegram_id)
    other = await users.get_by_telegram_id(session, world.people["li_jing"].telegram_id)
    await users.grant_role(session, other, Role.COORDINATOR, now=now)  # so zhou is not the last one
    pending = await invites.create_invite(session, zhou, Role.SOCIAL_WORKER, 72, now=now)
    await session.commit()

    revoked = await revoke_coordinator(session, zhou.telegram_id, now=now + timedelta(minutes=1))
    await session.commit()

    assert revoked.was_coordinator and revoked.invites_withdrawn == 1
    zhou_id, token = world.people["zhou"].telegram_id, pending.token
    session.expire_all()
    zhou = await users.get_by_telegram_id(session, zhou_id)
    assert not zhou.has_role(Role.COORDINATOR)
    newcomer = await users.get_by_telegram_id(session, world.people["wang_xiulan"].telegram_id)
    with pytest.raises(InvalidState):
        await invites.redeem_invite(session, newcomer, token, now=now + timedelta(minutes=2))
    await session.rollback()


# --- Telegram out of reach ----------------------------------------------------------------------


def _migrated(tmp_path: Path) -> dict[str, str]:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'linli.sqlite3'}", "BOT_TOKEN": "123456:LINLI-CLI"}
    assert linli("db", "upgrade", cwd=tmp_path, env=env).returncode == 0
    return env


def test_an_unreachable_telegram_is_reported_against_the_variable_that_matters(tmp_path: Path):
    env = _migrated(tmp_path)
    variants = [
        {"TELEGRAM_API_BASE": "http://127.0.0.1:1"},
        {"TELEGRAM_PROXY": "http://ops:pr0xy-s3cret@127.0.0.1:1"},
        {"TELEGRAM_PROXY": "socks5://ops:pr0xy-s3cret@127.0.0.1:1", "TELEGRAM_API_BASE": "http://127.0.0.1:2"},
    ]
    started = [
        subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=_env({**env, **variant}),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for variant in variants
    ]
    results = [(process.communicate(timeout=120), process.returncode) for process in started]
    lines = []
    for (out, err), code in results:
        assert code == 2, err
        assert "pr0xy-s3cret" not in out + err, "the proxy password is never printed"
        lines.append(one_line(err).removeprefix("linli: configuration error: "))
    assert lines[0].startswith("TELEGRAM_API_BASE: cannot reach the Bot API server at http://127.0.0.1:1 (")
    assert lines[1].startswith(
        "TELEGRAM_PROXY: cannot reach api.telegram.org through the proxy http://ops:***@127.0.0.1:1 ("
    )
    assert lines[2].startswith(
        "TELEGRAM_PROXY: cannot reach http://127.0.0.1:2 through the proxy socks5://ops:***@127.0.0.1:1 ("
    )


def test_without_proxy_or_server_the_line_suggests_both():
    settings = Settings(_env_file=None)
    line = telegram_unreachable(settings, "ClientConnectorError: Cannot connect to host api.telegram.org:443")
    assert line.startswith("cannot reach api.telegram.org (")
    assert "TELEGRAM_PROXY" in line and "TELEGRAM_API_BASE" in line
    both = Settings(telegram_proxy="socks5://a:pw@10.0.0.1:1080", telegram_api_base="http://10.0.0.2:8081",
                    _env_file=None)
    line = telegram_unreachable(both, "ProxyError: auth failed for pw")  # even if a library repeats it
    assert line.startswith("TELEGRAM_PROXY: cannot reach http://10.0.0.2:8081 through the proxy socks5://a:***@")
    assert "pw" not in line.replace("***", "")


# --- liveness: heartbeat and `linli health` -----------------------------------------------------


def test_health_reads_the_heartbeat_age(tmp_path: Path):
    beat = tmp_path / "heartbeat"
    unset = linli("health", cwd=tmp_path)
    assert unset.returncode == 2 and "HEARTBEAT_FILE" in one_line(unset.stderr)
    env = {"HEARTBEAT_FILE": str(beat)}
    missing = linli("health", cwd=tmp_path, env=env)
    assert missing.returncode == 1 and "no heartbeat" in one_line(missing.stderr)
    beat.touch()
    fresh = linli("health", cwd=tmp_path, env=env)
    assert fresh.returncode == 0 and fresh.stdout.startswith("alive")
    old = time.time() - 120
    os.utime(beat, (old, old))
    stale = linli("health", cwd=tmp_path, env=env)
    assert stale.returncode == 1 and "120 s old" in one_line(stale.stderr)
    assert linli("health", "--max-age", "300", cwd=tmp_path, env=env).returncode == 0


def test_a_heartbeat_file_in_a_missing_directory_stops_start_up(tmp_path: Path):
    env = {**_migrated(tmp_path), "HEARTBEAT_FILE": str(tmp_path / "no-such-dir" / "beat"),
           "TELEGRAM_API_BASE": "http://127.0.0.1:1"}
    result = linli("run", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "HEARTBEAT_FILE: the directory" in one_line(result.stderr)


def test_a_running_bot_keeps_its_heartbeat_fresh_and_a_stopped_one_does_not(tmp_path: Path):
    env = _migrated(tmp_path)
    beat = tmp_path / "heartbeat"
    beat.touch()  # an earlier run's beat must not count
    with emulator_in_thread(env["BOT_TOKEN"]) as emu:
        env = {**env, "TELEGRAM_API_BASE": emu.base_url, "HEARTBEAT_FILE": str(beat)}
        bot = subprocess.Popen([sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=_env(env),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            seen_missing = False
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and bot.poll() is None:
                exists = beat.exists()
                seen_missing = seen_missing or not exists
                if exists and seen_missing:
                    break
                time.sleep(0.05)
            assert bot.poll() is None, bot.communicate()[1]
            assert seen_missing and beat.exists(), "removed at start, written again once getUpdates answered"
            assert any(call.method.lower() == "getupdates" for call in emu.calls)
            alive = linli("health", cwd=tmp_path, env=env)
            assert alive.returncode == 0, alive.stderr
        finally:
            bot.send_signal(signal.SIGINT)
            _, err = bot.communicate(timeout=30)
    assert bot.returncode == 0, err
    assert not beat.exists(), "a stopped bot leaves no heartbeat behind"
    assert linli("health", cwd=tmp_path, env=env).returncode == 1


def test_certificate_verify_answers_for_a_genuine_and_an_unknown_number(tmp_path: Path):
    import sqlite3

    assert linli("db", "upgrade", cwd=tmp_path).returncode == 0
    database = sqlite3.connect(tmp_path / "linli.sqlite3")
    now = "2026-12-13 02:00:00.000000"
    database.execute("INSERT INTO community (id, name, district, district_kind, area_type, timezone, active, "
                     "created_at) VALUES (1, '晨光社区', '和平街道', 'street', 'urban', 'Asia/Shanghai', 1, ?)", (now,))
    database.execute("INSERT INTO app_user (id, telegram_id, first_name, created_at, last_seen_at) "
                     "VALUES (1, 777, '刘芳', ?, ?)", (now, now))
    database.execute("INSERT INTO volunteer (user_id, real_name, sex, birth_date, id_type, id_number_masked, phone, "
                     "community_id, skills, interests, consent_at, status, volunteer_number, last_offered_at, "
                     "created_at, updated_at) VALUES (1, '刘芳', 'female', '1985-06-01', 'resident_id', "
                     "'**************0026', '+8613800000002', 1, '[]', '[]', ?, 'approved', 'ZY2025000001', ?, ?, ?)",
                     (now, now, now, now))
    database.execute("INSERT INTO certificate (number, code, volunteer_id, first_day, last_day, minutes, activities, "
                     "organisation, issued_at) VALUES ('LL-2026-000001', 'ABC234', 1, '2026-12-05', '2026-12-12', "
                     "255, '[{\"date\": \"2026-12-05\", \"title\": \"敬老\", \"minutes\": 255}]', '阳光社工', ?)", (now,))
    database.commit()
    database.close()

    genuine = linli("certificate", "verify", "ll-2026-000001", "ABC234", "--lang", "en", cwd=tmp_path)
    assert genuine.returncode == 0, genuine.stderr
    assert genuine.stdout.startswith("✅ Genuine") and "4.3" in genuine.stdout and "**************0026" in genuine.stdout
    assert "2026-12-13" in genuine.stdout  # issued at 10:00 in Shanghai
    wrong = linli("certificate", "verify", "LL-2026-000001", "ZZZZZZ", cwd=tmp_path)
    assert wrong.returncode == 1 and wrong.stdout.startswith("✖️")
    unknown = linli("certificate", "verify", "LL-2099-000009", cwd=tmp_path)
    assert unknown.returncode == 1 and "邻里" in unknown.stdout
