"""A county-sized household payment batch, from creation to the bank's last result (goal: 60 s for 100,000 lines).

    uv run python bench/funds_batch.py [--lines 100000] [--chunks 2]

Registry and funds run in this process (their HTTP calls to each other in-process, as in the tests), on real
PostgreSQL; the households are cloned in the registry by SQL. Timed, each step as a client sees it: create (the
registry asked in chunks), publicize (the 公示's items frozen and hashed), read the whole 公示 page by page, close
it and apply it (the ``notice.closed`` event handled as the funds worker does), approve, send, the bank reads
every line page by page, the bank posts its results in ``--chunks`` posts. Beside it, in the same run, the
reference: a bare COPY of as many rows of the lines' shape into a scratch table. Writes bench/RESULTS.md
(section ``funds_batch``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench._harness import BenchEnv, machine, write_section  # noqa: E402
from shared.db import asyncpg_dsn, database_name  # noqa: E402
from shared.money import from_fen  # noqa: E402
from shared.testing import auth, make_token, running  # noqa: E402
from tests.funds.test_batch_scale import amount_fen, many_households  # noqa: E402
from tests.funds.test_disbursements import deliver_to_funds  # noqa: E402

COUNTY, TOWNSHIP, VILLAGE = "640122000000", "640122100000", "640122100001"
HOUSEHOLD = {"village_code": VILLAGE, "address": "欣荣村3组12号", "phone": "13951234567", "attribute": "dibao",
             "main_cause": "illness", "identified_year": 2016,
             "payout_account": {"bank_code": "NXRCU", "account_no": "6228480012345678901"},
             "members": [{"name": "马文军", "id_number": "640122197001010011", "relation": "head", "health": "healthy",
                          "labor": "normal", "education": "junior_high", "in_school": False, "migrant_worker": False}]}


async def reference_copy(settings, n: int) -> float:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    try:
        await conn.execute("CREATE TEMP TABLE ref_line (disbursement_id bigint, household_id bigint, amount bigint, "
                           "memo text, village_code char(12), household_no varchar(20), head_name varchar(64), "
                           "head_id_masked varchar(18), head_id_enc bytea, phone_enc bytea, account_enc bytea)")
        blob = b"\x01" + b"\x00" * 40
        rows = [(1, i, 12_000, "2020年低保金", VILLAGE, f"{VILLAGE}{i:08d}", "马文军", "640122********0016", blob, blob,
                 blob) for i in range(n)]
        started = time.perf_counter()
        await conn.copy_records_to_table("ref_line", records=rows)
        return time.perf_counter() - started
    finally:
        await conn.close()


async def run(settings, n: int, chunks: int) -> tuple[dict[str, float], float]:
    from services.funds.app import create as create_funds
    from services.registry.app import create as create_registry

    made: dict[tuple, dict[str, str]] = {}

    def token(role="county_admin", sub="u-admin", **kw):
        key = (role, sub, *sorted(kw.items()))
        if key not in made:
            made[key] = auth(make_token(settings, role=role, region=COUNTY, sub=sub, **kw))
        return made[key]

    apps = {"registry": create_registry(settings), "funds": create_funds(settings)}
    steps: dict[str, float] = {}
    async with running(apps, settings) as c:
        registry, funds = c["registry"], c["funds"]
        for code, name in ((COUNTY, "贺兰县"), (TOWNSHIP, "洪广镇"), (VILLAGE, "欣荣村")):
            r = await registry.post("/api/v1/regions", headers=token(),
                                    json={"code": code, "name": name, "rural_population": 1000})
            assert r.status_code == 201, r.text
        r = await registry.post("/api/v1/households", headers=token(), json=HOUSEHOLD)
        assert r.status_code == 201, r.text
        template = r.json()["id"]
        conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
        await conn.execute("UPDATE household SET status = 'registered', registered_year = 2020 WHERE id = $1", template)
        await conn.close()
        ids = await many_households(settings, template, n - 1) + [template]
        r = await funds.post("/api/v1/fund-sources", headers=token(), json={
            "name": "中央财政衔接资金", "level": "central", "doc_no": "宁财农〔2020〕9号", "year": 2020})
        r = await funds.post("/api/v1/allocations", headers=token(), json={
            "source_id": r.json()["id"], "region_code": VILLAGE, "purpose": "social_security",
            "amount": "50000000.00", "year": 2020, "doc_no": "贺财〔2020〕30号"})
        allocation = r.json()["id"]
        body = {"allocation_id": allocation, "title": "贺兰县2020年低保金（12月）", "lines": [
            {"household_id": hid, "amount": f"{from_fen(amount_fen(i)):f}", "memo": "2020年低保金"}
            for i, hid in enumerate(ids)]}
        bank = token(role="bank", sub="client-nxrcu", bank="NXRCU")

        async def step(name: str, coro):
            started = time.perf_counter()
            result = await coro
            steps[name] = time.perf_counter() - started
            return result

        d = (await step("create", funds.post("/api/v1/disbursements", headers=token(), json=body))).json()
        notice = (await step("publicize", funds.post(f"/api/v1/disbursements/{d['id']}/publicize", headers=token(),
                                                     json={"days": 0}))).json()["notice_id"]

        async def read_notice():
            cursor, items = None, 0
            while True:
                page = (await funds.get(f"/public/notices/{notice}", params={"limit": 500} | (
                    {"cursor": cursor} if cursor else {}))).json()
                items += len(page["items"])
                if not (cursor := page["items_next_cursor"]):
                    return items
        assert await step("read the 公示 (500 a page)", read_notice()) == n

        async def close():
            assert (await funds.post(f"/api/v1/notices/{notice}/close", headers=token())).status_code == 200
            assert await deliver_to_funds(settings) == 1
        await step("close the 公示 and apply it", close())
        approver = token(role="finance_officer", sub="u-finance-b")
        r = await step("approve", funds.post(f"/api/v1/disbursements/{d['id']}/approve", headers=approver))
        assert r.status_code == 200, r.text
        await step("send", funds.post(f"/api/v1/disbursements/{d['id']}/send", headers=token(),
                                      json={"bank_code": "NXRCU"}))

        async def bank_reads():
            cursor, lines = None, []
            while True:
                page = (await funds.get(f"/api/v1/bank/disbursements/{d['id']}/lines", headers=bank,
                                        params={"limit": 5000} | ({"cursor": cursor} if cursor else {}))).json()
                lines += page["items"]
                if not (cursor := page["next_cursor"]):
                    return lines
        lines = await step("the bank reads its lines (5,000 a page)", bank_reads())
        results = [{"household_id": x["household_id"], "status": "failed" if i % 997 == 0 else "paid",
                    "bank_ref": f"NX{i:08d}"} for i, x in enumerate(lines)]
        size = -(-len(results) // chunks)

        async def post_results():
            for k in range(chunks):
                r = await funds.post(f"/api/v1/bank/disbursements/{d['id']}/results", json={
                    "lines": results[k * size:(k + 1) * size]}, headers=bank | {"Idempotency-Key": f"bench-{k}"})
                assert r.status_code == 200, r.text[:500]
            return r.json()["status"]
        assert await step(f"the bank posts its results ({chunks} posts)", post_results()) == "done"
    reference = await reference_copy(settings, n)
    return steps, reference


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--chunks", type=int, default=2)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    env = BenchEnv(["registry", "funds"])
    load_before = os.getloadavg()[0]
    try:
        steps, reference = asyncio.run(run(env.settings, args.lines, args.chunks))
    finally:
        env.close()
    total = sum(steps.values())
    rows = "\n".join(f"| {name} | {seconds:.2f} |" for name, seconds in steps.items())
    report = (f"## Household payment batch of {args.lines:,} lines, creation to the bank's last result\n\n"
              f"`uv run python bench/funds_batch.py --lines {args.lines} --chunks {args.chunks}` ({machine()}; "
              "registry and funds in one process, real PostgreSQL, machine shared with other runs)\n\n"
              f"| step | s |\n|---|---|\n{rows}\n| **all steps** | **{total:.2f}** (goal ≤ 60) |\n\n"
              f"Reference in the same run: a bare COPY of {args.lines:,} rows of the lines' shape into a scratch "
              f"table: {reference:.2f} s; all steps = {total / reference:.0f}× that. Load average (1 min) "
              f"{load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores.\n")
    print(report)
    if not args.no_write:
        write_section("funds_batch", report)


if __name__ == "__main__":
    main()
