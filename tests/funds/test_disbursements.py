"""Household payments (CONTRACT §5 到户补贴) end to end with the real registry in-process: a batch checked against
the registry, its 公示 (an upheld objection strikes a line), four-eyes approval committing the money, the bank's
duplicate and contradicting results, and the SMS event for each paid line."""

import asyncio
import json

import asyncpg
import pytest
from sqlalchemy import text

from services.notifications import events
from shared.db import Database, asyncpg_dsn, database_name
from shared.outbox import envelope
from shared.testing import auth, running
from shared.worker import dispatch
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import OTHER_VILLAGE, household, make_regions

FINANCE_B = {"role": "finance_officer", "sub": "u-finance-b"}


@pytest.fixture
async def apps(settings, token):
    from services.funds.app import create as create_funds
    from services.registry.app import create as create_registry
    apps = {"registry": create_registry(settings), "funds": create_funds(settings)}
    async with running(apps, settings) as clients:
        await make_regions(clients["registry"], auth(token()))
        yield clients


async def registered(apps, token, settings, village: str = VILLAGE, status: str = "registered") -> int:
    r = await apps["registry"].post("/api/v1/households", json=household(village), headers=auth(token()))
    assert r.status_code == 201, r.text
    hid = r.json()["id"]
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:    # the registration's own 公示 round trip is tested in the registry; here it has happened
        await conn.execute("UPDATE household SET status = $2, registered_year = 2020 WHERE id = $1", hid, status)
    finally:
        await conn.close()
    return hid


@pytest.fixture
async def allocation(apps, token) -> dict:
    funds = apps["funds"]
    r = await funds.post("/api/v1/fund-sources", headers=auth(token()), json={
        "name": "2020年中央财政专项扶贫资金", "level": "central", "doc_no": "宁财农〔2020〕1号", "year": 2020})
    r = await funds.post("/api/v1/allocations", headers=auth(token()), json={
        "source_id": r.json()["id"], "region_code": TOWNSHIP, "purpose": "industry", "amount": "10000.00",
        "year": 2020, "doc_no": "贺财〔2020〕12号"})
    assert r.status_code == 201, r.text
    return r.json()


async def deliver_to_funds(settings) -> int:
    """What the funds relay and worker do with funds' events addressed to funds itself."""
    from services.funds.worker import HANDLERS
    db = Database(settings, "funds")
    try:
        async with db.sessionmaker() as s:
            rows = (await s.execute(text("SELECT event_id, topic, destinations, payload, created_at FROM outbox "
                                         "WHERE sent_at IS NULL AND 'funds' = ANY(destinations) ORDER BY id"))).all()
            await s.execute(text("UPDATE outbox SET sent_at = now() WHERE 'funds' = ANY(destinations)"))
            await s.commit()
        return sum([await dispatch({"db": db, "settings": settings}, envelope(r, "funds"), HANDLERS) for r in rows])
    finally:
        await db.close()


async def lines_of(funds, d: dict, headers: dict) -> list[dict]:
    r = await funds.get(f"/api/v1/disbursements/{d['id']}/lines", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def batch(apps, token, allocation, lines, **kw) -> dict:
    r = await apps["funds"].post("/api/v1/disbursements", headers=auth(token(**kw)), json={
        "allocation_id": allocation["id"], "title": "2020年产业到户补贴（第一批）", "lines": lines})
    assert r.status_code == 201, r.text
    return r.json()


async def publicized(apps, token, settings, clock, d: dict, objection_on: int | None = None) -> None:
    funds = apps["funds"]
    r = await funds.post(f"/api/v1/disbursements/{d['id']}/publicize", headers=auth(token()), json={"days": 7})
    assert r.status_code == 200, r.text
    notice_id = r.json()["notice_id"]
    if objection_on is not None:
        r = await funds.post(f"/public/notices/{notice_id}/objections", json={
            "contact_name": "村民", "contact_phone": "13800001111", "content": f"{objection_on}户已外出务工多年，不应享受补贴"})
        assert r.status_code == 201, r.text
        objections = (await funds.get(f"/api/v1/notices/{notice_id}/objections", headers=auth(token()))).json()
        r = await funds.post(f"/api/v1/objections/{objections['items'][0]['id']}/resolve", headers=auth(token()),
                             json={"decision": "upheld", "reply": "经核实，取消该户补贴",
                                   "item_refs": [str(objection_on)]})
        assert r.status_code == 200, r.text
    clock.advance(days=8)
    r = await funds.post(f"/api/v1/notices/{notice_id}/close", headers=auth(token()))
    assert r.status_code == 200, r.text
    assert await deliver_to_funds(settings) == 1


async def test_a_payment_batch_from_list_to_bank_results(apps, token, settings, clock, allocation, funds_db):
    funds = apps["funds"]
    a, b, c = [await registered(apps, token, settings) for _ in range(3)]
    d = await batch(apps, token, allocation, [{"household_id": a, "amount": "1500.00", "memo": "养牛补贴"},
                                              {"household_id": b, "amount": "1500.00"},
                                              {"household_id": c, "amount": "800.00"}])
    assert (d["status"], d["total"], d["payable"], d["line_count"]) == ("draft", "3800.00", "3800.00", 3)
    lines = await lines_of(funds, d, auth(token()))
    assert "*" in lines[0]["head_id_number"] and "*" in lines[0]["account_no"]
    assert [x["end_to_end_id"] for x in lines] == [f"JZ-{d['id']}-{x['id']}" for x in lines]

    early = await funds.post(f"/api/v1/disbursements/{d['id']}/approve", headers=auth(token(**FINANCE_B)))
    assert early.status_code == 409                  # not before its 公示 has closed
    await publicized(apps, token, settings, clock, d, objection_on=c)
    d = (await funds.get(f"/api/v1/disbursements/{d['id']}", headers=auth(token()))).json()
    assert d["status"] == "publicized" and d["payable"] == "3000.00"
    assert d["line_counts"] == {"listed": 2, "struck": 1, "paid": 0, "failed": 0}
    assert [x["status"] for x in await lines_of(funds, d, auth(token()))] == ["listed", "listed", "struck"]

    own = await funds.post(f"/api/v1/disbursements/{d['id']}/approve", headers=auth(token()))
    assert own.status_code == 403                    # the creator cannot approve
    r = await funds.post(f"/api/v1/disbursements/{d['id']}/approve", headers=auth(token(**FINANCE_B)))
    assert r.status_code == 200 and r.json()["status"] == "approved"
    alloc = (await funds.get(f"/api/v1/allocations/{allocation['id']}", headers=auth(token()))).json()
    assert (alloc["available"], alloc["committed"]) == ("7000.00", "3000.00")

    r = await funds.post(f"/api/v1/disbursements/{d['id']}/send", headers=auth(token()), json={"bank_code": "NXRCU"})
    assert r.status_code == 200 and r.json()["status"] == "sent"
    bank = auth(token(role="bank", region="640122000000", sub="client-nxrcu", bank="NXRCU"))
    to_pay = (await funds.get(f"/api/v1/bank/disbursements/{d['id']}", headers=bank)).json()
    assert [(x["household_id"], x["account_no"]) for x in to_pay["lines"]] == [
        (a, "6228480012345678901"), (b, "6228480012345678901")]       # full accounts, struck line left out
    assert (to_pay["line_count"], to_pay["control_sum"], to_pay["lines_next_cursor"]) == (2, "3000.00", None)
    staff_lines = await lines_of(funds, d, auth(token()))
    assert [x["end_to_end_id"] for x in to_pay["lines"]] == [f"JZ-{d['id']}-{x['id']}" for x in staff_lines[:2]]

    results = {"lines": [{"household_id": a, "status": "paid", "bank_ref": "NX20200601001"},
                         {"household_id": b, "status": "failed", "reason": "账户已销户"}]}
    r = await funds.post(f"/api/v1/bank/disbursements/{d['id']}/results", json=results,
                         headers=bank | {"Idempotency-Key": "nx-results-1"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done" and [x["outcome"] for x in r.json()["lines"]] == ["applied", "applied"]
    assert (r.json()["applied"], r.json()["unchanged"]) == (2, 0)
    alloc = (await funds.get(f"/api/v1/allocations/{allocation['id']}", headers=auth(token()))).json()
    assert (alloc["available"], alloc["committed"], alloc["spent"]) == ("8500.00", "0.00", "1500.00")

    rows = await funds_db.fetch("SELECT payload FROM outbox WHERE topic = 'payment.paid'")
    [paid] = [json.loads(r["payload"]) for r in rows]
    assert (paid["household_id"], paid["amount"], paid["purpose_label"], paid["head_phone"]) == (
        a, "1500.00", "产业发展", "13951234567")
    assert paid["disbursement_id"] == d["id"] and paid["region_code"] == VILLAGE
    assert paid["end_to_end_id"] == to_pay["lines"][0]["end_to_end_id"]
    sms = events.parse(events.PaymentPaid, {"payload": paid})       # what notifications will read
    assert sms is not None and sms.account_tail == "8901" and str(sms.amount) == "1500.00"


async def test_the_banks_duplicates_and_contradictions(apps, token, settings, clock, allocation):
    funds = apps["funds"]
    a, b = [await registered(apps, token, settings) for _ in range(2)]
    d = await batch(apps, token, allocation, [{"household_id": a, "amount": "100.00"},
                                              {"household_id": b, "amount": "200.00"}])
    await publicized(apps, token, settings, clock, d)
    await funds.post(f"/api/v1/disbursements/{d['id']}/approve", headers=auth(token(**FINANCE_B)))
    await funds.post(f"/api/v1/disbursements/{d['id']}/send", headers=auth(token()), json={"bank_code": "NXRCU"})
    bank = auth(token(role="bank", sub="client-nxrcu", bank="NXRCU"))
    url = f"/api/v1/bank/disbursements/{d['id']}/results"

    no_key = await funds.post(url, headers=bank, json={"lines": [{"household_id": a, "status": "paid"}]})
    assert no_key.status_code == 422
    first = {"lines": [{"household_id": a, "status": "paid", "bank_ref": "R1"}]}
    r1 = await funds.post(url, headers=bank | {"Idempotency-Key": "k1"}, json=first)
    r2 = await funds.post(url, headers=bank | {"Idempotency-Key": "k1"}, json=first)       # the same post again
    assert r1.status_code == r2.status_code == 200 and r1.json() == r2.json()
    again = await funds.post(url, headers=bank | {"Idempotency-Key": "k2"}, json=first)    # a late duplicate
    assert again.status_code == 200 and again.json()["lines"][0]["outcome"] == "unchanged"
    flip = await funds.post(url, headers=bank | {"Idempotency-Key": "k3"}, json={
        "lines": [{"household_id": b, "status": "paid"}, {"household_id": a, "status": "failed"}]})
    assert flip.status_code == 409 and flip.json()["households"] == [a]
    stranger = await funds.post(url, headers=bank | {"Idempotency-Key": "k4"}, json={
        "lines": [{"household_id": 999999, "status": "paid"}]})
    assert stranger.status_code == 422
    d = (await funds.get(f"/api/v1/disbursements/{d['id']}", headers=auth(token()))).json()
    assert [x["status"] for x in await lines_of(funds, d, auth(token()))] == ["paid", "listed"]   # nothing else moved
    assert d["status"] == "sent" and (d["paid"], d["line_counts"]["paid"]) == ("100.00", 1)
    alloc = (await funds.get(f"/api/v1/allocations/{allocation['id']}", headers=auth(token()))).json()
    assert (alloc["committed"], alloc["spent"]) == ("200.00", "100.00")

    other_bank = auth(token(role="bank", sub="client-other", bank="YCBANK"))
    for r in (await funds.get(f"/api/v1/bank/disbursements/{d['id']}", headers=other_bank),
              await funds.post(url, headers=other_bank | {"Idempotency-Key": "x"},
                               json={"lines": [{"household_id": b, "status": "failed"}]})):
        assert r.status_code == 404
    assert (await funds.get("/api/v1/bank/disbursements", headers=other_bank)).json()["items"] == []


async def test_a_batch_is_checked_against_the_registry_and_the_earmark(apps, token, settings, allocation):
    funds = apps["funds"]
    ok = await registered(apps, token, settings)
    pending = await registered(apps, token, settings, status="pending")
    elsewhere = await registered(apps, token, settings, village=OTHER_VILLAGE)
    url = "/api/v1/disbursements"

    def body(lines):
        return {"allocation_id": allocation["id"], "title": "补贴", "lines": lines}

    r = await funds.post(url, headers=auth(token()), json=body([{"household_id": ok, "amount": "1.00"},
                                                                 {"household_id": pending, "amount": "1.00"},
                                                                 {"household_id": 424242, "amount": "1.00"}]))
    assert r.status_code == 422 and [e["msg"] for e in r.json()["errors"]] == ["status_pending", "not_found"]
    r = await funds.post(url, headers=auth(token()), json=body([{"household_id": elsewhere, "amount": "1.00"}]))
    assert r.status_code == 409 and r.json()["type"].endswith("/earmark-violation")
    r = await funds.post(url, headers=auth(token()), json=body([{"household_id": ok, "amount": "1.00"},
                                                                 {"household_id": ok, "amount": "2.00"}]))
    assert r.status_code == 422 and "twice" in r.text
    r = await funds.post(url, headers=auth(token()), json=body([{"household_id": ok, "amount": "10000.01"}]))
    assert r.status_code == 409 and r.json()["type"].endswith("/insufficient-funds")
    r = await funds.post(url, headers=auth(token(role="township_officer", region=OTHER_TOWNSHIP)),
                         json=body([{"household_id": ok, "amount": "1.00"}]))
    assert r.status_code == 404
    assert (await funds.get(url, headers=auth(token()))).json()["items"] == []


async def test_two_approvals_at_once_commit_once(apps, token, settings, clock, allocation):
    funds = apps["funds"]
    a = await registered(apps, token, settings)
    d = await batch(apps, token, allocation, [{"household_id": a, "amount": "600.00"}])
    await publicized(apps, token, settings, clock, d)
    answers = await asyncio.gather(*(funds.post(f"/api/v1/disbursements/{d['id']}/approve",
                                                headers=auth(token(**FINANCE_B))) for _ in range(3)))
    assert sorted(r.status_code for r in answers) == [200, 409, 409]
    alloc = (await funds.get(f"/api/v1/allocations/{allocation['id']}", headers=auth(token()))).json()
    assert (alloc["available"], alloc["committed"]) == ("9400.00", "600.00")
    listed = (await funds.get("/api/v1/disbursements?status=approved", headers=auth(token()))).json()["items"]
    assert [(x["id"], x["line_count"], x["payable"]) for x in listed] == [(d["id"], 1, "600.00")]


async def test_a_withdrawn_notice_puts_the_batch_back_to_draft(apps, token, settings, allocation):
    funds = apps["funds"]
    a = await registered(apps, token, settings)
    d = await batch(apps, token, allocation, [{"household_id": a, "amount": "50.00"}])
    url = f"/api/v1/disbursements/{d['id']}/publicize"
    notice_id = (await funds.post(url, headers=auth(token()))).json()["notice_id"]
    again = await funds.post(f"/api/v1/disbursements/{d['id']}/publicize", headers=auth(token()))
    assert again.json()["notice_id"] == notice_id              # a retried click opens nothing new
    r = await funds.post(f"/api/v1/notices/{notice_id}/withdraw", headers=auth(token()), json={"reason": "金额有误"})
    assert r.status_code == 200, r.text
    assert await deliver_to_funds(settings) == 1
    d = (await funds.get(f"/api/v1/disbursements/{d['id']}", headers=auth(token()))).json()
    assert (d["status"], d["notice_id"]) == ("draft", None)


async def test_a_household_paid_or_committed_for_the_same_purpose_this_year_is_warned(apps, token, settings, clock,
                                                                                       allocation):
    funds = apps["funds"]
    a, b = [await registered(apps, token, settings) for _ in range(2)]
    first = await batch(apps, token, allocation, [{"household_id": a, "amount": "100.00"}])
    await publicized(apps, token, settings, clock, first)
    assert (await funds.post(f"/api/v1/disbursements/{first['id']}/approve",
                             headers=auth(token(**FINANCE_B)))).status_code == 200
    first_line = (await lines_of(funds, first, auth(token())))[0]["id"]

    committed = await batch(apps, token, allocation, [{"household_id": b, "amount": "80.00"},
                                                      {"household_id": a, "amount": "100.00"}])
    [warning] = committed["warnings"]
    second_line = (await lines_of(funds, committed, auth(token())))[1]["id"]
    assert (warning["line_id"], warning["household_id"], warning["earlier_disbursement_id"],
            warning["earlier_line_id"], warning["earlier_status"]) == (second_line, a, first["id"], first_line,
                                                                       "committed")
    assert committed["warning_count"] == 1 and str(first["id"]) in warning["detail"]

    await funds.post(f"/api/v1/disbursements/{first['id']}/send", headers=auth(token()), json={"bank_code": "NXRCU"})
    bank = auth(token(role="bank", sub="client-nxrcu", bank="NXRCU"))
    r = await funds.post(f"/api/v1/bank/disbursements/{first['id']}/results", headers=bank | {"Idempotency-Key": "p"},
                         json={"lines": [{"household_id": a, "status": "paid", "bank_ref": "NX1"}]})
    assert r.status_code == 200
    again = await batch(apps, token, allocation, [{"household_id": a, "amount": "100.00"}])
    assert [(w["household_id"], w["earlier_status"]) for w in again["warnings"]] == [(a, "paid")]
    page = (await funds.get(f"/api/v1/disbursements/{again['id']}/warnings", headers=auth(token()))).json()
    assert [w["earlier_disbursement_id"] for w in page["items"]] == [first["id"]] and page["next_cursor"] is None

    only_drafted = await batch(apps, token, allocation, [{"household_id": b, "amount": "80.00"}])
    assert only_drafted["warnings"] == []           # b is listed only in a batch not yet approved

    async def other_allocation(purpose: str, year: int) -> dict:
        r = await funds.post("/api/v1/allocations", headers=auth(token()), json={
            "source_id": allocation["source_id"], "region_code": TOWNSHIP, "purpose": purpose, "amount": "1000.00",
            "year": year, "doc_no": f"贺财〔{year}〕{purpose}"})
        assert r.status_code == 201, r.text
        return r.json()
    for purpose, year in (("industry", 2021), ("education", 2020)):
        elsewhere = await batch(apps, token, await other_allocation(purpose, year), [{"household_id": a,
                                                                                       "amount": "100.00"}])
        assert (elsewhere["warnings"], elsewhere["warning_count"]) == ([], 0), (purpose, year)


async def test_a_batch_of_more_than_100000_lines_is_refused(apps, token, allocation):
    lines = [{"household_id": n, "amount": "1.00"} for n in range(1, 100_002)]
    r = await apps["funds"].post("/api/v1/disbursements", headers=auth(token()), json={
        "allocation_id": allocation["id"], "title": "超过十万户", "lines": lines})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "lines"]
    assert (await apps["funds"].get("/api/v1/disbursements", headers=auth(token()))).json()["items"] == []


async def test_a_banks_developer_finds_full_examples_in_the_docs(apps):
    spec = (await apps["funds"].get("/openapi.json")).json()
    post = spec["paths"]["/api/v1/bank/disbursements/{disbursement_id}/results"]["post"]
    example = post["requestBody"]["content"]["application/json"]["examples"]["paid_and_failed"]["value"]
    assert {x["status"] for x in example["lines"]} == {"paid", "failed"}
    assert post["responses"]["200"]["content"]["application/json"]["example"]["lines"][0]["outcome"] == "applied"
    for status, slug in (("409", "line-final"), ("422", "validation"), ("404", "not-found"), ("401", "unauthorized")):
        shown = post["responses"][status]["content"]["application/problem+json"]["examples"]
        assert any(e["value"]["type"].endswith("/" + slug) for e in shown.values()), status
    assert "Idempotency-Key" in post["description"] and "end_to_end_id" in post["description"]
    read = spec["paths"]["/api/v1/bank/disbursements/{disbursement_id}"]["get"]
    batch = read["responses"]["200"]["content"]["application/json"]["example"]
    assert {"line_count", "control_sum", "lines_next_cursor"} <= batch.keys()
    assert batch["lines"][0]["end_to_end_id"] == f"JZ-{batch['id']}-{batch['lines'][0]['line_id']}"
    lines = spec["paths"]["/api/v1/bank/disbursements/{disbursement_id}/lines"]["get"]
    assert {p["name"] for p in lines["parameters"]} >= {"limit", "cursor"}
    assert "examples" in lines["responses"]["400"]["content"]["application/problem+json"]


async def test_the_batchs_notice_lists_what_publishing_each_line_would(apps, token, settings, allocation):
    from services.funds.notices.schemas import NoticeItemIn
    from services.funds.notices.service import publish_item
    funds = apps["funds"]
    a = await registered(apps, token, settings)
    head = (await apps["registry"].get(f"/api/v1/households/{a}", headers=auth(token()))).json()["members"][0]
    d = await batch(apps, token, allocation, [{"household_id": a, "amount": "88.50", "memo": "联系人13912345678"}])
    url = f"/api/v1/disbursements/{d['id']}/publicize"
    notice_id = (await funds.post(url, headers=auth(token()))).json()["notice_id"]
    notice = (await funds.get(f"/public/notices/{notice_id}")).json()
    line = (await lines_of(funds, d, auth(token())))[0]
    expected = publish_item(NoticeItemIn(ref=str(a), name=head["name"], id_number=head["id_number"], amount="88.50",
                                         household_no=line["household_no"], purpose="产业发展", memo="联系人13912345678"))
    assert notice["items"] == [expected] and "139****5678" in expected["memo"]
    assert (notice["region_name"], notice["amount_total"], notice["kind"]) == ("洪广镇", "88.50", "disbursement")
