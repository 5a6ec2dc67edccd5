"""``GET /api/v1/households/{id}`` through the gateway at c=32, against a bare FastAPI + asyncpg single-row read.

    uv run python bench/registry_read.py [--seconds 10] [--connections 32] [--repeat 3]

Starts (one uvicorn worker each) the gateway, the registry and a bare FastAPI + asyncpg app
(bench/registry_bare.py) on the same PostgreSQL and Redis; imports a village of 200 households through the
import path; loads each with wrk in the same run: the bare row read, the registry directly, and the gateway in
front of it, as a county administrator (full ID numbers: decrypted, and each read recorded in the PII access
log) and as a finance officer (masked: nothing decrypted, nothing logged). Prints rps, p50/p99 and the ratio to
the bare read, and writes them into bench/RESULTS.md (section ``registry_read``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

import os  # noqa: E402

from bench._harness import BenchEnv, Load, env_for, machine, wrk, write_section  # noqa: E402
from bench._county import COUNTY, csv_content, generate, seed_regions  # noqa: E402
from bench.registry_import import import_path  # noqa: E402
from shared.db import asyncpg_dsn, database_name  # noqa: E402
from shared.testing import make_token  # noqa: E402


async def seed(settings) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    await seed_regions(conn)
    await conn.close()
    _, outcome = await import_path(settings, csv_content(generate(200)), "village.csv")
    assert outcome.households_created == 200
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:
        return await conn.fetchval("SELECT id FROM household WHERE member_count = 4 ORDER BY id LIMIT 1")
    finally:
        await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    load0 = os.getloadavg()[0]
    bench = BenchEnv(["gateway", "registry"])
    settings = bench.settings
    try:
        household_id = asyncio.run(seed(settings))
        registry = bench.start("services.registry.app:create", env_for(settings))
        gateway = bench.start("services.gateway.app:create", env_for(settings, registry_url=registry.url))
        bare_env = env_for(settings) | {"BENCH_DSN": asyncpg_dsn(settings, database_name(settings, "registry"))}
        bare = bench.start("bench.registry_bare:create", bare_env)
        for s in bench.started:
            s.wait()
        admin = {"Authorization": "Bearer " + make_token(settings, role="county_admin", region=COUNTY, sub="bench",
                                                         ttl=3600)}
        finance = {"Authorization": "Bearer " + make_token(settings, role="finance_officer", region=COUNTY,
                                                           sub="bench-fin", ttl=3600)}
        path = f"/api/v1/households/{household_id}"
        warm = dict(seconds=2, connections=args.connections)
        run = dict(seconds=args.seconds, connections=args.connections)
        loads = (("bare FastAPI + asyncpg (one row)", f"{bare.url}/households/{household_id}", None),
                 ("registry direct, county admin (full, logged)", f"{registry.url}{path}", admin),
                 ("gateway → registry, county admin (full, logged)", f"{gateway.url}{path}", admin),
                 ("gateway → registry, finance officer (masked)", f"{gateway.url}{path}", finance))
        rounds: list[dict[str, Load]] = []
        for i in range(args.repeat):     # the machine's speed varies from minute to minute: medians of rounds
            current: dict[str, Load] = {}
            for name, url, headers in loads:
                wrk(url, headers=headers, **warm)
                current[name] = r = wrk(url, headers=headers, **run)
                print(f"round {i + 1} {name:50s} {r.rps:8.0f} rps  p50 {r.p50_ms:6.2f} ms  "
                      f"p99 {r.p99_ms:7.2f} ms  errors {r.errors}", flush=True)
            rounds.append(current)
        results = {name: Load(statistics.median(c[name].rps for c in rounds),
                              statistics.median(c[name].p50_ms for c in rounds),
                              statistics.median(c[name].p99_ms for c in rounds),
                              sum(c[name].errors for c in rounds)) for name, _, _ in loads}
        base = results["bare FastAPI + asyncpg (one row)"]
        lines = [
            "## Household read through the gateway vs a bare FastAPI + asyncpg row read",
            "",
            f"Command: `uv run python bench/registry_read.py --seconds {args.seconds} --connections "
            f"{args.connections} --repeat {args.repeat}` ({machine()}; load average {load0:.1f} at start; "
            f"wrk -t2 -c{args.connections}; one uvicorn worker per process; PostgreSQL and Redis on the same machine)",
            "",
            f"`GET {path}`: a household of 4 members (the full body: members, incomes, assurances). The bare app "
            "reads one household row with no auth (bench/registry_bare.py).",
            "",
            f"Each round loads the four paths one after another ({args.seconds} s each after a 2 s warm-up); the "
            f"table gives the median of {args.repeat} rounds for each figure, and the errors summed.",
            "",
            "| path | rps | p50 ms | p99 ms | rps ÷ bare | non-2xx/errors |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, r in results.items():
            lines.append(f"| {name} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.rps / base.rps:.2f} | "
                         f"{r.errors} |")
        ratio = results["gateway → registry, county admin (full, logged)"].rps / base.rps
        gateway_bare = "; ".join(f"{c['gateway → registry, county admin (full, logged)'].rps:.0f} / "
                                 f"{c['bare FastAPI + asyncpg (one row)'].rps:.0f}" for c in rounds)
        lines += ["", f"Goal ≥ 0.5 of the bare read through the gateway: {'met' if ratio >= 0.5 else 'NOT met'} "
                  f"({ratio:.2f}).", "",
                  f"Each round, gateway (county admin) / bare rps: {gateway_bare}.", "",
                  "The registry's household read (JWT verified in the gateway and again in the registry, the "
                  "household with its members, incomes and assurances in one statement, ID numbers decrypted and "
                  "the access-log row written) is the household core's path. The gateway proxies /api/v1/* on a "
                  "pure-ASGI path with raw HTTP/1.1 to the service over its keep-alive pool; the registry answers "
                  "this route on a pure-ASGI path that runs the FastAPI route's own auth, scope, read and answer "
                  "functions (tests/registry/test_household_read_path.py shows both answer alike); verified tokens "
                  "are cached until exp and revocations are held in process, fed by Redis. The gateway, the "
                  "registry, the bare app, wrk and PostgreSQL all share the 2 cores."]
        for name, r in results.items():
            print(f"ratio {name}: {r.rps / base.rps:.2f}")
        write_section("registry_read", "\n".join(lines))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
