"""Application settings, read once at start-up from the environment or `.env`.

Nothing else in the code reads `os.environ`: the CLI loads a `Settings` and
passes it down. A malformed value becomes a one-line `ConfigError` naming the
environment variable, so an operator sees what to fix instead of a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

if TYPE_CHECKING:
    from bot.services.risk import RiskWords

SUPPORTED_LOCALES: tuple[str, ...] = ("zh_CN", "en")

# Proxy schemes aiogram's AiohttpSession handles (through aiohttp-socks); https means TLS to the proxy.
PROXY_SCHEMES: tuple[str, ...] = ("http", "https", "socks5", "socks4")


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
    # Where api.telegram.org is blocked: an HTTP or SOCKS proxy for every Bot API call. Secret: it may carry a password.
    telegram_proxy: SecretStr | None = None
    default_locale: Literal["zh_CN", "en"] = "zh_CN"
    timezone: str = "Asia/Shanghai"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    invite_ttl_hours: int = Field(default=72, ge=1, le=24 * 30)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Updates handled at once (aiogram's tasks_concurrency_limit); the PostgreSQL pool is sized to it.
    update_concurrency: int = Field(default=16, ge=1, le=200)
    # How often due reminders (offer timeouts, deadlines) are swept, in seconds.
    reminder_interval_seconds: float = Field(default=30.0, ge=1, le=3600)
    # A missed deadline goes to the station's supervisor; unmoved this many minutes later, to the coordinators.
    escalation_minutes: int = Field(default=120, ge=5, le=7 * 24 * 60)
    # A resolved case closes by itself after AUTO_CLOSE_DAYS unless the resident confirms or reopens it;
    # they are reminded to rate it once, RATING_REMINDER_DAYS after resolution.
    auto_close_days: int = Field(default=7, ge=1, le=90)
    rating_reminder_days: int = Field(default=3, ge=1, le=90)
    # Urgent requests: emergency numbers shown to a resident (what each is for is known for 110, 119, 120,
    # 122, 12338, 12355, 12356) and the crisis words that make a request urgent (bundled list when unset).
    emergency_numbers: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["110", "120"])
    risk_words_file: Path | None = None
    # Volunteer tasks: offers go out in waves; with places still open, the next wave after this many minutes.
    task_wave_minutes: int = Field(default=60, ge=5, le=24 * 60)
    # Volunteers holding a place are reminded this many minutes before the start (default: a day and an hour).
    task_reminder_minutes: Annotated[list[int], NoDecode] = Field(default_factory=lambda: [1440, 60])
    # Check-in: farther than this from the task's place is flagged for the social worker (never refused).
    checkin_far_metres: int = Field(default=500, ge=50, le=50_000)
    # A volunteer still checked in this many minutes after the task's end is flagged; their hours wait for the
    # social worker.
    checkout_grace_minutes: int = Field(default=120, ge=10, le=24 * 60)
    # A CJK TrueType font (.ttf/.ttc) for certificates; unset: Debian's fonts-wqy-microhei where installed.
    certificate_font: Path | None = None
    # `linli run` touches this file while it polls Telegram; `linli health` reads its age. Unset: no heartbeat.
    heartbeat_file: Path | None = None
    # Webhook mode (`linli run --webhook`): the public https URL Telegram posts updates to (its path is the one
    # the server answers on) and the secret Telegram sends in X-Telegram-Bot-Api-Secret-Token with each update.
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    # Where the HTTP server listens: the webhook, /healthz, /readyz and /metrics. Polling mode serves the last
    # three only when HTTP_PORT is set; webhook mode listens on 8080 unless it is.
    http_host: str = "0.0.0.0"  # noqa: S104 - inside a container, the proxy reaches it on the internal network
    http_port: int | None = Field(default=None, ge=1, le=65535)
    # Messages a second for the whole bot, shared by every process through Redis (Telegram allows about 30).
    send_rate_per_second: float = Field(default=30.0, gt=0, le=1000)

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

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _webhook_url(cls, value: object) -> str | None:
        if value is None or str(value).strip() == "":
            return None
        url = str(value).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("use the public https:// URL Telegram should post updates to")
        return url

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _webhook_secret(cls, value: object) -> object:
        if value is None:
            return None
        text = (value.get_secret_value() if isinstance(value, SecretStr) else str(value)).strip()
        if not text:
            return None
        # Telegram's rule for secret_token: 1-256 characters of A-Z, a-z, 0-9, _ and -.
        if len(text) > 256 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in text):
            raise ValueError("use 1 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return text

    @field_validator("telegram_proxy", mode="before")
    @classmethod
    def _proxy_url(cls, value: object) -> object:
        if value is None:
            return None
        text = (value.get_secret_value() if isinstance(value, SecretStr) else str(value)).strip()
        if not text:
            return None
        # Messages below never repeat the URL: it may hold the proxy's password.
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            raise ValueError("not a URL; use scheme://[user:password@]host:port") from None
        if parts.scheme.lower() not in PROXY_SCHEMES:
            raise ValueError(f"use one of {', '.join(s + '://' for s in PROXY_SCHEMES)} followed by host:port")
        if not parts.hostname or port is None:
            raise ValueError("give the proxy's host and port: scheme://[user:password@]host:port")
        return text

    @field_validator("emergency_numbers", mode="before")
    @classmethod
    def _phone_numbers(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, list):
            for item in value:
                if not str(item).isdigit() or not 3 <= len(str(item)) <= 12:
                    raise ValueError(f"{item!r} is not a phone number; use digits, e.g. 110,120,12356")
            value = [str(item) for item in value]
        return value

    @field_validator("task_reminder_minutes", mode="before")
    @classmethod
    def _reminder_offsets(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, list):
            minutes = []
            for item in value:
                if not str(item).isdigit() or not 5 <= int(item) <= 7 * 24 * 60:
                    raise ValueError(f"{item!r}: give minutes before the start between 5 and 10080, e.g. 1440,60")
                minutes.append(int(item))
            value = sorted(set(minutes), reverse=True)
        return value

    @field_validator("risk_words_file")
    @classmethod
    def _risk_words(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        from bot.services.risk import parse_risk_words

        try:
            parse_risk_words(value.read_text(encoding="utf-8"))
        except OSError as error:
            raise ValueError(f"cannot read {value}: {error.strerror}") from None
        except ValueError as error:
            raise ValueError(f"{value}: {error}") from None
        return value

    @field_validator("heartbeat_file", "risk_words_file", mode="before")
    @classmethod
    def _optional_path(cls, value: object) -> object:
        if value is None or str(value).strip() == "":
            return None
        return value

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
            value = [int(p) for p in parts]
        if isinstance(value, list):
            for item in value:
                if isinstance(item, int) and item <= 0:
                    raise ValueError(f"{item} is a group or channel id, not a person's Telegram user id")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def proxy_url(self) -> str | None:
        """The proxy URL itself, for the HTTP session only: never log or print it."""
        return self.telegram_proxy.get_secret_value() if self.telegram_proxy else None

    @property
    def proxy_display(self) -> str | None:
        """The proxy URL with its password masked, fit for messages and logs."""
        url = self.proxy_url
        return mask_password(url) if url else None

    def risk_words(self) -> RiskWords:
        """The crisis words in force: RISK_WORDS_FILE, or the bundled list."""
        from bot.services.risk import RISK_WORDS_FILE, load_risk_words

        return load_risk_words(self.risk_words_file or RISK_WORDS_FILE)

    @property
    def webhook_path(self) -> str:
        """The path the webhook server answers on: WEBHOOK_URL's, or /telegram."""
        path = urlsplit(self.webhook_url).path if self.webhook_url else ""
        return path if path and path != "/" else "/telegram"

    def require_webhook(self) -> tuple[str, str]:
        """WEBHOOK_URL and WEBHOOK_SECRET, both needed by `linli run --webhook`."""
        if self.webhook_url is None:
            raise ConfigError("WEBHOOK_URL: not set; give the public https:// URL Telegram should post updates to")
        if self.webhook_secret is None:
            raise ConfigError('WEBHOOK_SECRET: not set; make one with python -c "import secrets; '
                              'print(secrets.token_urlsafe(32))"')
        return self.webhook_url, self.webhook_secret.get_secret_value()

    def require_token(self) -> str:
        if self.bot_token is None:
            raise ConfigError("BOT_TOKEN: not set; get one from @BotFather and put it in the environment or .env")
        return self.bot_token.get_secret_value()


def mask_password(url: str) -> str:
    """`socks5://user:secret@host:1080` → `socks5://user:***@host:1080`; unchanged without a password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}:***@{host}" if parts.username else f":***@{host}"
    return SplitResult(parts.scheme, netloc, parts.path, parts.query, parts.fragment).geturl()


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning pydantic's report into one line per bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "SETTINGS"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{name}: {message}") from None
