"""Benchmark: how long dispatch takes to rank volunteers for a task, by the number of volunteers.

Prints figures; never part of the test run. Usage (from the repository root):

    .venv/bin/python bench/ranking.py [--volunteers 100,1000,10000,100000] [--per-community 500]
        [--tasks 200] [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/linli_bench] [--seed 7]

For each number of volunteers the database is prepared from nothing (a temporary SQLite file by
default; for PostgreSQL the database is created if missing and its public schema dropped and
recreated: never point it at a database you want to keep), migrated with ``bot.migrate.upgrade``
and filled with:

* ``max(1, volunteers // --per-community)`` communities, ten to a street (街道), volunteers spread
  evenly over them; 90 % approved, the rest pending or suspended; a third with a location;
* each volunteer one to four weekly availability windows and one to three skills;
* history: 0 to 6 past task places per volunteer (a tenth withdrawn) in past tasks, and for a
  fifth of them an accepted place in an upcoming task (the overlap rule must look at it);
* ``--tasks`` new tasks in random communities on random days and times, half needing one skill.

Then (after ANALYZE on PostgreSQL) a warm-up of 20 rankings and ``--tasks`` timed calls of
``bot.services.dispatch.rank`` (the SQL tiers and the Python ordering), one per task, in one
session. Reported: median, p95 and max in ms and the mean number of candidates ranked.
The goal (issue 8): 100,000 volunteers at most twice the time of 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from request_flow import reset_postgres  # noqa: E402 - the bench's own: creates the database, recreates its schema
from routing import _insert, percentile  # noqa: E402
from sqlalchemy import select, text  # noqa: E402

from bot.db import make_engine, make_session_factory  # noqa: E402
from bot.migrate import upgrade  # noqa: E402
from bot.services import dispatch  # noqa: E402
from bot.services.volunteers import SKILLS  # noqa: E402
from models import (  # noqa: E402
    AreaType,
    AssignmentStatus,
    Community,
    DistrictKind,
    IdDocument,
    Role,
    Sex,
    TaskAssignment,
    TaskKind,
    TaskStatus,
    User,
    UserRole,
    Volunteer,
    VolunteerAvailability,
    VolunteerStatus,
    VolunteerTask,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
WARMUP = 20
CODES = list(SKILLS)
WINDOWS = ((8, 12), (13, 17), (18, 21), (9, 11), (14, 16))


async def populate(engine, volunteers: int, args: argparse.Namespace, rng: random.Random) -> dict[str, int]:  # noqa: ANN001
    communities = max(1, volunteers // args.per_community)
    await _insert(engine, Community.__table__, [
        {"id": c, "name": f"社区{c}", "name_en": f"Community {c}", "district": f"街道{c // 10}",
         "district_kind": DistrictKind.STREET.value, "area_type": AreaType.URBAN.value, "timezone": "Asia/Shanghai",
         "active": True, "created_at": NOW}
        for c in range(1, communities + 1)
    ])
    owner = volunteers + 1  # the social worker who made every task
    await _insert(engine, User.__table__, [
        {"id": u, "telegram_id": 7_000_000 + u, "first_name": f"v{u}", "created_at": NOW, "last_seen_at": NOW}
        for u in range(1, owner + 1)
    ])
    await _insert(engine, UserRole.__table__, [{"user_id": owner, "role": Role.SOCIAL_WORKER.value,
                                                "granted_at": NOW}])
    home = {u: 1 + (u - 1) % communities for u in range(1, volunteers + 1)}
    statuses = [VolunteerStatus.APPROVED] * 18 + [VolunteerStatus.PENDING, VolunteerStatus.SUSPENDED]
    rows, windows = [], []
    for u in range(1, volunteers + 1):
        located = rng.random() < 0.33
        rows.append({
            "user_id": u, "real_name": f"志愿者{u}", "sex": Sex.FEMALE.value, "birth_date": datetime(1980, 1, 1).date(),
            "id_type": IdDocument.PASSPORT.value, "id_number_masked": "*****1234", "phone": "+8613900000000",
            "community_id": home[u], "skills": rng.sample(CODES, rng.randint(1, 3)), "interests": [],
            "consent_at": NOW, "status": rng.choice(statuses).value,
            "latitude": 37.8 + rng.random() * 0.2 if located else None,
            "longitude": 112.5 + rng.random() * 0.2 if located else None,
            "last_offered_at": NOW - timedelta(minutes=rng.randint(0, 60 * 24 * 60)),
            "created_at": NOW, "updated_at": NOW,
        })
        for weekday in rng.sample(range(7), rng.randint(1, 4)):
            start, end = rng.choice(WINDOWS)
            windows.append({"volunteer_id": u, "weekday": weekday, "starts_at": clock_time(start),
                            "ends_at": clock_time(end)})
    await _insert(engine, Volunteer.__table__, rows)
    await _insert(engine, VolunteerAvailability.__table__, windows)

    # History: past tasks with places, and upcoming tasks some volunteers already hold places in.
    tasks, places = [], []

    def task(start: datetime, hours: int, community: int, skills: list[str]) -> int:
        n = len(tasks) + 1
        tasks.append({"id": n, "kind": TaskKind.COMMUNITY.value, "title": f"任务{n}", "place": "p",
                      "starts_at": start, "ends_at": start + timedelta(hours=hours), "needed": 3, "skills": skills,
                      "community_id": community, "created_by_id": owner, "status": TaskStatus.OPEN.value,
                      "waves": 1, "created_at": NOW, "updated_at": NOW})
        return n

    for u in range(1, volunteers + 1):
        for _ in range(rng.randint(0, 6)):
            start = NOW - timedelta(days=rng.randint(1, 300), hours=rng.randint(0, 10))
            status = AssignmentStatus.WITHDRAWN if rng.random() < 0.1 else AssignmentStatus.ACCEPTED
            places.append({"task_id": task(start, rng.randint(1, 4), home[u], []), "volunteer_id": u,
                           "status": status.value, "wave": 1, "offered_at": start, "answered_at": start,
                           "placed_at": start})
        if rng.random() < 0.2:
            start = NOW + timedelta(days=rng.randint(1, 14), hours=rng.randint(0, 12))
            places.append({"task_id": task(start, rng.randint(1, 4), home[u], []), "volunteer_id": u,
                           "status": AssignmentStatus.ACCEPTED.value, "wave": 1, "offered_at": NOW,
                           "answered_at": NOW, "placed_at": NOW})
    first_new = len(tasks) + 1
    for _ in range(WARMUP + args.tasks):
        day = (NOW + timedelta(days=rng.randint(1, 21))).astimezone(TZ).date()
        start_hour = rng.choice((8, 9, 10, 13, 14, 15, 18))
        start = datetime.combine(day, clock_time(start_hour), TZ).astimezone(UTC)
        task(start, rng.choice((1, 2)), rng.randint(1, communities), [rng.choice(CODES)] if rng.random() < 0.5 else [])
    await _insert(engine, VolunteerTask.__table__, tasks)
    await _insert(engine, TaskAssignment.__table__, places)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    return {"communities": communities, "tasks": len(tasks), "places": len(places), "first_new_task": first_new}


async def measure(url: str, volunteers: int, args: argparse.Namespace) -> str:
    if url.startswith("postgres"):
        await reset_postgres(url)
    engine = make_engine(url)
    try:
        await upgrade(engine)
        rng = random.Random(args.seed)
        load_started = time.perf_counter()
        facts = await populate(engine, volunteers, args, rng)
        load_seconds = time.perf_counter() - load_started
        factory = make_session_factory(engine)
        timings: list[float] = []
        ranked: list[int] = []
        async with factory() as session:
            new = list((await session.scalars(
                select(VolunteerTask).where(VolunteerTask.id >= facts["first_new_task"]).order_by(VolunteerTask.id)
            )).all())
            for i, task in enumerate(new):
                started = time.perf_counter()
                candidates = await dispatch.rank(session, task, now=NOW)
                elapsed = (time.perf_counter() - started) * 1000
                if i >= WARMUP:
                    timings.append(elapsed)
                    ranked.append(len(candidates))
        return (f"{volunteers:>6} volunteers, {facts['communities']:>3} communities, {facts['tasks']:>6} tasks, "
                f"{facts['places']:>6} places (loaded in {load_seconds:.1f}s): median "
                f"{statistics.median(timings):.2f} ms, p95 {percentile(timings, 0.95):.2f} ms, "
                f"max {max(timings):.2f} ms over {len(timings)} rankings, "
                f"{statistics.mean(ranked):.1f} candidates ranked on average")
    finally:
        await engine.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", default="100,1000,10000,100000")
    parser.add_argument("--per-community", type=int, default=500, help="volunteers per community (at most)")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(part) for part in args.volunteers.split(",")]
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        for size in sizes:
            url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / f'ranking-{size}.sqlite3'}"
            print(await measure(url, size, args), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
