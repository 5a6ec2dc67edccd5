"""部门筛查 (CONTRACT §11): a department file → a job (the household import's mechanism) → rows stored once, matched
to households by the ID digest → warnings raised set-based by rules.py, each rule at its edge; warnings scoped and
dismissed with a reason in the audit chain."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.registry.households.scope import Scope
from services.registry.monitoring.screenings import repository, rules
from shared.db import Database
from shared.testing import auth
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP
from tests.registry.conftest import OTHER_VILLAGE, household, member, new_id
from tests.registry.test_import import count, csv_bytes, run_worker, xlsx

HEADER = ["身份证号", "来源部门", "类型", "金额", "发生日期"]
YEAR = 2025


async def ordinary(create, village=None, members: int = 2) -> tuple[int, str]:
    """An 一般农户 household; returns (id, the head's ID number)."""
    head = new_id()
    people = [member("head", id_number=head)] + [member("spouse") for _ in range(members - 1)]
    body = household(members=people, status="ordinary", **({"village_code": village} if village else {}))
    h = await create(body)
    return h["id"], head


async def income(registry, token, household_id: int, year: int, wage: str, expenses: str = "0") -> None:
    r = await registry.put(f"/api/v1/households/{household_id}/incomes/{year}", headers=auth(token()),
                           json={"wage": wage, "production": "0", "transfer": "0", "property": "0",
                                 "expenses": expenses})
    assert r.status_code in (200, 201), r.text


async def screen(registry, settings, rows: list[list], headers: dict, *, filename: str = "筛查.csv",
                 content: bytes | None = None) -> dict:
    content = content if content is not None else (xlsx(rows, header=HEADER) if filename.endswith(".xlsx")
                                                   else csv_bytes(rows, header=HEADER))
    r = await registry.post("/api/v1/monitoring/screenings", files={"file": (filename, content)}, headers=headers)
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/api/v1/jobs/{r.json()['job_id']}"
    await run_worker(settings)
    r = await registry.get(f"/api/v1/jobs/{r.json()['job_id']}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def fired(registry, token) -> set[tuple[int, str]]:
    r = await registry.get("/api/v1/monitoring/warnings?limit=500", headers=auth(token()))
    assert r.status_code == 200, r.text
    return {(w["household_id"], w["rule"]) for w in r.json()["items"]}


def medical(idn: str, amount: str, on: str = f"{YEAR}-05-10") -> list:
    return [idn, "医保", "自付医疗费用", amount, on]


async def test_rows_are_matched_by_id_number_the_rest_kept_and_counted(registry, token, create, settings):
    mine, head = await ordinary(create)
    _, far_head = await ordinary(create, village=OTHER_VILLAGE)
    officer = auth(token("township_officer", TOWNSHIP))
    stranger = new_id()
    rows = [medical(head, "1200.50"), [head, "民政", "临时救助", "3000", f"{YEAR}-06-01"],
            [stranger, "应急", "灾害损失", "8000.00", f"{YEAR}/7/2"],
            [far_head, "残联", "残疾", "", f"{YEAR}年3月1日"],                       # another township's person
            ["640122196001011234", "医保", "自付医疗费用", "10", f"{YEAR}-01-01"],      # bad check character
            [stranger, "税务", "自付医疗费用", "10", f"{YEAR}-01-01"],
            [stranger, "医保", "自付医疗费用", "-5", f"{YEAR}-01-01"],
            [stranger, "医保", "自付医疗费用", "5", "2025-02-30"]]
    job = await screen(registry, settings, rows, officer, filename="筛查.xlsx")
    assert job["kind"] == "screening" and job["status"] == "done" and job["total"] == 8
    s = job["summary"]
    assert (s["rows"], s["created"], s["matched"], s["unmatched"]) == (4, 4, 2, 2)
    assert [(e["row"], e["field"]) for e in job["errors"]] == [(6, "身份证号"), (7, "来源部门"), (8, "金额"), (9, "发生日期")]
    assert all(e["sheet"] == "花名册" for e in job["errors"])
    assert await count(settings, f"SELECT count(*) FROM screening_row WHERE household_id = {mine}") == 2
    assert await count(settings, "SELECT count(*) FROM screening_row WHERE household_id IS NULL") == 2
    # no ID number in full is kept with the rows
    assert await count(settings, f"SELECT count(*) FROM screening_row WHERE id_masked = '{head}'") == 0
    # the county's admin imports the same file: nothing new, and the other township's person is matched now
    job = await screen(registry, settings, rows, auth(token()), filename="筛查.xlsx")
    s = job["summary"]
    assert (s["rows"], s["created"], s["already_imported"], s["matched"], s["unmatched"]) == (4, 0, 4, 3, 1)
    assert await count(settings, "SELECT count(*) FROM screening_row") == 4


async def test_reimporting_creates_nothing_new(registry, token, create, settings):
    h, head = await ordinary(create)
    await income(registry, token, h, YEAR, "10000")
    rows = [medical(head, "6000"), medical(head, "100", f"{YEAR}-08-01")]
    first = await screen(registry, settings, rows, auth(token()))
    assert first["summary"]["created"] == 2 and first["summary"]["warnings_created"] == 1
    again = await screen(registry, settings, rows, auth(token()))
    assert again["summary"]["created"] == 0 and again["summary"]["already_imported"] == 2
    assert again["summary"]["warnings_created"] == 0
    assert await count(settings, "SELECT count(*) FROM screening_row") == 2
    assert await count(settings, "SELECT count(*) FROM monitoring_warning") == 1


# --- each rule at its edge -----------------------------------------------------------------------------------

async def test_medical_costs_at_half_the_net_income_fire_and_a_fen_less_does_not(registry, token, create, settings):
    at, at_head = await ordinary(create)
    below, below_head = await ordinary(create)
    for h in (at, below):
        await income(registry, token, h, YEAR, "10000")                         # net income 10,000.00
    job = await screen(registry, settings, [medical(at_head, "3000"), medical(at_head, "2000", f"{YEAR}-09-09"),
                                            medical(below_head, "4999.99")], auth(token()))
    assert job["summary"]["warnings_by_rule"]["medical_burden"] == 1
    assert await fired(registry, token) == {(at, "medical_burden")}
    (w,) = (await registry.get("/api/v1/monitoring/warnings", headers=auth(token()))).json()["items"]
    assert w["year"] == YEAR and w["rule_label"] == "自付医疗费用占家庭纯收入比例过高"
    assert w["figures"] == {"self_paid_medical": "5000.00", "net_income": "10000.00", "share": "0.5000",
                            "at_least": str(rules.MEDICAL_SHARE)}


async def test_per_capita_income_below_the_threshold_fires_and_equal_does_not(registry, token, create, settings):
    r = await registry.put(f"/api/v1/monitoring/thresholds/{YEAR}", headers=auth(token()),
                           json={"region_code": TOWNSHIP, "amount": "7000"})
    assert r.status_code == 201
    below, below_head = await ordinary(create)
    equal, equal_head = await ordinary(create)
    no_income, no_income_head = await ordinary(create)
    await income(registry, token, below, YEAR, "13999.98")                     # 6,999.99 a person
    await income(registry, token, equal, YEAR, "14000")                        # 7,000.00 a person
    await screen(registry, settings, [[below_head, "民政", "低保", "0", f"{YEAR}-02-01"],
                                      [equal_head, "民政", "低保", "0", f"{YEAR}-02-01"],
                                      [no_income_head, "民政", "低保", "0", f"{YEAR}-02-01"]], auth(token()))
    assert await fired(registry, token) == {(below, "income_below_threshold")}
    (w,) = (await registry.get("/api/v1/monitoring/warnings", headers=auth(token()))).json()["items"]
    assert w["figures"] == {"per_capita_net_income": "6999.99", "threshold": "7000.00"}


async def test_income_falling_by_thirty_percent_fires_and_a_fen_less_does_not(registry, token, create, settings):
    fell, fell_head = await ordinary(create, members=1)
    almost, almost_head = await ordinary(create, members=1)
    for h in (fell, almost):
        await income(registry, token, h, YEAR - 1, "10000")
    await income(registry, token, fell, YEAR, "7000")                          # exactly 30% less
    await income(registry, token, almost, YEAR, "7000.01")
    rows = [[head, "民政", "临时救助", "500", f"{YEAR}-11-11"] for head in (fell_head, almost_head)]
    await screen(registry, settings, rows, auth(token()))
    assert await fired(registry, token) == {(fell, "income_drop")}
    (w,) = (await registry.get("/api/v1/monitoring/warnings", headers=auth(token()))).json()["items"]
    assert w["figures"]["fall"] == "0.3000" and w["figures"]["last_year_per_capita_net_income"] == "10000.00"


async def test_rigid_spending_above_net_income_fires_and_equal_does_not(registry, token, create, settings):
    above, above_head = await ordinary(create)
    equal, equal_head = await ordinary(create)
    for h in (above, equal):
        await income(registry, token, h, YEAR, "12000", expenses="2000")          # net income 10,000.00
    rows = [[above_head, "应急", "灾害损失", "6000", f"{YEAR}-07-20"], [above_head, "教育", "教育支出", "4000.01",
                                                                      f"{YEAR}-09-01"],
            [equal_head, "应急", "灾害损失", "6000", f"{YEAR}-07-20"], [equal_head, "教育", "教育支出", "4000",
                                                                      f"{YEAR}-09-01"]]
    await screen(registry, settings, rows, auth(token()))
    assert await fired(registry, token) == {(above, "rigid_spending")}
    (w,) = (await registry.get("/api/v1/monitoring/warnings", headers=auth(token()))).json()["items"]
    assert w["figures"]["rigid_spending"] == "10000.01" and w["figures"]["net_income"] == "10000.00"


async def test_registered_households_are_not_screened(registry, token, create, settings):
    h, head = await ordinary(create)
    await income(registry, token, h, YEAR, "100")
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            await s.execute(text("UPDATE household SET status = 'registered' WHERE id = :id"), {"id": h})
            await s.commit()
    finally:
        await db.close()
    await screen(registry, settings, [medical(head, "90000")], auth(token()))
    assert await fired(registry, token) == set()


# --- warnings: scope, dismissal, the case link ---------------------------------------------------------------

async def two_warnings(registry, token, create, settings) -> tuple[dict, dict]:
    mine, head = await ordinary(create)
    far, far_head = await ordinary(create, village=OTHER_VILLAGE)
    for h in (mine, far):
        await income(registry, token, h, YEAR, "1000")
    await screen(registry, settings, [medical(head, "900"), medical(far_head, "900")], auth(token()))
    items = (await registry.get("/api/v1/monitoring/warnings?rule=medical_burden",
                                headers=auth(token()))).json()["items"]
    by_household = {w["household_id"]: w for w in items}
    return by_household[mine], by_household[far]


async def test_another_townships_warning_is_404_and_absent(registry, token, create, settings):
    mine, far = await two_warnings(registry, token, create, settings)
    officer = auth(token("township_officer", TOWNSHIP))
    items = (await registry.get("/api/v1/monitoring/warnings", headers=officer)).json()["items"]
    assert {w["household_id"] for w in items} == {mine["household_id"]}
    assert (await registry.get(f"/api/v1/monitoring/warnings/{far['id']}", headers=officer)).status_code == 404
    r = await registry.post(f"/api/v1/monitoring/warnings/{far['id']}/dismiss", json={"reason": "x"}, headers=officer)
    assert r.status_code == 404
    r = await registry.get(f"/api/v1/monitoring/warnings?region={OTHER_TOWNSHIP}", headers=officer)
    assert r.json()["items"] == []
    assert (await registry.get(f"/api/v1/monitoring/warnings/{mine['id']}", headers=officer)).status_code == 200


async def test_dismissal_is_audited_and_the_same_figures_do_not_fire_again(registry, token, create, settings):
    mine, _ = await two_warnings(registry, token, create, settings)
    officer = auth(token("township_officer", TOWNSHIP, sub="u-town"))
    url = f"/api/v1/monitoring/warnings/{mine['id']}/dismiss"
    assert (await registry.post(url, json={"reason": "x"}, headers=auth(token("village_cadre")))).status_code == 403
    r = await registry.post(url, json={"reason": "医疗费用已由大病保险报销"}, headers=officer)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "dismissed" and r.json()["version"] == 2 and r.json()["reason"] == "医疗费用已由大病保险报销"
    assert (await registry.post(url, json={"reason": "again"}, headers=officer)).status_code == 409
    r = await registry.get("/internal/audit/events?entity=monitoring_warning",
                           headers=auth(token("service", "", sub="svc:funds")))
    (event,) = r.json()["items"]
    assert event["action"] == "monitoring_warning.dismiss" and event["actor"] == "u-town"
    assert event["entity_id"] == str(mine["id"]) and event["diff"]["reason"] == "医疗费用已由大病保险报销"
    # the screening run again over the same rows raises nothing new for the dismissed warning
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            scope = Scope(lo="000000000000", hi="999999999999", helper=None, full_pii=True, actor="t", role="t")
            pairs = "SELECT DISTINCT household_id, year FROM screening_row WHERE household_id IS NOT NULL"
            assert await repository.raise_warnings(s, job_id=None, scope=scope, pairs=pairs) == {
                r.code: 0 for r in rules.RULES}
            await s.rollback()
    finally:
        await db.close()


async def test_mark_case_opened_on_an_open_warning_once(registry, token, create, settings):
    mine, _ = await two_warnings(registry, token, create, settings)
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            assert await repository.mark_case_opened(s, warning_id=mine["id"], case_id=41) is True
            assert await repository.mark_case_opened(s, warning_id=mine["id"], case_id=42) is False
            await s.commit()
    finally:
        await db.close()
    r = await registry.get(f"/api/v1/monitoring/warnings/{mine['id']}", headers=auth(token()))
    assert r.json()["status"] == "case_opened" and r.json()["case_id"] == 41 and r.json()["status_label"] == "已立案"
    r = await registry.get("/api/v1/monitoring/warnings?status=open", headers=auth(token()))
    assert mine["id"] not in {w["id"] for w in r.json()["items"]}


# --- bad files -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("filename,content,message", [
    ("rows.csv", "姓名,金额\n马建国,1\n".encode(), "missing 身份证号"),
    ("rows.xlsx", b"PK\x03\x04not really a zip", "not a valid .xlsx"),
    ("rows.csv", "\ufeff身份证号,来源部门,类型,金额,发生日期\n".encode(), "no data rows"),
    ("rows.csv", b"\x00\x01\x02", "NUL"),
])
async def test_bad_files_end_as_a_failed_job_with_a_message(registry, token, regions, settings, filename, content,
                                                           message):
    job = await screen(registry, settings, [], auth(token()), filename=filename, content=content)
    assert job["status"] == "failed" and message in job["message"]


async def test_wrong_uploads_are_422_never_500(registry, token, regions):
    h = auth(token())
    for files in ({"file": ("rows.pdf", b"%PDF-1.4")}, {"file": ("rows.csv", b"")}, {"other": ("a.csv", b"x")}):
        r = await registry.post("/api/v1/monitoring/screenings", files=files, headers=h)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    r = await registry.post("/api/v1/monitoring/screenings", files={"file": ("a.csv", b"x")},
                            headers=auth(token("village_cadre")))
    assert r.status_code == 403
