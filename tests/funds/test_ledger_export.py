"""台账 (CONTRACT §5): one sheet per allocation, from its 文号 to each payee, opening + movements = closing, names
masked for the roles that may not see them, in the caller's region only."""

import io
import tempfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import load_workbook

from shared.testing import auth
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.funds.test_alerts import backdate_entries
from tests.funds.test_disbursements import FINANCE_B, apps, batch, publicized, registered  # noqa: F401

CHINA = timezone(timedelta(hours=8))
YEAR = datetime.now(CHINA).year
AUDITOR = {"role": "auditor", "sub": "u-auditor"}
FINANCE = {"role": "finance_officer", "sub": "u-finance"}


@pytest.fixture
async def year_of_money(apps, token, settings, clock, funds_db):  # noqa: F811
    """An allocation made last year (10,000.00), and this year: a project funded with 3,000.00 that paid its
    contractor 1,000.00, and a household batch that paid two households 1,500.00 and 800.00."""
    funds = apps["funds"]
    source = (await funds.post("/api/v1/fund-sources", headers=auth(token()), json={
        "name": "中央财政专项扶贫资金", "level": "central", "doc_no": "宁财农〔2020〕1号", "year": YEAR - 1})).json()
    r = await funds.post("/api/v1/allocations", headers=auth(token()), json={
        "source_id": source["id"], "region_code": TOWNSHIP, "purpose": "industry", "amount": "10000.00",
        "year": YEAR - 1, "doc_no": "贺财〔2020〕12号"})
    assert r.status_code == 201, r.text
    allocation = r.json()
    days = (datetime.now(CHINA) - datetime(YEAR - 1, 7, 1, tzinfo=CHINA)).days
    await backdate_entries(funds_db, f"allocation:{allocation['id']}", days)

    p = (await funds.post("/api/v1/projects", headers=auth(token()), json={
        "name": "欣荣村肉牛养殖基地", "purpose": "industry", "village_code": VILLAGE, "budget": "30000.00",
        "beneficiary_household_ids": []})).json()
    for action in ("approve", "start"):
        assert (await funds.post(f"/api/v1/projects/{p['id']}/transitions", headers=auth(token()),
                                 json={"action": action})).status_code == 200
    assert (await funds.post(f"/api/v1/projects/{p['id']}/fundings", headers=auth(token()),
                             json={"allocation_id": allocation["id"], "amount": "3000.00"})).status_code == 201
    assert (await funds.post(f"/api/v1/projects/{p['id']}/payments", headers=auth(token()), json={
        "amount": "1000.00", "payee": "贺兰县建工公司", "stage": "advance"})).status_code == 201

    a, b = await registered(apps, token, settings), await registered(apps, token, settings)
    d = await batch(apps, token, allocation, [{"household_id": a, "amount": "1500.00"},
                                              {"household_id": b, "amount": "800.00"}])
    await publicized(apps, token, settings, clock, d)
    assert (await funds.post(f"/api/v1/disbursements/{d['id']}/approve", headers=auth(token(**FINANCE_B)))
            ).status_code == 200
    assert (await funds.post(f"/api/v1/disbursements/{d['id']}/send", headers=auth(token()),
                             json={"bank_code": "NXRCU"})).status_code == 200
    bank = auth(token(role="bank", sub="client-nxrcu", bank="NXRCU")) | {"Idempotency-Key": "ledger-results"}
    r = await funds.post(f"/api/v1/bank/disbursements/{d['id']}/results", headers=bank, json={"lines": [
        {"household_id": a, "status": "paid", "bank_ref": "NX001"}, {"household_id": b, "status": "paid",
                                                                      "bank_ref": "NX002"}]})
    assert r.status_code == 200, r.text
    lines = (await funds.get(f"/api/v1/disbursements/{d['id']}/lines", headers=auth(token()))).json()["items"]
    numbers = [x["household_no"] for x in sorted(lines, key=lambda x: x["household_id"])]
    return {"allocation": allocation, "project": p, "batch": d, "household_nos": numbers}


async def export(funds, token, **params):
    who = {k: params.pop(k) for k in ("role", "region_code", "sub") if k in params}
    if "region_code" in who:
        who["region"] = who.pop("region_code")
    return await funds.get("/api/v1/exports/ledger.xlsx", params=params, headers=auth(token(**who)))


def workbook(response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    return load_workbook(io.BytesIO(response.content))


def table(ws) -> dict:
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    head = {r[0]: r[1] for r in rows if r and isinstance(r[0], str) and len(r) > 1 and r[1] is not None}
    start = next(i for i, r in enumerate(rows) if r[0] == "日期")
    body = rows[start + 1:]
    return {"head": head, "header": rows[start], "opening": body[0],
            "moves": [r for r in body[1:] if r[2] not in ("本年合计", "期末余额（年底结帐）", "核对")],
            "totals": next(r for r in body if r[2] == "本年合计"),
            "closing": next(r for r in body if r[2] == "期末余额（年底结帐）"),
            "check": next(r for r in body if r[2] == "核对")}


def money(v) -> Decimal:
    return Decimal(str(v or 0)).quantize(Decimal("0.01"))


async def test_the_ledger_of_a_year_ties_out_from_the_opening_balance(apps, token, year_of_money):  # noqa: F811
    wb = workbook(await export(apps["funds"], token, year=YEAR, **FINANCE))
    allocation = year_of_money["allocation"]
    assert wb.sheetnames[0] == "汇总" and len(wb.sheetnames) == 2
    title = wb.sheetnames[1]
    assert title.startswith(f"{allocation['id']} 产业发展") and len(title) <= 31
    t = table(wb[title])
    assert t["head"]["资金来源"] == "中央财政专项扶贫资金" and t["head"]["来源级次"] == "中央"
    assert t["head"]["来源文号"] == "宁财农〔2020〕1号" and t["head"]["下达文号"] == "贺财〔2020〕12号"
    assert t["head"]["资金用途"] == "产业发展" and t["head"]["所属区域"] == f"洪广镇（{TOWNSHIP}）"
    assert money(t["head"]["下达金额"]) == Decimal("10000.00")

    # opening: last year's 下达, nothing used yet
    assert [money(v) for v in t["opening"][8:11]] == [Decimal("10000.00"), 0, 0]
    entries = [r for r in t["moves"] if r[3] != "到户"]
    lines = [r for r in t["moves"] if r[3] == "到户"]
    assert [r[3] for r in entries] == ["占用", "支出", "占用", "支出"]
    assert [r[0][:4] for r in entries] == [str(YEAR)] * 4
    assert entries[1][5] == "贺兰县建工公司（项目：欣荣村肉牛养殖基地）"
    assert entries[2][5].startswith("到户补贴：2020年产业到户补贴（第一批）")
    assert [money(r[7]) for r in entries] == [0, Decimal("1000.00"), 0, Decimal("2300.00")]

    # every balance follows from the one before it, and the last one is the closing balance
    balance = [money(v) for v in t["opening"][8:11]]
    for r in entries:
        after = [money(v) for v in r[8:11]]
        unspent_change = (after[0] + after[1]) - (balance[0] + balance[1])
        assert unspent_change == money(r[6]) - money(r[7])
        balance = after
    closing = [money(v) for v in t["closing"][8:11]]
    assert balance == closing == [Decimal("4700.00"), Decimal("2000.00"), Decimal("3300.00")]
    opening_unspent = money(t["opening"][8]) + money(t["opening"][9])
    assert opening_unspent + money(t["totals"][6]) - money(t["totals"][7]) == closing[0] + closing[1]
    assert "相符" in t["check"][5] and "不符" not in t["check"][5]

    # the batch's payment is followed by the households it paid, and they add up to it
    assert [money(r[11]) for r in lines] == [Decimal("1500.00"), Decimal("800.00")]
    assert sum(money(r[11]) for r in lines) == money(entries[3][7])
    assert t["moves"].index(lines[0]) == t["moves"].index(entries[3]) + 1

    summary = [list(r) for r in wb["汇总"].iter_rows(values_only=True)]
    [row] = [r for r in summary if r[0] == title]
    assert [money(v) for v in row[9:13]] == [Decimal("10000.00"), Decimal("6700.00"), 0, Decimal("3300.00")]
    assert not list(Path(tempfile.gettempdir()).glob("jz-ledger-*"))     # the workbook left no file behind


async def test_household_names_are_masked_for_roles_that_may_not_see_them(apps, token, year_of_money):  # noqa: F811
    numbers = year_of_money["household_nos"]
    for who, name in ((AUDITOR, "马**"), (FINANCE, "马**"), ({}, "马建国")):
        wb = workbook(await export(apps["funds"], token, year=YEAR, **who))
        t = table(wb[wb.sheetnames[1]])
        payees = [r[5] for r in t["moves"] if r[3] == "到户"]
        assert payees == [f"户编号 {n} {name}（{VILLAGE}）" for n in numbers], who
        cells = " ".join(str(c) for r in wb[wb.sheetnames[1]].iter_rows(values_only=True) for c in r if c)
        assert ("马建国" in cells) == (name == "马建国")


async def test_a_year_or_region_without_money_gives_a_summary_saying_so(apps, token, year_of_money):  # noqa: F811
    for params in ({"year": YEAR - 5}, {"year": YEAR, "region": OTHER_TOWNSHIP}):
        wb = workbook(await export(apps["funds"], token, **params))
        assert wb.sheetnames == ["汇总"]
        text = " ".join(str(c) for r in wb["汇总"].iter_rows(values_only=True) for c in r if c)
        assert "没有资金往来" in text
    # last year: the 下达 only, carried into this year
    wb = workbook(await export(apps["funds"], token, year=YEAR - 1))
    t = table(wb[wb.sheetnames[1]])
    assert [r[3] for r in t["moves"]] == ["下达"] and t["moves"][0][5] == "中央财政专项扶贫资金（中央）"
    assert [money(v) for v in t["closing"][8:11]] == [Decimal("10000.00"), 0, 0]


async def test_the_ledger_is_of_the_callers_region_and_roles(apps, token, year_of_money):  # noqa: F811
    funds = apps["funds"]
    township_finance = {"role": "finance_officer", "region_code": OTHER_TOWNSHIP, "sub": "u-fin-jingui"}
    r = await export(funds, token, year=YEAR, region=TOWNSHIP, **township_finance)
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
    assert (await export(funds, token, year=YEAR, region="640121000000")).status_code == 404
    r = await export(funds, token, year=YEAR, **township_finance)          # its own region: nothing of 洪广镇
    assert workbook(r).sheetnames == ["汇总"]
    officer = {"role": "township_officer", "region_code": TOWNSHIP, "sub": "u-township"}
    assert (await export(funds, token, year=YEAR, **officer)).status_code == 403


@pytest.mark.parametrize("year", ["abc", "1999", "2101", "2020.5", "-2020", "99999999999999999999"])
async def test_a_forged_year_is_422(apps, token, year):  # noqa: F811
    r = await export(apps["funds"], token, year=year)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["query", "year"]


async def test_the_year_defaults_to_this_one(apps, token, year_of_money):  # noqa: F811
    r = await export(apps["funds"], token)
    assert f"ledger-640122000000-{YEAR}.xlsx" in r.headers["content-disposition"]
    assert len(workbook(r).sheetnames) == 2


async def test_a_purpose_change_shows_on_both_allocations_sheets(apps, token, year_of_money):  # noqa: F811
    funds = apps["funds"]
    old = year_of_money["allocation"]["id"]
    r = await funds.post(f"/api/v1/allocations/{old}/adjustments", headers=auth(token()),
                         json={"to_purpose": "education", "amount": "700.00", "reason": "产业项目结余调入教育扶贫"})
    assert r.status_code == 201, r.text
    r = await funds.post(f"/api/v1/adjustments/{r.json()['id']}/approve", headers=auth(token(sub="u-admin-2")))
    assert r.status_code == 200, r.text
    new = r.json()["new_allocation_id"]
    wb = workbook(await export(funds, token, year=YEAR, **AUDITOR))
    assert len(wb.sheetnames) == 3 and len(set(wb.sheetnames)) == 3
    out = table(wb[next(n for n in wb.sheetnames if n.startswith(f"{old} "))])
    into = table(wb[next(n for n in wb.sheetnames if n.startswith(f"{new} "))])
    [moved_out] = [r for r in out["moves"] if r[3] == "调项"]
    [moved_in] = [r for r in into["moves"] if r[3] == "调项"]
    assert moved_out[5] == f"调往第 {new} 号拨款（教育扶贫）" and money(moved_out[7]) == Decimal("700.00")
    assert moved_in[5] == f"调自第 {old} 号拨款（产业发展）" and money(moved_in[6]) == Decimal("700.00")
    assert [money(v) for v in into["opening"][8:11]] == [0, 0, 0]
    assert [money(v) for v in into["closing"][8:11]] == [Decimal("700.00"), 0, 0]
    assert "不符" not in out["check"][5] and "不符" not in into["check"][5]
