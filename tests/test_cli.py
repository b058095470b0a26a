"""The `linli` command line, run as an operator would, in a scratch directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def linli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "BOT_TOKEN"}}
    clean.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=cwd, env=clean, capture_output=True, text=True, timeout=120
    )


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
    else:
        assert "请核对您的求助：" in transcript and "进展记录：" in transcript
    assert not list(tmp_path.iterdir())  # the demo leaves nothing behind


def test_a_token_telegram_refuses_stops_with_one_line(tmp_path: Path):
    import asyncio
    import threading

    from tgemu import BotAPIEmulator

    # The emulator answers 401 Unauthorized to any token but its own.
    ready = threading.Event()
    box: dict[str, object] = {}

    def serve() -> None:
        async def main() -> None:
            async with BotAPIEmulator("999:RIGHT") as emu:
                box["url"] = emu.base_url
                ready.set()
                while not box.get("stop"):
                    await asyncio.sleep(0.05)

        asyncio.run(main())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        result = linli("run", cwd=tmp_path, env={"BOT_TOKEN": "123:WRONG", "TELEGRAM_API_BASE": str(box["url"]),
                                                 "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})
    finally:
        box["stop"] = True
        thread.join(10)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "BOT_TOKEN" in result.stderr and "Traceback" not in result.stderr
