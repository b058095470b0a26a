"""The Docker files, read as an operator's tools would (no Docker engine runs here).

The compose file is parsed and its promises checked: the bot starts only after the
migration succeeded, every long-running service has a healthcheck, and no secret is
written inline. The Dockerfile is read for the few things that must hold.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot.cli import _parser
from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
SECRET_WORDS = ("PASSWORD", "TOKEN", "SECRET", "PROXY")
# A value Compose takes from .env and refuses to start without: ${NAME:?message}
REQUIRED_FROM_ENV = re.compile(r"\$\{[A-Z_]+:\?[^}]+\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def test_the_bot_waits_for_a_successful_migration(compose: dict) -> None:
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "bot"}

    migrate = services["migrate"]
    assert migrate["command"] == ["linli", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("restart") == "no"

    needs = services["bot"]["depends_on"]
    assert needs["migrate"]["condition"] == "service_completed_successfully"
    assert needs["postgres"]["condition"] == "service_healthy"
    assert needs["redis"]["condition"] == "service_healthy"


def test_long_running_services_have_healthchecks(compose: dict) -> None:
    services = compose["services"]
    for name in ("postgres", "redis", "bot"):
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
    bot = services["bot"]
    assert bot["healthcheck"]["test"] == ["CMD", "linli", "health"]
    assert "health" in {action for action in _parser()._subparsers._group_actions[0].choices}
    # `linli health` reads the heartbeat file the running bot writes.
    assert environment(bot).get("HEARTBEAT_FILE"), "the bot writes a heartbeat"


def test_no_secret_is_written_in_the_compose_file(compose: dict) -> None:
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if any(word in key for word in SECRET_WORDS):
                assert REQUIRED_FROM_ENV.fullmatch(value), f"{name}.{key} is written inline"
            if key == "DATABASE_URL":
                user_info = value.split("://", 1)[1].split("@", 1)[0]
                if ":" in user_info:
                    password = user_info.split(":", 1)[1]
                    assert REQUIRED_FROM_ENV.fullmatch(password), f"{name}: a password inside DATABASE_URL"
    ours = [s for s in compose["services"].values() if "build" in s]  # the services running Linli's image
    assert len(ours) == 2 and all(s.get("env_file") == ".env" for s in ours), "BOT_TOKEN and ADMIN_IDS come from .env"


def test_env_example_documents_what_compose_and_the_bot_read() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    for name in ("BOT_TOKEN", "ADMIN_IDS", "POSTGRES_PASSWORD", "TELEGRAM_PROXY", "TELEGRAM_API_BASE",
                 "HEARTBEAT_FILE"):
        assert re.search(rf"^#? ?{name}=", example, re.MULTILINE), f"{name} is not in .env.example"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`{name.upper()}`" in readme, f"{name.upper()} is not in README's configuration table"


def test_the_image_is_multi_stage_non_root_and_without_the_emulator() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert sum(line.startswith("FROM ") for line in lines) >= 2, "a builder stage and a runtime stage"

    def first(prefix: str) -> int:
        return next(i for i, line in enumerate(lines) if line.startswith(prefix))

    # Dependencies are built and installed before any source is copied, so they stay cached.
    assert first("RUN python -c 'import tomllib") < first("COPY bot ")
    assert any("pip install --no-index" in line for line in lines[: first("COPY bot ")])

    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "runs as a non-root user"
    copied = " ".join(line for line in lines if line.startswith("COPY "))
    assert "tgemu" not in copied and "tests" not in copied and "COPY . " not in copied + " "
    assert "HEARTBEAT_FILE=" in dockerfile and 'CMD ["linli", "health"]' in dockerfile


def test_the_build_context_leaves_out_what_must_not_ship() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()}
    for entry in (".git", ".venv", ".env", "*.sqlite3", "tests", "tgemu", ".pytest_cache", "**/__pycache__"):
        assert entry in ignored, f"{entry} would be sent to the Docker build"
