"""`linli import`: a real district's streets, organisations, communities and social workers
from the operator's CSV and XLSX files; checked row by row, all or nothing, idempotent."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from bot.services.import_files import read_tables, write_templates
from bot.services.importer import FileProblem, Kind, RowError, Status, Table, import_tables, normalise_phone
from models import AreaType, Community, DistrictKind, Invite, Organization, Role
from tests.conftest import CLOCK

# A small real-looking district: 迎泽区 of 太原, one street, one township.
DISTRICTS = [["街道乡镇名称", "英文名称", "类型"], ["迎泽街道", "Yingze Street", "街道"], ["郝庄镇", "Haozhuang Town", "乡镇"]]
ORGANISATIONS = [["机构代码", "机构名称", "英文名称"],
                 ["52140100MJY123456X", "迎泽区阳光社会工作服务中心", "Yingze Sunshine Social Work Centre"]]
COMMUNITIES = [
    ["社区代码", "社区名称", "英文名称", "所属街道乡镇", "城乡类型", "时区", "社会工作站名称", "运营机构"],
    ["140106001001", "柳巷社区", "Liuxiang Community", "迎泽街道", "城市", "", "柳巷社区社会工作室", "52140100MJY123456X"],
    ["140106101201", "郝庄村", "Haozhuang Village", "郝庄镇", "农村", "Asia/Shanghai", "郝庄村社会工作站", ""],
]
WORKERS = [["姓名", "电话", "所在社区", "所属机构", "督导"],
           ["刘芳", "138 0351 0001", "140106001001", "", "是"],
           ["王强", "0351-4041234", "郝庄村", "52140100MJY123456X", ""]]


def table(source: str, records: list[list[str]], kind: Kind | None = None) -> Table:
    return Table(source=source, headers=records[0], rows=list(enumerate(records[1:], start=2)), kind=kind)


def district_tables() -> list[Table]:
    return [table("districts.csv", DISTRICTS), table("organisations.csv", ORGANISATIONS),
            table("communities.csv", COMMUNITIES), table("workers.csv", WORKERS)]


async def run(session, tables: list[Table], *, apply: bool = True):
    report = await import_tables(session, tables, now=CLOCK.now())
    if apply and not report.errors:
        await session.commit()
    else:
        await session.rollback()
    return report


async def snapshot(session) -> dict[str, list[tuple]]:
    session.expire_all()
    orgs = (await session.execute(select(Organization.id, Organization.code, Organization.name, Organization.name_en)
                                  .order_by(Organization.id))).all()
    communities = (await session.execute(select(
        Community.id, Community.code, Community.name, Community.name_en, Community.district, Community.district_en,
        Community.district_kind, Community.area_type, Community.timezone, Community.station_name,
        Community.organization_id).order_by(Community.id))).all()
    invites = (await session.execute(select(
        Invite.id, Invite.token, Invite.name, Invite.phone, Invite.community_id, Invite.organization_id,
        Invite.is_supervisor, Invite.expires_at).order_by(Invite.id))).all()
    await session.commit()
    return {"organisations": list(orgs), "communities": list(communities), "invites": list(invites)}


def messages(report) -> list[str]:
    return [line.render() for line in report.errors]


async def test_a_good_import_creates_the_district_and_a_second_one_changes_nothing(session):
    before = await snapshot(session)
    report = await run(session, district_tables())
    assert report.errors == [] and report.total(Status.NEW) == 7 and report.total(Status.UNCHANGED) == 0

    liuxiang = await session.scalar(select(Community).where(Community.code == "140106001001"))
    assert (liuxiang.name, liuxiang.district, liuxiang.district_en) == ("柳巷社区", "迎泽街道", "Yingze Street")
    assert liuxiang.district_kind is DistrictKind.STREET and liuxiang.area_type is AreaType.URBAN
    assert liuxiang.timezone == "Asia/Shanghai" and liuxiang.station_name == "柳巷社区社会工作室"
    village = await session.scalar(select(Community).where(Community.code == "140106101201"))
    assert village.area_type is AreaType.RURAL and village.district_kind is DistrictKind.TOWNSHIP
    assert village.organization_id is None
    org = await session.scalar(select(Organization).where(Organization.code == "52140100MJY123456X"))
    assert liuxiang.organization_id == org.id
    invites = {i.name: i for i in (await session.scalars(select(Invite).where(Invite.phone.is_not(None)))).all()}
    assert invites["刘芳"].phone == "+8613803510001" and invites["刘芳"].is_supervisor
    assert invites["刘芳"].community_id == liuxiang.id and invites["刘芳"].organization_id is None
    assert invites["王强"].phone == "+863514041234" and invites["王强"].community_id == village.id
    assert invites["王强"].organization_id == org.id and not invites["王强"].is_supervisor
    assert all(i.role is Role.SOCIAL_WORKER and i.created_by_id is None and i.used_at is None
               for i in invites.values())
    assert {p.token for p in report.invites} == {i.token for i in invites.values()}

    first = await snapshot(session)
    assert len(first["communities"]) == len(before["communities"]) + 2
    again = await run(session, district_tables())
    assert again.errors == [] and again.changes == 0 and again.total(Status.UNCHANGED) == 7
    assert await snapshot(session) == first
    assert {p.token for p in again.invites} == {p.token for p in report.invites}  # the same links, printed again


async def test_a_changed_row_is_updated_in_place_and_reported(session):
    await run(session, district_tables())
    communities = [row[:] for row in COMMUNITIES]
    communities[1][2] = "Liuxiang Lane Community"
    workers = [row[:] for row in WORKERS]
    workers[1][4] = "否"
    districts = [row[:] for row in DISTRICTS]
    districts[1][1] = "Yingze Subdistrict"
    report = await run(session, [table("d.csv", districts), table("o.csv", ORGANISATIONS),
                                 table("c.csv", communities), table("w.csv", workers)])
    assert report.errors == [] and report.total(Status.UPDATED) == 3 and report.total(Status.NEW) == 0
    texts = [line.render() for line in report.lines if line.status is Status.UPDATED]
    assert "d.csv row 2: updated en: street/township 迎泽街道" in texts
    assert any(t.startswith("c.csv row 2: updated name_en: community 140106001001") for t in texts)
    assert any(t.startswith("w.csv row 2: updated supervisor: invitation for social worker 刘芳") for t in texts)
    session.expire_all()
    liuxiang = await session.scalar(select(Community).where(Community.code == "140106001001"))
    assert liuxiang.name_en == "Liuxiang Lane Community" and liuxiang.district_en == "Yingze Subdistrict"
    assert await session.scalar(select(func.count()).select_from(Invite).where(Invite.phone.is_not(None))) == 2


async def test_a_bad_row_is_reported_by_row_and_nothing_is_imported(session):
    before = await snapshot(session)
    communities = [row[:] for row in COMMUNITIES]
    communities[2][5] = "Asia/Shangai"
    report = await run(session, [table("d.csv", DISTRICTS), table("o.csv", ORGANISATIONS), table("c.csv", communities)])
    assert messages(report) == [
        "c.csv row 3: ERROR: 时区 (timezone) 'Asia/Shangai' is not a known time zone, e.g. Asia/Shanghai"
    ]
    assert await snapshot(session) == before


async def test_a_mixed_file_with_apply_imports_nothing_and_names_every_problem(session):
    before = await snapshot(session)
    workers = [*WORKERS,
               ["张三", "4041234", "140106001001", "", ""],  # a landline without its area code
               ["李四", "13803510001", "140106001001", "", ""],  # 刘芳's number again
               ["赵五", "13803510009", "999999999999", "", ""],  # no such community
               ["钱六", "13803510008", "140106001001", "", "也许"]]  # neither yes nor no
    communities = [*COMMUNITIES,
                   ["140106001001", "双塔社区", "", "迎泽街道", "城市", "", "", ""],  # a code twice
                   ["140106001002", "新社区", "", "五一路街道", "城市", "", "", ""],  # an unknown street
                   ["140106001003", "远方社区", "", "迎泽街道", "城市", "", "", "NO-SUCH-ORG"],
                   ["1.40106E+11", "坏代码社区", "", "迎泽街道", "城市", "", "", ""],
                   ["140106001004", "长" * 101, "", "迎泽街道", "城郊", "", "", ""]]
    report = await run(session, [table("d.csv", DISTRICTS), table("o.csv", ORGANISATIONS),
                                 table("c.csv", communities), table("w.csv", workers)])
    assert messages(report) == [
        "c.csv row 7: ERROR: 社区代码 (code) 1.40106E+11 was turned into a number by the spreadsheet; "
        "format the column as text and type the code again",
        "c.csv row 8: ERROR: 社区名称 (name) is 101 characters long; at most 100 fit",
        "w.csv row 4: ERROR: phone '4041234' is not a valid number; a landline needs its area code, e.g. 0351-1234567",
        "w.csv row 7: ERROR: 督导 (supervisor) '也许' is not one of: 是 / yes / y / true / 1 / √ / ✓ / 否 / no / n / "
        "false / 0 / ×",
        "c.csv row 4: ERROR: community code 140106001001 is already listed in c.csv row 2",
        "c.csv row 5: ERROR: street/township '五一路街道' is neither in the streets and townships table nor imported "
        "before",
        "c.csv row 6: ERROR: organisation 'NO-SUCH-ORG' is neither in the organisations table nor imported before",
        "w.csv row 5: ERROR: phone +8613803510001 is already listed in w.csv row 2",
        "w.csv row 6: ERROR: community '999999999999' is neither in the communities table nor imported before",
    ]
    assert report.total(Status.NEW) > 0  # the good rows were checked too
    assert await snapshot(session) == before


async def test_a_reference_to_a_row_with_errors_says_so(session):
    communities = [COMMUNITIES[0], ["140106001001", "柳巷社区", "", "迎泽街道", "城市", "Mars/Base", "", ""]]
    report = await run(session, [table("d.csv", DISTRICTS), table("c.csv", communities), table("w.csv", WORKERS[:2])])
    assert messages(report)[1] == "w.csv row 2: ERROR: refers to community '140106001001', whose own row has errors"


async def test_the_templates_example_rows_are_refused(session, tmp_path):
    paths = write_templates(tmp_path, "en")
    report = await run(session, read_tables([paths[0]]))
    assert len(report.errors) == 4 and all("the template's example row" in m for m in messages(report))


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_the_template_filled_in_imports_cleanly(session, tmp_path, lang):
    paths = write_templates(tmp_path, lang)
    assert [p.name for p in paths] == ["linli-import.xlsx", "linli-districts.csv", "linli-organisations.csv",
                                       "linli-communities.csv", "linli-social-workers.csv"]
    fill_workbook(paths[0])
    report = await run(session, read_tables([paths[0]]))
    assert report.errors == [] and report.total(Status.NEW) == 7
    # The CSV templates: the same columns, one file per kind.
    for path, records in zip(paths[1:], (DISTRICTS, ORGANISATIONS, COMMUNITIES, WORKERS), strict=True):
        header = path.read_text(encoding="utf-8-sig").splitlines()[0]
        path.write_text("\n".join([header, *(",".join(r) for r in records[1:])]) + "\n", encoding="utf-8-sig")
    again = await run(session, read_tables(paths[1:]))
    assert again.errors == [] and again.changes == 0 and again.total(Status.UNCHANGED) == 7


def fill_workbook(path: Path) -> None:
    """As an operator would: the example rows replaced by the district's own, codes typed as numbers."""
    workbook = load_workbook(path)
    sheets = [s for s in workbook.worksheets if s.max_row >= 2 and s.title not in ("说明", "Instructions")]
    for sheet, records in zip(sheets, (DISTRICTS, ORGANISATIONS, COMMUNITIES, WORKERS), strict=True):
        sheet.delete_rows(2, sheet.max_row)
        for record in records[1:]:
            # Excel keeps a 12-digit code typed into a General cell as a number.
            sheet.append([int(v) if v.isdigit() and len(v) == 12 else v for v in record])
    workbook.save(path)


async def test_communities_made_before_codes_are_adopted_not_duplicated(session, world):
    count = await session.scalar(select(func.count()).select_from(Community))
    rows = [COMMUNITIES[0], ["140105002001", "晨光社区", "Chenguang Community", "和平街道", "城市", "", "", ""]]
    report = await run(session, [table("c.csv", rows)])
    assert report.errors == [] and [line.render() for line in report.lines] == [
        "c.csv row 2: updated code, station_name, station_phone, organisation: community 140105002001 晨光社区 (和平街道)"
    ]
    assert await session.scalar(select(func.count()).select_from(Community)) == count
    session.expire_all()
    chenguang = await session.get(Community, world.communities["晨光社区"].id)
    assert chenguang.code == "140105002001"
    # Another code for the same place is refused rather than making a second 晨光社区.
    clash = await run(session, [table("c.csv", [COMMUNITIES[0], ["X-1", "晨光社区", "", "和平街道", "城市", "", "", ""]])])
    assert messages(clash) == ["c.csv row 2: ERROR: 晨光社区 in 和平街道 already exists with code 140105002001; keep "
                               "its code"]


@pytest.mark.parametrize(
    ("typed", "e164"),
    [("13803510001", "+8613803510001"), ("138-0351-0001", "+8613803510001"), ("+86 138 0351 0001", "+8613803510001"),
     ("１３８０３５１０００１", "+8613803510001"), ("0351-4041234", "+863514041234"), ("(010) 6512 3456", "+861065123456")],
)
def test_phone_numbers_become_e164(typed, e164):
    assert normalise_phone(typed) == e164


@pytest.mark.parametrize("typed", ["4041234", "12345", "電話", "1380351000"])
def test_a_number_that_is_not_a_phone_is_refused(typed):
    with pytest.raises(RowError):
        normalise_phone(typed)


# --- files ----------------------------------------------------------------------------------


def test_csv_in_utf8_gbk_or_utf16_with_commas_or_tabs_reads_the_same(tmp_path):
    text = "\n".join(",".join(r) for r in WORKERS) + "\n"
    variants = {
        "utf8.csv": text.encode("utf-8"),
        "bom.csv": text.encode("utf-8-sig"),
        "gbk.csv": text.encode("gbk"),
        "utf16.csv": text.replace(",", "\t").encode("utf-16"),
        "tabs.txt": text.replace(",", "\t").encode("gbk"),
    }
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        [read] = read_tables([tmp_path / name])
        assert read.headers == WORKERS[0] and [cells for _n, cells in read.rows] == WORKERS[1:], name


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("blank.csv", b"\n\n", "blank.csv: the file is empty"),
        ("latin.csv", b"name,phone\n\xff\xfe\xfd\xfc,1\n\x80", "latin.csv: the text is neither UTF-8 nor GBK; save it "
         "as CSV UTF-8"),
        ("book.csv", b"PK\x03\x04rest", "book.csv: this is an Excel workbook, not CSV; name it .xlsx"),
        ("old.xls", b"\xd0\xcf\x11\xe0", "old.xls: the old .xls format cannot be read; save it as .xlsx or CSV"),
        ("fake.xlsx", b"not a zip", "fake.xlsx: not an .xlsx workbook"),
        ("notes.pdf", b"%PDF", "notes.pdf: unknown file type; give a .csv or .xlsx file"),
    ],
)
def test_an_unreadable_file_is_one_clear_line(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(FileProblem) as raised:
        read_tables([tmp_path / name])
    assert str(raised.value) == message


async def test_a_table_without_its_columns_is_refused_by_name(session, tmp_path):
    report = await run(session, [table("c.csv", [["社区代码", "社区名称", "所属街道乡镇"], ["1", "a", "b"]],
                                       kind=Kind.COMMUNITY),
                                 table("what.csv", [["颜色", "大小"], ["红", "大"]])])
    assert messages(report) == [
        "c.csv: ERROR: the communities table lacks the column(s) 城乡类型 (area)",
        "what.csv: ERROR: cannot tell from its columns what it lists; use the template's column names "
        "(linli import --template DIR) or say it with --kind",
    ]


def test_xlsx_sheets_are_told_apart_by_their_names_in_either_language(tmp_path):
    workbook = Workbook()
    workbook.active.title = "Communities"
    workbook.active.append(["code", "name", "district", "area"])
    workbook.active.append([140106001001, "柳巷社区", "迎泽街道", "urban"])
    sheet = workbook.create_sheet("街道乡镇")
    sheet.append(["名称", "类型"])
    sheet.append(["迎泽街道", "街道"])
    workbook.create_sheet("Sheet3")  # empty: ignored
    workbook.save(tmp_path / "d.xlsx")
    communities, districts = read_tables([tmp_path / "d.xlsx"])
    assert communities.kind is Kind.COMMUNITY and communities.rows == [(2, ["140106001001", "柳巷社区", "迎泽街道", "urban"])]
    assert districts.kind is Kind.DISTRICT and districts.source == "d.xlsx [街道乡镇]"


def test_existing_files_are_never_overwritten_by_the_template(tmp_path):
    write_templates(tmp_path)
    with pytest.raises(FileProblem, match="already holds linli-import.xlsx"):
        write_templates(tmp_path)


# --- the command line, as the operator runs it ---------------------------------------------


def linli(*args: str, cwd: Path, db: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "BOT_TOKEN"}}
    env["DATABASE_URL"] = f"sqlite:///{db}"
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def count_rows(db: Path, table_name: str) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute(f"SELECT count(*) FROM {table_name}").fetchone()[0]  # noqa: S608 - a fixed name


def test_a_districts_first_day_as_the_readme_tells_it(tmp_path):
    """README "Running it for real", command by command, with no sample data."""
    db = tmp_path / "linli.sqlite3"
    assert linli("db", "upgrade", cwd=tmp_path, db=db).returncode == 0
    assert linli("seed", cwd=tmp_path, db=db).returncode == 0
    made = linli("import", "--template", "district", cwd=tmp_path, db=db)
    assert made.returncode == 0, made.stderr
    workbook = tmp_path / "district" / "linli-import.xlsx"
    fill_workbook(workbook)

    dry = linli("import", "district/linli-import.xlsx", cwd=tmp_path, db=db)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "7 new, 0 updated, 0 unchanged, 0 error(s)" in dry.stdout and "--apply" in dry.stdout
    assert count_rows(db, "community") == 0 and count_rows(db, "invite") == 0

    applied = linli("import", "district/linli-import.xlsx", "--apply", "--bot-username", "yingze_linli_bot",
                    cwd=tmp_path, db=db)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert count_rows(db, "community") == 2 and count_rows(db, "invite") == 2
    links = [line for line in applied.stdout.splitlines() if "https://t.me/yingze_linli_bot?start=inv_" in line]
    assert len(links) == 2 and "刘芳" in links[0] and "+8613803510001" in links[0]

    again = linli("import", "district/linli-import.xlsx", "--apply", cwd=tmp_path, db=db)
    assert again.returncode == 0 and "0 new, 0 updated, 7 unchanged" in again.stdout
    assert "Nothing to change" in again.stdout and count_rows(db, "invite") == 2
    assert "/start inv_" in again.stdout  # without the username: the start parameter, and how to make the link

    granted = linli("admin", "grant", "123456789", cwd=tmp_path, db=db)
    assert granted.returncode == 0 and "now a coordinator" in granted.stdout


def test_a_file_with_errors_exits_non_zero_and_writes_nothing(tmp_path):
    db = tmp_path / "linli.sqlite3"
    assert linli("db", "upgrade", cwd=tmp_path, db=db).returncode == 0
    (tmp_path / "c.csv").write_text("\n".join(",".join(r) for r in [*COMMUNITIES[:2], ["x y", "坏", "", "迎泽街道",
                                                                                         "城市", "", "", ""]]),
                                    encoding="utf-8")
    (tmp_path / "d.csv").write_text("\n".join(",".join(r) for r in DISTRICTS), encoding="gbk")
    (tmp_path / "o.csv").write_text("\n".join(",".join(r) for r in ORGANISATIONS), encoding="utf-8")
    for extra in ([], ["--apply"]):
        result = linli("import", "d.csv", "o.csv", "c.csv", *extra, cwd=tmp_path, db=db)
        assert result.returncode == 1
        assert "c.csv row 3: ERROR: 社区代码 (code) 'x y' may hold only letters" in result.stdout
        assert "1 problem(s) found: nothing was imported." in result.stdout
        assert count_rows(db, "community") == 0 and count_rows(db, "organization") == 0


@pytest.mark.parametrize(
    ("files", "args", "expected"),
    [
        ({"e.csv": b""}, ["e.csv"], "linli import: e.csv: the file is empty"),
        ({}, ["missing.csv"], "linli import: missing.csv: no such file"),
        ({"c.csv": "社区代码,社区名称\n1,a\n".encode()}, ["c.csv", "--kind", "planets"],
         "linli import: unknown kind 'planets': use one of district, organisation, community, social_worker"),
        ({}, [], "linli import: give the files to import, or --template DIR for templates to fill in"),
    ],
)
def test_a_bad_file_is_one_line_and_a_non_zero_exit(tmp_path, files, args, expected):
    db = tmp_path / "linli.sqlite3"
    assert linli("db", "upgrade", cwd=tmp_path, db=db).returncode == 0
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    result = linli("import", *args, cwd=tmp_path, db=db)
    assert result.returncode == 1
    assert result.stderr.strip() == expected and result.stdout == ""


def test_a_table_missing_a_column_is_reported_with_its_name(tmp_path):
    db = tmp_path / "linli.sqlite3"
    assert linli("db", "upgrade", cwd=tmp_path, db=db).returncode == 0
    (tmp_path / "w.csv").write_text("姓名,所在社区\n刘芳,140106001001\n", encoding="utf-8")
    result = linli("import", "w.csv", "--kind", "social_worker", cwd=tmp_path, db=db)
    assert result.returncode == 1
    assert "w.csv: ERROR: the social workers table lacks the column(s) 电话 (phone)" in result.stdout


async def test_a_joined_social_worker_follows_the_list_when_it_changes(session):
    from bot.services.invites import redeem_invite
    from bot.services.users import TelegramProfile, touch_user

    report = await run(session, district_tables())
    token = next(p.token for p in report.invites if p.name == "王强")
    user = await touch_user(session, TelegramProfile(next_id := 880_001, "Wang"), now=CLOCK.now())
    await redeem_invite(session, user, token, now=CLOCK.now())
    await session.commit()
    assert (user.real_name, user.social_worker.is_supervisor) == ("王强", False)
    village_id = user.social_worker.home_community_id

    unchanged = await run(session, district_tables())
    assert unchanged.changes == 0 and [p.name for p in unchanged.invites] == ["刘芳"]  # a used link is not offered

    workers = [row[:] for row in WORKERS]
    workers[2][2], workers[2][4] = "140106001001", "是"  # 王强 moves to 柳巷社区 as its supervisor
    moved = await run(session, [*district_tables()[:3], table("w.csv", workers)])
    assert [line.render() for line in moved.lines if line.status is Status.UPDATED] == [
        "w.csv row 3: updated community, supervisor: social worker 王强 +863514041234 (柳巷社区), joined"
    ]
    session.expire_all()
    from bot.services.users import get_by_telegram_id

    joined = await get_by_telegram_id(session, next_id)
    assert joined.social_worker.home_community_id != village_id and joined.social_worker.is_supervisor
    await session.commit()


def test_the_templates_need_no_database_but_an_import_does(tmp_path):
    missing = tmp_path / "not-yet.sqlite3"
    made = linli("import", "--template", str(tmp_path / "forms"), cwd=tmp_path, db=missing)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "forms" / "linli-import.xlsx").exists() and not missing.exists()
    refused = linli("import", str(tmp_path / "forms" / "linli-import.xlsx"), cwd=tmp_path, db=missing)
    assert refused.returncode != 0 and 'run "linli db upgrade" first' in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
