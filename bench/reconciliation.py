"""对账 at full size: a bank statement of 100,000 entries against a batch of 100,000 paid lines.

    uv run python bench/reconciliation.py [--lines 100000] [--reversals 100] [--repeat 3]

The funds app runs in-process (ASGI, no server); the batch is written straight into its tables (already paid, its
money spent through the ledger), then timed, median of ``--repeat``:
- ``POST /api/v1/bank/statements`` with one entry per line (``--reversals`` of them reversals, re-opening money),
  each time a new statement of a fresh database state's batch;
- the same statement again under another Idempotency-Key (changes nothing);
- ``GET /api/v1/disbursements/{id}/reconciliation?limit=500``, the first page (status and counts over all lines);
and, as the reference in the same run, the bare store: asyncpg COPY of the same 100,000 rows into a scratch table.
Prints seconds and the ratio to the reference, and writes them into bench/RESULTS.md (section ``reconciliation``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench._harness import BenchEnv, machine, write_section  # noqa: E402
from services.funds.app import create as create_funds  # noqa: E402
from services.registry.app import create as create_registry  # noqa: E402
from services.funds.glossary import EntryKind  # noqa: E402
from services.funds.ledger import service as ledger  # noqa: E402
from shared.db import Database, asyncpg_dsn, database_name  # noqa: E402
from shared.testing import auth, make_token, running  # noqa: E402

TOWNSHIP, VILLAGE, FEN = "640122100000", "640122100001", 10_000          # 100.00 a line


async def seed_batch(settings, funds, admin: dict, n: int) -> tuple[int, list[int]]:
    """A batch of ``n`` lines sent to NXRCU and paid, its money committed and spent; returns (id, line ids)."""
    r = await funds.post("/api/v1/fund-sources", headers=admin, json={
        "name": "中央财政衔接推进乡村振兴补助资金", "level": "central", "doc_no": "宁财农〔2021〕1号", "year": 2021})
    r = await funds.post("/api/v1/allocations", headers=admin, json={
        "source_id": r.json()["id"], "region_code": TOWNSHIP, "purpose": "industry",
        "amount": f"{n * FEN // 100 + 1}.00", "year": 2021, "doc_no": "贺财〔2021〕12号"})
    assert r.status_code == 201, r.text
    allocation = r.json()["id"]
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    try:
        d = await conn.fetchval(
            "INSERT INTO disbursement (allocation_id, title, region_code, purpose, status, total, created_by, "
            "approved_by, bank_code) VALUES ($1, '产业到户补贴', $2, 'industry', 'done', $3, 'u-a', 'u-b', 'NXRCU') "
            "RETURNING id", allocation, TOWNSHIP, n * FEN)
        await conn.copy_records_to_table("disbursement_line", columns=(
            "disbursement_id", "household_id", "amount", "village_code", "household_no", "head_name", "status",
            "bank_ref"), records=[(d, h, FEN, VILLAGE, f"6401221000010{h:05d}"[-20:], "马文军", "paid", f"NX{h}")
                                  for h in range(1, n + 1)])
        lines = [r["id"] for r in await conn.fetch(
            "SELECT id FROM disbursement_line WHERE disbursement_id = $1 ORDER BY id", d)]
    finally:
        await conn.close()
    db = Database(settings, "funds")
    try:
        async with db.sessionmaker() as s:
            acc = await ledger.accounts(s, [allocation])
            ids = {k: acc[(allocation, k)]["id"] for k in ("available", "committed", "spent")}
            await ledger.post(s, kind=EntryKind.commit, ref=f"disbursement:{d}", actor="u-b",
                              lines=[(ids["available"], -n * FEN), (ids["committed"], n * FEN)])
            await ledger.post(s, kind=EntryKind.spend, ref=f"disbursement:{d}", actor="bank",
                              lines=[(ids["committed"], -n * FEN), (ids["spent"], n * FEN)])
            await s.commit()
    finally:
        await db.close()
    return d, lines


def statement(statement_id: str, d: int, lines: list[int], reversals: int) -> dict:
    entries = [{"end_to_end_id": f"JZ-{d}-{x}", "amount": "100.00", "booked_on": "2021-06-15",
                "bank_ref": f"NX20210615{x:08d}", "reversal": False} for x in lines]
    entries[:reversals] = [e | {"reversal": True} for e in entries[:reversals]]
    return {"statement_id": statement_id, "booked_on": "2021-06-15", "entries": entries}


async def copy_reference(settings, d: int, lines: list[int]) -> float:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    try:
        await conn.execute("CREATE TEMP TABLE scratch (LIKE bank_statement_entry)")
        records = [(1, i, d, x, FEN, date(2021, 6, 15), f"NX20210615{x:08d}", False) for i, x in enumerate(lines)]
        start = time.perf_counter()
        await conn.copy_records_to_table("scratch", records=records)
        return time.perf_counter() - start
    finally:
        await conn.close()


async def one_run(settings, n: int, reversals: int, run: int) -> dict[str, float]:
    apps = {"registry": create_registry(settings), "funds": create_funds(settings)}
    async with running(apps, settings) as clients:
        funds = clients["funds"]
        funds.timeout = 600
        admin = auth(make_token(settings, role="county_admin", region="640122000000", sub="u-a"))
        for code, name in (("640122000000", "贺兰县"), (TOWNSHIP, "洪广镇")):
            await clients["registry"].post("/api/v1/regions", headers=admin,
                                           json={"code": code, "name": name, "rural_population": 20000})
        bank = auth(make_token(settings, role="bank", sub="client-nxrcu", bank="NXRCU"))
        d, lines = await seed_batch(settings, funds, admin, n)
        body = statement(f"NX-{run}", d, lines, reversals)
        figures = {"reference": await copy_reference(settings, d, lines)}
        start = time.perf_counter()
        r = await funds.post("/api/v1/bank/statements", json=body, headers=bank | {"Idempotency-Key": f"a{run}"})
        figures["post"] = time.perf_counter() - start
        assert r.status_code == 201 and r.json()["reversed"] == reversals and r.json()["matched"] == n, r.text
        start = time.perf_counter()
        r = await funds.post("/api/v1/bank/statements", json=body, headers=bank | {"Idempotency-Key": f"b{run}"})
        figures["again"] = time.perf_counter() - start
        assert r.status_code == 200 and r.json()["duplicate"], r.text
        start = time.perf_counter()
        r = await funds.get(f"/api/v1/disbursements/{d}/reconciliation?limit=500", headers=admin)
        figures["get"] = time.perf_counter() - start
        assert r.status_code == 200 and r.json()["counts"]["reversed"] == reversals, r.text
    return figures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--reversals", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    bench = BenchEnv(["registry", "funds"])
    try:
        runs = [asyncio.run(one_run(bench.settings, args.lines, args.reversals, i)) for i in range(args.repeat)]
    finally:
        bench.close()
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    ref = med["reference"]
    what = {"post": f"`POST /api/v1/bank/statements`, {args.lines:,} entries ({args.reversals} reversals)",
            "again": "the same statement again, another Idempotency-Key (nothing changes)",
            "get": f"`GET …/reconciliation?limit=500` over {args.lines:,} lines (first page, counts of all)",
            "reference": f"reference: asyncpg COPY of the {args.lines:,} rows alone"}
    rows = [f"| {what[k]} | {med[k]:.2f} | {med[k] / ref:.1f} |" for k in ("post", "again", "get", "reference")]
    print("\n".join(rows), flush=True)
    argv = " ".join(sys.argv[1:])
    write_section("reconciliation", "\n".join([
        "## 对账: a 100,000-entry bank statement against a 100,000-line batch",
        "",
        f"Command: `uv run python bench/reconciliation.py{' ' + argv if argv else ''}` ({machine()}; load average "
        f"{load0:.1f} at start; the funds app in-process over ASGI; PostgreSQL on the same machine; median of "
        f"{args.repeat})",
        "",
        "The POST covers reading and checking the JSON body, the Idempotency-Key claim (by the statement's digest), the "
        "entries' COPY, matching them to the bank's batches, and the reversals' refunds, events and audit rows.",
        "",
        "| operation | seconds | ÷ reference |",
        "|---|---:|---:|",
        *rows,
    ]))


if __name__ == "__main__":
    main()
