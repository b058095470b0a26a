"""Settings come from the environment once, and a bad value is told to the operator in one line.

An operator who writes `TIMEZONE=Mars/Base` in `.env` should read which variable is wrong
and how to fix it, not a pydantic report or a traceback.
"""

from __future__ import annotations

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
    "LOG_LEVEL",
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
