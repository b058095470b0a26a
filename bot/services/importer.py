"""Setting up the real world: a district's streets and townships, organisations,
communities and social workers, from the operator's tables (`linli import`).

Rows come in as strings (bot/services/import_files.py reads CSV and XLSX), are
checked one by one and then across the whole import (duplicates, references to
unknown districts, organisations or communities), and are written in one
transaction by `import_tables`. The caller commits only when the report has no
errors and the operator asked for `--apply`; a dry run does the very same work
and rolls it back, so its report is exactly what `--apply` would do.

Re-importing the same tables changes nothing: organisations and communities are
found again by their stable code (the unified social credit code, the national
administrative division code, or any code the operator keeps), and social
workers by their normalised phone number. A social worker cannot exist before
they open the bot, so importing one makes a long-lived, single-use invite that
carries who they are and where they work (see bot/services/invites.py).
"""

from __future__ import annotations

import enum
import re
import secrets
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from models import AreaType, Community, DistrictKind, Invite, Organization, Role, User

# An invitation made by the import waits this long for its social worker by default;
# re-importing renews an expired one.
IMPORT_INVITE_DAYS = 60
MAX_ROWS_PER_TABLE = 10_000


class Kind(enum.StrEnum):
    DISTRICT = "district"
    ORGANISATION = "organisation"
    COMMUNITY = "community"
    SOCIAL_WORKER = "social_worker"


class FileProblem(Exception):
    """A whole file or sheet cannot be used; the message is one line for the operator."""


@dataclass(frozen=True)
class Column:
    key: str
    zh: str
    en: str
    required: bool
    max_length: int
    example_zh: str
    example_en: str
    note: str  # for the template's instructions, in English
    aliases: tuple[str, ...] = ()
    text: bool = False  # kept as text in spreadsheets (codes, phone numbers)


@dataclass(frozen=True)
class KindSpec:
    kind: Kind
    sheet_zh: str
    sheet_en: str
    file_stem: str
    singular: str
    plural: str
    columns: tuple[Column, ...]
    sheet_aliases: tuple[str, ...] = ()

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(column for column in self.columns if column.required)


SPECS: dict[Kind, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec(
            Kind.DISTRICT, "街道乡镇", "districts", "linli-districts", "street/township", "streets and townships",
            (
                Column("name", "街道乡镇名称", "name", True, 100, "示例街道", "Example Street",
                       "the street (街道) or township (乡镇) as people say it", ("街道名称", "乡镇名称", "名称")),
                Column("name_en", "英文名称", "name_en", False, 100, "Example Street", "Example Street",
                       "its English name (optional)", ("english name",)),
                Column("kind", "类型", "kind", True, 20, "街道", "street",
                       "街道 (street) or 乡镇 (township)", ("type", "街道或乡镇")),
            ),
            ("街道", "乡镇", "街道和乡镇", "district", "streets and townships", "streets", "townships"),
        ),
        KindSpec(
            Kind.ORGANISATION, "机构", "organisations", "linli-organisations", "organisation", "organisations",
            (
                Column("code", "机构代码", "code", True, 64, "EXAMPLE-ORG", "EXAMPLE-ORG",
                       "the unified social credit code (统一社会信用代码) or any code you keep; never change it",
                       ("统一社会信用代码", "organisation code", "organization code"), text=True),
                Column("name", "机构名称", "name", True, 200, "示例社会工作服务中心", "Example Social Work Centre",
                       "the organisation's full name", ("名称",)),
                Column("name_en", "英文名称", "name_en", False, 200, "Example Social Work Centre",
                       "Example Social Work Centre", "its English name (optional)", ("english name",)),
            ),
            ("社工机构", "organisation", "organizations", "organization"),
        ),
        KindSpec(
            Kind.COMMUNITY, "社区", "communities", "linli-communities", "community", "communities",
            (
                Column("code", "社区代码", "code", True, 64, "EXAMPLE-001", "EXAMPLE-001",
                       "the 12-digit administrative division code (统计用区划代码) or any code you keep; never change it",
                       ("区划代码", "统计用区划代码", "社区编码", "community code"), text=True),
                Column("name", "社区名称", "name", True, 100, "示例社区", "Example Community",
                       "the community (社区) or village (村)", ("村名称", "社区或村名称", "名称")),
                Column("name_en", "英文名称", "name_en", False, 100, "Example Community", "Example Community",
                       "its English name (optional)", ("english name",)),
                Column("district", "所属街道乡镇", "district", True, 100, "示例街道", "Example Street",
                       "a street or township from the districts sheet, or one already imported",
                       ("街道乡镇", "所属街道", "所属乡镇", "街道")),
                Column("area", "城乡类型", "area", True, 20, "城市", "urban",
                       "城市 (urban community) or 农村 (rural village)",
                       ("城乡", "urban_rural", "urban/rural", "area_type")),
                Column("timezone", "时区", "timezone", False, 64, "Asia/Shanghai", "Asia/Shanghai",
                       "a time zone name; empty means the TIMEZONE setting", ("time zone", "time_zone")),
                Column("station", "社会工作站名称", "station", False, 200, "示例社区社会工作室",
                       "Example Community Social Work Room", "the station (社会工作室/站) serving it (optional)",
                       ("社工站", "社会工作站", "社会工作室", "station_name", "station name")),
                Column("organisation", "运营机构", "organisation", False, 200, "EXAMPLE-ORG", "EXAMPLE-ORG",
                       "the code or name of the organisation running the station (optional)",
                       ("机构", "运营机构代码", "organization", "organisation code")),
                Column("station_phone", "社工站电话", "station phone", False, 32, "0351-1234567", "0351-1234567",
                       "the station's phone number, told to residents with each change of their request (optional)",
                       ("站点电话", "联系电话", "station_phone", "station telephone")),
            ),
            ("社区和村", "community", "villages"),
        ),
        KindSpec(
            Kind.SOCIAL_WORKER, "社工", "social workers", "linli-social-workers", "social worker", "social workers",
            (
                Column("name", "姓名", "name", True, 64, "示例社工", "Example Worker", "their real name",
                       ("社工姓名",)),
                Column("phone", "电话", "phone", True, 32, "13800000000", "13800000000",
                       "a mobile number, or a landline with its area code (0351-1234567)",
                       ("手机", "手机号", "手机号码", "联系电话", "电话号码", "mobile"), text=True),
                Column("community", "所在社区", "community", True, 100, "EXAMPLE-001", "EXAMPLE-001",
                       "the code (or the unique name) of their home community", ("社区", "社区代码", "community code")),
                Column("organisation", "所属机构", "organisation", False, 200, "", "",
                       "the code or name of their organisation; empty means the community's", ("机构", "organization")),
                Column("supervisor", "督导", "supervisor", False, 10, "否", "no",
                       "是 (yes) if they are the station's supervisor; empty means no", ("是否督导",)),
            ),
            ("社会工作者", "social_workers", "socialworkers", "social worker", "workers"),
        ),
    )
}

# The template's example rows: left in by mistake they are refused, not imported.
EXAMPLE_KEYS: dict[Kind, tuple[str, set[str]]] = {
    Kind.DISTRICT: ("name", {"示例街道", "Example Street"}),
    Kind.ORGANISATION: ("code", {"EXAMPLE-ORG"}),
    Kind.COMMUNITY: ("code", {"EXAMPLE-001"}),
    Kind.SOCIAL_WORKER: ("name", {"示例社工", "Example Worker"}),
}

INSTRUCTION_SHEETS = {"说明", "填写说明", "instructions", "readme", "read me", "help"}


def _fold(text: str) -> str:
    """A header or sheet name as compared: width, case, spaces and markers do not matter."""
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"[（(][^）)]*[）)]", "", text)  # "社区代码（必填）"
    return re.sub(r"[\s*_:]+", "", text).replace("-", "")


_SHEET_KIND: dict[str, Kind] = {}
for _spec in SPECS.values():
    for _name in (_spec.sheet_zh, _spec.sheet_en, _spec.file_stem, *_spec.sheet_aliases):
        _SHEET_KIND[_fold(_name)] = _spec.kind


def kind_of_sheet(name: str) -> Kind | None:
    return _SHEET_KIND.get(_fold(name))


def is_instruction_sheet(name: str) -> bool:
    return _fold(name) in {_fold(n) for n in INSTRUCTION_SHEETS}


def parse_kind(text: str) -> Kind:
    """`--kind`: the English or Chinese name of a kind."""
    folded = _fold(text)
    for kind in Kind:
        if folded in {_fold(kind.value), _fold(kind.value + "s")}:
            return kind
    found = _SHEET_KIND.get(folded)
    if found is None:
        names = ", ".join(k.value for k in Kind)
        raise FileProblem(f"unknown kind {text!r}: use one of {names}")
    return found


def _header_names(column: Column) -> set[str]:
    return {_fold(n) for n in (column.key, column.zh, column.en, *column.aliases)}


# --- tables as read from files ------------------------------------------------------


@dataclass
class Table:
    """One CSV file or one sheet: column names and rows of cell text, as the operator sees them."""

    source: str  # "communities.csv" or "district.xlsx [社区]"
    headers: list[str]
    rows: list[tuple[int, list[str]]]  # (row number as a spreadsheet shows it, cells)
    kind: Kind | None = None  # from the sheet's name or --kind; else told by the headers


@dataclass(frozen=True)
class Bound:
    table: Table
    kind: Kind
    positions: dict[str, int]  # column key -> index in the row
    unused: list[str]


def bind(table: Table) -> Bound:
    """Which kind a table lists and where each of its columns is; FileProblem if it cannot be used."""
    headers = [_fold(h) for h in table.headers]
    if not any(headers):
        raise FileProblem(f"{table.source}: the first row must hold the column names, and it is empty")

    def match(spec: KindSpec) -> dict[str, int]:
        found: dict[str, int] = {}
        for index, header in enumerate(headers):
            for column in spec.columns:
                if header and header in _header_names(column):
                    if column.key in found:
                        raise FileProblem(f"{table.source}: the column {column.zh} ({column.en}) appears twice")
                    found[column.key] = index
                    break
        return found

    if table.kind is None:
        candidates = []
        for spec in SPECS.values():
            found = match(spec)
            if all(column.key in found for column in spec.required):
                candidates.append((len(found), spec.kind))
        candidates.sort(reverse=True)
        if not candidates or (len(candidates) > 1 and candidates[0][0] == candidates[1][0]):
            raise FileProblem(
                f"{table.source}: cannot tell from its columns what it lists; use the template's column names "
                "(linli import --template DIR) or say it with --kind"
            )
        table.kind = candidates[0][1]
    spec = SPECS[table.kind]
    positions = match(spec)
    missing = [column for column in spec.required if column.key not in positions]
    if missing:
        names = ", ".join(f"{c.zh} ({c.en})" for c in missing)
        raise FileProblem(f"{table.source}: the {spec.plural} table lacks the column(s) {names}")
    used = set(positions.values())
    unused = [table.headers[i] for i, h in enumerate(headers) if h and i not in used]
    return Bound(table, table.kind, positions, unused)


# --- rows -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowRef:
    source: str
    row: int

    def __str__(self) -> str:
        return f"{self.source} row {self.row}"


class RowError(Exception):
    pass


@dataclass
class DistrictRow:
    ref: RowRef
    name: str
    name_en: str | None
    kind: DistrictKind


@dataclass
class OrganisationRow:
    ref: RowRef
    code: str
    name: str
    name_en: str | None


@dataclass
class CommunityRow:
    ref: RowRef
    code: str
    name: str
    name_en: str | None
    district: str
    area: AreaType
    timezone: str | None
    station: str | None
    organisation: str | None
    station_phone: str | None = None  # E.164


@dataclass
class WorkerRow:
    ref: RowRef
    name: str
    phone: str  # E.164
    community: str
    organisation: str | None
    supervisor: bool


_SPACES = re.compile(r"[\s\u3000\u00a0]+")
_CODE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._/-]*$")
_EXCEL_NUMBER = re.compile(r"^\d(\.\d+)?e\+?\d+$", re.IGNORECASE)

DISTRICT_KINDS = {"街道": DistrictKind.STREET, "street": DistrictKind.STREET, "乡镇": DistrictKind.TOWNSHIP,
                  "乡": DistrictKind.TOWNSHIP, "镇": DistrictKind.TOWNSHIP, "township": DistrictKind.TOWNSHIP,
                  "town": DistrictKind.TOWNSHIP}
AREAS = {"城市": AreaType.URBAN, "城镇": AreaType.URBAN, "城": AreaType.URBAN, "社区": AreaType.URBAN,
         "urban": AreaType.URBAN, "农村": AreaType.RURAL, "乡村": AreaType.RURAL, "村": AreaType.RURAL,
         "rural": AreaType.RURAL}
YES_NO = {"是": True, "yes": True, "y": True, "true": True, "1": True, "√": True, "✓": True,
          "否": False, "no": False, "n": False, "false": False, "0": False, "×": False, "": False}


class _Cells:
    """One row's cells by column key, trimmed, with the checks every kind shares."""

    def __init__(self, bound: Bound, cells: list[str]) -> None:
        self.spec = SPECS[bound.kind]
        self.values: dict[str, str] = {}
        for column in self.spec.columns:
            index = bound.positions.get(column.key)
            raw = cells[index] if index is not None and index < len(cells) else ""
            self.values[column.key] = _SPACES.sub(" ", raw or "").strip()

    def _column(self, key: str) -> Column:
        return next(c for c in self.spec.columns if c.key == key)

    def text(self, key: str) -> str | None:
        column = self._column(key)
        value = self.values[key]
        if not value:
            if column.required:
                raise RowError(f"{column.zh} ({column.en}) is empty")
            return None
        if len(value) > column.max_length:
            raise RowError(
                f"{column.zh} ({column.en}) is {len(value)} characters long; at most {column.max_length} fit"
            )
        return value

    def required(self, key: str) -> str:
        value = self.text(key)
        assert value is not None
        return value

    def code(self, key: str) -> str:
        value = unicodedata.normalize("NFKC", self.required(key))
        column = self._column(key)
        if _EXCEL_NUMBER.match(value):
            raise RowError(
                f"{column.zh} ({column.en}) {value} was turned into a number by the spreadsheet; "
                "format the column as text and type the code again"
            )
        if not _CODE.match(value):
            raise RowError(
                f"{column.zh} ({column.en}) {value!r} may hold only letters, digits, '-', '_', '.' and '/'"
            )
        return value

    def choice(self, key: str, options: dict[str, object]) -> object:
        column = self._column(key)
        value = unicodedata.normalize("NFKC", self.values[key]).strip().lower()
        if value in options:
            return options[value]
        if not value and column.required:
            raise RowError(f"{column.zh} ({column.en}) is empty")
        allowed = " / ".join(k for k in options if k)
        raise RowError(f"{column.zh} ({column.en}) {self.values[key]!r} is not one of: {allowed}")


def normalise_station_phone(text: str) -> str:
    """A station's number: any dialable number (a 400 hotline too) as E.164, or a short service number as typed."""
    raw = text.strip()
    digits = "".join(ch for ch in raw if ch.isdigit())
    if raw.isdigit() and 3 <= len(raw) <= 6:
        return raw  # a short number such as 12345, dialled as it is
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        raise RowError(f"station phone {text!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number) or not digits:
        raise RowError(f"station phone {text!r} is not a valid number; a landline needs its area code, "
                       "e.g. 0351-1234567")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone(text: str) -> str:
    """A mainland mobile or landline (with area code), or any valid +country number, as E.164."""
    raw = unicodedata.normalize("NFKC", text)
    try:
        number = phonenumbers.parse(raw, "CN")
    except phonenumbers.NumberParseException:
        raise RowError(f"phone {text!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        if phonenumbers.region_code_for_number(number) == "CN" and not raw.lstrip().startswith(("0", "1", "+")):
            raise RowError(f"phone {text!r} is not a valid number; a landline needs its area code, e.g. 0351-1234567")
        raise RowError(f"phone {text!r} is not a valid number")
    kind = phonenumbers.number_type(number)
    if kind not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE,
                    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
        raise RowError(f"phone {text!r} is not a mobile or landline number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _one_line(value: str | None, label: str) -> None:
    if value and any(ch in value for ch in "\r\n\t"):
        raise RowError(f"{label} contains a line break")


def _parse_district(ref: RowRef, cells: _Cells) -> DistrictRow:
    return DistrictRow(ref, cells.required("name"), cells.text("name_en"),
                       cells.choice("kind", DISTRICT_KINDS))  # type: ignore[arg-type]


def _parse_organisation(ref: RowRef, cells: _Cells) -> OrganisationRow:
    return OrganisationRow(ref, cells.code("code"), cells.required("name"), cells.text("name_en"))


def _parse_community(ref: RowRef, cells: _Cells) -> CommunityRow:
    code = cells.code("code")
    timezone = cells.text("timezone")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise RowError(f"时区 (timezone) {timezone!r} is not a known time zone, e.g. Asia/Shanghai") from None
    station_phone = cells.text("station_phone")
    return CommunityRow(
        ref, code, cells.required("name"), cells.text("name_en"), cells.required("district"),
        cells.choice("area", AREAS), timezone, cells.text("station"), cells.text("organisation"),  # type: ignore[arg-type]
        normalise_station_phone(station_phone) if station_phone else None,
    )


def _parse_worker(ref: RowRef, cells: _Cells) -> WorkerRow:
    name = cells.required("name")
    phone = normalise_phone(cells.required("phone"))
    return WorkerRow(ref, name, phone, cells.required("community"), cells.text("organisation"),
                     bool(cells.choice("supervisor", YES_NO)))


PARSERS: dict[Kind, Callable[[RowRef, _Cells], object]] = {
    Kind.DISTRICT: _parse_district,
    Kind.ORGANISATION: _parse_organisation,
    Kind.COMMUNITY: _parse_community,
    Kind.SOCIAL_WORKER: _parse_worker,
}


# --- the report -------------------------------------------------------------------------


class Status(enum.StrEnum):
    NEW = "new"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Line:
    ref: RowRef | None
    source: str | None
    status: Status
    text: str

    def render(self) -> str:
        where = str(self.ref) if self.ref else (self.source or "import")
        if self.status in (Status.ERROR, Status.WARNING):
            return f"{where}: {'ERROR' if self.status is Status.ERROR else 'warning'}: {self.text}"
        return f"{where}: {self.text}"  # the text starts with new / updated … / unchanged


@dataclass(frozen=True)
class PendingInvite:
    name: str
    phone: str
    community: str
    token: str
    expires_at: datetime


@dataclass
class ImportReport:
    lines: list[Line] = field(default_factory=list)
    counts: Counter[tuple[Kind, Status]] = field(default_factory=Counter)
    invites: list[PendingInvite] = field(default_factory=list)

    def error(self, ref: RowRef | None, text: str, kind: Kind | None = None, source: str | None = None) -> None:
        self.lines.append(Line(ref, source, Status.ERROR, text))
        if kind is not None:
            self.counts[(kind, Status.ERROR)] += 1

    def warning(self, ref: RowRef | None, text: str, source: str | None = None) -> None:
        self.lines.append(Line(ref, source, Status.WARNING, text))

    def row(self, kind: Kind, ref: RowRef, status: Status, text: str) -> None:
        self.counts[(kind, status)] += 1
        self.lines.append(Line(ref, None, status, text))

    @property
    def errors(self) -> list[Line]:
        return [line for line in self.lines if line.status is Status.ERROR]

    @property
    def changes(self) -> int:
        return sum(n for (_kind, status), n in self.counts.items() if status in (Status.NEW, Status.UPDATED))

    def total(self, status: Status) -> int:
        return sum(n for (_kind, s), n in self.counts.items() if s is status)

    def summary(self) -> str:
        parts = []
        for kind, spec in SPECS.items():
            rows = sum(n for (k, _s), n in self.counts.items() if k is kind)
            if rows:
                parts.append(f"{rows} {spec.singular if rows == 1 else spec.plural}")
        rows = ", ".join(parts) or "no rows"
        return (
            f"{rows}: {self.total(Status.NEW)} new, {self.total(Status.UPDATED)} updated, "
            f"{self.total(Status.UNCHANGED)} unchanged, {len(self.errors)} error(s)"
        )


# --- checks across rows and against the database, and the writes ---------------------------


def _differs(obj: object, values: dict[str, object]) -> list[str]:
    """Set the attributes that differ; returns their names."""
    changed = []
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed.append(name)
    return changed


def _status(changed: list[str], created: bool) -> tuple[Status, str]:
    if created:
        return Status.NEW, "new"
    if changed:
        return Status.UPDATED, "updated " + ", ".join(changed)
    return Status.UNCHANGED, "unchanged"


class _Importer:
    def __init__(self, session: AsyncSession, report: ImportReport, *, now: datetime, default_timezone: str,
                 invite_ttl: timedelta) -> None:
        self.session = session
        self.report = report
        self.now = now
        self.default_timezone = default_timezone
        self.invite_ttl = invite_ttl
        # Keys named by rows that had errors: a reference to one is not reported again as unknown.
        self.broken: dict[Kind, set[str]] = {kind: set() for kind in Kind}
        self.organisations: dict[str, Organization] = {}  # by code and by name
        self.communities: dict[str, Community] = {}  # by code
        self.districts: dict[str, DistrictRow] = {}

    def _unknown(self, target: Kind, row_kind: Kind, ref: RowRef, key: str) -> None:
        """Report a reference to something neither in the tables nor in the database."""
        spec = SPECS[target]
        if key in self.broken[target]:
            self.report.error(ref, f"refers to {spec.singular} {key!r}, whose own row has errors", row_kind)
        else:
            self.report.error(ref, f"{spec.singular} {key!r} is neither in the {spec.plural} table nor imported "
                              "before", row_kind)

    async def districts_(self, rows: list[DistrictRow]) -> None:
        seen: dict[str, RowRef] = {}
        for row in rows:
            if row.name in seen:
                self.report.error(row.ref, f"street/township {row.name!r} is already listed in {seen[row.name]}",
                                  Kind.DISTRICT)
                continue
            seen[row.name] = row.ref
            existing = list((await self.session.scalars(select(Community).where(Community.district == row.name))).all())
            self.districts[row.name] = row
            if not existing:
                self.report.row(Kind.DISTRICT, row.ref, Status.NEW, f"new: street/township {row.name}")
                continue
            changed: set[str] = set()
            for community in existing:
                changed.update(_differs(community, {"district_en": row.name_en, "district_kind": row.kind}))
            names = sorted(c.replace("district_", "") for c in changed)
            status, text = _status(names, created=False)
            self.report.row(Kind.DISTRICT, row.ref, status, f"{text}: street/township {row.name}")

    async def _organisation(self, key: str) -> Organization | None:
        if key in self.organisations:
            return self.organisations[key]
        found = await self.session.scalar(select(Organization).where(Organization.code == key))
        if found is None:
            found = await self.session.scalar(select(Organization).where(Organization.name == key))
        if found is not None:
            self.organisations[key] = found
        return found

    async def organisations_(self, rows: list[OrganisationRow]) -> None:
        codes: dict[str, RowRef] = {}
        names: dict[str, RowRef] = {}
        for row in rows:
            if row.code in codes:
                self.report.error(row.ref, f"organisation code {row.code} is already listed in {codes[row.code]}",
                                  Kind.ORGANISATION)
                self.broken[Kind.ORGANISATION].add(row.code)
                continue
            codes[row.code] = row.ref
            if row.name in names:
                self.report.error(row.ref, f"organisation name {row.name!r} is already listed in {names[row.name]}",
                                  Kind.ORGANISATION)
                self.broken[Kind.ORGANISATION].update({row.code, row.name})
                continue
            names[row.name] = row.ref
            org = await self.session.scalar(select(Organization).where(Organization.code == row.code))
            same_name = await self.session.scalar(select(Organization).where(Organization.name == row.name))
            if org is None and same_name is not None:
                if same_name.code is not None:
                    self.report.error(row.ref, f"an organisation named {row.name!r} already exists with code "
                                      f"{same_name.code}; keep its code or change the name", Kind.ORGANISATION)
                    self.broken[Kind.ORGANISATION].update({row.code, row.name})
                    continue
                org = same_name  # made before codes existed: it gets this code
            elif org is not None and same_name is not None and same_name is not org:
                self.report.error(row.ref, f"another organisation (code {same_name.code or 'none'}) is already "
                                  f"called {row.name!r}", Kind.ORGANISATION)
                self.broken[Kind.ORGANISATION].update({row.code, row.name})
                continue
            created = org is None
            if org is None:
                org = Organization(code=row.code, name=row.name, name_en=row.name_en, created_at=self.now)
                self.session.add(org)
                changed: list[str] = []
            else:
                changed = _differs(org, {"code": row.code, "name": row.name, "name_en": row.name_en})
            self.organisations[row.code] = self.organisations[row.name] = org
            status, text = _status(changed, created)
            self.report.row(Kind.ORGANISATION, row.ref, status, f"{text}: organisation {row.code} {row.name}")
        await self.session.flush()

    async def _district(self, row: CommunityRow) -> tuple[str | None, DistrictKind] | None:
        if row.district in self.districts:
            declared = self.districts[row.district]
            return declared.name_en, declared.kind
        known = await self.session.scalar(select(Community).where(Community.district == row.district).limit(1))
        if known is not None:
            return known.district_en, known.district_kind
        self._unknown(Kind.DISTRICT, Kind.COMMUNITY, row.ref, row.district)
        return None

    async def communities_(self, rows: list[CommunityRow]) -> None:
        codes: dict[str, RowRef] = {}
        places: dict[tuple[str, str], RowRef] = {}
        for row in rows:
            if row.code in codes:
                self.report.error(row.ref, f"community code {row.code} is already listed in {codes[row.code]}",
                                  Kind.COMMUNITY)
                self.broken[Kind.COMMUNITY].add(row.code)
                continue
            codes[row.code] = row.ref
            place = (row.district, row.name)
            if place in places:
                self.report.error(row.ref, f"{row.name} in {row.district} is already listed in {places[place]}",
                                  Kind.COMMUNITY)
                self.broken[Kind.COMMUNITY].add(row.code)
                continue
            places[place] = row.ref
            district = await self._district(row)
            organisation = None
            if row.organisation is not None:
                organisation = await self._organisation(row.organisation)
                if organisation is None:
                    self._unknown(Kind.ORGANISATION, Kind.COMMUNITY, row.ref, row.organisation)
            if district is None or (row.organisation is not None and organisation is None):
                self.broken[Kind.COMMUNITY].add(row.code)
                continue
            community = await self.session.scalar(select(Community).where(Community.code == row.code))
            same_place = await self.session.scalar(
                select(Community).where(Community.district == row.district, Community.name == row.name)
            )
            if community is None and same_place is not None:
                if same_place.code is not None:
                    self.report.error(row.ref, f"{row.name} in {row.district} already exists with code "
                                      f"{same_place.code}; keep its code", Kind.COMMUNITY)
                    self.broken[Kind.COMMUNITY].add(row.code)
                    continue
                community = same_place  # made before codes existed: it gets this code
            elif community is not None and same_place is not None and same_place is not community:
                self.report.error(row.ref, f"another community (code {same_place.code or 'none'}) is already "
                                  f"{row.name} in {row.district}", Kind.COMMUNITY)
                self.broken[Kind.COMMUNITY].add(row.code)
                continue
            values: dict[str, object] = {
                "code": row.code, "name": row.name, "name_en": row.name_en, "district": row.district,
                "district_en": district[0], "district_kind": district[1], "area_type": row.area,
                "timezone": row.timezone or self.default_timezone, "station_name": row.station,
                "station_phone": row.station_phone, "organization_id": organisation.id if organisation else None,
            }
            created = community is None
            if community is None:
                community = Community(created_at=self.now, active=True, **values)
                self.session.add(community)
                changed: list[str] = []
            else:
                changed = [n.replace("organization_id", "organisation") for n in _differs(community, values)]
            await self.session.flush()
            self.communities[row.code] = community
            status, text = _status(changed, created)
            self.report.row(Kind.COMMUNITY, row.ref, status, f"{text}: community {row.code} {row.name} "
                            f"({row.district})")

    def empty_districts(self) -> None:
        used = {c.district for c in self.communities.values()}
        for name, row in self.districts.items():
            if name not in used and name not in self.broken[Kind.DISTRICT]:
                lines = [line for line in self.report.lines if line.ref == row.ref and line.status is Status.NEW]
                if lines:
                    self.report.warning(row.ref, f"no community of this import lies in {name}; a street or township "
                                        "is kept only with its communities")

    async def _community(self, row: WorkerRow) -> Community | None:
        key = row.community
        if key in self.communities:
            return self.communities[key]
        found = await self.session.scalar(select(Community).where(Community.code == key))
        if found is not None:
            return found
        by_name = [c for c in self.communities.values() if c.name == key]
        if not by_name:
            by_name = list((await self.session.scalars(select(Community).where(Community.name == key))).all())
        if len(by_name) == 1:
            return by_name[0]
        if len(by_name) > 1:
            self.report.error(row.ref, f"several communities are called {key!r}; give its code instead",
                              Kind.SOCIAL_WORKER)
        else:
            self._unknown(Kind.COMMUNITY, Kind.SOCIAL_WORKER, row.ref, key)
        return None

    async def workers(self, rows: list[WorkerRow]) -> None:
        phones: dict[str, RowRef] = {}
        for row in rows:
            if row.phone in phones:
                self.report.error(row.ref, f"phone {row.phone} is already listed in {phones[row.phone]}",
                                  Kind.SOCIAL_WORKER)
                continue
            phones[row.phone] = row.ref
            community = await self._community(row)
            organisation = None
            if row.organisation is not None:
                organisation = await self._organisation(row.organisation)
                if organisation is None:
                    self._unknown(Kind.ORGANISATION, Kind.SOCIAL_WORKER, row.ref, row.organisation)
                    continue
            if community is None:
                continue
            await self._invite(row, community, organisation)
        await self.session.flush()

    async def _invite(self, row: WorkerRow, community: Community, organisation: Organization | None) -> None:
        invite = await self.session.scalar(
            select(Invite)
            .where(Invite.phone == row.phone, Invite.role == Role.SOCIAL_WORKER)
            .order_by(Invite.id.desc())
            .limit(1)
        )
        values: dict[str, object] = {
            "name": row.name, "community_id": community.id,
            "organization_id": organisation.id if organisation else None, "is_supervisor": row.supervisor,
        }
        label = f"social worker {row.name} {row.phone} ({community.name})"
        if invite is None:
            invite = Invite(token=secrets.token_urlsafe(18), role=Role.SOCIAL_WORKER, created_by_id=None,
                            created_at=self.now, expires_at=self.now + self.invite_ttl, phone=row.phone, **values)
            self.session.add(invite)
            self.report.row(Kind.SOCIAL_WORKER, row.ref, Status.NEW, f"new: invitation for {label}")
            self._pending(invite, community)
            return
        changed = [n.replace("community_id", "community").replace("organization_id", "organisation")
                   .replace("is_supervisor", "supervisor") for n in _differs(invite, values)]
        if invite.used_at is None:
            if invite.expires_at <= self.now:
                invite.expires_at = self.now + self.invite_ttl
                changed.append("invitation renewed")
            status, text = _status(changed, created=False)
            self.report.row(Kind.SOCIAL_WORKER, row.ref, status, f"{text}: invitation for {label}")
            self._pending(invite, community)
            return
        # They have joined: the list is the authority on where they work.
        user = await self.session.get(User, invite.used_by_id) if invite.used_by_id is not None else None
        if user is None or not user.has_role(Role.SOCIAL_WORKER) or user.social_worker is None:
            self.report.row(Kind.SOCIAL_WORKER, row.ref, Status.UNCHANGED,
                            f"unchanged: {label} joined once but is no longer a social worker; invite them again "
                            "from the bot (/invite) if they should be")
            return
        worker = user.social_worker
        changed += [
            n for n in _differs(worker, {"home_community_id": community.id, "is_supervisor": row.supervisor,
                                         "organization_id": organisation.id if organisation else community.organization_id})
            if n not in changed
        ]
        if user.real_name != row.name:
            user.real_name = row.name
            changed.append("name")
        changed = list(dict.fromkeys(c.replace("home_community_id", "community")
                                     .replace("organization_id", "organisation")
                                     .replace("is_supervisor", "supervisor") for c in changed))
        status, text = _status(changed, created=False)
        self.report.row(Kind.SOCIAL_WORKER, row.ref, status, f"{text}: {label}, joined")

    def _pending(self, invite: Invite, community: Community) -> None:
        self.report.invites.append(PendingInvite(invite.name or "", invite.phone or "", community.name, invite.token,
                                                 invite.expires_at))


async def import_tables(
    session: AsyncSession,
    tables: Iterable[Table],
    *,
    now: datetime,
    default_timezone: str = "Asia/Shanghai",
    invite_ttl: timedelta = timedelta(days=IMPORT_INVITE_DAYS),
) -> ImportReport:
    """Check every row and write what it says into `session` (never committing).

    Commit only when the report has no errors; roll back otherwise, or for a dry run.
    """
    report = ImportReport()
    parsed: dict[Kind, list] = {kind: [] for kind in Kind}
    importer = _Importer(session, report, now=now, default_timezone=default_timezone, invite_ttl=invite_ttl)
    for table in tables:
        try:
            bound = bind(table)
        except FileProblem as problem:
            report.error(None, str(problem).removeprefix(f"{table.source}: "), source=table.source)
            continue
        if bound.unused:
            report.warning(None, "column(s) not used: " + ", ".join(bound.unused), source=table.source)
        if len(table.rows) > MAX_ROWS_PER_TABLE:
            report.error(None, f"{len(table.rows)} rows; at most {MAX_ROWS_PER_TABLE} per table",
                         source=table.source)
            continue
        example_key, example_values = EXAMPLE_KEYS[bound.kind]
        for number, raw in table.rows:
            ref = RowRef(table.source, number)
            cells = _Cells(bound, raw)
            if not any(cells.values.values()):
                continue  # an empty row
            key_value = cells.values.get(example_key, "")
            if key_value in example_values:
                report.error(ref, "this is the template's example row: replace it with your own or delete it",
                             bound.kind)
                importer.broken[bound.kind].add(key_value)
                continue
            try:
                for column in SPECS[bound.kind].columns:
                    _one_line(cells.values.get(column.key), f"{column.zh} ({column.en})")
                parsed[bound.kind].append(PARSERS[bound.kind](ref, cells))
            except RowError as problem:
                report.error(ref, str(problem), bound.kind)
                for key in ("code", "name"):
                    if cells.values.get(key):
                        importer.broken[bound.kind].add(cells.values[key])
    try:
        await importer.districts_(parsed[Kind.DISTRICT])
        await importer.organisations_(parsed[Kind.ORGANISATION])
        await importer.communities_(parsed[Kind.COMMUNITY])
        importer.empty_districts()
        await importer.workers(parsed[Kind.SOCIAL_WORKER])
    except IntegrityError as error:
        reason = str(error.orig).splitlines()[0][:200]
        report.error(None, f"the database refused the import ({reason}); nothing was written", source="database")
    return report


def invite_link(token: str, bot_username: str | None) -> str:
    from bot.services.invites import INVITE_PREFIX

    if bot_username:
        return f"https://t.me/{bot_username.lstrip('@')}?start={INVITE_PREFIX}{token}"
    return f"/start {INVITE_PREFIX}{token}"


def render_report(report: ImportReport, *, applied: bool, bot_username: str | None = None) -> list[str]:
    """The operator's report: problems and changes row by row, a summary, and the invitations to send."""
    out = [line.render() for line in report.lines if line.status is not Status.UNCHANGED]
    out.append(report.summary())
    if report.errors:
        out.append(f"{len(report.errors)} problem(s) found: nothing was imported. Fix the rows above and run again.")
        return out
    if not applied:
        if report.changes:
            out.append("Dry run: nothing was written. Run again with --apply to import.")
        else:
            out.append("Dry run: the database already holds all of this; --apply would change nothing.")
        return out
    out.append("Imported." if report.changes else "Nothing to change: the database already holds all of this.")
    if report.invites:
        out.append("")
        out.append("Invitations to send, each to its own person (it works once):")
        for item in report.invites:
            until = item.expires_at.date().isoformat()
            out.append(f"  {item.name}  {item.phone}  {item.community}  until {until}  "
                       f"{invite_link(item.token, bot_username)}")
        if not bot_username:
            out.append("Each link is https://t.me/<your bot's username>?start=inv_… (give --bot-username to print "
                       "whole links); or the person can send the /start inv_… text above to the bot.")
    return out
