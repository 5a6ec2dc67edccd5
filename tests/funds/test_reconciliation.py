"""对账 (CONTRACT §5 Reconciliation): a partner bank's statements against the batches sent to it, each kind of break
at its edge, a reversal re-opening exactly the line's money once, duplicates, other banks and other regions."""

import asyncio

import asyncpg
import pytest

from services.funds.reconciliation.reference import end_to_end_id
from sqlalchemy import text

from shared import audit
from shared.db import Database, asyncpg_dsn, database_name
from shared.outbox import envelope
from shared.testing import auth, running, seal_chain
from shared.worker import dispatch
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.funds.conftest import outbox_events
from tests.registry.conftest import household, make_regions

FINANCE_B = {"role": "finance_officer", "sub": "u-finance-b"}
STATEMENTS = "/api/v1/bank/statements"


@pytest.fixture
async def apps(settings, token):
    from services.funds.app import create as create_funds
    from services.registry.app import create as create_registry
    apps = {"registry": create_registry(settings), "funds": create_funds(settings)}
    async with running(apps, settings) as clients:
        await make_regions(clients["registry"], auth(token()))
        yield clients


@pytest.fixture
def nxrcu(token):
    return auth(token(role="bank", sub="client-nxrcu", bank="NXRCU"))


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


async def _registered(apps, token, settings) -> int:
    r = await apps["registry"].post("/api/v1/households", json=household(VILLAGE), headers=auth(token()))
    assert r.status_code == 201, r.text
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:    # the registration's own 公示 is tested in the registry; here it has happened
        await conn.execute("UPDATE household SET status = 'registered', registered_year = 2020 WHERE id = $1",
                           r.json()["id"])
    finally:
        await conn.close()
    return r.json()["id"]


async def deliver_to_funds(settings) -> int:
    """What the funds relay and worker do with the 公示's closing, addressed to funds itself."""
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


@pytest.fixture
def sent_batch(apps, token, settings, clock, allocation, funds_db, nxrcu):
    """A batch through 公示, approval and sending to NXRCU, settled by the bank's results: ``{name: (amount,
    "paid"|"failed")}`` → (batch id, {name: line id})."""
    funds = apps["funds"]

    async def make(lines: dict[str, tuple[str, str]]) -> tuple[int, dict[str, int]]:
        households = {name: await _registered(apps, token, settings) for name in lines}
        r = await funds.post("/api/v1/disbursements", headers=auth(token()), json={
            "allocation_id": allocation["id"], "title": "2020年产业到户补贴（第一批）",
            "lines": [{"household_id": households[n], "amount": amount} for n, (amount, _) in lines.items()]})
        assert r.status_code == 201, r.text
        d = r.json()["id"]
        r = await funds.post(f"/api/v1/disbursements/{d}/publicize", headers=auth(token()), json={"days": 7})
        notice_id = r.json()["notice_id"]
        clock.advance(days=8)
        assert (await funds.post(f"/api/v1/notices/{notice_id}/close", headers=auth(token()))).status_code == 200
        assert await deliver_to_funds(settings) == 1
        r = await funds.post(f"/api/v1/disbursements/{d}/approve", headers=auth(token(**FINANCE_B)))
        assert r.status_code == 200, r.text
        r = await funds.post(f"/api/v1/disbursements/{d}/send", headers=auth(token()), json={"bank_code": "NXRCU"})
        assert r.status_code == 200, r.text
        settled = [{"household_id": households[n], "status": status, "bank_ref": f"NX-{n}"}
                   for n, (_, status) in lines.items() if status in ("paid", "failed")]
        if settled:
            r = await funds.post(f"/api/v1/bank/disbursements/{d}/results", json={"lines": settled},
                                 headers=nxrcu | {"Idempotency-Key": f"results-{d}"})
            assert r.status_code == 200, r.text
        rows = await funds_db.fetch("SELECT id, household_id FROM disbursement_line WHERE disbursement_id = $1", d)
        by_household = {r["household_id"]: r["id"] for r in rows}
        return d, {n: by_household[h] for n, h in households.items()}
    return make


def entry(d: int, line: int, amount: str | int, reversal: bool = False, ref: str | None = None) -> dict:
    return {"end_to_end_id": end_to_end_id(d, line), "amount": amount, "booked_on": "2020-06-15",
            "bank_ref": ref or f"BK{line}{'R' if reversal else ''}", "reversal": reversal}


async def post(apps, headers, statement_id: str, entries: list[dict], key: str | None = None):
    return await apps["funds"].post(STATEMENTS, headers=headers | {"Idempotency-Key": key or statement_id},
                                    json={"statement_id": statement_id, "booked_on": "2020-06-15",
                                          "entries": entries})


async def recon(apps, token, d: int, **query) -> dict:
    r = await apps["funds"].get(f"/api/v1/disbursements/{d}/reconciliation", headers=auth(token()), params=query)
    assert r.status_code == 200, r.text
    return r.json()


async def money(apps, token, allocation) -> tuple[str, str, str]:
    a = (await apps["funds"].get(f"/api/v1/allocations/{allocation['id']}", headers=auth(token()))).json()
    return a["available"], a["committed"], a["spent"]


async def test_a_clean_statement_balances_the_batch(apps, token, sent_batch, nxrcu):
    d, ln = await sent_batch({"a": ("1500.00", "paid"), "b": ("800.00", "paid"), "f": ("200.00", "failed")})
    before = await recon(apps, token, d)
    assert before["status"] == "unreconciled" and before["status_label"] == "未对账"
    assert [(b["line_id"], b["kind"]) for b in before["breaks"]] == [(ln["a"], "paid_not_booked"),
                                                                      (ln["b"], "paid_not_booked")]
    # amounts as a bank may write them: a number, a string without decimals
    r = await post(apps, nxrcu, "NX-20200615", [entry(d, ln["a"], 1500), entry(d, ln["b"], "800")])
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["entries"], got["total"], got["matched"], got["unmatched"], got["disbursement_ids"], got["reversed"],
            got["duplicate"]) == (2, "2300.00", 2, 0, [d], 0, False)
    after = await recon(apps, token, d)
    assert (after["status"], after["status_label"], after["breaks"], after["next_cursor"]) == (
        "balanced", "账实相符", [], None)
    assert set(after["counts"].values()) == {0}


async def test_each_kind_of_break_at_its_edge(apps, token, sent_batch, nxrcu):
    d, ln = await sent_batch({"exact": ("1500.00", "paid"), "unbooked": ("800.00", "paid"),
                              "cent": ("600.00", "paid"), "twice": ("300.00", "paid"),
                              "failed": ("200.00", "failed"), "open": ("100.00", "listed")})
    stranger = max(ln.values()) + 1000          # a line id this batch does not have
    r = await post(apps, nxrcu, "NX-1", [
        entry(d, ln["exact"], "1500.00"), entry(d, ln["cent"], "600.01"), entry(d, ln["twice"], "300.00"),
        entry(d, ln["twice"], "300.00", ref="BK-again"), entry(d, ln["failed"], "200.00"),
        entry(d, ln["open"], "100.00"), entry(d, stranger, "50.00")])
    assert r.status_code == 201 and r.json()["matched"] == 7, r.text
    got = await recon(apps, token, d)
    assert got["status"] == "breaks" and got["status_label"] == "存在差异"
    found = {(b["line_id"], b["kind"]): b for b in got["breaks"]}
    assert sorted(found) == sorted([(ln["unbooked"], "paid_not_booked"), (ln["cent"], "amount_mismatch"),
                                    (ln["twice"], "amount_mismatch"), (ln["failed"], "booked_not_paid"),
                                    (ln["open"], "booked_not_paid"), (stranger, "booked_not_paid")])
    assert got["counts"] == {"paid_not_booked": 1, "booked_not_paid": 3, "amount_mismatch": 2, "reversed": 0}
    cent = found[(ln["cent"], "amount_mismatch")]
    assert (cent["amount"], cent["booked"], cent["kind_label"]) == ("600.00", "600.01", "金额不符")
    assert "2 entries" in found[(ln["twice"], "amount_mismatch")]["detail"]
    assert found[(ln["twice"], "amount_mismatch")]["booked"] == "600.00"
    assert found[(ln["failed"], "booked_not_paid")]["line_status"] == "failed"
    assert found[(ln["open"], "booked_not_paid")]["line_status"] == "listed"
    unknown = found[(stranger, "booked_not_paid")]
    assert (unknown["household_id"], unknown["line_status"], unknown["amount"]) == (None, None, None)
    assert "does not have" in unknown["detail"]
    unbooked = found[(ln["unbooked"], "paid_not_booked")]
    assert (unbooked["bank_ref"], unbooked["booked"], unbooked["kind_label"]) == ("NX-unbooked", None, "已发放未入账")

    # a page at a time, in the same order, nothing lost or doubled
    pages, cursor = [], None
    while True:
        page = await recon(apps, token, d, limit=4, **({"cursor": cursor} if cursor else {}))
        assert len(page["breaks"]) <= 4 and page["counts"] == got["counts"]
        pages += page["breaks"]
        if not (cursor := page["next_cursor"]):
            break
    assert pages == got["breaks"]

    # booking the missing cent's line right: its mismatch stays (bookings add up), the unbooked line balances
    r = await post(apps, nxrcu, "NX-2", [entry(d, ln["unbooked"], "800.00")])
    assert r.status_code == 201
    kinds = {(b["line_id"], b["kind"]) for b in (await recon(apps, token, d))["breaks"]}
    assert (ln["unbooked"], "paid_not_booked") not in kinds and (ln["cent"], "amount_mismatch") in kinds


async def test_a_reversal_reopens_exactly_the_lines_money_once(apps, token, settings, sent_batch, nxrcu, allocation,
                                                               funds_db):
    d, ln = await sent_batch({"a": ("1500.00", "paid"), "b": ("800.00", "paid"), "f": ("200.00", "failed")})
    assert await money(apps, token, allocation) == ("7700.00", "0.00", "2300.00")
    booked = [entry(d, ln["a"], "1500.00"), entry(d, ln["b"], "800.00")]
    assert (await post(apps, nxrcu, "NX-1", booked)).status_code == 201
    # the reversal twice in one statement, and one for another amount than its line's
    r = await post(apps, nxrcu, "NX-2", [entry(d, ln["a"], "1500.00", reversal=True),
                                         entry(d, ln["a"], "1500.00", reversal=True, ref="BK-dup"),
                                         entry(d, ln["b"], "80.00", reversal=True)])
    assert r.status_code == 201, r.text
    assert (r.json()["reversed"], r.json()["total"], r.json()["reversed_total"]) == (1, "0.00", "3080.00")
    assert await money(apps, token, allocation) == ("9200.00", "0.00", "800.00")      # exactly a's 1500.00

    # a later statement reversing a again changes nothing
    r = await post(apps, nxrcu, "NX-3", [entry(d, ln["a"], "1500.00", reversal=True, ref="BK-late")])
    assert r.status_code == 201 and r.json()["reversed"] == 0
    assert await money(apps, token, allocation) == ("9200.00", "0.00", "800.00")

    got = await recon(apps, token, d)
    found = {(b["line_id"], b["kind"]): b for b in got["breaks"]}
    assert sorted(found) == sorted([(ln["a"], "reversed"), (ln["b"], "amount_mismatch"), (ln["b"], "reversed")])
    assert found[(ln["a"], "reversed")]["kind_label"] == "银行退回"
    assert "1500.00 back" in found[(ln["a"], "reversed")]["detail"]
    assert "nothing re-opened" in found[(ln["b"], "amount_mismatch")]["detail"]
    lines = (await apps["funds"].get(f"/api/v1/disbursements/{d}/lines", headers=auth(token()))).json()["items"]
    assert [x["status"] for x in lines] == ["paid", "paid", "failed"]     # a final status never changes

    entries = (await apps["funds"].get(f"/api/v1/allocations/{allocation['id']}/entries?limit=500",
                                       headers=auth(token()))).json()["items"]
    refunds = [x for x in entries if x["kind"] == "refund"]
    assert {x["kind_label"] for x in refunds} == {"退回"}
    assert sorted((x["account"], x["amount"]) for r in refunds for x in r["lines"]) == [
        ("available", "1500.00"), ("spent", "-1500.00")]
    with pytest.raises(asyncpg.UniqueViolationError):      # the ledger itself refuses a second refund of a line
        await funds_db.execute("INSERT INTO ledger_entry (kind, ref, actor) VALUES ('refund', $1, 'x')",
                               f"disbursement:{d}:line:{ln['a']}")
    [event] = await outbox_events(funds_db, "payment.reversed")
    assert event["to"] == ["notifications"]
    assert (event["payload"]["line_id"], event["payload"]["amount"], event["payload"]["end_to_end_id"]) == (
        ln["a"], "1500.00", f"JZ-{d}-{ln['a']}")
    await seal_chain(settings, "funds")
    audited = await funds_db.fetch("SELECT action, entity_id, diff FROM audit_log WHERE action LIKE '%reversed' "
                                   "OR action = 'bank_statement.receive' ORDER BY seq")
    assert [r["action"] for r in audited] == ["bank_statement.receive", "disbursement.reversed",
                                              "bank_statement.receive", "bank_statement.receive"]
    assert audited[1]["entity_id"] == str(d)
    db = Database(settings, "funds")
    try:
        async with db.sessionmaker() as s:
            assert (await audit.verify(s)).ok
    finally:
        await db.close()


async def test_concurrent_reversals_of_a_line_reopen_its_money_once(apps, token, sent_batch, nxrcu, allocation):
    d, ln = await sent_batch({"a": ("1500.00", "paid"), "f": ("200.00", "failed")})
    assert await money(apps, token, allocation) == ("8500.00", "0.00", "1500.00")
    answers = await asyncio.gather(*[post(apps, nxrcu, f"NX-{n}", [entry(d, ln["a"], "1500.00", reversal=True),
                                                                   entry(d, ln["f"], "200.00", reversal=True)])
                                     for n in range(4)])
    assert [r.status_code for r in answers] == [201] * 4, [r.text for r in answers]
    assert sorted(r.json()["reversed"] for r in answers) == [0, 0, 0, 1]
    assert await money(apps, token, allocation) == ("10000.00", "0.00", "0.00")     # a's 1500.00, once; f nothing
    found = {(b["line_id"], b["kind"]) for b in (await recon(apps, token, d))["breaks"]}
    assert found == {(ln["a"], "paid_not_booked"), (ln["a"], "reversed"), (ln["f"], "booked_not_paid")}


async def test_the_same_statement_twice_changes_nothing(apps, token, sent_batch, nxrcu, allocation, funds_db):
    d, ln = await sent_batch({"a": ("1500.00", "paid"), "b": ("800.00", "paid")})
    entries = [entry(d, ln["a"], "1500.00"), entry(d, ln["a"], "1500.00", reversal=True)]
    first = await post(apps, nxrcu, "NX-1", entries, key="k1")
    replay = await post(apps, nxrcu, "NX-1", entries, key="k1")
    assert first.status_code == replay.status_code == 201 and first.json() == replay.json()
    assert first.json()["reversed"] == 1
    again = await post(apps, nxrcu, "NX-1", entries, key="k2")               # resent under a new key
    assert again.status_code == 200 and again.json() == first.json() | {"duplicate": True}
    other = await post(apps, nxrcu, "NX-1", entries[:1], key="k3")           # the same id, other content
    assert other.status_code == 409 and other.json()["type"].endswith("/statement-id-reused")
    reused = await post(apps, nxrcu, "NX-9", entries[:1], key="k1")          # the key, with another body
    assert reused.status_code == 409
    no_key = await apps["funds"].post(STATEMENTS, headers=nxrcu, json={
        "statement_id": "NX-8", "booked_on": "2020-06-15", "entries": entries})
    assert no_key.status_code == 422
    assert await funds_db.fetchval("SELECT count(*) FROM bank_statement_entry") == 2
    assert await money(apps, token, allocation) == ("9200.00", "0.00", "800.00")
    assert await funds_db.fetchval("SELECT count(*) FROM outbox WHERE topic = 'payment.reversed'") == 1


async def test_another_banks_statement_reconciles_nothing(apps, token, sent_batch, nxrcu, allocation, funds_db):
    d, ln = await sent_batch({"a": ("1500.00", "paid"), "b": ("800.00", "paid")})
    other = auth(token(role="bank", sub="client-yc", bank="YCBANK"))
    theirs = [entry(d, ln["a"], "1500.00"), entry(d, ln["b"], "800.00", reversal=True)]
    nowhere = [entry(d + 1000, ln["a"], "1500.00"), entry(d + 1000, ln["b"], "800.00", reversal=True)]
    r1, r2 = await post(apps, other, "YC-1", theirs), await post(apps, other, "YC-2", nowhere)
    assert r1.status_code == r2.status_code == 201, r1.text
    strip = {"statement_id", "received_at", "unmatched_end_to_end_ids"}
    # another bank's batch and no batch at all look the same: nothing about the batch leaks
    assert {k: v for k, v in r1.json().items() if k not in strip} == {
        k: v for k, v in r2.json().items() if k not in strip}
    assert (r1.json()["matched"], r1.json()["unmatched"], r1.json()["disbursement_ids"], r1.json()["reversed"]) == (
        0, 2, [], 0)
    assert r1.json()["unmatched_end_to_end_ids"] == [f"JZ-{d}-{ln['a']}", f"JZ-{d}-{ln['b']}"]
    assert await money(apps, token, allocation) == ("7700.00", "0.00", "2300.00")
    got = await recon(apps, token, d)
    assert got["status"] == "unreconciled" and {b["kind"] for b in got["breaks"]} == {"paid_not_booked"}
    # the same statement id from the batch's own bank is its own statement
    mine = await post(apps, nxrcu, "YC-1", theirs[:1] + [entry(d, ln["b"], "800.00")])
    assert mine.status_code == 201 and mine.json()["matched"] == 2
    assert (await recon(apps, token, d))["status"] == "balanced"
    # a bank may not read the reconciliation, nor an officer post statements
    r = await apps["funds"].get(f"/api/v1/disbursements/{d}/reconciliation", headers=nxrcu)
    assert r.status_code == 403
    assert (await post(apps, auth(token()), "X-1", theirs)).status_code == 403


async def test_the_reconciliation_is_seen_in_the_batchs_region_only(apps, token, sent_batch):
    d, _ = await sent_batch({"a": ("1500.00", "paid")})
    url = f"/api/v1/disbursements/{d}/reconciliation"
    seen = {role: await apps["funds"].get(url, headers=auth(token(role=role, region=region, sub=f"u-{role}")))
            for role, region in (("township_officer", TOWNSHIP), ("finance_officer", "640122000000"),
                                 ("auditor", "640122000000"))}
    assert {role: r.status_code for role, r in seen.items()} == {
        "township_officer": 200, "finance_officer": 200, "auditor": 200}
    elsewhere = await apps["funds"].get(url, headers=auth(token(role="township_officer", region=OTHER_TOWNSHIP,
                                                                sub="u-other")))
    unknown = await apps["funds"].get(f"/api/v1/disbursements/{d + 1000}/reconciliation", headers=auth(token()))
    assert elsewhere.status_code == unknown.status_code == 404
    assert elsewhere.json()["detail"] == unknown.json()["detail"]
    cadre = await apps["funds"].get(url, headers=auth(token(role="village_cadre", region=VILLAGE, sub="u-c")))
    assert cadre.status_code == 403
    for cursor in ("!!!", "eyJsaW5lX2lkIjoxLCJraW5kIjoibm9wZSJ9", "eyJpZCI6MX0"):    # kind "nope"; {"id":1}
        r = await apps["funds"].get(url, params={"cursor": cursor}, headers=auth(token()))
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("reference", ["JZ-1", "JZ-0-1", "jz-1-2", "JZ-1-2-3", "JZ-１-2", "JZ-1-02", "JZ--1-2",
                                       "JZ-1-99999999999999999", "1-2", "JZ-1-2 x"])
async def test_a_malformed_end_to_end_id_is_422_and_stores_nothing(apps, nxrcu, funds_db, reference):
    good = {"end_to_end_id": "JZ-1-2", "amount": "1.00", "booked_on": "2020-06-15"}
    r = await apps["funds"].post(STATEMENTS, headers=nxrcu | {"Idempotency-Key": "bad-ref"}, json={
        "statement_id": "NX-bad", "booked_on": "2020-06-15", "entries": [good, good | {"end_to_end_id": reference}]})
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    [error] = r.json()["errors"]
    assert error["loc"] == ["body", "entries", 1, "end_to_end_id"] and "JZ-<disbursement id>-<line id>" in error["msg"]
    assert await funds_db.fetchval("SELECT count(*) FROM bank_statement") == 0
