"""Application settings, read once at start-up from the environment or `.env`.

Nothing else in the code reads `os.environ`: the CLI loads a `Settings` and
passes it down. A malformed value becomes a one-line `ConfigError` naming the
environment variable, so an operator sees what to fix instead of a traceback.
"""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

SUPPORTED_LOCALES: tuple[str, ...] = ("zh_CN", "en")


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line for the operator."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
    )

    bot_token: SecretStr | None = None
    database_url: str = "sqlite+aiosqlite:///./linli.sqlite3"
    redis_url: str | None = None
    telegram_api_base: str | None = None
    default_locale: Literal["zh_CN", "en"] = "zh_CN"
    timezone: str = "Asia/Shanghai"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    invite_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Updates handled at once (aiogram's tasks_concurrency_limit); the PostgreSQL pool is sized to it.
    update_concurrency: int = Field(default=16, ge=1, le=200)

    @field_validator("bot_token", mode="before")
    @classmethod
    def _token_shape(cls, value: object) -> object:
        if value is None or value == "":
            return None
        text = str(value).strip()
        bot_id, sep, secret = text.partition(":")
        if not sep or not bot_id.isdigit() or not secret:
            raise ValueError("expected the form 123456:ABC… given by @BotFather")
        return text

    @field_validator("database_url", mode="before")
    @classmethod
    def _database_driver(cls, value: object) -> str:
        url = str(value).strip()
        # Accept the plain scheme names operators tend to write and pick the async driver.
        for plain, driver in (
            ("postgresql://", "postgresql+asyncpg://"),
            ("postgres://", "postgresql+asyncpg://"),
            ("sqlite:///", "sqlite+aiosqlite:///"),
        ):
            if url.startswith(plain):
                url = driver + url[len(plain):]
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db")
        return url

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis_scheme(cls, value: object) -> str | None:
        if value is None or str(value).strip() == "":
            return None
        url = str(value).strip()
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use redis://host:port/db")
        return url

    @field_validator("telegram_api_base", mode="before")
    @classmethod
    def _api_base(cls, value: object) -> str | None:
        if value is None or str(value).strip() == "":
            return None
        url = str(value).strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ValueError("use an http:// or https:// base URL")
        return url

    @field_validator("timezone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _comma_separated_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",") if p.strip()]
            for part in parts:
                if not part.lstrip("-").isdigit():
                    raise ValueError(f"{part!r} is not a Telegram user id")
            return [int(p) for p in parts]
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def require_token(self) -> str:
        if self.bot_token is None:
            raise ConfigError("BOT_TOKEN: not set; get one from @BotFather and put it in the environment or .env")
        return self.bot_token.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "SETTINGS"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
