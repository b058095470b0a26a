"""Volunteers' service records for a period as an XLSX workbook, for the national volunteer service system.

One row per verified (or adjusted) record, with what the Ministry of Civil Affairs' 2020
measures ask a record to hold: the volunteer (number, name, sex, ID document type and the
masked number), the activity (name, content, place, community), when (start, end) and for
how long, how it was verified (as recorded, or adjusted and why), the recording
organisation, who recorded it and when. Records not yet verified are left out: they do
not count.

A coordinator exports every community's records; a social worker those of the tasks of
their home community.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.services.errors import N_, InvalidInput, PermissionDenied
from bot.services.records import hours
from models import (
    COUNTED,
    Community,
    IdDocument,
    Organization,
    RecordStatus,
    Role,
    ServiceRecord,
    Sex,
    TaskKind,
    User,
    Volunteer,
    VolunteerTask,
)

MAX_DAYS = 366

# Column headers (msgids), in the order of the row.
HEADERS = (
    N_("No."), N_("Volunteer number"), N_("Name"), N_("Sex"), N_("ID document"), N_("ID number (masked)"),
    N_("Activity"), N_("Service content"), N_("Place"), N_("Community"), N_("Start"), N_("End"),
    N_("Hours"), N_("Verification"), N_("Recording organisation"), N_("Recorded by"), N_("Recorded on"),
)
SEX_NAMES = {Sex.FEMALE: N_("Female"), Sex.MALE: N_("Male")}
DOCUMENT_NAMES = {
    IdDocument.RESIDENT_ID: N_("Resident ID card (居民身份证)"),
    IdDocument.HK_MACAU: N_("Hong Kong or Macao residents' permit"),
    IdDocument.TAIWAN: N_("Taiwan residents' permit"),
    IdDocument.PASSPORT: N_("Passport"),
    IdDocument.FOREIGN_PERMANENT: N_("Foreign permanent resident ID"),
}
KIND_NAMES = {TaskKind.CASE: N_("Help with a case"), TaskKind.GROUP: N_("Group activity"),
              TaskKind.COMMUNITY: N_("Community activity")}


@dataclass(frozen=True)
class Export:
    content: bytes
    filename: str
    rows: int


def check_period(start: date, end: date) -> None:
    if end < start:
        raise InvalidInput(N_("The period must end on or after its first day."))
    if (end - start).days >= MAX_DAYS:
        raise InvalidInput(N_("Please export at most {days} days at a time."), days=MAX_DAYS)


async def export_records(session: AsyncSession, actor: User, start: date, end: date, *, tz: str,
                         gettext: Callable[[str], str]) -> Export:
    """The workbook of verified records whose service began between `start` and `end` (local days, inclusive)."""
    check_period(start, end)
    zone = ZoneInfo(tz)
    since = datetime.combine(start, time(0), zone)
    until = datetime.combine(end, time(23, 59, 59, 999999), zone)
    verifier = aliased(User)
    stmt = (
        select(ServiceRecord, VolunteerTask, Volunteer, Community, Organization, verifier)
        .join(VolunteerTask, VolunteerTask.id == ServiceRecord.task_id)
        .join(Volunteer, Volunteer.user_id == ServiceRecord.volunteer_id)
        .join(Community, Community.id == VolunteerTask.community_id)
        .outerjoin(Organization, Organization.id == Community.organization_id)
        .outerjoin(verifier, verifier.id == ServiceRecord.verified_by_id)
        .where(ServiceRecord.status.in_(COUNTED), ServiceRecord.checked_in_at >= since,
               ServiceRecord.checked_in_at <= until)
        .order_by(ServiceRecord.checked_in_at, ServiceRecord.id)
    )
    if not actor.has_role(Role.COORDINATOR):
        worker = actor.social_worker
        if not actor.has_role(Role.SOCIAL_WORKER) or worker is None or worker.home_community_id is None:
            raise PermissionDenied(N_("Only social workers and coordinators can export service records."))
        stmt = stmt.where(VolunteerTask.community_id == worker.home_community_id)
    rows = (await session.execute(stmt)).all()

    from openpyxl import Workbook
    from openpyxl.styles import Font

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = gettext(N_("Service records"))[:31]
    sheet.append([gettext(h) for h in HEADERS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for n, (record, task, volunteer, community, organisation, recorder) in enumerate(rows, start=1):
        local = ZoneInfo(community.timezone)
        verification = gettext(N_("verified as recorded")) if record.status is RecordStatus.VERIFIED else (
            gettext(N_("adjusted: {reason}")).format(reason=record.reason or ""))
        sheet.append([
            n, volunteer.volunteer_number or "", volunteer.real_name, gettext(SEX_NAMES[volunteer.sex]),
            gettext(DOCUMENT_NAMES[volunteer.id_type]), volunteer.id_number_masked, task.title,
            gettext(KIND_NAMES[task.kind]) + (f": {task.details}" if task.details else ""), task.place,
            community.name, record.checked_in_at.astimezone(local).strftime("%Y-%m-%d %H:%M"),
            record.checked_out_at.astimezone(local).strftime("%Y-%m-%d %H:%M") if record.checked_out_at else "",
            float(hours(record.verified_minutes or 0)), verification,
            (organisation.name if organisation else None) or community.station_name or community.name,
            (recorder.real_name or recorder.display_name) if recorder else "",
            record.verified_at.astimezone(local).strftime("%Y-%m-%d") if record.verified_at else "",
        ])
    for column, width in zip("ABCDEFGHIJKLMNOPQ", (6, 16, 10, 6, 16, 20, 24, 24, 20, 12, 17, 17, 8, 24, 24, 10,
                                                    12), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Export(buffer.getvalue(), f"volunteer-records-{start:%Y%m%d}-{end:%Y%m%d}.xlsx", len(rows))
