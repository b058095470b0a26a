"""Settings come from the environment once, and a bad value is told to the operator in one line.

An operator who writes `TIMEZONE=Mars/Base` in `.env` should read which variable is wrong
and how to fix it, not a pydantic report or a traceback.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings

ENV_NAMES = (
    "BOT_TOKEN",
    "DATABASE_URL",
    "REDIS_URL",
    "TELEGRAM_API_BASE",
    "DEFAULT_LOCALE",
    "TIMEZONE",
    "ADMIN_IDS",
    "INVITE_TTL_HOURS",
    "REMINDER_INTERVAL_SECONDS",
    "ESCALATION_MINUTES",
    "EMERGENCY_NUMBERS",
    "AUTO_CLOSE_DAYS",
    "RATING_REMINDER_DAYS",
    "RISK_WORDS_FILE",
    "TASK_WAVE_MINUTES",
    "TASK_REMINDER_MINUTES",
    "CHECKIN_FAR_METRES",
    "CHECKOUT_GRACE_MINUTES",
    "CERTIFICATE_FONT",
    "LOG_LEVEL",
    "TELEGRAM_PROXY",
    "HEARTBEAT_FILE",
    "UPDATE_CONCURRENCY",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "HTTP_HOST",
    "HTTP_PORT",
    "SEND_RATE_PER_SECOND",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No Linli variable in the environment and no `.env` in the working directory."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_with_nothing_set_the_embedded_defaults_apply(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(_env_file=None)

    assert settings.database_url == "sqlite+aiosqlite:///./linli.sqlite3"
    assert settings.is_sqlite
    assert settings.default_locale == "zh_CN"
    assert settings.timezone == "Asia/Shanghai"
    assert str(settings.tz) == "Asia/Shanghai"
    assert settings.bot_token is None
    assert settings.redis_url is None
    assert settings.telegram_api_base is None
    assert settings.admin_ids == []


def test_a_dotenv_file_in_the_working_directory_is_read(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("TIMEZONE=Asia/Urumqi\nADMIN_IDS=7\n", encoding="utf-8")

    settings = load_settings()

    assert settings.timezone == "Asia/Urumqi"
    assert settings.admin_ids == [7]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql://linli@db:5432/linli", "postgresql+asyncpg://linli@db:5432/linli"),
        ("postgres://linli@db/linli", "postgresql+asyncpg://linli@db/linli"),
        ("postgresql+asyncpg://linli@db/linli", "postgresql+asyncpg://linli@db/linli"),
        ("sqlite:////var/lib/linli/linli.sqlite3", "sqlite+aiosqlite:////var/lib/linli/linli.sqlite3"),
    ],
)
def test_plain_database_schemes_get_the_async_driver(clean_env: pytest.MonkeyPatch, given: str, expected: str) -> None:
    clean_env.setenv("DATABASE_URL", given)

    settings = load_settings(_env_file=None)

    assert settings.database_url == expected
    assert settings.is_sqlite is expected.startswith("sqlite")


def test_admin_ids_are_a_comma_separated_list(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("ADMIN_IDS", "1, 2")

    assert load_settings(_env_file=None).admin_ids == [1, 2]


def test_a_well_formed_environment_is_taken_as_given(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BOT_TOKEN", "123456:ABC-def")
    clean_env.setenv("REDIS_URL", "redis://localhost:6379/0")
    clean_env.setenv("TELEGRAM_API_BASE", "http://localhost:8081/")
    clean_env.setenv("DEFAULT_LOCALE", "en")
    clean_env.setenv("TIMEZONE", "Asia/Urumqi")

    settings = load_settings(_env_file=None)

    assert settings.require_token() == "123456:ABC-def"
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.telegram_api_base == "http://localhost:8081"  # trailing slash dropped
    assert settings.default_locale == "en"
    assert settings.timezone == "Asia/Urumqi"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("BOT_TOKEN", "abc"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "http://x"),
        ("TIMEZONE", "Mars/Base"),
        ("ADMIN_IDS", "1,x"),
        ("DEFAULT_LOCALE", "fr"),
        ("TELEGRAM_API_BASE", "ftp://x"),
        ("INVITE_TTL_HOURS", "0"),
        ("INVITE_TTL_HOURS", "three days"),
        ("LOG_LEVEL", "verbose"),
        ("ADMIN_IDS", "7,-1001234567890"),
        ("ADMIN_IDS", "0"),
        ("TELEGRAM_PROXY", "ftp://user:pw@proxy:21"),
        ("TELEGRAM_PROXY", "socks5h://proxy:1080"),
        ("TELEGRAM_PROXY", "proxy.example:1080"),
        ("TELEGRAM_PROXY", "http://user:pw@proxy"),
        ("TELEGRAM_PROXY", "socks5://user:pw@proxy:port"),
    ],
)
def test_a_malformed_value_is_one_line_naming_the_variable(
    clean_env: pytest.MonkeyPatch, name: str, value: str
) -> None:
    clean_env.setenv(name, value)

    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)

    message = str(caught.value)
    assert "\n" not in message, message
    assert message.startswith(f"{name}: "), message
    assert len(message) > len(name) + 2, "the operator is told what to fix"
    assert "validation error" not in message.lower(), "no raw pydantic report"


def test_the_token_is_only_required_to_run_the_bot(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings(_env_file=None)  # `db upgrade`, `seed` and `demo` need no token

    with pytest.raises(ConfigError) as caught:
        settings.require_token()

    message = str(caught.value)
    assert message.startswith("BOT_TOKEN")
    assert "\n" not in message


def test_an_empty_token_counts_as_not_set(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BOT_TOKEN", "")

    settings = load_settings(_env_file=None)

    assert settings.bot_token is None
    with pytest.raises(ConfigError, match="^BOT_TOKEN"):
        settings.require_token()


def test_the_token_is_kept_secret_in_reprs(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings(bot_token="123456:VERY-SECRET", _env_file=None)

    assert "VERY-SECRET" not in repr(settings)
    assert settings.require_token() == "123456:VERY-SECRET"


def _cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.upper() not in ENV_NAMES}
    env.update(extra)
    return env


def test_running_without_a_token_says_so_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=_cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "BOT_TOKEN" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_a_malformed_variable_stops_the_cli_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=tmp_path,
        env=_cli_env(BOT_TOKEN="123456:ABC", TIMEZONE="Mars/Base"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "TIMEZONE" in lines[0]
    assert "Traceback" not in result.stderr


def test_every_setting_is_isolated_by_these_tests() -> None:
    assert {name.upper() for name in Settings.model_fields} <= set(ENV_NAMES)


# --- TELEGRAM_PROXY ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://proxy.example:3128", "https://proxy.example:443", "socks5://ops:s3cret@10.0.0.1:1080",
     "socks4://10.0.0.1:1080", "SOCKS5://10.0.0.1:1080"],
)
def test_a_proxy_of_each_kind_is_accepted(clean_env: pytest.MonkeyPatch, url: str) -> None:
    clean_env.setenv("TELEGRAM_PROXY", url)

    settings = load_settings(_env_file=None)

    assert settings.proxy_url == url
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.proxy_display)


def test_a_bad_proxy_never_repeats_its_password(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TELEGRAM_PROXY", "ftp://ops:s3cret@proxy:21")

    with pytest.raises(ConfigError) as caught:
        load_settings(_env_file=None)

    assert str(caught.value).startswith("TELEGRAM_PROXY: ") and "s3cret" not in str(caught.value)


def test_the_proxy_password_is_masked_for_display(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TELEGRAM_PROXY", "socks5://ops:s3cret@10.0.0.1:1080")

    assert load_settings(_env_file=None).proxy_display == "socks5://ops:***@10.0.0.1:1080"
    assert load_settings(telegram_proxy="http://10.0.0.1:3128", _env_file=None).proxy_display == (
        "http://10.0.0.1:3128"
    )
    assert load_settings(_env_file=None, telegram_proxy=None).proxy_url is None


@pytest.mark.parametrize(("url", "tls"), [("socks5://ops:s3cret@10.0.0.1:1080", False),
                                          ("socks4://10.0.0.1:1080", False),
                                          ("https://ops:s3cret@10.0.0.1:443", True)])
async def test_the_bot_session_carries_the_proxy(url: str, tls: bool) -> None:
    from aiohttp_socks import ProxyConnector
    from python_socks import ProxyType

    from bot.app import ProxySession, make_bot

    bot = make_bot(Settings(telegram_proxy=url, _env_file=None), "123456:ABC")
    try:
        session = bot.session
        assert isinstance(session, ProxySession)
        client = await session.create_session()
        connector = client.connector
        assert isinstance(connector, ProxyConnector)
        assert connector._proxy_host == "10.0.0.1"
        expected = {"socks5": ProxyType.SOCKS5, "socks4": ProxyType.SOCKS4, "https": ProxyType.HTTP}
        assert connector._proxy_type is expected[url.split(":")[0]]
        assert (connector._proxy_ssl is not None) is tls
    finally:
        await bot.session.close()


async def _connect_proxy(seen: list[tuple[str, str | None]]):
    """A minimal HTTP CONNECT proxy that demands a login: records what it was asked, then tunnels."""
    import base64

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                writer.write(chunk)
                await writer.drain()
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        request, *headers = head.strip().split("\r\n")
        auth = next((h.split(" ", 2)[2] for h in headers if h.lower().startswith("proxy-authorization:")), None)
        target = request.split()[1]
        seen.append((target, base64.b64decode(auth).decode() if auth else None))
        if auth is None:
            writer.write(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        host, port = target.rsplit(":", 1)
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def test_bot_api_calls_go_through_the_proxy() -> None:
    from bot.app import make_bot
    from tgemu import BotAPIEmulator

    seen: list[tuple[str, str | None]] = []
    proxy = await _connect_proxy(seen)
    port = proxy.sockets[0].getsockname()[1]
    try:
        async with BotAPIEmulator("123456:PROXIED") as emu:
            settings = Settings(telegram_api_base=emu.base_url, telegram_proxy=f"http://ops:s3cret@127.0.0.1:{port}",
                                _env_file=None)
            bot = make_bot(settings, "123456:PROXIED")
            try:
                me = await bot.get_me()
            finally:
                await bot.session.close()
    finally:
        proxy.close()
        await proxy.wait_closed()

    assert me.id == 123456
    assert seen and seen[0] == (emu.base_url.removeprefix("http://"), "ops:s3cret")


async def test_a_proxy_failure_is_a_telegram_network_error() -> None:
    from aiogram.exceptions import TelegramNetworkError

    from bot.app import make_bot

    bot = make_bot(Settings(telegram_proxy="socks5://127.0.0.1:1", _env_file=None), "123456:ABC")
    try:
        with pytest.raises(TelegramNetworkError, match="ProxyConnectionError"):
            await bot.get_me()
    finally:
        await bot.session.close()


# --- the heartbeat -------------------------------------------------------------------------------


async def test_the_heartbeat_beats_on_answered_get_updates_only(tmp_path: Path) -> None:
    from aiogram.methods import GetMe, GetUpdates

    from bot.health import Heartbeat, heartbeat_age

    ticks = iter([100.0, 101.0, 106.0])
    beat = Heartbeat(tmp_path / "beat", every=5.0, monotonic=lambda: next(ticks))

    async def answered(bot: object, method: object) -> str:
        return "ok"

    async def failed(bot: object, method: object) -> str:
        raise RuntimeError("no route to Telegram")

    assert await beat(answered, None, GetMe()) == "ok"  # type: ignore[arg-type]
    assert heartbeat_age(beat.path) is None, "only getUpdates counts"
    with pytest.raises(RuntimeError):
        await beat(failed, None, GetUpdates())  # type: ignore[arg-type]
    assert not beat.path.exists(), "a failed poll is no sign of life"

    await beat(answered, None, GetUpdates())  # type: ignore[arg-type]  # t=100: beats
    assert heartbeat_age(beat.path) is not None
    os.utime(beat.path, (0, 0))
    await beat(answered, None, GetUpdates())  # type: ignore[arg-type]  # t=101: too soon, file left alone
    assert beat.path.stat().st_mtime == 0
    await beat(answered, None, GetUpdates())  # type: ignore[arg-type]  # t=106: beats again
    assert heartbeat_age(beat.path) < 5

    beat.reset()
    assert not beat.path.exists()


async def test_a_heartbeat_that_cannot_be_written_does_not_stop_polling(tmp_path: Path) -> None:
    from aiogram.methods import GetUpdates

    from bot.health import Heartbeat

    beat = Heartbeat(tmp_path / "gone" / "beat")

    async def answered(bot: object, method: object) -> list[object]:
        return []

    assert await beat(answered, None, GetUpdates()) == []  # type: ignore[arg-type]
    assert not beat.path.exists()
