"""台账 memory: the ledger workbook of a county's year, built from the database as the export route builds it.

    uv run python bench/ledger_export.py [--allocations 50] [--lines 2000] [--pairs 200]

Seeds the funds database with ``allocations`` allocations, each with a 下达, ``pairs`` commit + spend entries and
one household batch paying ``lines`` households; then writes the workbook (repository cursor → LedgerBook in a
thread → a temporary file) twice: for a tenth of the allocations (the reference) and for all of them, and prints
the rows, seconds and the process's peak memory growth for each, and the ratios. Bounded memory: the growth stays
about the same while the rows grow tenfold.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import psutil  # noqa: E402

from bench._harness import bench_settings  # noqa: E402
from services.funds.exports import repository  # noqa: E402
from services.funds.exports.service import year_bounds  # noqa: E402
from services.funds.exports.workbook import CHINA, LedgerBook  # noqa: E402
from shared.db import Database, asyncpg_dsn, database_name  # noqa: E402
from shared.testing import TestServers, drop_databases  # noqa: E402

YEAR = datetime.now(CHINA).year


async def seed(conn, *, allocations: int, lines: int, pairs: int) -> None:
    source = await conn.fetchval("INSERT INTO fund_source (name, level, doc_no, year, region_code, created_by, "
                                 "version) VALUES ('中央财政专项扶贫资金', 'central', '宁财农〔2026〕1号', $1, "
                                 "'640122000000', 'bench', 1) RETURNING id", YEAR)
    src_acc = await conn.fetchval("INSERT INTO ledger_account (kind, source_id) VALUES ('source', $1) RETURNING id",
                                  source)
    for n in range(allocations):
        a = await conn.fetchval("INSERT INTO allocation (source_id, region_code, purpose, year, doc_no, granted, "
                                "created_by) VALUES ($1, '640122100000', 'industry', $2, $3, 100000000, 'bench') "
                                "RETURNING id", source, YEAR, f"贺财〔{YEAR}〕{n + 1}号")
        acc = {k: await conn.fetchval("INSERT INTO ledger_account (kind, source_id, allocation_id, purpose, "
                                      "region_code) VALUES ($1, $2, $3, 'industry', '640122100000') RETURNING id",
                                      k, source, a) for k in ("available", "committed", "spent")}
        d = await conn.fetchval("INSERT INTO disbursement (allocation_id, title, region_code, purpose, status, total, "
                                "created_by) VALUES ($1, '到户补贴', '640122100000', 'industry', 'done', $2, 'bench') "
                                "RETURNING id", a, lines * 100)
        entries = [("allocate", f"allocation:{a}", [(src_acc, -100000000), (acc["available"], 100000000)])]
        entries += [(k, "project:0", [(acc[f], -1000), (acc[t], 1000)]) for _ in range(pairs)
                    for k, f, t in (("commit", "available", "committed"), ("spend", "committed", "spent"))]
        entries += [("commit", f"disbursement:{d}", [(acc["available"], -lines * 100), (acc["committed"], lines * 100)]),
                    ("spend", f"disbursement:{d}", [(acc["committed"], -lines * 100), (acc["spent"], lines * 100)])]
        async with conn.transaction():
            for kind, ref, legs in entries:
                e = await conn.fetchval("INSERT INTO ledger_entry (kind, ref, actor, memo) VALUES ($1, $2, 'bench', "
                                        "'基准') RETURNING id", kind, ref)
                await conn.executemany("INSERT INTO ledger_line (entry_id, account_id, amount) VALUES ($1, $2, $3)",
                                       [(e, acc_id, amount) for acc_id, amount in sorted(legs)])
        await conn.execute(
            "INSERT INTO disbursement_line (disbursement_id, household_id, amount, village_code, household_no, "
            "head_name, status, bank_ref, final_at) SELECT $1, g, 100, '640122100001', lpad(g::text, 16, '0'), "
            "'马建国', 'paid', 'NX' || g, now() + interval '1 second' FROM generate_series(1, $2) g", d, lines)


def peak_rss(stop: threading.Event, out: list[int]) -> None:
    me = psutil.Process()
    while not stop.is_set():
        out[0] = max(out[0], me.memory_info().rss)
        time.sleep(0.02)


async def build(db: Database, ids: list[int]) -> tuple[int, float, int, int]:
    """(rows, seconds, peak RSS growth in bytes, workbook bytes) of one workbook over ``ids``."""
    start, end = year_bounds(YEAR)
    path = Path(tempfile.mkstemp(suffix=".xlsx")[1])
    before = psutil.Process().memory_info().rss
    peak, stop = [before], threading.Event()
    watcher = threading.Thread(target=peak_rss, args=(stop, peak))
    watcher.start()
    t0, rows = time.perf_counter(), 0
    try:
        async with db.sessionmaker() as session:
            allocations = [a for a in await repository.allocations(session, prefix="640122", start=start, end=end)
                           if a["id"] in ids]
            book = LedgerBook(region_code="640122000000", region_name="贺兰县", year=YEAR, full_names=False,
                              region_names={})
            await asyncio.to_thread(book.begin, allocations)
            async for chunk in repository.movements(session, allocation_ids=ids, start=start, end=end):
                rows += len(chunk)
                await asyncio.to_thread(book.write, chunk)
            await asyncio.to_thread(book.finish)
            await asyncio.to_thread(book.save, path)
        return rows, time.perf_counter() - t0, peak[0] - before, path.stat().st_size
    finally:
        stop.set()
        watcher.join()
        path.unlink(missing_ok=True)


async def main(args) -> None:
    servers = TestServers()
    settings = bench_settings(servers, ["funds"])
    try:
        conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
        try:
            await seed(conn, allocations=args.allocations, lines=args.lines, pairs=args.pairs)
            ids = [r["id"] for r in await conn.fetch("SELECT id FROM allocation ORDER BY id")]
        finally:
            await conn.close()
        db = Database(settings, "funds")
        try:
            await build(db, ids[:1])                                       # warm up (imports, pool)
            ref = await build(db, ids[:max(1, len(ids) // 10)])
            full = await build(db, ids)
        finally:
            await db.close()
    finally:
        await drop_databases(settings)
        servers.close()
    for label, (rows, secs, grew, size) in (("reference (1/10)", ref), ("county year", full)):
        print(f"{label}: {rows:,} rows in {secs:.1f} s ({rows / secs:,.0f} rows/s), peak memory +{grew / 2**20:.0f} MB, "
              f"workbook {size / 2**20:.1f} MB")
    print(f"ratio: rows x{full[0] / ref[0]:.1f}, seconds x{full[1] / ref[1]:.1f}, "
          f"memory growth x{max(full[2], 1) / max(ref[2], 1):.2f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--allocations", type=int, default=50)
    p.add_argument("--lines", type=int, default=2000)
    p.add_argument("--pairs", type=int, default=200)
    asyncio.run(main(p.parse_args()))
