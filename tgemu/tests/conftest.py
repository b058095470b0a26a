from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aiogram import Bot

from tgemu import BotAPIEmulator
from tgemu.tests.support import make_bot


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator() as emu:
        yield emu


@pytest_asyncio.fixture
async def bot(emulator: BotAPIEmulator) -> AsyncIterator[Bot]:
    instance = make_bot(emulator)
    try:
        yield instance
    finally:
        await instance.session.close()
