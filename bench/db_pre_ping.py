"""What ``pool_pre_ping`` costs a request's session: a short transaction (one small query) per session, with and
without the ping that keeps a dead pooled connection from being handed out after a database restart.

    uv run python bench/db_pre_ping.py [--sessions 5000] [--concurrency 1,32] [--repeat 3]

Prints sessions/s for each and the ratio, and writes them into bench/RESULTS.md (section ``db_pre_ping``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench._harness import BenchEnv, machine, write_section  # noqa: E402
from shared.db import Database  # noqa: E402


async def rate(settings, *, pre_ping: bool, sessions: int, concurrency: int) -> float:
    db = Database(settings, "registry")
    db.engine.pool._pre_ping = pre_ping
    try:
        async def worker(n: int) -> None:
            for _ in range(n):
                async with db.sessionmaker() as session:
                    await session.execute(text("SELECT count(*) FROM region"))
                    await session.commit()
        await worker(50)                                            # warm the pool
        start = time.perf_counter()
        await asyncio.gather(*(worker(sessions // concurrency) for _ in range(concurrency)))
        return (sessions // concurrency) * concurrency / (time.perf_counter() - start)
    finally:
        await db.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=5000)
    ap.add_argument("--concurrency", default="1,32")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    bench = BenchEnv(["registry"])
    rows = []
    try:
        for c in [int(x) for x in args.concurrency.split(",")]:
            figures = {}
            for pre_ping in (False, True):
                figures[pre_ping] = statistics.median(
                    asyncio.run(rate(bench.settings, pre_ping=pre_ping, sessions=args.sessions, concurrency=c))
                    for _ in range(args.repeat))
            rows.append(f"| {c} | {figures[False]:,.0f} | {figures[True]:,.0f} | {figures[True] / figures[False]:.2f} |")
            print(rows[-1], flush=True)
    finally:
        bench.close()
    argv = " ".join(sys.argv[1:])
    body = "\n".join([
        "## A request's session with and without pool_pre_ping",
        "",
        f"Command: `uv run python bench/db_pre_ping.py{' ' + argv if argv else ''}` ({machine()}; load average "
        f"{load0:.1f} at start; PostgreSQL on the same machine; median of {args.repeat})",
        "",
        "Each session: check out a connection, one small query, commit, give it back. The ping is one extra "
        "round trip per checkout; it is what keeps a connection that died in the pool (a database restart) from "
        "being handed to a request.",
        "",
        "| concurrent sessions | sessions/s without ping | with ping | ratio |",
        "|---:|---:|---:|---:|",
        *rows,
    ])
    write_section("db_pre_ping", body)


if __name__ == "__main__":
    main()
