"""The Alembic migrations build exactly the schema the models describe, and can be undone.

If someone changes a model and forgets the migration, the compare test names the
difference; if a migration's downgrade is broken, the stairway test finds it.
"""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.schema import CreateTable

from bot.db import make_engine
from bot.migrate import alembic_config, downgrade, upgrade
from models import Base


@pytest.fixture
async def fresh_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An empty SQLite database of its own, so migrating it up and down harms nobody."""
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'stairway.sqlite3'}")
    yield engine
    await engine.dispose()


async def schema_diff(engine: AsyncEngine) -> list[object]:
    def _compare(connection) -> list[object]:  # noqa: ANN001 - a sync Connection
        return compare_metadata(MigrationContext.configure(connection), Base.metadata)

    async with engine.connect() as connection:
        return await connection.run_sync(_compare)


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def revisions_oldest_first() -> list[tuple[str, str]]:
    """(revision, the revision to downgrade to) for every migration, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    steps = []
    for revision in reversed(list(script.walk_revisions("base", "heads"))):
        down = revision.down_revision
        assert not isinstance(down, tuple), f"{revision.revision} is a merge; walk it by hand"
        steps.append((revision.revision, down or "base"))
    return steps


def head_revision() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_there_is_one_line_of_history() -> None:
    script = ScriptDirectory.from_config(alembic_config())

    assert len(script.get_heads()) == 1, "two heads: merge them before release"
    assert revisions_oldest_first(), "no migrations found"


async def test_a_migrated_database_matches_the_models(fresh_engine: AsyncEngine) -> None:
    await upgrade(fresh_engine)

    assert await current_revision(fresh_engine) == head_revision()
    assert await schema_diff(fresh_engine) == []
    assert set(Base.metadata.tables) <= await table_names(fresh_engine)


async def test_the_shared_test_database_matches_the_models(engine: AsyncEngine) -> None:
    """The session's database: PostgreSQL when DATABASE_URL is set, so both dialects are checked."""
    assert await current_revision(engine) == head_revision()
    assert await schema_diff(engine) == []


async def test_migrating_down_to_nothing_and_up_again_works(fresh_engine: AsyncEngine) -> None:
    await upgrade(fresh_engine, "head")
    await downgrade(fresh_engine, "base")

    assert await table_names(fresh_engine) <= {"alembic_version"}
    assert await current_revision(fresh_engine) is None

    await upgrade(fresh_engine, "head")

    assert await schema_diff(fresh_engine) == []


@pytest.mark.parametrize(("revision", "down_to"), revisions_oldest_first())
async def test_stairway_each_revision_goes_up_down_and_up(
    fresh_engine: AsyncEngine, revision: str, down_to: str
) -> None:
    await upgrade(fresh_engine, revision)
    tables_up = await table_names(fresh_engine)

    await downgrade(fresh_engine, down_to)
    assert await current_revision(fresh_engine) == (None if down_to == "base" else down_to)

    await upgrade(fresh_engine, revision)
    assert await current_revision(fresh_engine) == revision
    assert await table_names(fresh_engine) == tables_up


async def test_migrating_a_database_with_cases_keeps_their_timelines(fresh_engine: AsyncEngine) -> None:
    """Batch migrations rebuild tables on SQLite; the rows that reference them must survive."""
    from sqlalchemy import func, select
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from bot.services import requests, users
    from bot.services.world import seed_sample
    from models import RequestEvent, ServiceCategory
    from tests.conftest import CLOCK

    await upgrade(fresh_engine, "head")
    async with async_sessionmaker(fresh_engine, expire_on_commit=False)() as session, session.begin():
        world = await seed_sample(session, now=CLOCK.now())
        resident = await users.touch_user(session, users.TelegramProfile(990_001, "老人"), now=CLOCK.now())
        await users.set_home_community(session, resident, world.communities["晨光社区"].id)
        category = await session.scalar(select(ServiceCategory).where(ServiceCategory.code == "elderly.community_care"))
        await requests.file_request(
            session, resident, requests.RequestDraft(token="t-1", category_id=category.id, description="需要买菜"),
            now=CLOCK.now(),
        )

    async def events() -> int:
        """Events of the kinds every revision knows (downgrades delete the kinds they do not)."""
        async with fresh_engine.connect() as connection:
            return (await connection.execute(
                select(func.count()).select_from(RequestEvent)
                .where(RequestEvent.kind.in_(("created", "announced", "status_changed", "cancelled", "note")))
            )).scalar_one()

    before = await events()
    assert before >= 2
    for _revision, down_to in reversed(revisions_oldest_first()[1:]):
        await downgrade(fresh_engine, down_to)
    for revision, _down in revisions_oldest_first()[1:]:
        await upgrade(fresh_engine, revision)
    assert await events() == before
    async with fresh_engine.connect() as connection:  # and foreign keys are on again for the app
        assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar_one() == 1


# --- PostgreSQL refuses what SQLite lets pass ---------------------------------------------
# One enum backing two columns once gave request_event two CHECKs of the same name: SQLite
# took it, PostgreSQL failed migration 0001. These run without a PostgreSQL server.


def duplicate_constraint_names(create_table_sql: str) -> set[str]:
    names = re.findall(r"CONSTRAINT (\w+)", create_table_sql)
    return {name for name in names if names.count(name) > 1}


def test_the_models_name_each_constraint_of_a_table_once() -> None:
    duplicates = {
        table.name: found
        for table in Base.metadata.sorted_tables
        if (found := duplicate_constraint_names(str(CreateTable(table).compile(dialect=postgresql.dialect()))))
    }

    assert duplicates == {}


def test_the_migrations_render_valid_postgresql() -> None:
    """Offline, as `alembic upgrade head --sql` would print it."""
    config = alembic_config("postgresql+asyncpg://linli@localhost/linli")
    config.output_buffer = io.StringIO()

    command.upgrade(config, "head", sql=True)

    sql = config.output_buffer.getvalue()
    assert "CREATE TABLE request_event" in sql
    duplicates = {
        match.group(1): found
        for statement in sql.split(";")
        if (match := re.search(r"CREATE TABLE (\w+)", statement)) and (found := duplicate_constraint_names(statement))
    }
    assert duplicates == {}


async def test_the_database_itself_refuses_an_unknown_status(engine):
    """The enum CHECK constraints exist in the migrated schema, on every backend."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    async with engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(text(
                "INSERT INTO reminder (kind, due_at, status, payload, attempts, created_at) "
                "VALUES ('probe', CURRENT_TIMESTAMP, 'exploded', '{}', 0, CURRENT_TIMESTAMP)"
            ))
        await conn.rollback()


async def test_every_enum_column_has_its_check_constraint(engine):
    """Each enum column is guarded by ck_<table>_<column> in the migrated database."""
    from sqlalchemy import Enum, inspect

    from models import Base

    expected = {
        (table.name, f"ck_{table.name}_{column.name}")
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, Enum)
    }
    assert len(expected) >= 10

    def present(sync_conn):
        inspector = inspect(sync_conn)
        return {
            (table, check["name"])
            for table in inspector.get_table_names()
            for check in inspector.get_check_constraints(table)
        }

    async with engine.connect() as conn:
        found = await conn.run_sync(present)
        await conn.rollback()
    assert expected <= found, sorted(expected - found)
