"""A county-sized household payment batch (CONTRACT §5: up to 100,000 lines) through every step with the real
registry in-process: created (eligibility asked in a few chunks), publicized (the 公示's items paged and its
content_hash recomputed from the whole list), closed with one line struck, approved, sent, read by the bank page by
page, settled in two results posts with some failures; the balances exact to the fen and a ``payment.paid``
event for each paid line. 100,001 lines are refused."""

import hashlib
import json
import time

import asyncpg
import rfc8785

from services.funds.disbursements.schemas import MAX_LINES
from shared.db import asyncpg_dsn, database_name
from shared.money import from_fen
from shared.observability import MAX_BODY
from shared.testing import auth
from tests.conftest import VILLAGE
from tests.funds.test_disbursements import FINANCE_B, apps, deliver_to_funds, registered  # noqa: F401  (fixtures)

N = MAX_LINES
FAILED_EVERY = 997          # every 997th line fails at the bank


async def many_households(settings, template: int, n: int) -> list[int]:
    """``n`` registered households (each with its head) cloned from ``template`` in two INSERT … SELECT."""
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:
        h_cols = [c for c in await _columns(conn, "household") if c not in ("id", "household_no")]
        m_cols = [c for c in await _columns(conn, "member") if c not in ("id", "household_id", "id_hmac")]
        async with conn.transaction():
            ids = [r["id"] for r in await conn.fetch(f"""
                INSERT INTO household (household_no, {', '.join(h_cols)})
                SELECT t.village_code || lpad(g.n::text, 8, '0'), {', '.join('t.' + c for c in h_cols)}
                FROM household t, generate_series(1, $2) AS g(n) WHERE t.id = $1 ORDER BY g.n RETURNING id""",
                                                   template, n)]
            await conn.execute(f"""
                INSERT INTO member (household_id, id_hmac, {', '.join(m_cols)})
                SELECT h.id, sha256(convert_to('scale-' || h.id, 'UTF8')), {', '.join('m.' + c for c in m_cols)}
                FROM household h JOIN member m ON m.household_id = $1 AND m.relation = 'head'
                WHERE h.id = ANY($2::bigint[])""", template, ids)
        return ids
    finally:
        await conn.close()


async def _columns(conn, table: str) -> list[str]:
    return [r["column_name"] for r in await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND is_generated = 'NEVER' "
        "AND identity_generation IS NULL ORDER BY ordinal_position", table)]


def amount_fen(n: int) -> int:
    return 10_000 + (n % 50) * 100         # 100.00 … 149.00 yuan


async def test_a_batch_of_100000_households_from_list_to_bank_results(apps, token, settings, clock, funds_db):
    started = time.perf_counter()
    funds = apps["funds"]
    template = await registered(apps, token, settings)
    ids = await many_households(settings, template, N - 1) + [template]
    generated = time.perf_counter()
    r = await funds.post("/api/v1/fund-sources", headers=auth(token()), json={
        "name": "2020年中央财政衔接资金", "level": "central", "doc_no": "宁财农〔2020〕9号", "year": 2020})
    r = await funds.post("/api/v1/allocations", headers=auth(token()), json={
        "source_id": r.json()["id"], "region_code": VILLAGE, "purpose": "social_security", "amount": "20000000.00",
        "year": 2020, "doc_no": "贺财〔2020〕30号"})
    allocation = r.json()

    lines = [{"household_id": hid, "amount": f"{from_fen(amount_fen(n)):f}", "memo": "2020年低保金"}
             for n, hid in enumerate(ids)]
    body = {"allocation_id": allocation["id"], "title": "贺兰县2020年低保金（12月）", "lines": lines}
    r = await funds.post("/api/v1/disbursements", headers=auth(token()), json=body)
    assert r.status_code == 201, r.text[:2000]
    d = r.json()
    total = sum(amount_fen(n) for n in range(N))
    assert (d["line_count"], d["total"], d["warning_count"], d["warnings"]) == (N, f"{from_fen(total):f}", 0, [])
    assert len(rfc8785.dumps(body)) < MAX_BODY          # the gateway lets it through
    created = time.perf_counter()

    r = await funds.post(f"/api/v1/disbursements/{d['id']}/publicize", headers=auth(token()), json={"days": 1})
    assert r.status_code == 200, r.text
    notice_id = r.json()["notice_id"]
    first = (await funds.get(f"/public/notices/{notice_id}", params={"limit": 500})).json()
    second = (await funds.get(f"/public/notices/{notice_id}", params={"cursor": first["items_next_cursor"]})).json()
    assert (first["item_count"], first["amount_total"]) == (N, f"{from_fen(total):f}")
    assert [item["ref"] for item in first["items"] + second["items"]] == [str(hid) for hid in ids[:1000]]
    assert first["region_name"] == "欣荣村" and "*" in first["items"][0]["id_number"]
    # every page served comes from the stored list, in order (test_notices_pages walks the pages of a long one)
    items = [json.loads(r["item"]) for r in await funds_db.fetch(
        "SELECT item FROM notice_item WHERE notice_id = $1 ORDER BY seq", notice_id)]
    assert items[:1000] == first["items"] + second["items"] and len(items) == N
    content = {k: first[k] for k in ("kind", "region_code", "title", "starts_at", "ends_at")} | {"items": items}
    assert hashlib.sha256(rfc8785.dumps(content)).hexdigest() == first["content_hash"]
    html = await funds.get(f"/public/notices/{notice_id}.html", params={"cursor": first["items_next_cursor"]})
    assert html.status_code == 200 and "第 501–1000 项，共 100000 项" in html.text and "下一页" in html.text

    struck = ids[7]
    r = await funds.post(f"/public/notices/{notice_id}/objections", json={
        "contact_name": "村民", "contact_phone": "13800001111", "content": "该户已不符合低保条件"})
    objection = (await funds.get(f"/api/v1/notices/{notice_id}/objections", headers=auth(token()))).json()["items"][0]
    r = await funds.post(f"/api/v1/objections/{objection['id']}/resolve", headers=auth(token()), json={
        "decision": "upheld", "reply": "经核实，取消该户本月低保金", "item_refs": [str(struck)]})
    assert r.status_code == 200, r.text
    clock.advance(days=2)
    assert (await funds.post(f"/api/v1/notices/{notice_id}/close", headers=auth(token()))).status_code == 200
    assert await deliver_to_funds(settings) == 1
    publicized = time.perf_counter()

    r = await funds.post(f"/api/v1/disbursements/{d['id']}/approve", headers=auth(token(**FINANCE_B)))
    assert r.status_code == 200, r.text
    payable = total - amount_fen(7)
    assert (r.json()["payable"], r.json()["line_counts"]["struck"]) == (f"{from_fen(payable):f}", 1)
    r = await funds.post(f"/api/v1/disbursements/{d['id']}/send", headers=auth(token()), json={"bank_code": "NXRCU"})
    assert r.status_code == 200
    bank = auth(token(role="bank", region="640122000000", sub="client-nxrcu", bank="NXRCU"))
    batch = (await funds.get(f"/api/v1/bank/disbursements/{d['id']}", headers=bank)).json()
    assert (batch["line_count"], batch["control_sum"], len(batch["lines"])) == (N - 1, f"{from_fen(payable):f}", 500)
    page = (await funds.get(f"/api/v1/bank/disbursements/{d['id']}/lines", headers=bank,
                            params={"cursor": batch["lines_next_cursor"], "limit": 5000})).json()
    assert len(page["items"]) == 5000 and page["next_cursor"]
    line = page["items"][0]
    assert line["end_to_end_id"] == f"JZ-{d['id']}-{line['line_id']}" and line["account_no"] == "6228480012345678901"
    assert batch["lines"][-1]["line_id"] < line["line_id"]

    results = [{"household_id": hid, "status": "failed" if n % FAILED_EVERY == 0 else "paid",
                **({"reason": "账户已冻结"} if n % FAILED_EVERY == 0 else {"bank_ref": f"NX2020{n:07d}"})}
               for n, hid in enumerate(ids) if hid != struck]
    url = f"/api/v1/bank/disbursements/{d['id']}/results"
    one = await funds.post(url, headers=bank | {"Idempotency-Key": "nx-1"}, json={"lines": results[:60_000]})
    assert one.status_code == 200, one.text[:2000]
    assert (one.json()["applied"], one.json()["status"]) == (60_000, "sent")
    two = await funds.post(url, headers=bank | {"Idempotency-Key": "nx-2"}, json={"lines": results[60_000:]})
    assert two.status_code == 200 and (two.json()["applied"], two.json()["status"]) == (N - 1 - 60_000, "done")
    assert len(rfc8785.dumps({"lines": results[:60_000]})) < MAX_BODY
    settled = time.perf_counter()

    failed = sum(amount_fen(n) for n in range(N) if n % FAILED_EVERY == 0 and n != 7)
    alloc = (await funds.get(f"/api/v1/allocations/{allocation['id']}", headers=auth(token()))).json()
    assert (alloc["spent"], alloc["committed"], alloc["available"]) == (
        f"{from_fen(payable - failed):f}", "0.00", f"{from_fen(2_000_000_000 - payable + failed):f}")
    paid_lines = sum(1 for n in range(N) if n % FAILED_EVERY and n != 7)
    assert await funds_db.fetchval("SELECT count(*) FROM outbox WHERE topic = 'payment.paid'") == paid_lines
    d = (await funds.get(f"/api/v1/disbursements/{d['id']}", headers=auth(token()))).json()
    assert d["line_counts"] == {"listed": 0, "struck": 1, "paid": paid_lines, "failed": N - 1 - paid_lines}
    print(f"\n100,000 lines: households {generated - started:.1f} s, create {created - generated:.1f} s, "
          f"公示 {publicized - created:.1f} s, approve to results {settled - publicized:.1f} s")
