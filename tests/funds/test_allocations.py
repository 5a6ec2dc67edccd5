"""Allocations, 调项 and the ledger (CONTRACT §5): earmarked money that only moves through balanced entries."""

import asyncio
from decimal import Decimal

import asyncpg
import pytest

from shared.db import asyncpg_dsn, database_name
from shared.testing import auth, running
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import make_regions

ADMIN_B = {"sub": "u-admin-b"}


@pytest.fixture
async def stack(settings, token):
    from services.funds.app import create as create_funds
    from services.registry.app import create as create_registry
    apps = {"registry": create_registry(settings), "funds": create_funds(settings)}
    async with running(apps, settings) as clients:
        await make_regions(clients["registry"], auth(token()))
        yield clients["funds"]


@pytest.fixture
async def source(stack, token) -> int:
    r = await stack.post("/api/v1/fund-sources", headers=auth(token()), json={
        "name": "2020年中央财政专项扶贫资金", "level": "central", "doc_no": "宁财农〔2020〕1号", "year": 2020})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def allocation(source: int, **kw) -> dict:
    return {"source_id": source, "region_code": TOWNSHIP, "purpose": "industry", "amount": "1000.00", "year": 2020,
            "doc_no": "贺财〔2020〕12号"} | kw


async def entries(stack, token, aid: int, **params) -> list[dict]:
    r = await stack.get(f"/api/v1/allocations/{aid}/entries", params=params, headers=auth(token()))
    assert r.status_code == 200, r.text
    return r.json()["items"]


def own(items: list[dict], aid: int) -> list[tuple[str, str, str]]:
    """The allocation's side of each entry: (entry kind, account, amount)."""
    return [(e["kind"], x["account"], x["amount"]) for e in items for x in e["lines"] if x["allocation_id"] == aid]


async def allocate(stack, token, source: int, **kw) -> dict:
    r = await stack.post("/api/v1/allocations", json=allocation(source, **kw), headers=auth(token()))
    assert r.status_code == 201, r.text
    return r.json()


async def test_an_allocation_holds_its_money_on_the_ledger(stack, token, source):
    a = await allocate(stack, token, source)
    assert (a["amount"], a["available"], a["committed"], a["spent"], a["granted"]) == (
        "1000.00", "1000.00", "0.00", "0.00", "1000.00")
    assert a["purpose_label"] == "产业发展" and a["region_code"] == TOWNSHIP
    r = await stack.get(f"/api/v1/allocations/{a['id']}", headers=auth(token(role="finance_officer")))
    assert r.status_code == 200 and r.json()["available"] == "1000.00" and r.headers["etag"]
    items = await entries(stack, token, a["id"])
    assert [(e["kind"], e["kind_label"]) for e in items] == [("allocate", "下达")]
    assert [(x["account"], x["account_label"], x["allocation_id"], x["source_id"], x["amount"])
            for x in items[0]["lines"]] == [("source", "资金来源", None, source, "-1000.00"),
                                            ("available", "可用", a["id"], source, "1000.00")]


async def test_a_retried_allocation_creates_one(stack, token, source):
    headers = auth(token()) | {"Idempotency-Key": "alloc-2020-12"}
    first = await stack.post("/api/v1/allocations", json=allocation(source), headers=headers)
    again = await stack.post("/api/v1/allocations", json=allocation(source), headers=headers)
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    listed = (await stack.get(f"/api/v1/allocations?region={COUNTY}", headers=auth(token()))).json()["items"]
    assert len(listed) == 1


@pytest.mark.parametrize("region, why", [
    ("640122100999", "No such region"),          # a well-formed code the registry does not have
    ("640121000000", "outside your own region"),
    ("12345", "12 digits"),
])
async def test_money_goes_only_to_real_regions_inside_ones_own(stack, token, source, region, why):
    r = await stack.post("/api/v1/allocations", json=allocation(source, region_code=region), headers=auth(token()))
    assert r.status_code == 422, r.text
    assert why in r.text


async def test_bad_amounts_and_purposes_are_422(stack, token, source):
    for bad in ({"amount": "0"}, {"amount": "-5.00"}, {"amount": "1.005"}, {"purpose": "banquets"},
                {"source_id": 0}):
        r = await stack.post("/api/v1/allocations", json=allocation(source, **bad), headers=auth(token()))
        assert r.status_code == 422, (bad, r.text)
        assert r.headers["content-type"] == "application/problem+json"


async def test_other_regions_and_roles_see_nothing(stack, token, source):
    a = await allocate(stack, token, source)
    other = await stack.get(f"/api/v1/allocations/{a['id']}",
                            headers=auth(token(role="township_officer", region=OTHER_TOWNSHIP)))
    assert other.status_code == 404
    village = await stack.get(f"/api/v1/allocations/{a['id']}", headers=auth(token(role="village_cadre",
                                                                                     region=VILLAGE)))
    assert village.status_code == 200            # the township's money is visible to its villages
    bank = await stack.get(f"/api/v1/allocations/{a['id']}", headers=auth(token(role="bank", bank="nsh")))
    assert bank.status_code == 403
    officer = await stack.post("/api/v1/allocations", json=allocation(source),
                               headers=auth(token(role="township_officer", region=TOWNSHIP)))
    assert officer.status_code == 403


async def test_a_purpose_change_needs_a_second_county_admin(stack, token, source):
    a = await allocate(stack, token, source)
    r = await stack.post(f"/api/v1/allocations/{a['id']}/adjustments", headers=auth(token()),
                         json={"to_purpose": "education", "amount": "400.00", "reason": "产业项目结余调整用于教育资助"})
    assert r.status_code == 201, r.text
    adj = r.json()
    assert (adj["status"], adj["from_purpose"], adj["to_purpose"]) == ("proposed", "industry", "education")
    assert (await stack.get(f"/api/v1/allocations/{a['id']}", headers=auth(token()))).json()["available"] == "1000.00"

    by_proposer = await stack.post(f"/api/v1/adjustments/{adj['id']}/approve", headers=auth(token()))
    assert by_proposer.status_code == 403
    finance = await stack.post(f"/api/v1/adjustments/{adj['id']}/approve", headers=auth(token(role="finance_officer")))
    assert finance.status_code == 403
    r = await stack.post(f"/api/v1/adjustments/{adj['id']}/approve", headers=auth(token(**ADMIN_B)))
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "approved" and done["decided_by"] == "u-admin-b"
    old = (await stack.get(f"/api/v1/allocations/{a['id']}", headers=auth(token()))).json()
    new = (await stack.get(f"/api/v1/allocations/{done['new_allocation_id']}", headers=auth(token()))).json()
    assert (old["purpose"], old["available"], old["amount"]) == ("industry", "600.00", "600.00")
    assert (new["purpose"], new["available"], new["region_code"], new["source_id"], new["year"]) == (
        "education", "400.00", TOWNSHIP, source, 2020)
    assert new["adjustment_id"] == adj["id"]
    again = await stack.post(f"/api/v1/adjustments/{adj['id']}/approve", headers=auth(token(sub="u-admin-c")))
    assert again.status_code == 409
    items = await entries(stack, token, a["id"])
    assert [(k, amount) for k, _, amount in own(items, a["id"])] == [("allocate", "1000.00"), ("adjust", "-400.00")]
    assert [(x["account"], x["allocation_id"], x["amount"]) for x in items[1]["lines"]] == [
        ("available", a["id"], "-400.00"), ("available", new["id"], "400.00")]       # both sides of the 调项


async def test_adjustments_are_checked(stack, token, source):
    a = await allocate(stack, token, source)
    url = f"/api/v1/allocations/{a['id']}/adjustments"
    same = await stack.post(url, headers=auth(token()), json={"to_purpose": "industry", "amount": "1.00",
                                                               "reason": "同项"})
    assert same.status_code == 422
    too_much = await stack.post(url, headers=auth(token()), json={"to_purpose": "health", "amount": "1000.01",
                                                                   "reason": "超额调项"})
    assert too_much.status_code == 409 and too_much.json()["type"].endswith("/insufficient-funds")
    r = await stack.post(url, headers=auth(token()), json={"to_purpose": "health", "amount": "10.00", "reason": "撤回"})
    rejected = await stack.post(f"/api/v1/adjustments/{r.json()['id']}/reject", headers=auth(token()),
                                json={"reason": "proposer withdraws"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert (await stack.post(f"/api/v1/adjustments/{r.json()['id']}/approve",
                             headers=auth(token(**ADMIN_B)))).status_code == 409
    pending = (await stack.get("/api/v1/adjustments?status=proposed", headers=auth(token()))).json()["items"]
    assert pending == []


async def test_concurrent_approvals_never_overdraw(stack, token, source):
    """Five proposals of 300.00 each fit the 1000.00 one at a time; approved all at once, three go through."""
    a = await allocate(stack, token, source)
    ids = []
    for purpose in ("education", "health", "housing", "training", "employment"):
        r = await stack.post(f"/api/v1/allocations/{a['id']}/adjustments", headers=auth(token()),
                             json={"to_purpose": purpose, "amount": "300.00", "reason": "并发调项"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    answers = await asyncio.gather(*(stack.post(f"/api/v1/adjustments/{i}/approve", headers=auth(token(**ADMIN_B)))
                                     for i in ids))
    codes = sorted(r.status_code for r in answers)
    assert codes == [200, 200, 200, 409, 409], [r.text for r in answers]
    assert all(r.json()["type"].endswith("/insufficient-funds") for r in answers if r.status_code == 409)
    assert (await stack.get(f"/api/v1/allocations/{a['id']}", headers=auth(token()))).json()["available"] == "100.00"


async def test_a_mistaken_allocation_is_reversed_not_edited(stack, token, source):
    a = await allocate(stack, token, source, amount="2500.00")
    r = await stack.post(f"/api/v1/allocations/{a['id']}/reversal", headers=auth(token()),
                         json={"reason": "金额录入错误"})
    assert r.status_code == 200, r.text
    assert (r.json()["amount"], r.json()["available"], r.json()["granted"]) == ("0.00", "0.00", "2500.00")
    items = await entries(stack, token, a["id"])
    assert [(k, amount) for k, _, amount in own(items, a["id"])] == [("allocate", "2500.00"), ("reverse", "-2500.00")]
    assert items[1]["reverses_id"] == items[0]["entry_id"]
    assert [(x["account"], x["amount"]) for x in items[1]["lines"]] == [("source", "2500.00"),
                                                                        ("available", "-2500.00")]
    again = await stack.post(f"/api/v1/allocations/{a['id']}/reversal", headers=auth(token()), json={"reason": "再次"})
    assert again.status_code == 409


async def test_money_already_moved_cannot_be_reversed(stack, token, source):
    a = await allocate(stack, token, source)
    adj = (await stack.post(f"/api/v1/allocations/{a['id']}/adjustments", headers=auth(token()),
                            json={"to_purpose": "education", "amount": "1.00", "reason": "调项"})).json()
    assert (await stack.post(f"/api/v1/adjustments/{adj['id']}/approve",
                             headers=auth(token(**ADMIN_B)))).status_code == 200
    r = await stack.post(f"/api/v1/allocations/{a['id']}/reversal", headers=auth(token()), json={"reason": "冲正"})
    assert r.status_code == 409 and r.json()["type"].endswith("/insufficient-funds")
    assert (await stack.get(f"/api/v1/allocations/{a['id']}", headers=auth(token()))).json()["available"] == "999.00"


async def test_the_database_refuses_unbalanced_edited_or_cross_purpose_entries(stack, token, source, settings):
    """Behind the service's back: the rules hold in PostgreSQL itself."""
    a = await allocate(stack, token, source)
    b = await allocate(stack, token, source, purpose="health")
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    try:
        acc = {(r["allocation_id"], r["kind"]): r["id"] for r in await conn.fetch(
            "SELECT id, allocation_id, kind FROM ledger_account WHERE allocation_id IS NOT NULL")}

        async def entry(kind: str, lines: list[tuple[int, int]]) -> None:
            async with conn.transaction():
                eid = await conn.fetchval("INSERT INTO ledger_entry (kind, ref, actor) VALUES ($1, 'x', 'rogue') "
                                          "RETURNING id", kind)
                for account, amount in lines:
                    await conn.execute("INSERT INTO ledger_line (entry_id, account_id, amount) VALUES ($1, $2, $3)",
                                       eid, account, amount)

        with pytest.raises(asyncpg.CheckViolationError, match="does not balance"):
            await entry("commit", [(acc[(a["id"], "available")], -100), (acc[(a["id"], "committed")], 99)])
        with pytest.raises(asyncpg.CheckViolationError, match="across purposes"):
            await entry("commit", [(acc[(a["id"], "available")], -100), (acc[(b["id"], "committed")], 100)])
        with pytest.raises(asyncpg.CheckViolationError, match="ck_ledger_account_balance"):
            await entry("commit", [(acc[(a["id"], "available")], -100001), (acc[(a["id"], "committed")], 100001)])
        with pytest.raises(asyncpg.CheckViolationError, match="append-only"):
            await conn.execute("UPDATE ledger_line SET amount = amount * 2")
        with pytest.raises(asyncpg.CheckViolationError, match="append-only"):
            await conn.execute("DELETE FROM ledger_entry")
        with pytest.raises(asyncpg.CheckViolationError, match="only through ledger lines"):
            await conn.execute("UPDATE ledger_account SET balance = balance + 100000 WHERE kind = 'available'")
        with pytest.raises(asyncpg.CheckViolationError, match="never changes owner"):
            await conn.execute("UPDATE ledger_account SET purpose = 'health' WHERE kind = 'available'")
        with pytest.raises(asyncpg.CheckViolationError, match="append-only"):
            await conn.execute("DELETE FROM ledger_account")
        await entry("commit", [(acc[(a["id"], "available")], -100), (acc[(a["id"], "committed")], 100)])
        assert await conn.fetchval("SELECT balance FROM ledger_account WHERE id = $1",
                                   acc[(a["id"], "committed")]) == 100
    finally:
        await conn.close()
    r = (await stack.get(f"/api/v1/allocations/{a['id']}", headers=auth(token()))).json()
    assert (r["available"], r["committed"], r["amount"]) == ("999.00", "1.00", "1000.00")


async def test_entries_show_both_sides_a_page_at_a_time(stack, token, source):
    """Each entry of an allocation's 台账 carries all its lines, so a client can check that each one balances."""
    a = await allocate(stack, token, source)
    for n in range(4):
        r = await stack.post(f"/api/v1/allocations/{a['id']}/adjustments", headers=auth(token()),
                             json={"to_purpose": "education", "amount": f"{n + 1}.00", "reason": f"调项{n}"})
        assert (await stack.post(f"/api/v1/adjustments/{r.json()['id']}/approve",
                                 headers=auth(token(**ADMIN_B)))).status_code == 200
    seen, cursor = [], None
    while True:
        r = await stack.get(f"/api/v1/allocations/{a['id']}/entries", params={"limit": 2} | (
            {"cursor": cursor} if cursor else {}), headers=auth(token()))
        assert r.status_code == 200, r.text
        seen += r.json()["items"]
        assert len(r.json()["items"]) <= 2
        if not (cursor := r.json()["next_cursor"]):
            break
    assert [e["kind"] for e in seen] == ["allocate", "adjust", "adjust", "adjust", "adjust"]
    assert len({e["entry_id"] for e in seen}) == 5
    for e in seen:
        assert sum(Decimal(x["amount"]) for x in e["lines"]) == 0, e
        assert len(e["lines"]) == 2
    assert own(seen, a["id"])[-1] == ("adjust", "available", "-4.00")
    forged = await stack.get(f"/api/v1/allocations/{a['id']}/entries", params={"cursor": "eyJpZCI6ImEifQ"},
                             headers=auth(token()))
    assert forged.status_code == 400 and forged.headers["content-type"] == "application/problem+json"


async def test_a_refused_allocation_does_not_burn_its_key(stack, token, source):
    """The key is claimed before the region is checked: the refusal rolls the claim back, a corrected retry is
    refused the same way (not 'still being processed'), and another body under the key is then accepted."""
    headers = auth(token()) | {"Idempotency-Key": "alloc-refused"}
    wrong = allocation(source, region_code="640122100999")
    first = await stack.post("/api/v1/allocations", json=wrong, headers=headers)
    again = await stack.post("/api/v1/allocations", json=wrong, headers=headers)
    assert first.status_code == again.status_code == 422, again.text
    fixed = await stack.post("/api/v1/allocations", json=allocation(source), headers=headers)
    assert fixed.status_code == 201, fixed.text


async def test_fund_sources_are_listed_as_they_are_read(stack, token):
    """One rule for both: the caller's subtree and the regions above it (a city's source reaches its villages)."""
    ids = {}
    for region in ("640100000000", COUNTY, "640121000000"):         # the city, this county, a neighbouring one
        r = await stack.post("/api/v1/fund-sources", headers=auth(token(region=region)), json={
            "name": f"专项资金 {region}", "level": "municipal", "doc_no": f"文号{region}", "year": 2020})
        assert r.status_code == 201, r.text
        ids[region] = r.json()["id"]
    officer = auth(token(role="finance_officer", region=TOWNSHIP, sub="u-fin"))
    listed = (await stack.get("/api/v1/fund-sources", headers=officer)).json()["items"]
    assert {s["id"] for s in listed} == {ids["640100000000"], ids[COUNTY]}
    for region, seen in (("640100000000", 200), (COUNTY, 200), ("640121000000", 404)):
        assert (await stack.get(f"/api/v1/fund-sources/{ids[region]}", headers=officer)).status_code == seen
