"""Certificates of volunteer service (志愿服务证明) as PDF, and checking one by its number.

What a certificate shows follows the Ministry of Civil Affairs' 2020 measures: the
volunteer's name, ID (masked but the last four characters), volunteer number, the period,
the total verified hours, the service content (each activity with its date and hours),
the recording organisation, the issue date, and a number with a short check code that
anyone can check (`/verify NUMBER CODE` in the bot, `linli certificate verify NUMBER`).
Only verified (or adjusted) records count. The certificate is kept as issued, so a later
correction of a record does not change what an issued certificate said.

Chinese text needs a CJK TrueType font: `CERTIFICATE_FONT`, else the first of `FONT_PATHS`
that exists (Debian's fonts-wqy-microhei, which the Dockerfile and `.ci/run` install). The
font is embedded (subset) in every PDF, so it shows the same anywhere.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.errors import N_, DomainError, InvalidState, NotFound
from bot.services.records import hours
from models import (
    COUNTED,
    Certificate,
    Community,
    Organization,
    ServiceRecord,
    User,
    Volunteer,
    VolunteerStatus,
    VolunteerTask,
)

FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or typed from paper


class FontMissing(DomainError):
    """No CJK font: an operator's problem, told to the volunteer plainly."""


def find_font(configured: Path | None) -> Path:
    if configured is not None:
        if configured.is_file():
            return configured
        raise FontMissing(N_("Certificates cannot be made at the moment: the server lacks the font for Chinese. "
                             "Please tell your social worker."))
    for candidate in FONT_PATHS:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontMissing(N_("Certificates cannot be made at the moment: the server lacks the font for Chinese. "
                         "Please tell your social worker."))


@dataclass(frozen=True)
class Issued:
    certificate: Certificate
    volunteer: Volunteer


async def issue(session: AsyncSession, user: User, *, now: datetime) -> Issued:
    """A new certificate of everything verified so far."""
    volunteer = await session.get(Volunteer, user.id)
    if volunteer is None or volunteer.volunteer_number is None or volunteer.status is VolunteerStatus.REJECTED:
        raise NotFound(N_("Certificates are for registered volunteers: send /volunteer to register."))
    rows = (await session.execute(
        select(ServiceRecord, VolunteerTask).join(VolunteerTask, VolunteerTask.id == ServiceRecord.task_id)
        .where(ServiceRecord.volunteer_id == user.id, ServiceRecord.status.in_(COUNTED))
        .order_by(ServiceRecord.checked_in_at)
    )).all()
    if not rows:
        raise InvalidState(N_("You have no verified service hours yet: a certificate lists verified hours only."))
    community = await session.get(Community, volunteer.community_id)
    organisation = await session.get(Organization, community.organization_id) if community.organization_id else None
    zone = ZoneInfo(community.timezone)
    activities = [{"date": r.checked_in_at.astimezone(zone).date().isoformat(), "title": t.title,
                   "minutes": r.verified_minutes or 0} for r, t in rows]
    certificate = Certificate(
        number="", code="".join(secrets.choice(CODE_ALPHABET) for _ in range(6)), volunteer_id=user.id,
        first_day=rows[0][0].checked_in_at.astimezone(zone).date(),
        last_day=rows[-1][0].checked_in_at.astimezone(zone).date(),
        minutes=sum(a["minutes"] for a in activities), activities=activities,
        organisation=(organisation.name if organisation else None) or community.station_name or community.name,
        issued_at=now,
    )
    session.add(certificate)
    await session.flush()
    certificate.number = f"LL-{now.astimezone(zone).year}-{certificate.id:06d}"
    return Issued(certificate, volunteer)


@dataclass(frozen=True)
class Checked:
    certificate: Certificate
    volunteer: Volunteer


async def check(session: AsyncSession, number: str, code: str | None = None) -> Checked | None:
    """The certificate with this number (and check code, when given), or None: not genuine."""
    certificate = await session.scalar(select(Certificate).where(Certificate.number == number.strip().upper()))
    if certificate is None:
        return None
    if code is not None and code.strip().upper() != certificate.code:
        return None
    volunteer = await session.get(Volunteer, certificate.volunteer_id)
    return Checked(certificate, volunteer)


# --- the PDF ---------------------------------------------------------------------------------------------------

Tr = Callable[[str], str]  # a msgid in one language


def _both(zh: Tr, en: Tr, msgid: str) -> str:
    first, second = zh(msgid), en(msgid)
    return first if first == second else f"{first} {second}"


def render_pdf(certificate: Certificate, volunteer: Volunteer, font: Path, *, zh: Tr, en: Tr) -> bytes:
    """A4, Chinese with English beside each label, the font subset-embedded."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    name = "LinliCJK"
    if name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(name, str(font), subfontIndex=0))
    title = ParagraphStyle("title", fontName=name, fontSize=20, leading=28, alignment=1, spaceAfter=6)
    body = ParagraphStyle("body", fontName=name, fontSize=11, leading=17)
    small = ParagraphStyle("small", fontName=name, fontSize=9, leading=13, textColor=colors.grey)

    def label(msgid: str, value: str) -> Paragraph:
        return Paragraph(f"{_both(zh, en, msgid)}：{_escape(value)}", body)

    total = hours(certificate.minutes)
    story: list = [
        Paragraph(_both(zh, en, N_("Certificate of Volunteer Service")), title),
        Spacer(1, 4 * mm),
        label(N_("Name"), volunteer.real_name),
        label(N_("ID number (masked)"), volunteer.id_number_masked),
        label(N_("Volunteer number"), volunteer.volunteer_number or ""),
        label(N_("Period"), f"{certificate.first_day.isoformat()} – {certificate.last_day.isoformat()}"),
        label(N_("Total verified hours"), str(total)),
        Spacer(1, 4 * mm),
        Paragraph(_both(zh, en, N_("Service content")), body),
    ]
    table = [[_both(zh, en, N_("Date")), _both(zh, en, N_("Activity")), _both(zh, en, N_("Hours"))]]
    table += [[a["date"], Paragraph(_escape(a["title"]), body), str(hours(a["minutes"]))]
              for a in certificate.activities]
    grid = Table(table, colWidths=[30 * mm, 100 * mm, 40 * mm], repeatRows=1)
    grid.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, -1), name), ("FONTSIZE", (0, 0), (-1, -1), 10),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey), ("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    story += [
        grid,
        Spacer(1, 6 * mm),
        label(N_("Recording organisation"), certificate.organisation),
        label(N_("Issued on"), issued_on(certificate, volunteer)),
        label(N_("Certificate number"), f"{certificate.number}  ·  {certificate.code}"),
        Spacer(1, 3 * mm),
        Paragraph(_escape(_both(zh, en, N_("Anyone can check this certificate: send /verify NUMBER CODE to the Linli "
                                            "bot."))), small),
    ]
    buffer = io.BytesIO()
    document = SimpleDocTemplate(buffer, pagesize=A4, title=f"{certificate.number}", author="Linli",
                                 leftMargin=20 * mm, rightMargin=20 * mm, topMargin=20 * mm, bottomMargin=20 * mm)
    document.build(story)
    return buffer.getvalue()


def issued_on(certificate: Certificate, volunteer: Volunteer) -> str:
    """The issue date in the volunteer's community's zone."""
    return certificate.issued_at.astimezone(ZoneInfo(volunteer.community.timezone)).date().isoformat()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


GENUINE = N_("✅ Genuine: certificate {number} of {name} (volunteer {volunteer_number}, ID {id}) covers "
             "{hours} verified hours in {count} activities from {first} to {last}, recorded by {organisation}, "
             "issued on {issued}.")


def summary_params(found: Checked) -> dict[str, object]:
    c, v = found.certificate, found.volunteer
    return {"number": c.number, "name": v.real_name, "volunteer_number": v.volunteer_number or "",
            "id": v.id_number_masked, "first": c.first_day.isoformat(), "last": c.last_day.isoformat(),
            "hours": str(hours(c.minutes)), "count": len(c.activities), "issued": issued_on(c, v),
            "organisation": c.organisation}
