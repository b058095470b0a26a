"""Benchmark: a certificate for a volunteer with many records, and /hours with many records in the database.

Prints figures; never part of the test run. Usage (from the repository root):

    .venv/bin/python bench/records.py [--records 500000] [--certificate-records 1000] [--calls 200]
        [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/linli_bench] [--seed 7]

The database is prepared from nothing (a temporary SQLite file by default; for PostgreSQL
the database is created if missing and its public schema dropped and recreated: never point
it at a database you want to keep), migrated, and filled with ``--records`` verified or
pending service records spread over one volunteer per ten records (each with its task
place), plus one volunteer with ``--certificate-records`` verified records. Then:

* /hours: ``--calls`` calls of ``bot.services.records.summary`` (the totals and the latest 20
  records) for random volunteers, in one session: median, p95 and max in ms;
* the certificate: ``certificates.issue`` (reading the verified records) and
  ``certificates.render_pdf`` (the A4 PDF with the CJK font embedded) for the volunteer with
  many records, five times: median ms of each, the PDF's pages and size.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from request_flow import reset_postgres  # noqa: E402 - the bench's own: creates the database, recreates its schema
from routing import _insert, percentile  # noqa: E402
from sqlalchemy import text  # noqa: E402

from bot.db import make_engine, make_session_factory  # noqa: E402
from bot.i18n import make_i18n  # noqa: E402
from bot.migrate import upgrade  # noqa: E402
from bot.services import certificates, records  # noqa: E402
from models import (  # noqa: E402
    AreaType,
    AssignmentStatus,
    Community,
    DistrictKind,
    IdDocument,
    RecordStatus,
    ServiceRecord,
    Sex,
    TaskAssignment,
    TaskKind,
    TaskStatus,
    User,
    Volunteer,
    VolunteerTask,
)

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
PER_VOLUNTEER = 10


async def populate(engine, args: argparse.Namespace, rng: random.Random) -> int:  # noqa: ANN001
    """Returns the user id of the volunteer with many records."""
    volunteers = args.records // PER_VOLUNTEER + 1
    star = volunteers  # the last one gets --certificate-records records
    owner = volunteers + 1
    await _insert(engine, Community.__table__, [{
        "id": 1, "name": "晨光社区", "district": "和平街道", "district_kind": DistrictKind.STREET.value,
        "area_type": AreaType.URBAN.value, "station_name": "晨光社区社工站", "timezone": "Asia/Shanghai",
        "active": True, "created_at": NOW}])
    await _insert(engine, User.__table__, [
        {"id": u, "telegram_id": 8_000_000 + u, "first_name": f"v{u}", "created_at": NOW, "last_seen_at": NOW}
        for u in range(1, owner + 1)])
    await _insert(engine, Volunteer.__table__, [{
        "user_id": u, "real_name": f"志愿者{u}", "sex": Sex.FEMALE.value, "birth_date": datetime(1980, 1, 1).date(),
        "id_type": IdDocument.RESIDENT_ID.value, "id_number_masked": "**************1234", "phone": "+8613900000000",
        "community_id": 1, "skills": [], "interests": [], "consent_at": NOW, "status": "approved",
        "volunteer_number": f"ZY{u:010d}", "last_offered_at": NOW, "created_at": NOW, "updated_at": NOW,
    } for u in range(1, volunteers + 1)])
    plan = [(1 + i // PER_VOLUNTEER) for i in range(args.records)] + [star] * args.certificate_records
    tasks, places, rows = [], [], []
    for n, volunteer in enumerate(plan, start=1):
        start = NOW - timedelta(days=rng.randint(1, 700), hours=rng.randint(0, 12))
        minutes = rng.choice((60, 90, 120, 150, 180))
        tasks.append({"id": n, "kind": TaskKind.COMMUNITY.value, "title": f"社区活动 {n}", "place": "活动中心",
                      "starts_at": start, "ends_at": start + timedelta(minutes=minutes), "needed": 1, "skills": [],
                      "community_id": 1, "created_by_id": owner, "status": TaskStatus.OPEN.value, "waves": 1,
                      "created_at": start, "updated_at": start})
        places.append({"id": n, "task_id": n, "volunteer_id": volunteer, "status": AssignmentStatus.ACCEPTED.value,
                       "wave": 1, "offered_at": start, "answered_at": start, "placed_at": start})
        verified = volunteer == star or rng.random() < 0.8
        rows.append({"id": n, "assignment_id": n, "task_id": n, "volunteer_id": volunteer,
                     "status": (RecordStatus.VERIFIED if verified else RecordStatus.PENDING).value,
                     "checked_in_at": start, "checked_out_at": start + timedelta(minutes=minutes),
                     "minutes": minutes, "verified_minutes": minutes if verified else None,
                     "verified_by_id": owner if verified else None, "verified_at": start if verified else None,
                     "created_at": start, "updated_at": start})
    await _insert(engine, VolunteerTask.__table__, tasks)
    await _insert(engine, TaskAssignment.__table__, places)
    await _insert(engine, ServiceRecord.__table__, rows)
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    return star


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--certificate-records", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="linli-bench-") as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'records.sqlite3'}"
        if url.startswith("postgres"):
            await reset_postgres(url)
        engine = make_engine(url)
        try:
            await upgrade(engine)
            started = time.perf_counter()
            star = await populate(engine, args, rng)
            print(f"{args.records + args.certificate_records} service records loaded in "
                  f"{time.perf_counter() - started:.1f}s ({engine.dialect.name})", flush=True)
            factory = make_session_factory(engine)
            volunteers = args.records // PER_VOLUNTEER
            timings = []
            async with factory() as session:
                for i in range(args.calls + 10):
                    user = await session.get(User, rng.randint(1, volunteers))
                    t0 = time.perf_counter()
                    await records.summary(session, user, now=NOW, tz="Asia/Shanghai")
                    if i >= 10:
                        timings.append((time.perf_counter() - t0) * 1000)
            print(f"/hours (records.summary) with {args.records} records: median {statistics.median(timings):.2f} ms, "
                  f"p95 {percentile(timings, 0.95):.2f} ms, max {max(timings):.2f} ms over {len(timings)} calls",
                  flush=True)

            i18n = make_i18n("zh_CN")
            font = certificates.find_font(None)
            issue_ms, render_ms, pages, size = [], [], 0, 0
            for _ in range(5):
                async with factory() as session, session.begin():
                    user = await session.get(User, star)
                    t0 = time.perf_counter()
                    issued = await certificates.issue(session, user, now=NOW)
                    t1 = time.perf_counter()
                    pdf = certificates.render_pdf(issued.certificate, issued.volunteer, font,
                                                  zh=lambda m: i18n.gettext(m, locale="zh_CN"),
                                                  en=lambda m: i18n.gettext(m, locale="en"))
                    t2 = time.perf_counter()
                issue_ms.append((t1 - t0) * 1000)
                render_ms.append((t2 - t1) * 1000)
                from pypdf import PdfReader

                pages, size = len(PdfReader(io.BytesIO(pdf)).pages), len(pdf)
            print(f"certificate for {args.certificate_records} records: issue (read) median "
                  f"{statistics.median(issue_ms):.0f} ms, PDF median {statistics.median(render_ms):.0f} ms "
                  f"({pages} pages, {size // 1024} KiB)", flush=True)
        finally:
            await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
