"""Reading the operator's CSV and XLSX files into tables, and writing the templates.

CSV: one file per kind; UTF-8 (with or without BOM), GBK/GB18030 as Excel saves it
on Chinese Windows, or UTF-16; commas, tabs or semicolons. XLSX: one sheet per kind,
named in Chinese or English (社区 / communities …). What a table lists is told by its
sheet name, by `--kind`, or by its column names (bot/services/importer.py).
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

from bot.services.importer import (
    SPECS,
    FileProblem,
    Kind,
    Table,
    is_instruction_sheet,
    kind_of_sheet,
)

MAX_FILE_BYTES = 20 * 1024 * 1024


def _cell_text(value: object) -> str:
    """A spreadsheet cell as the operator typed it: 140105001001, not 140105001001.0."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _decode(data: bytes, name: str) -> str:
    if data.startswith(b"PK\x03\x04"):
        raise FileProblem(f"{name}: this is an Excel workbook, not CSV; name it .xlsx")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise FileProblem(f"{name}: starts as UTF-8 but is not UTF-8 text; save it again as CSV UTF-8") from None
    if b"\x00" in data:
        raise FileProblem(f"{name}: not a text file; save the table as CSV (UTF-8) or .xlsx")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")  # GBK, as Excel on Chinese Windows saves "CSV"
    except UnicodeDecodeError:
        raise FileProblem(f"{name}: the text is neither UTF-8 nor GBK; save it as CSV UTF-8") from None


def read_csv(path: Path, kind: Kind | None = None) -> Table:
    data = _read_bytes(path)
    text = _decode(data, path.name)
    if not text.strip():
        raise FileProblem(f"{path.name}: the file is empty")
    first_line = text.lstrip().splitlines()[0]
    delimiter = max([",", "\t", ";"], key=first_line.count)
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as error:
        raise FileProblem(f"{path.name}: not readable as CSV ({error})") from None
    return _table(path.name, records, kind)


def _table(source: str, records: list[list[str]], kind: Kind | None) -> Table:
    numbered = [(number, [cell.strip() for cell in record]) for number, record in enumerate(records, start=1)]
    while numbered and not any(numbered[0][1]):
        numbered.pop(0)  # blank lines above the column names
    if not numbered:
        raise FileProblem(f"{source}: the table is empty")
    _number, headers = numbered[0]
    return Table(source=source, headers=headers, rows=numbered[1:], kind=kind)


def read_xlsx(path: Path) -> list[Table]:
    from openpyxl import load_workbook

    _read_bytes(path)  # the size and existence checks
    if not zipfile.is_zipfile(path):
        if path.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            raise FileProblem(f"{path.name}: this is the old .xls format; save it as .xlsx or CSV")
        raise FileProblem(f"{path.name}: not an .xlsx workbook")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds for a damaged file
        raise FileProblem(f"{path.name}: cannot be read as .xlsx ({type(error).__name__})") from None
    tables: list[Table] = []
    try:
        for sheet in workbook.worksheets:
            if is_instruction_sheet(sheet.title):
                continue
            records = [[_cell_text(v) for v in row] for row in sheet.iter_rows(values_only=True)]
            if not any(any(cell for cell in record) for record in records):
                continue  # an unused sheet
            tables.append(_table(f"{path.name} [{sheet.title}]", records, kind_of_sheet(sheet.title)))
    finally:
        workbook.close()
    if not tables:
        raise FileProblem(f"{path.name}: no sheet holds any rows")
    return tables


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise FileProblem(f"{path}: no such file")
    if path.is_dir():
        raise FileProblem(f"{path}: is a directory, not a file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise FileProblem(f"{path.name}: {size // (1024 * 1024)} MB is too large; at most {MAX_FILE_BYTES // (1024 * 1024)} MB")
    if size == 0:
        raise FileProblem(f"{path.name}: the file is empty")
    return path.read_bytes()


def read_tables(paths: list[Path], kind: Kind | None = None) -> list[Table]:
    """Every table of these files; FileProblem (one line) for the first that cannot be read."""
    tables: list[Table] = []
    for path in paths:
        suffix = path.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            tables.extend(read_xlsx(path))
        elif suffix in (".csv", ".txt", ".tsv"):
            tables.append(read_csv(path, kind))
        elif suffix == ".xls":
            raise FileProblem(f"{path.name}: the old .xls format cannot be read; save it as .xlsx or CSV")
        else:
            raise FileProblem(f"{path.name}: unknown file type; give a .csv or .xlsx file")
    return tables


# --- templates ------------------------------------------------------------------------------

ORDER = (Kind.DISTRICT, Kind.ORGANISATION, Kind.COMMUNITY, Kind.SOCIAL_WORKER)
WORKBOOK_NAME = "linli-import.xlsx"

INSTRUCTIONS_ZH = [
    "邻里（Linli）导入模板：每个工作表一类数据，第一行是列名，请勿修改列名。",
    "示例行（示例街道、EXAMPLE-ORG、EXAMPLE-001、示例社工）请替换为真实数据或删除，否则导入会报错。",
    "代码一经导入请勿更改：再次导入时按代码更新，不会重复创建。",
    "先试运行：linli import 文件；无误后：linli import 文件 --apply（全部导入或全部不导入）。",
]
INSTRUCTIONS_EN = [
    "Linli import template: one sheet per kind, column names in the first row; keep the column names.",
    "Replace the example rows (Example Street, EXAMPLE-ORG, EXAMPLE-001, Example Worker) or delete them.",
    "Never change a code once imported: importing again updates by code and creates nothing twice.",
    "Dry run first: linli import FILE; then linli import FILE --apply (all rows or none).",
]


def _header(column: object, lang: str) -> str:
    return column.zh if lang == "zh" else column.en  # type: ignore[attr-defined]


def _example(column: object, lang: str) -> str:
    return column.example_zh if lang == "zh" else column.example_en  # type: ignore[attr-defined]


def template_paths(directory: Path) -> list[Path]:
    return [directory / WORKBOOK_NAME, *(directory / f"{SPECS[kind].file_stem}.csv" for kind in ORDER)]


def write_templates(directory: Path, lang: str = "zh") -> list[Path]:
    """An .xlsx with one sheet per kind and one CSV per kind, each with an example row.

    Existing files are never overwritten: they may hold an operator's filled-in data.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font

    directory.mkdir(parents=True, exist_ok=True)
    paths = template_paths(directory)
    present = [p.name for p in paths if p.exists()]
    if present:
        raise FileProblem(f"{directory}: already holds {', '.join(present)}; choose another directory")

    workbook = Workbook()
    notes = workbook.active
    notes.title = "说明" if lang == "zh" else "Instructions"
    for line in INSTRUCTIONS_ZH if lang == "zh" else INSTRUCTIONS_EN:
        notes.append([line])
    notes.append([])
    notes.append(["表 / sheet", "列 / column", "必填 / required", "说明 / meaning"])
    for kind in ORDER:
        spec = SPECS[kind]
        for column in spec.columns:
            required = ("是" if lang == "zh" else "yes") if column.required else ""
            notes.append([spec.sheet_zh if lang == "zh" else spec.sheet_en, _header(column, lang), required,
                          column.note])
    notes.column_dimensions["A"].width = 16
    notes.column_dimensions["B"].width = 18
    notes.column_dimensions["D"].width = 90

    for kind in ORDER:
        spec = SPECS[kind]
        sheet = workbook.create_sheet(spec.sheet_zh if lang == "zh" else spec.sheet_en)
        sheet.append([_header(column, lang) for column in spec.columns])
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.append([_example(column, lang) for column in spec.columns])
        sheet.freeze_panes = "A2"
        for index, column in enumerate(spec.columns, start=1):
            letter = sheet.cell(row=1, column=index).column_letter
            sheet.column_dimensions[letter].width = max(14, min(40, column.max_length // 3))
            if column.text:
                # Codes and phone numbers stay text: Excel would turn 140105001001 into 1.40105E+11
                # and drop the 0 of 0351-… .
                for row in range(2, 1002):
                    sheet.cell(row=row, column=index).number_format = "@"
    workbook.save(paths[0])

    for kind, path in zip(ORDER, paths[1:], strict=True):
        spec = SPECS[kind]
        with path.open("w", encoding="utf-8-sig", newline="") as handle:  # the BOM lets Excel read UTF-8
            writer = csv.writer(handle)
            writer.writerow([_header(column, lang) for column in spec.columns])
            writer.writerow([_example(column, lang) for column in spec.columns])
    return paths
