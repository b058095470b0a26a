"""Benchmark: how long routing takes to choose a social worker, by the number of workers in the database.

Prints figures; never part of the test run. Usage (from the repository root):

    .venv/bin/python bench/routing.py [--workers 10,1000,10000] [--communities 100] [--decisions 300]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/linli_bench] [--seed 7]
        [--without-indexes]

For each number of workers the database is prepared from nothing (a temporary SQLite file by
default; for PostgreSQL the database is created if missing and its public schema dropped and
recreated; never point it at a database you want to keep), migrated with
``bot.migrate.upgrade``, given the catalogue, and filled with:

* the workers spread over ``min(--communities, workers // 5)`` communities (at least one), one
  supervisor per community, 80 % on duty, capacity 5 to 15, one to three random specialties;
* 10 % of the workers with a support assignment for another community (half of them current,
  half in the past or the future);
* open cases (offered, accepted, in progress) for every worker, 0 to 14 of them, so some are at
  capacity, and three resolved or closed cases each (history the count must skip);
* ``--decisions`` new requests in random communities and categories.

Then (after ANALYZE on PostgreSQL) a warm-up of 20 decisions, and ``--decisions`` timed calls of
``bot.services.routing.choose_worker``, one per request, in one session: the wall time of each
call (one SQL statement and building the answer). Reported: median, p95 and max in ms, and how
the decisions fell over the levels. ``--without-indexes`` drops the two indexes routing relies
on (open cases per worker, workers per community; migration 0004) after migrating, to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from request_flow import reset_postgres  # noqa: E402 - the bench's own: creates the database, recreates its schema
from sqlalchemy import insert, select, text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncEngine  # noqa: E402

from bot.db import make_engine, make_session_factory  # noqa: E402
from bot.migrate import upgrade  # noqa: E402
from bot.services.catalogue import load_catalogue  # noqa: E402
from bot.services.routing import RouteLevel, choose_worker  # noqa: E402
from models import (  # noqa: E402
    ASSIGNED_OPEN,
    AreaType,
    Community,
    DistrictKind,
    RequestStatus,
    Role,
    ServiceCategory,
    ServiceRequest,
    SocialWorker,
    SupportAssignment,
    User,
    UserRole,
    WorkerSpecialty,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
WARMUP = 20
RESIDENTS = 500
# The indexes routing relies on (migration 0004); --without-indexes drops them to compare.
ROUTING_INDEXES = ("ix_service_request_assigned_worker_status", "ix_social_worker_home_community_id")


async def _insert(engine: AsyncEngine, table: object, rows: list[dict], chunk: int = 5000) -> None:
    async with engine.begin() as conn:
        for start in range(0, len(rows), chunk):
            await conn.execute(insert(table), rows[start:start + chunk])


async def populate(engine: AsyncEngine, workers: int, communities: int, decisions: int,
                   rng: random.Random) -> dict[str, int]:
    """Fill a migrated database; returns row counts for the header."""
    factory = make_session_factory(engine)
    async with factory() as session, session.begin():
        await load_catalogue(session)
    async with factory() as session:
        categories = list((await session.scalars(
            select(ServiceCategory.id).where(ServiceCategory.active.is_(True)))).all())

    await _insert(engine, Community.__table__, [
        {"id": c, "name": f"社区{c}", "name_en": f"Community {c}", "district": f"街道{c // 10}",
         "district_kind": DistrictKind.STREET.value, "area_type": AreaType.URBAN.value, "timezone": "Asia/Shanghai",
         "active": True, "created_at": NOW}
        for c in range(1, communities + 1)
    ])
    # Users 1..RESIDENTS are residents; the workers follow.
    first_worker = RESIDENTS + 1
    worker_ids = list(range(first_worker, first_worker + workers))
    await _insert(engine, User.__table__, [
        {"id": u, "telegram_id": 5_000_000 + u, "first_name": f"user{u}", "created_at": NOW, "last_seen_at": NOW}
        for u in range(1, first_worker + workers)
    ])
    await _insert(engine, UserRole.__table__, [
        {"user_id": u, "role": Role.SOCIAL_WORKER.value, "granted_at": NOW} for u in worker_ids
    ])
    home = {u: 1 + i % communities for i, u in enumerate(worker_ids)}
    capacity = {u: rng.randint(5, 15) for u in worker_ids}
    await _insert(engine, SocialWorker.__table__, [
        {"user_id": u, "home_community_id": home[u], "is_supervisor": i < communities,
         "on_duty": rng.random() < 0.8, "capacity": capacity[u], "created_at": NOW}
        for i, u in enumerate(worker_ids)
    ])
    await _insert(engine, WorkerSpecialty.__table__, [
        {"worker_id": u, "category_id": c}
        for u in worker_ids for c in rng.sample(categories, rng.randint(1, 3))
    ])
    today = NOW.astimezone(ZoneInfo("Asia/Shanghai")).date()
    supports = []
    for u in rng.sample(worker_ids, workers // 10):
        target = rng.choice([c for c in range(1, communities + 1) if c != home[u]] or [home[u]])
        start = today + timedelta(days=rng.choice((-10, -3, 0, 5, -40)))
        supports.append({"worker_id": u, "community_id": target, "starts_on": start,
                         "ends_on": start + timedelta(days=rng.choice((0, 7, 14, 20))), "created_at": NOW})
    await _insert(engine, SupportAssignment.__table__, supports)

    requests: list[dict] = []

    def request(community: int, status: RequestStatus, worker: int | None) -> None:
        n = len(requests) + 1
        requests.append({
            "id": n, "number": f"B-{n:08d}", "resident_id": rng.randint(1, RESIDENTS), "community_id": community,
            "category_id": rng.choice(categories), "description": "bench", "urgency": "normal", "status": status.value,
            "assigned_worker_id": worker, "draft_token": str(uuid.uuid4()), "version": 1,
            "created_at": NOW, "updated_at": NOW,
        })

    for u in worker_ids:
        for _ in range(rng.randint(0, 14)):
            request(home[u], rng.choice(ASSIGNED_OPEN), u)
        for _ in range(3):
            request(home[u], rng.choice((RequestStatus.RESOLVED, RequestStatus.CLOSED)), u)
    first_new = len(requests) + 1
    for _ in range(WARMUP + decisions):
        request(rng.randint(1, communities), RequestStatus.NEW, None)
    await _insert(engine, ServiceRequest.__table__, requests)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    return {"communities": communities, "support_assignments": len(supports), "requests": len(requests),
            "first_new_request": first_new}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def measure(url: str, workers: int, args: argparse.Namespace) -> str:
    if url.startswith("postgres"):
        await reset_postgres(url)
    engine = make_engine(url)
    try:
        await upgrade(engine)
        if args.without_indexes:
            async with engine.begin() as conn:
                for index in ROUTING_INDEXES:
                    await conn.execute(text(f"DROP INDEX {index}"))
        communities = max(1, min(args.communities, workers // 5))
        rng = random.Random(args.seed)
        load_started = time.perf_counter()
        facts = await populate(engine, workers, communities, args.decisions, rng)
        load_seconds = time.perf_counter() - load_started

        factory = make_session_factory(engine)
        timings: list[float] = []
        levels: Counter[RouteLevel] = Counter()
        async with factory() as session:
            new = list((await session.scalars(
                select(ServiceRequest).where(ServiceRequest.id >= facts["first_new_request"]).order_by(ServiceRequest.id)
            )).all())
            await session.scalars(select(Community))  # every community in the identity map, as with a loaded request
            for i, request in enumerate(new):
                started = time.perf_counter()
                choice = await choose_worker(session, request, now=NOW)
                elapsed = (time.perf_counter() - started) * 1000
                if i >= WARMUP:
                    timings.append(elapsed)
                    levels[choice.level] += 1
        spread = ", ".join(f"{level.value} {levels[level]}" for level in RouteLevel if levels[level])
        return (f"{workers:>6} workers, {communities:>3} communities, {facts['requests']:>6} requests, "
                f"{facts['support_assignments']:>4} support assignments (loaded in {load_seconds:.1f}s): "
                f"median {statistics.median(timings):.2f} ms, p95 {percentile(timings, 0.95):.2f} ms, "
                f"max {max(timings):.2f} ms over {len(timings)} decisions [{spread}]")
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> int:
    sizes = [int(part) for part in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="linli-bench-routing-") as tmp:
        backend = "postgresql" if args.database_url else "sqlite"
        print(f"backend: {backend}; routing indexes: {'dropped' if args.without_indexes else 'yes'}; "
              f"seed {args.seed}; warm-up {WARMUP} decisions per size", flush=True)
        for workers in sizes:
            url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / f'routing-{workers}.sqlite3'}"
            print(await measure(url, workers, args), flush=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="10,1000,10000", help="comma-separated numbers of social workers")
    parser.add_argument("--communities", type=int, default=100, help="at most this many communities")
    parser.add_argument("--decisions", type=int, default=300, help="timed decisions per size")
    parser.add_argument("--database-url", default=None,
                        help="default: a temporary SQLite file; PostgreSQL: its public schema is recreated")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--without-indexes", action="store_true",
                        help="drop the indexes routing relies on after migrating, to compare")
    return parser


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_parser().parse_args())))
