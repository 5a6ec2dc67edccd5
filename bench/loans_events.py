"""Partner banks' loan events through the gateway at c=32 with 5% duplicates, against a bare FastAPI insert.

    uv run python bench/loans_events.py [--seconds 10] [--connections 32] [--loans 500] [--funds-workers 1]

Imports 200 households, starts registry, funds (``--funds-workers`` processes) and gateway (uvicorn) and the bare app
(bench/loans_bare.py), opens ``--loans`` loans of one borrower with an ``issued`` event each, then loads
``POST /api/v1/bank/loan-events`` with wrk (bench/loans_events.lua): ``repaid`` events of 1.00 spread over the
loans, each with a fresh ``Idempotency-Key``, 5% of them a duplicate ``event_id`` of an event already sent.
Then counts rows: every duplicate absorbed (no row, no change to its loan), and re-posts a sample of stored events
to check they answer ``stored: false``. The reference is the same wrk load on the bare app (one INSERT … ON
CONFLICT per request, no auth, idempotency or audit). A second reference, "SQL alone", sends the statements the
service sends for an event (the repository's and shared's own statement texts: Idempotency-Key claimed, the loan
locked, its events read, event and loan written, audit row, answer kept, commit; the chain sealed alongside) from
``--connections`` tasks on a bare asyncpg pool of the service's size, with no HTTP, validation or replay: what
this machine's PostgreSQL allows the service at most. CPU per event of each process is measured over each run.
Goal ≥ 1,000 events/s. Writes bench/RESULTS.md."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import orjson  # noqa: E402
import psutil  # noqa: E402

from bench._harness import BenchEnv, Load, _ms, env_for, machine, write_section  # noqa: E402
from bench._county import COUNTY, csv_content, generate, seed_regions  # noqa: E402
from bench.registry_import import import_path  # noqa: E402
from services.funds.loans.repository import LOAN_EVENTS, LOCK_LOAN, STORE_EVENT  # noqa: E402
from shared import audit  # noqa: E402
from shared.db import Database, asyncpg_dsn, database_name  # noqa: E402
from shared.idempotency import ANSWER, CLAIM  # noqa: E402
from shared.testing import make_token  # noqa: E402

LUA = Path(__file__).with_name("loans_events.lua")


async def seed(settings) -> str:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    await seed_regions(conn)
    await conn.close()
    rows = generate(200)
    _, outcome = await import_path(settings, csv_content(rows), "village.csv")
    assert outcome.households_created == 200
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    await conn.execute("UPDATE household SET status = 'registered', registered_year = 2020")
    await conn.close()
    return rows[0][9]          # the first household's head


async def open_loans(url: str, headers: dict, id_number: str, n: int) -> None:
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as c:
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                r = await c.post("/api/v1/bank/loan-events", headers={"Idempotency-Key": f"open-{i}"}, json={
                    "event_id": f"open-{i}", "loan_no": f"NX-B{i}", "id_number": id_number, "kind": "issued",
                    "occurred_at": "2020-07-01T09:00:00+08:00", "amount": "1000000.00", "rate": "0.0435",
                    "term_months": 36})
                assert r.status_code == 201, r.text
        await asyncio.gather(*(one(i) for i in range(n)))


def cpu_seconds() -> dict[str, float]:
    """CPU seconds so far of this machine's PostgreSQL, of each bench service and of this process."""
    out: dict[str, float] = {}
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            cmd = " ".join(p.info["cmdline"] or [])
            who = ("postgres" if (p.info["name"] or "").startswith("postgres") else
                   next((s for s in ("funds", "gateway", "registry") if f"services.{s}.app" in cmd), None))
            if p.pid == os.getpid():
                who = "bench"
            if who:         # a service's uvicorn workers are its children (multiprocessing spawn)
                for q in [p, *(p.children(recursive=True) if who in ("funds", "gateway", "registry") else [])]:
                    t = q.cpu_times()
                    out[who] = out.get(who, 0.0) + t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out


def per_event_ms(before: dict[str, float], after: dict[str, float], events: float) -> dict[str, float]:
    return {k: (after[k] - before.get(k, 0.0)) * 1000 / events for k in after if events}


async def sql_alone(settings, *, seconds: int, connections: int, loans: int) -> tuple[float, dict[str, float]]:
    """The service's statements for a ``repaid`` event of 1.00, in its order, from ``connections`` tasks on a bare
    pool (the size of the service's); the audit chain sealed alongside. (events/s, CPU ms per event)."""
    pool = await asyncpg.create_pool(asyncpg_dsn(settings, database_name(settings, "funds")), min_size=20,
                                     max_size=20)
    db = Database(settings, "funds")
    answer = orjson.dumps({"stored": True, "loan": {"events": [{"kind": "repaid", "amount": "1.00"}] * 8}}).decode()
    stop, done = time.monotonic() + seconds, 0

    async def seal() -> None:
        while time.monotonic() < stop:
            await audit.sweep(db.engine)
            await asyncio.sleep(0.002)

    async def post(task: int) -> None:
        nonlocal done
        i = 0
        while time.monotonic() < stop:
            i += 1
            key, loan_no = f"sql-{task}-{i}", f"NX-B{(task * 7919 + i) % loans}"
            async with pool.acquire() as conn, conn.transaction():
                await conn.fetchval(CLAIM, "client-nx", key, "0" * 64)
                loan = await conn.fetchrow(LOCK_LOAN, loan_no)
                events = await conn.fetch(LOAN_EVENTS, loan_no)
                await conn.fetchrow(
                    STORE_EVENT, loan["bank_code"], key, loan_no, "repaid", events[0]["occurred_at"], 100, None, None,
                    None, None, events[0]["id_hmac"], "0" * 64, loan["status"], loan["rating"], loan["credit_line"],
                    loan["principal"], loan["outstanding"] - 100, loan["rate"], loan["term_months"],
                    loan["issued_on"], loan["overdue_since"], loan["compensated"], loan["steps"], loan["updated_at"])
                await conn.execute(audit.PENDING, loan["updated_at"], "client-nx", "loan.repaid", "loan", loan_no,
                                   '{"kind": "repaid", "amount": "1.00"}')
                await conn.execute(ANSWER, "client-nx", key, 201, answer)
            done += 1

    try:
        before, started = cpu_seconds(), time.monotonic()
        await asyncio.gather(seal(), *(post(t) for t in range(connections)))
        elapsed = time.monotonic() - started
        await audit.sweep(db.engine)
        return done / elapsed, per_event_ms(before, cpu_seconds(), done)
    finally:
        await pool.close()
        await db.close()


def wrk_post(url: str, env: dict, headers: dict, *, seconds: int, connections: int) -> tuple[Load, dict]:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(LUA)]
    for k, v in headers.items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True, env=os.environ | env).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    load = Load(rps, _ms(re.search(r"\s50%\s+(\S+)", out).group(1)), _ms(re.search(r"\s99%\s+(\S+)", out).group(1)),
                sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out)))
    counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", out.split("BENCH", 1)[1])}
    return load, counts


async def rows(settings, sql: str):
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    try:
        return await conn.fetchrow(sql)
    finally:
        await conn.close()


async def stored_sample(settings) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "funds")))
    try:
        return [(r["event_id"], r["loan_no"]) for r in await conn.fetch(
            "SELECT event_id, loan_no FROM loan_event WHERE kind = 'repaid' ORDER BY random() LIMIT 200")]
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--loans", type=int, default=500)
    ap.add_argument("--funds-workers", type=int, default=1, help="uvicorn worker processes of funds")
    args = ap.parse_args()
    bench = BenchEnv(["gateway", "registry", "funds"])
    settings = bench.settings
    try:
        id_number = asyncio.run(seed(settings))
        registry = bench.start("services.registry.app:create", env_for(settings))
        funds = bench.start("services.funds.app:create", env_for(settings, registry_url=registry.url),
                            workers=args.funds_workers)
        gateway = bench.start("services.gateway.app:create",
                              env_for(settings, registry_url=registry.url, funds_url=funds.url))
        bare = bench.start("bench.loans_bare:create", env_for(settings) | {
            "BENCH_DSN": asyncpg_dsn(settings, database_name(settings, "funds"))})
        for s in bench.started:
            s.wait(timeout=300)        # the machine may be loaded
        token = make_token(settings, role="bank", region=COUNTY, sub="client-nx", bank="NXRCU", ttl=3600)
        h = {"Authorization": f"Bearer {token}"}
        asyncio.run(open_loans(gateway.url, h, id_number, args.loans))
        env = {"BENCH_ID_NUMBER": id_number, "BENCH_LOANS": str(args.loans)}
        run = dict(seconds=args.seconds, connections=args.connections)
        wrk_post(f"{bare.url}/events", env, {}, seconds=2, connections=args.connections)
        cpu0 = cpu_seconds()
        bare_load, _ = wrk_post(f"{bare.url}/events", env, {}, **run)
        cpu1 = cpu_seconds()
        load, counts = wrk_post(f"{gateway.url}/api/v1/bank/loan-events", env, h, **run)
        cpu2 = cpu_seconds()
        time.sleep(3)           # the requests wrk left in flight finish
        stored = moved = asyncio.run(rows(settings, "SELECT (SELECT count(*) FROM loan_event WHERE kind = 'repaid')"
                                                    " AS n, (SELECT sum(principal - outstanding)::bigint FROM loan)"
                                                    " AS fen"))
        sample = asyncio.run(stored_sample(settings))
        with httpx.Client(base_url=gateway.url, headers=h, timeout=30) as c:
            again = [c.post("/api/v1/bank/loan-events",
                            headers={"Idempotency-Key": f"again-{event_id}", "Content-Type": "application/json"},
                            content=(f'{{"event_id":"{event_id}","loan_no":"{loan_no}","id_number":"{id_number}",'
                                     '"kind":"repaid","occurred_at":"2021-01-01T09:00:00+08:00","amount":"1.00"}'))
                     for event_id, loan_no in sample]
        after = asyncio.run(rows(settings, "SELECT count(*) AS n FROM loan_event WHERE kind = 'repaid'"))
        sample_ok = all(r.status_code == 200 and r.json()["stored"] is False for r in again)
        # in flight when wrk stopped: sent, stored, but no answer counted (at most one per connection)
        in_flight = stored["n"] - counts["created"]
        absorbed = (0 <= in_flight <= args.connections and moved["fen"] == stored["n"] * 100 and sample_ok
                    and after["n"] == stored["n"] and load.errors == 0)
        ratio = load.rps / bare_load.rps
        sql_rps, sql_cost = asyncio.run(sql_alone(settings, seconds=args.seconds, connections=args.connections,
                                                  loans=args.loans))
        cost = {"bare": per_event_ms(cpu0, cpu1, bare_load.rps * args.seconds),
                "service": per_event_ms(cpu1, cpu2, load.rps * args.seconds), "sql": sql_cost}
        service_ms = {k: cost["service"].get(k, 0.0) for k in ("gateway", "funds", "postgres")}
        print(f"SQL alone (bare asyncpg): {sql_rps:.0f}/s; PostgreSQL {cost['sql']['postgres']:.2f} ms CPU per event, "
              f"the client {cost['sql']['bench']:.2f}")
        print("CPU ms per event through the gateway: " + ", ".join(f"{k} {v:.2f}" for k, v in service_ms.items()))
        print(f"bare FastAPI insert: {bare_load.rps:.0f}/s p50 {bare_load.p50_ms:.2f} ms p99 {bare_load.p99_ms:.2f} ms")
        print(f"gateway → funds loan events: {load.rps:.0f}/s p50 {load.p50_ms:.2f} ms p99 {load.p99_ms:.2f} ms "
              f"non-2xx {load.errors}; ratio {ratio:.2f}")
        print(f"sent {counts['uniques'] + counts['dups']} ({counts['dups']} duplicates); answered 201 "
              f"{counts['created']}, 200 {counts['replayed']}, other {counts['other']}; repaid rows {stored['n']} "
              f"(in flight at the end {in_flight}); loans moved {moved['fen'] / 100:.2f} yuan; 200 re-posts "
              f"{'all stored:false' if sample_ok else 'NOT all absorbed'}; absorbed: {absorbed}")
        write_section("loans_events", "\n".join([
            "## Bank loan events through the gateway, 5% duplicates",
            "",
            f"Command: `uv run python bench/loans_events.py --seconds {args.seconds} --connections "
            f"{args.connections} --loans {args.loans} --funds-workers {args.funds_workers}` ({machine()}; wrk -t2 "
            f"-c{args.connections} with bench/loans_events.lua; registry and gateway one uvicorn worker each, funds "
            f"{args.funds_workers}; PostgreSQL and Redis on the same machine)",
            "",
            f"`POST /api/v1/bank/loan-events`: `repaid` events of 1.00 over {args.loans} open loans, each with a "
            "fresh Idempotency-Key, 5% a duplicate event_id of one already sent. Each event: JWT verified in the "
            "gateway and in funds, Idempotency-Key claimed, the loan locked, its events read, the impossibility "
            "rules and the replay, the event and the loan written, the audit chain appended, in one transaction.",
            "",
            "| path | events/s | p50 ms | p99 ms | ÷ bare | non-2xx |",
            "|---|---:|---:|---:|---:|---:|",
            f"| bare FastAPI + asyncpg, one INSERT … ON CONFLICT | {bare_load.rps:.0f} | {bare_load.p50_ms:.2f} | "
            f"{bare_load.p99_ms:.2f} | 1.00 | {bare_load.errors} |",
            f"| gateway → funds ({args.funds_workers} worker{'s' if args.funds_workers > 1 else ''}) | "
            f"{load.rps:.0f} | {load.p50_ms:.2f} | {load.p99_ms:.2f} | {ratio:.2f} | "
            f"{load.errors} |",
            f"| SQL alone: the service's statements from bare asyncpg, no HTTP | {sql_rps:.0f} | | | "
            f"{sql_rps / bare_load.rps:.2f} | |",
            "",
            f"CPU per event (ms, {os.cpu_count()} cores for everything): through the gateway, gateway "
            f"{service_ms['gateway']:.2f}, funds {service_ms['funds']:.2f}, PostgreSQL {service_ms['postgres']:.2f}; "
            f"SQL alone, PostgreSQL {cost['sql']['postgres']:.2f} and its client {cost['sql']['bench']:.2f}; bare app, "
            f"PostgreSQL {cost['bare'].get('postgres', 0.0):.2f}. At 1,000 events/s every ms per event is a core.",
            "",
            f"Duplicates: {counts['dups']:,} of {counts['uniques'] + counts['dups']:,} posts; answered 201 "
            f"{counts['created']:,}, 200 (`stored: false`) {counts['replayed']:,}. Rows: {stored['n']:,} repaid "
            f"events ({in_flight} still in flight when wrk stopped), and the loans' principal moved by exactly "
            f"{moved['fen'] / 100:,.2f} yuan (one 1.00 per row); 200 stored events posted again all answered "
            f"`stored: false` and added no row. Every duplicate absorbed: {'yes' if absorbed else 'NO'}.",
            "",
            f"Goal ≥ 1,000 events/s: {'met' if load.rps >= 1000 else 'not met'} ({load.rps:.0f}/s).",
        ]))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
