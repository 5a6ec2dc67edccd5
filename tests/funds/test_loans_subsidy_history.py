"""贴息 by the household's status on each day (the registry's status history): registering a household later pays
no interest for the days before; a household removed stops accruing; the registry's history endpoint."""

from datetime import datetime

import asyncpg

from shared.db import asyncpg_dsn, database_name
from shared.testing import auth, make_token
from tests.conftest import TOWNSHIP
from tests.funds.test_disbursements import apps, registered  # noqa: F401  (fixtures)
from tests.funds.test_loans import event, head_id, post  # noqa: F401  (fixtures)

URL = "/api/v1/loans/interest-subsidies"


async def moved(settings, hid: int, *moves: tuple[str, str, str]) -> None:
    """Status moves as the registry's lifecycle records them (status_change), each at its own moment."""
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:
        for from_status, to_status, at in moves:
            await conn.execute(
                "INSERT INTO status_change (household_id, village_code, persons, action, from_status, to_status,"
                " year, actor, at) SELECT id, village_code, member_count, 'test', $2, $3, 2020, 'u-test',"
                " $4::timestamptz FROM household WHERE id = $1", hid, from_status, to_status, datetime.fromisoformat(at))
            await conn.execute("UPDATE household SET status = $2 WHERE id = $1", hid, to_status)
    finally:
        await conn.close()


async def allocation(apps, token, purpose: str = "loan_interest", amount: str = "1000.00") -> int:  # noqa: F811
    funds = apps["funds"]
    source = (await funds.post("/api/v1/fund-sources", headers=auth(token()), json={
        "name": "贴息资金", "level": "county", "doc_no": "贺财〔2020〕3号", "year": 2020})).json()["id"]
    r = await funds.post("/api/v1/allocations", headers=auth(token()), json={
        "source_id": source, "region_code": TOWNSHIP, "purpose": purpose, "amount": amount, "year": 2020,
        "doc_no": "贺财〔2020〕4号"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_a_household_registered_later_gets_no_back_interest(apps, token, settings):  # noqa: F811
    """36,000.00 at 3.6% is 3.60 a day. Registered on 16 January, removed (清退) on 28 January: 12 days."""
    hid = await registered(apps, token, settings, status="pending")
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    await conn.execute("UPDATE household SET registered_year = NULL WHERE id = $1", hid)
    await conn.close()
    borrower = {"id_number": await head_id(apps, token, hid)}
    await post(apps, token, event(borrower, "h1", "issued", "2020-01-01T09:00:00+08:00", amount="36000.00",
                                  rate="0.036", term_months=12))
    alloc = await allocation(apps, token)
    before = await apps["funds"].post(URL, headers=auth(token()), json={
        "period_start": "2020-01-01", "period_end": "2020-01-10", "allocation_id": alloc})
    assert before.status_code == 200 and before.json()["lines"] == []      # pending then: nothing

    await moved(settings, hid, ("pending", "registered", "2020-01-16T15:00:00+08:00"),
                ("registered", "removed", "2020-01-28T10:00:00+08:00"))
    january = await apps["funds"].post(URL, headers=auth(token()), json={
        "period_start": "2020-01-01", "period_end": "2020-02-29", "allocation_id": alloc})
    assert january.status_code == 200, january.text
    assert january.json()["lines"] == [{"loan_no": "NX2020-0001", "days": 12, "amount": "43.20"}]
    assert january.json()["total"] == "43.20"
    a = (await apps["funds"].get(f"/api/v1/allocations/{alloc}", headers=auth(token()))).json()
    assert (a["spent"], a["available"]) == ("43.20", "956.80")


async def test_the_registry_says_each_households_status_over_time(apps, token, settings):  # noqa: F811
    old = await registered(apps, token, settings)                # imported as registered in 2020, no move since
    new = await registered(apps, token, settings, status="pending")
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    await conn.execute("UPDATE household SET registered_year = NULL WHERE id = $1", new)
    await conn.close()
    await moved(settings, old, ("registered", "exited", "2021-06-30T12:00:00+08:00"))
    await moved(settings, new, ("pending", "registered", "2020-03-02T09:00:00+08:00"),
                ("registered", "exited", "2020-03-02T17:00:00+08:00"))
    service = auth(make_token(settings, role="service", region="", sub="svc:funds"))
    r = await apps["registry"].post("/internal/households/status-history", headers=service,
                                    json={"household_ids": [new, old, 99999]})
    assert r.status_code == 200, r.text
    got = {x["household_id"]: x["intervals"] for x in r.json()["items"]}
    assert got[old] == [{"status": "registered", "from": "2020-01-01", "to": "2021-06-30"},
                        {"status": "exited", "from": "2021-06-30", "to": None}]
    # two moves on one day: the last counts; the pending before them had no day of its own
    assert got[new] == [{"status": "exited", "from": "2020-03-02", "to": None}]
    assert 99999 not in got
    staff = await apps["registry"].post("/internal/households/status-history", headers=auth(token()),
                                        json={"household_ids": [old]})
    assert staff.status_code == 403
