"""Ledger postings through the service's code against a bare PL/pgSQL posting, and project payment writes
through the funds app before and after they answered only what they created.

    uv run python bench/funds_postings.py [--seconds 3] [--concurrency 1,8,32] [--pay-seconds 10] [--history 300]

Postings: each one a commitment of 1 fen (available → committed) of an allocation, on one hot allocation (every
posting waits for the one before to commit: its accounts' rows are locked until then) and on many (one allocation
per concurrent writer). "service" is what a request does: a session from shared.db, ``ledger.post`` (one call of
the database's ``ledger_post``, its accounts locked in id order), commit. "bare" calls a PL/pgSQL function doing
the same inserts (the entry, its two lines, the same triggers) in autocommit on a bare asyncpg pool, in the same
run. Payments: real uvicorn processes of the funds app, this checkout's and the one before (``git archive``), wrk
posting 1.00 payments at c=32 to one accepted project that already has ``--history`` payments.

Prints the figures and ratios and writes them into bench/RESULTS.md (section ``funds_postings``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import httpx  # noqa: E402

from bench._harness import ROOT, BenchEnv, Server, env_for, machine, write_section  # noqa: E402
from services.funds.glossary import EntryKind  # noqa: E402
from services.funds.ledger import service as ledger  # noqa: E402
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine  # noqa: E402

from shared.db import Database, asyncpg_dsn, database_name, sqlalchemy_url  # noqa: E402
from shared.testing import make_token  # noqa: E402

REGION, VILLAGE = "640122100000", "640122100001"
BARE = """
CREATE OR REPLACE FUNCTION bench_bare_post(acc_out bigint, acc_in bigint, fen bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE eid bigint;
BEGIN
  INSERT INTO ledger_entry (kind, ref, actor, memo, reverses_id) VALUES ('commit', 'bench', 'bench', '', NULL)
    RETURNING id INTO eid;
  INSERT INTO ledger_line (entry_id, account_id, amount) VALUES (eid, acc_out, -fen), (eid, acc_in, fen);
  RETURN eid;
END $$"""


async def seed_allocations(conn: asyncpg.Connection, n: int, *, fen: int = 10**14) -> list[dict[str, int]]:
    """``n`` allocations of one source, each holding ``fen``: their account ids."""
    source = await conn.fetchval("INSERT INTO fund_source (name, level, doc_no, year, region_code, created_by, version)"
                                 " VALUES ('bench', 'central', 'bench', 2020, $1, 'bench', 1) RETURNING id", REGION)
    src_acc = await conn.fetchval("INSERT INTO ledger_account (kind, source_id) VALUES ('source', $1) RETURNING id",
                                  source)
    out = []
    for _ in range(n):
        aid = await conn.fetchval("INSERT INTO allocation (source_id, region_code, purpose, year, doc_no, granted, "
                                  "created_by) VALUES ($1, $2, 'industry', 2020, 'bench', $3, 'bench') RETURNING id",
                                  source, REGION, fen)
        acc = {"id": aid}
        for kind in ("available", "committed", "spent"):
            acc[kind] = await conn.fetchval(
                "INSERT INTO ledger_account (kind, source_id, allocation_id, purpose, region_code) "
                "VALUES ($1, $2, $3, 'industry', $4) RETURNING id", kind, source, aid, REGION)
        async with conn.transaction():
            eid = await conn.fetchval("INSERT INTO ledger_entry (kind, ref, actor) VALUES ('allocate', $1, 'bench') "
                                      "RETURNING id", f"allocation:{aid}")
            await conn.execute("INSERT INTO ledger_line (entry_id, account_id, amount) VALUES ($1, $2, $3), "
                               "($1, $4, $5)", eid, src_acc, -fen, acc["available"], fen)
        out.append(acc)
    return out


async def postings(settings, dsn: str, *, variant: str, allocations: list[dict[str, int]], concurrency: int,
                   seconds: float, durable: bool = True) -> float:
    """Postings/s; ``durable=False``: synchronous_commit off on every connection (the disk out of the picture)."""
    server_settings = {} if durable else {"synchronous_commit": "off"}
    db = Database(settings, "funds", pool_size=concurrency) if variant == "service" else None
    if db is not None and not durable:
        await db.engine.dispose()
        db.engine = create_async_engine(sqlalchemy_url(settings, "funds"), pool_size=concurrency, max_overflow=0,
                                        connect_args={"server_settings": server_settings})
        db.sessionmaker = async_sessionmaker(db.engine, class_=db.sessionmaker.class_, expire_on_commit=False)
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency,
                                     server_settings=server_settings) if db is None else None
    done = 0

    async def writer(k: int, deadline: float) -> None:
        nonlocal done
        acc = allocations[k % len(allocations)]
        while time.perf_counter() < deadline:
            if db is not None:
                async with db.sessionmaker() as s:
                    await ledger.post(s, kind=EntryKind.commit, ref="bench", actor="bench",
                                      lines=[(acc["available"], -1), (acc["committed"], 1)])
                    await s.commit()
            else:
                async with pool.acquire() as conn:
                    await conn.fetchval("SELECT bench_bare_post($1, $2, 1)", acc["available"], acc["committed"])
            done += 1

    try:
        await asyncio.gather(*(writer(k, time.perf_counter() + 0.5) for k in range(concurrency)))      # warm
        done = 0
        start = time.perf_counter()
        await asyncio.gather(*(writer(k, start + seconds) for k in range(concurrency)))
        return done / (time.perf_counter() - start)
    finally:
        if db is not None:
            await db.close()
        if pool is not None:
            await pool.close()


async def seed_project(conn: asyncpg.Connection, acc: dict[str, int]) -> int:
    return await conn.fetchval(
        "INSERT INTO project (name, purpose, village_code, budget, beneficiary_household_ids, status, proposed_by) "
        "VALUES ('欣荣村肉牛养殖基地', 'industry', $1, $2, '{}', 'accepted', 'bench') RETURNING id",
        VILLAGE, 10**13)


def pay_load(url: str, token: str, *, seconds: int, connections: int) -> tuple[float, float, float, int, int]:
    """wrk posting payments: rps, p50 ms, p99 ms, non-2xx, bytes per answer."""
    script = Path(tempfile.mkdtemp()) / "pay.lua"
    script.write_text('wrk.method = "POST"\nwrk.body = \'{"amount": "1.00", "payee": "贺兰县建工公司", '
                      '"stage": "progress"}\'\nwrk.headers["Content-Type"] = "application/json"\n'
                      f'wrk.headers["Authorization"] = "Bearer {token}"\n', encoding="utf-8")
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
                         capture_output=True, text=True, check=True).stdout
    unit = {"us": 0.001, "ms": 1.0, "s": 1000.0}

    def ms(label: str) -> float:
        value, u = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * unit[u]
    non2xx = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    total = float(re.search(r"([\d.]+)(KB|MB|GB|B) read", out).group(1)) * {
        "B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}[re.search(r"[\d.]+(KB|MB|GB|B) read", out).group(1)]
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), ms("50"), ms("99"), non2xx, int(
        total / max(requests, 1))


def payments(bench: BenchEnv, conn_dsn: str, *, seconds: int, history: int, before: str) -> list[str]:
    settings = bench.settings
    main_dir = Path(tempfile.mkdtemp(prefix="jz-before-"))
    subprocess.run(f"git -C {ROOT} archive {before} | tar -x -C {main_dir}", shell=True, check=True)
    rows = []
    token = make_token(settings, role="finance_officer", region="640122000000", sub="bench")
    headers = {"Authorization": f"Bearer {token}"}
    for label, cwd in ((f"before ({before}: answers the whole project)", main_dir),
                       ("after (answers the payment)", ROOT)):
        server = Server("services.funds.app:create", env_for(settings))
        server.proc.terminate()
        server.proc.wait()
        server.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "services.funds.app:create", "--host", "127.0.0.1",
             "--port", str(server.port), "--log-level", "warning", "--no-access-log"],
            cwd=cwd, env=env_for(settings), stdout=subprocess.DEVNULL, stderr=sys.stderr)
        bench.started.append(server)
        server.wait()

        async def prepare() -> int:
            conn = await asyncpg.connect(conn_dsn)
            try:
                acc = (await seed_allocations(conn, 1, fen=10**13))[0]
                return await seed_project(conn, acc), acc["id"]
            finally:
                await conn.close()
        pid, aid = asyncio.run(prepare())
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as c:
            r = c.post(f"/api/v1/projects/{pid}/fundings", json={"allocation_id": aid, "amount": "10000000.00"})
            assert r.status_code == 201, r.text
            for _ in range(history):
                r = c.post(f"/api/v1/projects/{pid}/payments",
                           json={"amount": "1.00", "payee": "贺兰县建工公司", "stage": "progress"})
                assert r.status_code == 201, r.text
            last = len(r.content)
        rps, p50, p99, errors, size = pay_load(f"{server.url}/api/v1/projects/{pid}/payments", token,
                                               seconds=seconds, connections=32)
        rows.append((label, rps, p50, p99, errors, last, size))
        print(f"payments {label}: {rps:.0f}/s p50 {p50:.1f} ms p99 {p99:.1f} ms non-2xx {errors} "
              f"answer {last} B after {history}, mean {size} B", flush=True)
        server.stop()
    shutil.rmtree(main_dir, ignore_errors=True)
    base = rows[0][1]
    return [f"| {label} | {rps:.0f} | {p50:.1f} | {p99:.1f} | {rps / base:.2f} | {last:,} | {size:,} | {errors} |"
            for label, rps, p50, p99, errors, last, size in rows]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--pay-seconds", type=int, default=10)
    ap.add_argument("--history", type=int, default=300)
    ap.add_argument("--before", default="fef7583", help="the code before payments answered only themselves")
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    bench = BenchEnv(["funds"])
    settings = bench.settings
    dsn = asyncpg_dsn(settings, database_name(settings, "funds"))
    levels = [int(x) for x in args.concurrency.split(",")]
    rows = []
    try:
        async def setup() -> tuple[list, list]:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(BARE)
                return await seed_allocations(conn, 1), await seed_allocations(conn, max(levels))
            finally:
                await conn.close()
        hot, many = asyncio.run(setup())
        for durable in (True, False):
            for target, allocations in (("one hot allocation", hot), ("many allocations", many)):
                for c in levels:
                    figures = {v: asyncio.run(postings(settings, dsn, variant=v, allocations=allocations,
                                                       concurrency=c, seconds=args.seconds, durable=durable))
                               for v in ("bare", "service")}
                    rows.append(f"| {'on' if durable else 'off'} | {target} | {c} | {figures['service']:,.0f} | "
                                f"{figures['bare']:,.0f} | {figures['service'] / figures['bare']:.2f} |")
                    print(rows[-1], flush=True)
        pay_rows = payments(bench, dsn, seconds=args.pay_seconds, history=args.history, before=args.before)
    finally:
        bench.close()
    argv = " ".join(sys.argv[1:])
    write_section("funds_postings", "\n".join([
        "## Ledger postings through the service vs a bare PL/pgSQL posting; project payments before/after",
        "",
        f"Command: `uv run python bench/funds_postings.py{' ' + argv if argv else ''}` ({machine()}; load average "
        f"{load0:.1f} at start; PostgreSQL 15 on the same machine, fsync and synchronous_commit on)",
        "",
        "Postings/s, each a 1-fen commitment in its own transaction. service: a shared.db session, `ledger.post` "
        "(one `ledger_post` call: accounts locked in id order, entry and lines inserted), commit. bare: a PL/pgSQL "
        "function inserting the same entry and lines (same triggers), autocommit, bare asyncpg pool; same run. "
        "synchronous_commit on is how the service runs (a commit waits for the WAL on disk, and a hot allocation's "
        "rows stay locked until then); off takes the disk out of the picture to show what the code itself costs.",
        "",
        "| synchronous_commit | allocations | concurrent writers | service | bare | service ÷ bare |",
        "|---|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"Project payment writes through a real uvicorn funds process (one worker), wrk -c32 for {args.pay_seconds} s,"
        f" one accepted project with {args.history} payments before the run (every payment of one project waits for "
        "the one before: its row is locked); before = `git archive <--before>`, same database.",
        "",
        "| code | payments/s | p50 ms | p99 ms | ÷ before | answer bytes after history | mean answer bytes in run "
        "| non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        *pay_rows,
    ]))


if __name__ == "__main__":
    main()
