"""Bulk import (CONTRACT §4 Bulk, §9): upload → 202 job → the real outbox relay and arq worker → households.

Files are made here: .xlsx with openpyxl, .csv in UTF-8 and GB18030, and hostile ones by hand."""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import os
import zipfile
from datetime import date, timedelta

import asyncpg
import openpyxl
import pytest
from arq.worker import Worker

from services.registry import worker as registry_worker
from services.registry.bulk import jobs
from services.registry.bulk.columns import COLUMNS
from shared import idnumber, outbox
from shared.db import Database, asyncpg_dsn, database_name
from shared.embedded import EmbeddedRedis, RunDir
from shared.testing import auth
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import OTHER_VILLAGE

_ids = itertools.count(1)


def new_id(*, male: bool = True) -> str:
    """A fresh valid ID number (own counter: these tests use many)."""
    n = next(_ids)
    return idnumber.make("640121", date(1931, 1, 1) + timedelta(days=n // 400), (n % 400) * 2 + (1 if male else 0))


HEADER = [c.label for c in COLUMNS]


def row(no: str, name: str, idn: str, relation: str = "户主", *, village: str = VILLAGE, labels: bool = True,
        **kw) -> list:
    if labels:
        values = {"address": "欣荣村3组12号", "phone": "13951234567", "attribute": "低保贫困户", "main_cause": "因病",
                  "other_causes": "缺技术、缺资金", "identified_year": 2016, "health": "健康", "labor": "普通劳动力",
                  "education": "初中", "in_school": "否", "migrant_worker": "是"}
    else:
        values = {"address": "欣荣村3组12号", "phone": "13951234567", "attribute": "dibao", "main_cause": "illness",
                  "other_causes": "lack_skills,lack_funds", "identified_year": "2016", "health": "healthy",
                  "labor": "normal", "education": "junior_high", "in_school": "false", "migrant_worker": "true"}
    values.update(kw)
    return [no, village, values["address"], values["phone"], values["attribute"], values["main_cause"],
            values["other_causes"], values["identified_year"], name, idn, relation, values["health"], values["labor"],
            values["education"], values["in_school"], values["migrant_worker"]]


def family(no: str, village: str = VILLAGE, size: int = 3, labels: bool = True) -> list[list]:
    relations = ["户主", "配偶", "之子", "之女"] if labels else ["head", "spouse", "son", "daughter"]
    return [row(no, f"成员{no[-2:]}{i}", new_id(male=i != 1), relations[i], village=village, labels=labels)
            for i in range(size)]


def xlsx(rows: list[list], header: list = HEADER, title: str | None = None, sheet: str = "花名册") -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    if title:
        ws.append([title])
    ws.append(header)
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(rows: list[list], header: list = HEADER, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue().encode(encoding)


def rows_only(monkeypatch) -> None:
    """Every row through the row checker: no table is read a column at a time."""
    from services.registry.bulk import column_reader
    monkeypatch.setattr(column_reader, "read_csv", lambda content: None)
    monkeypatch.setattr(column_reader, "from_table", lambda table: None)


async def upload(client, content: bytes, filename: str, headers: dict) -> str:
    r = await client.post("/api/v1/imports/households", files={"file": (filename, content)}, headers=headers)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/jobs/{r.json()['job_id']}"
    return r.json()["job_id"]


async def run_worker(settings) -> None:
    """What `jingzhun up` does in the background: relay the outbox to Redis, the registry worker runs the job."""
    db = Database(settings, "registry")
    try:
        await outbox.Relay(settings=settings, service="registry", sessionmaker=db.sessionmaker).drain()
    finally:
        await db.close()
    worker = Worker(**{**registry_worker.settings(settings), "burst": True, "handle_signals": False,
                       "poll_delay": 0.01})
    try:
        await asyncio.wait_for(worker.main(), 120)
    finally:
        await worker.close()


async def job(client, job_id: str, headers: dict) -> dict:
    r = await client.get(f"/api/v1/jobs/{job_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def imported(registry, settings, content: bytes, filename: str, headers: dict) -> dict:
    job_id = await upload(registry, content, filename, headers)
    await run_worker(settings)
    return await job(registry, job_id, headers)


async def count(settings, sql: str):
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_xlsx_with_chinese_labels_is_imported_as_pending_households(registry, token, regions, settings):
    admin = auth(token())
    no1, no2 = f"{VILLAGE}0001", f"{VILLAGE}0002"
    content = xlsx(family(no1, size=3) + family(no2, size=2), title="欣荣村建档立卡户花名册")
    job_id = await upload(registry, content, "欣荣村.xlsx", admin)
    queued = await job(registry, job_id, admin)
    assert (queued["status"], queued["total"], queued["done"], queued["errors"]) == ("queued", 0, 0, [])
    await run_worker(settings)
    done = await job(registry, job_id, admin)
    assert done["status"] == "done", done
    assert (done["total"], done["done"], done["errors"], done["errors_total"]) == (5, 5, [], 0)
    assert done["summary"]["households_created"] == 2 and done["summary"]["members_created"] == 5

    listed = (await registry.get(f"/api/v1/households?region={VILLAGE}", headers=admin)).json()["items"]
    assert [h["household_no"] for h in listed] == [no1, no2]
    assert all(h["status"] == "pending" and h["status_label"] == "识别中" for h in listed)
    h = (await registry.get(f"/api/v1/households/{listed[0]['id']}", headers=admin)).json()
    assert (h["attribute"], h["main_cause"], h["other_causes"], h["identified_year"]) == (
        "dibao", "illness", ["lack_skills", "lack_funds"], 2016)
    assert h["phone"] == "13951234567" and h["member_count"] == 3 and h["head_name"] == "成员010"
    head, spouse, son = h["members"]
    assert (head["relation"], spouse["relation"], son["relation"]) == ("head", "spouse", "son")
    assert (son["health"], son["labor"], son["education"], son["in_school"], son["migrant_worker"]) == (
        "healthy", "normal", "junior_high", False, True)
    assert spouse["sex"] == "female" and len(head["id_number"]) == 18
    # the person is now in the registry: a second registration through the API is the usual 409
    r = await registry.post("/api/v1/households", headers=admin, json={
        "village_code": VILLAGE, "address": "x", "attribute": "general", "main_cause": "illness",
        "identified_year": 2020, "members": [{"name": "重复", "id_number": head["id_number"], "relation": "head",
                                             "health": "healthy", "labor": "normal"}]})
    assert r.status_code == 409 and r.json()["household_no"] == no1
    # and a household created afterwards takes the next number of the village
    r = await registry.post("/api/v1/households", headers=admin, json={
        "village_code": VILLAGE, "address": "x", "attribute": "general", "main_cause": "illness",
        "identified_year": 2020, "members": [{"name": "新户", "id_number": new_id(), "relation": "head",
                                             "health": "healthy", "labor": "normal"}]})
    assert r.status_code == 201 and r.json()["household_no"] == f"{VILLAGE}0003"
    # one audit-chain row for the whole job, with its counts
    assert await count(settings, "SELECT count(*) FROM audit_log WHERE action = 'households.import'") == 1
    diff = await count(settings, "SELECT diff::text FROM audit_log WHERE action = 'households.import'")
    assert '"households_created": 2' in diff and '"members_created": 5' in diff


async def test_csv_with_codes_keeps_valid_rows_and_reports_the_others(registry, token, regions, settings):
    officer = auth(token("township_officer", TOWNSHIP, sub="u-town"))
    good = family("1", labels=False)                               # a file-local 户编号: numbered by the registry
    bad_member = family("2", labels=False)
    bad_member[2][9] = bad_member[2][9][:17] + ("0" if bad_member[2][9][17] != "0" else "1")   # wrong check char
    headless = family("3", labels=False)[1:]                       # no head
    elsewhere = family("4", village=OTHER_VILLAGE, labels=False)   # not in the officer's township
    two_heads = family("5", labels=False)
    two_heads[1][10] = "head"
    bad_code = family("6", labels=False)
    bad_code[1][11] = "sick"                                       # unknown health code on a member
    duplicate = family("7", labels=False, size=2)
    duplicate[1][9] = good[1][9]                                   # the same person as in household 1
    formula = family("8", labels=False, size=2)
    formula[1][8] = "=cmd|' /C calc'!A0"
    rows = good + bad_member + headless + elsewhere + two_heads + bad_code + duplicate + formula
    result = await imported(registry, settings, csv_bytes(rows), "import.csv", officer)
    assert result["status"] == "done", result
    assert result["total"] == result["done"] == len(rows)
    errors = {(e["row"], e["field"]): e["msg"] for e in result["errors"]}
    line = {id(r): i + 2 for i, r in enumerate(rows)}              # header is line 1
    assert "check character" in errors[(line[id(bad_member[2])], "身份证号")]
    for r in headless:
        assert "no member with 与户主关系 户主" in errors[(line[id(r)], "户编号")]
    for r in elsewhere:
        assert f"村代码 {OTHER_VILLAGE} is not a village in your region" in errors[(line[id(r)], "户编号")]
    assert "2 heads" in errors[(line[id(two_heads[0])], "户编号")]
    assert "unknown value 'sick'" in errors[(line[id(bad_code[1])], "健康状况")]
    assert "already listed in row" in errors[(line[id(duplicate[1])], "身份证号")]
    assert "formula" in errors[(line[id(formula[1])], "姓名")]
    assert all(set(e) == {"row", "field", "msg"} for e in result["errors"])
    s = result["summary"]
    # households 1, 2 (without its bad member), 6 and 7 (without their bad rows), 8 (without the formula row)
    assert s["households_created"] == 5 and s["rows_failed"] == len(result["errors"])
    assert s["members_created"] == 3 + 2 + 2 + 1 + 1
    h2 = (await registry.get("/api/v1/households?q=" + bad_member[0][9], headers=officer)).json()["items"]
    assert h2[0]["member_count"] == 2 and h2[0]["household_no"].startswith(VILLAGE)
    assert await count(settings, "SELECT count(*) FROM household") == 5


async def test_importing_the_same_file_again_creates_nothing(registry, token, regions, settings):
    admin = auth(token())
    rows = family(f"{VILLAGE}0001") + family("A-17", size=2) + family(f"{OTHER_VILLAGE}0009", village=OTHER_VILLAGE)
    content = xlsx(rows)
    first = await imported(registry, settings, content, "f.xlsx", admin)
    assert first["summary"]["households_created"] == 3 and first["errors"] == []
    again = await imported(registry, settings, content, "f.xlsx", admin)
    assert again["status"] == "done" and again["errors"] == [], again
    assert again["summary"]["households_created"] == 0 and again["summary"]["members_created"] == 0
    assert again["summary"]["households_matched"] == 3 and again["summary"]["members_unchanged"] == 8
    assert await count(settings, "SELECT count(*) FROM household") == 3
    assert await count(settings, "SELECT count(*) FROM member") == 8
    # a new member in a known household is added to it, nothing else changes
    grown = rows + [row("A-17", "新生儿", new_id(), "之孙子")]
    third = await imported(registry, settings, xlsx(grown), "f.xlsx", admin)
    assert third["summary"]["members_added"] == 1 and third["summary"]["households_created"] == 0
    assert await count(settings, "SELECT member_count FROM household h JOIN import_household_ref r "
                                 "ON r.household_id = h.id WHERE r.ref = 'A-17'") == 3
    # a 户编号 that names a household with another head is refused, not merged
    stranger = family(f"{VILLAGE}0001", size=1)
    fourth = await imported(registry, settings, csv_bytes(stranger), "g.csv", admin)
    assert "whose head is another person" in fourth["errors"][0]["msg"]


async def test_many_villages_uploading_at_once_all_get_their_households(registry, token, regions, settings):
    """More uploads than the worker's connection pool holds, run together: each event holds a pooled connection
    while its import runs, so an import taking its connections from that pool too would wait for ever."""
    admin = auth(token())
    files = [csv_bytes(family(f"{VILLAGE}{i + 1:04d}", size=2)) for i in range(24)]
    job_ids = [await upload(registry, content, f"村{i}.csv", admin) for i, content in enumerate(files)]
    await run_worker(settings)
    states = [await job(registry, j, admin) for j in job_ids]
    assert [s["status"] for s in states] == ["done"] * 24, [s.get("message") for s in states]
    assert await count(settings, "SELECT count(*) FROM household") == 24
    assert await count(settings, "SELECT count(*) FROM member") == 48
    # and no more than IMPORTS_AT_ONCE of them ran at the same time
    assert await count(settings, "SELECT max((SELECT count(*) FROM import_job o WHERE o.started_at <= j.started_at "
                                 "AND o.finished_at > j.started_at)) FROM import_job j") <= jobs.IMPORTS_AT_ONCE


async def test_gb18030_csv_from_chinese_excel(registry, token, regions, settings):
    admin = auth(token())
    rows = family(f"{VILLAGE}0001")
    result = await imported(registry, settings, csv_bytes(rows, encoding="gb18030"), "导出.csv", admin)
    assert result["status"] == "done" and result["errors"] == [], result
    h = (await registry.get(f"/api/v1/households?region={VILLAGE}", headers=admin)).json()["items"][0]
    assert h["head_name"] == "成员010" and h["attribute_label"] == "低保贫困户"
    bom = await imported(registry, settings, b"\xef\xbb\xbf" + csv_bytes(family(f"{VILLAGE}0002")), "bom.csv", admin)
    assert bom["status"] == "done" and bom["summary"]["households_created"] == 1


def zip_bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 1024 * 1024))
    return out.getvalue()


def sheet_with_a_million_empty_rows() -> bytes:
    """A header, then a row numbered 1,000,002: openpyxl reports the million rows between as empty."""
    base = xlsx([])
    src = zipfile.ZipFile(io.BytesIO(base))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", b'<row r="1000002"><c r="A1000002" t="inlineStr"><is><t>x</t>'
                                    b"</is></c></row></sheetData>")
            z.writestr(info, data)
    return out.getvalue()


def formulas_only() -> bytes:
    """Every cell a formula (never calculated, so no cached values): nothing may be evaluated or imported."""
    rows = [[f"={c}1" if i != 8 else "=cmd|' /C calc'!A0" for i, c in enumerate("ABCDEFGHIJKLMNOP")]]
    rows.append(["=HYPERLINK(\"http://x\")"] * 16)
    return xlsx(rows)


@pytest.mark.parametrize("name, content, filename, message", [
    ("10 MB of garbage as csv", os.urandom(10 * 1024 * 1024), "junk.csv", "neither UTF-8 nor GB18030"),
    ("10 MB of garbage as xlsx", os.urandom(10 * 1024 * 1024), "junk.xlsx", "not a valid .xlsx"),
    ("wrong columns", csv_bytes([["1", "2"]], header=["编号", "名字", "身份证号"]), "w.csv", "wrong columns: missing"),
    ("wrong columns in xlsx", xlsx([["x"] * 3], header=["户编号", "姓名", "备注"]), "w.xlsx", "missing 村代码"),
    ("a million empty rows", sheet_with_a_million_empty_rows(), "e.xlsx", "no data rows"),
    ("a million empty csv lines", csv_bytes([]) + b",,,,\r\n" * 1_000_000, "e.csv", "no data rows"),
    ("NUL bytes", csv_bytes(family(f"{VILLAGE}0001")).replace(b"13951234567", b"1395\x00"), "n.csv", "NUL"),
    ("zip bomb", zip_bomb(), "bomb.xlsx", "zip bomb"),
    ("not a table", b"%PDF-1.7 hello", "doc.xlsx", "not a valid .xlsx"),
])
async def test_hostile_files_end_as_a_failed_job_with_a_message(registry, token, regions, settings, name, content,
                                                               filename, message):
    admin = auth(token())
    result = await imported(registry, settings, content, filename, admin)
    assert result["status"] == "failed", (name, result)
    assert message in result["message"], (name, result["message"])
    assert await count(settings, "SELECT count(*) FROM household") == 0
    assert await count(settings, "SELECT count(*) FROM import_job WHERE content IS NOT NULL") == 0


async def test_formulas_are_never_evaluated(registry, token, regions, settings):
    admin = auth(token())
    result = await imported(registry, settings, formulas_only(), "f.xlsx", admin)
    # openpyxl with data_only sees no value for a never-calculated formula: the rows read as empty
    assert result["status"] == "failed" and "no data rows" in result["message"]
    assert await count(settings, "SELECT count(*) FROM household") == 0
    text_formula = csv_bytes([row(f"{VILLAGE}0001", "=1+2", new_id()), row(f"{VILLAGE}0001", "@SUM(A1)", new_id(),
                                                                             "配偶")])
    result = await imported(registry, settings, text_formula, "f.csv", admin)
    assert [(e["row"], e["field"]) for e in result["errors"]] == [(2, "姓名"), (3, "姓名")]
    assert all("looks like a spreadsheet formula" in e["msg"] for e in result["errors"])


async def test_upload_limits_and_wrong_requests(registry, token, regions, settings):
    admin = auth(token())
    big = b"a" * (20 * 1024 * 1024 + 1)
    r = await registry.post("/api/v1/imports/households", files={"file": ("big.csv", big)}, headers=admin)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"
    r = await registry.post("/api/v1/imports/households", json={"file": "x"}, headers=admin)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "file"]
    r = await registry.post("/api/v1/imports/households", files={"file": ("x.pdf", b"%PDF")}, headers=admin)
    assert r.status_code == 422 and ".xlsx" in r.json()["detail"]
    r = await registry.post("/api/v1/imports/households", files={"file": ("x.csv", b"")}, headers=admin)
    assert r.status_code == 422
    r = await registry.post("/api/v1/imports/households", files={"file": ("x.csv", b"a")},
                            headers=auth(token("service", "", sub="svc:funds")))
    assert r.status_code == 403
    for role in ("finance_officer", "helper", "auditor", "bank"):
        r = await registry.post("/api/v1/imports/households", files={"file": ("x.csv", b"a")},
                                headers=auth(token(role)))
        assert r.status_code == 403, role
    assert await count(settings, "SELECT count(*) FROM import_job") == 0


async def test_jobs_are_visible_in_the_uploaders_region_only(registry, token, regions, settings):
    officer = auth(token("township_officer", TOWNSHIP, sub="u-town"))
    job_id = await upload(registry, csv_bytes(family(f"{VILLAGE}0001")), "a.csv", officer)
    assert (await registry.get(f"/api/v1/jobs/{job_id}", headers=auth(token()))).status_code == 200
    for other in (token("township_officer", OTHER_TOWNSHIP, sub="u-other"), token("bank")):
        r = await registry.get(f"/api/v1/jobs/{job_id}", headers=auth(other))
        assert r.status_code in (403, 404) and r.headers["content-type"] == "application/problem+json"
    assert (await registry.get(f"/api/v1/jobs/{job_id}",
                               headers=auth(token("township_officer", OTHER_TOWNSHIP)))).status_code == 404
    assert (await registry.get("/api/v1/jobs/00000000-0000-0000-0000-000000000000",
                               headers=officer)).status_code == 404


@pytest.fixture
async def own_redis(tmp_path):
    run = RunDir(tmp_path)
    server = EmbeddedRedis(tmp_path, run.path).start()   # the relay's and worker's own server, stopped at will
    yield server
    server.stop()
    run.cleanup()


async def test_a_job_uploaded_while_the_queue_is_down_runs_once_it_is_back(registry, token, regions, settings,
                                                                           own_redis):
    """The job's event is an outbox row committed with the job: it waits out a Redis outage, then runs once."""
    admin = auth(token())
    queue_settings = settings.model_copy(update={"redis_url": own_redis.url})
    own_redis.stop()
    job_id = await upload(registry, csv_bytes(family(f"{VILLAGE}0001")), "a.csv", admin)
    db = Database(settings, "registry")
    relay = outbox.Relay(settings=queue_settings, service="registry", sessionmaker=db.sessionmaker)
    try:
        with pytest.raises(Exception):
            await relay.relay_once()
        assert (await job(registry, job_id, admin))["status"] == "queued"
        assert await count(settings, "SELECT count(*) FROM outbox WHERE topic = 'import.requested' "
                                     "AND sent_at IS NULL AND attempts = 1") == 1
        own_redis.start()
        relay.redis = None
        assert await relay.drain() == 1
    finally:
        await db.close()
    await run_worker(queue_settings)
    await run_worker(queue_settings)          # nothing left to do: still one import
    result = await job(registry, job_id, admin)
    assert result["status"] == "done" and result["summary"]["households_created"] == 1
    assert await count(settings, "SELECT count(*) FROM household") == 1
