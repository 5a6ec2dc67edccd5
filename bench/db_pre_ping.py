"""What keeping dead pooled connections from requests costs a session: a short transaction (one small query) per
session, on a pool with no check, with the project's check (shared.db: the socket looked at on every checkout,
one round trip after more than a second idle) and with SQLAlchemy's ``pool_pre_ping`` (three round trips on
every checkout).

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
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine  # noqa: E402

from bench._harness import BenchEnv, machine, write_section  # noqa: E402
from shared.db import Database, sqlalchemy_url  # noqa: E402

VARIANTS = ("no check", "shared.db", "pool_pre_ping")


async def rate(settings, *, variant: str, sessions: int, concurrency: int) -> float:
    db = Database(settings, "registry")
    if variant != "shared.db":
        await db.engine.dispose()
        db.engine = create_async_engine(sqlalchemy_url(settings, "registry"), pool_size=20, max_overflow=0,
                                        pool_pre_ping=variant == "pool_pre_ping")
        db.sessionmaker = async_sessionmaker(db.engine, class_=db.sessionmaker.class_, expire_on_commit=False)
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
            figures = {v: statistics.median(
                asyncio.run(rate(bench.settings, variant=v, sessions=args.sessions, concurrency=c))
                for _ in range(args.repeat)) for v in VARIANTS}
            base = figures["no check"]
            rows.append(f"| {c} | " + " | ".join(f"{figures[v]:,.0f} ({figures[v] / base:.2f})" for v in VARIANTS)
                        + " |")
            print(rows[-1], flush=True)
    finally:
        bench.close()
    argv = " ".join(sys.argv[1:])
    body = "\n".join([
        "## A request's session: what never handing out a dead pooled connection costs",
        "",
        f"Command: `uv run python bench/db_pre_ping.py{' ' + argv if argv else ''}` ({machine()}; load average "
        f"{load0:.1f} at start; PostgreSQL on the same machine; median of {args.repeat})",
        "",
        "Each session: check out a connection, one small query, commit, give it back. sessions/s (÷ no check). "
        "shared.db looks at the socket on every checkout and pings only a connection idle for more than a second; "
        "pool_pre_ping pays BEGIN, a ping and ROLLBACK on every checkout. Without a check, a connection that died "
        "in the pool (a database restart) is handed to a request, which fails.",
        "",
        "| concurrent sessions | " + " | ".join(VARIANTS) + " |",
        "|---:|---:|---:|---:|",
        *rows,
    ])
    write_section("db_pre_ping", body)


if __name__ == "__main__":
    main()
