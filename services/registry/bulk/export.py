"""户有卡、村有册: the households of a region as an .xlsx workbook, one sheet per village, the §9 columns (values
as their Chinese labels) plus 状态, the way a county office prints its 村有册.

Each sheet starts with a title row (village, date, how personal data is shown) above the header; the import
finds the header below it, so an exported workbook can be imported again. ID numbers and phones are in full only
for callers who may see them (county, township and village cadres of the region); everyone else gets the
stored masked copies, and nothing is decrypted for them. A last sheet, 监测对象, lists the region's monitored
households (防返贫监测: an approved case not yet eliminated or rejected) with their case. Rows come from a cursor a few thousand at a time and
openpyxl ``write_only`` writes them out as they come, so memory stays flat however large the region.
"""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from services.registry import glossary as g
from services.registry.bulk.columns import COLUMNS
from services.registry.households import repository as households
from services.registry.households.scope import Scope
from services.registry.monitoring.cases.glossary import CASE_STATUS_LABELS, CATEGORY_LABELS, RISK_LABELS
from services.registry.regions import repository as regions
from shared.db import driver
from shared.pii import PiiCipher
from shared.problems import NotFound

CHINA = ZoneInfo("Asia/Shanghai")
HEADER = [c.label for c in COLUMNS] + ["状态"]
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")

ROWS_SQL = """
SELECT h.id AS household_id, h.household_no, h.village_code, coalesce(r.name, h.village_code) AS village_name,
  h.address, h.phone_enc, h.phone_masked, h.attribute, h.main_cause, h.other_causes, h.identified_year, h.status,
  m.name, m.id_enc, m.id_masked, m.relation, m.health, m.labor, m.education, m.in_school, m.migrant_worker
FROM household h
JOIN member m ON m.household_id = h.id
LEFT JOIN region r ON r.code = h.village_code
WHERE h.village_code BETWEEN $1 AND $2 AND ($3::text IS NULL OR h.helper_user_id = $3::text)
ORDER BY h.village_code, h.household_no, m.relation <> 'head', m.id"""


MONITORED_SHEET = "监测对象"
# none of these headings is an import column (§9), so the importer passes this sheet by and an exported
# workbook imports again as nothing new
MONITORED_HEADER = ["监测编号", "户号", "户主姓名", "村", "监测类型", "风险类型", "监测状态", "纳入监测日期"]
MONITORED_SQL = """
SELECT c.case_no, h.household_no, h.head_name, coalesce(r.name, c.village_code) AS village_name, c.category,
  c.risk_types, c.status, (c.approved_at AT TIME ZONE 'Asia/Shanghai')::date AS approved_on
FROM monitoring_case c JOIN household h ON h.id = c.household_id LEFT JOIN region r ON r.code = c.village_code
WHERE c.village_code BETWEEN $1 AND $2 AND ($3::text IS NULL OR h.helper_user_id = $3::text)
  AND c.approved_at IS NOT NULL AND c.status NOT IN ('eliminated', 'rejected')
ORDER BY c.village_code, h.household_no"""

FETCH_ROWS = 5_000         # rows held at once: a county's 350,000 members never sit in memory together


async def for_region(session: AsyncSession, *, scope: Scope, code: str, cipher: PiiCipher, endpoint: str
                     ) -> tuple[bytes, str]:
    """The 村有册 workbook of ``code`` as the caller may see it, and the region's name; 404 outside the caller's
    scope. Full ID numbers shown are recorded in the personal-data access log."""
    narrowed = scope.within(code)
    region = await regions.get(session, code)
    if narrowed is None or region is None:
        raise NotFound("No such region")
    content, household_ids = await workbook(await driver(session), narrowed, cipher=cipher, full=scope.full_pii,
                                            region_name=region.name)
    if scope.full_pii:
        await households.log_access(session, scope=scope, endpoint=endpoint, household_ids=household_ids)
    return content, region.name


async def workbook(conn: asyncpg.Connection, scope: Scope, *, cipher: PiiCipher, full: bool, region_name: str
                   ) -> tuple[bytes, list[int]]:
    """:func:`build` over the region's rows as a cursor yields them (``conn`` must be in a transaction): the
    workbook is written in a thread while the event loop fetches the next rows."""
    loop = asyncio.get_running_loop()
    monitored = await conn.fetch(MONITORED_SQL, scope.lo, scope.hi, scope.helper)     # a few thousand at most
    cursor = await conn.cursor(ROWS_SQL, scope.lo, scope.hi, scope.helper)

    def rows() -> Iterator[asyncpg.Record]:       # in the thread: each chunk asked of the loop before the last is used
        ahead = asyncio.run_coroutine_threadsafe(cursor.fetch(FETCH_ROWS), loop)
        while chunk := ahead.result():
            ahead = asyncio.run_coroutine_threadsafe(cursor.fetch(FETCH_ROWS), loop)
            yield from chunk

    return await asyncio.to_thread(build, rows(), cipher=cipher, full=full, region_name=region_name,
                                   monitored=monitored)


def sheet_title(name: str, code: str, used: set[str]) -> str:
    base = _SHEET_FORBIDDEN.sub("", ILLEGAL_CHARACTERS_RE.sub("", name)).strip().strip("'")[:31] or code
    title = base
    if title in used:
        title = f"{base[:31 - 13]}({code})"
    n = 2
    while title in used:
        title = f"{base[:25]}~{n}"
        n += 1
    used.add(title)
    return title


def _text_cell(ws, value: Any) -> Any:
    """A value for ``ws.append``: text that Excel would take for a formula stays text, and a character no
    workbook may hold (stored before the text rule refused it) is shown as U+FFFD, so no stored row stops an export."""
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("\ufffd", value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        cell = WriteOnlyCell(ws, value=value)
        cell.data_type = "s"
        return cell
    return value


def build(rows: Iterable[Mapping[str, Any]], *, cipher: PiiCipher, full: bool, region_name: str,
          monitored: Iterable[Mapping[str, Any]] = ()) -> tuple[bytes, list[int]]:
    """The workbook's bytes and the ids of the households in it."""
    wb = Workbook(write_only=True)
    used: set[str] = set()
    household_ids: list[int] = []
    ws = None
    village = None
    last_household = None
    today = datetime.now(CHINA).date().isoformat()
    pii_note = "身份证号、联系电话为完整信息，注意保密" if full else "身份证号、联系电话已脱敏"
    for r in rows:
        if r["village_code"] != village:
            village = r["village_code"]
            ws = wb.create_sheet(sheet_title(r["village_name"], village.strip(), used))
            ws.append([_text_cell(ws, f"{r['village_name']}建档立卡户花名册（村有册） 村代码 {village} 导出日期 {today}（{pii_note}）")])
            ws.append(HEADER)
        if r["household_id"] != last_household:
            last_household = r["household_id"]
            household_ids.append(last_household)
        if full:
            id_number = cipher.decrypt(bytes(r["id_enc"]), field="id_number")
            phone = cipher.decrypt(bytes(r["phone_enc"]), field="phone") if r["phone_enc"] is not None else None
        else:
            id_number, phone = r["id_masked"], r["phone_masked"]
        ws.append([_text_cell(ws, v) for v in (
            r["household_no"], village.strip(), r["address"], phone, g.ATTRIBUTE_LABELS[r["attribute"]],
            g.CAUSE_LABELS[r["main_cause"]], "、".join(g.CAUSE_LABELS.get(c, c) for c in r["other_causes"]),
            r["identified_year"], r["name"], id_number, g.RELATION_LABELS[r["relation"]],
            g.HEALTH_LABELS[r["health"]], g.LABOR_LABELS[r["labor"]],
            g.EDUCATION_LABELS[r["education"]] if r["education"] else None, "是" if r["in_school"] else "否",
            "是" if r["migrant_worker"] else "否", g.STATUS_LABELS[r["status"]])])
    if ws is None:
        ws = wb.create_sheet(sheet_title(region_name, "-", used))
        ws.append([_text_cell(ws, f"{region_name}建档立卡户花名册（村有册） 导出日期 {today}：无数据")])
        ws.append(HEADER)
    _monitored_sheet(wb, used, monitored, region_name=region_name, today=today)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue(), household_ids


def _monitored_sheet(wb: Workbook, used: set[str], rows: Iterable[Mapping[str, Any]], *, region_name: str,
                     today: str) -> None:
    ws = wb.create_sheet(sheet_title(MONITORED_SHEET, "monitoring", used))
    ws.append([_text_cell(ws, f"{region_name}防返贫监测对象名册 导出日期 {today}")])
    ws.append(MONITORED_HEADER)
    for r in rows:
        ws.append([_text_cell(ws, v) for v in (
            r["case_no"], r["household_no"], r["head_name"], r["village_name"], CATEGORY_LABELS[r["category"]],
            "、".join(RISK_LABELS.get(x, x) for x in r["risk_types"]), CASE_STATUS_LABELS[r["status"]],
            r["approved_on"].isoformat())])
