"""A token-verified read through the gateway into the registry, against the same read on a bare FastAPI app.

    uv run python bench/gateway_read.py [--seconds 10] [--connections 32]

Starts (one uvicorn worker each) the gateway, the registry and a bare FastAPI + asyncpg app on the same
PostgreSQL and Redis, loads each with wrk in the same run, prints throughput, p50/p99 and ratios, and
writes them into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402

from bench._harness import BenchEnv, env_for, machine, wrk, write_section  # noqa: E402
from shared.db import asyncpg_dsn, database_name  # noqa: E402
from shared.testing import make_token  # noqa: E402

CODE = "640122000000"


async def seed(settings) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    await conn.execute("INSERT INTO region (code, name, level, parent_code, rural_population, version) "
                       "VALUES ($1, '贺兰县', 'county', '640100000000', 120000, 1) ON CONFLICT DO NOTHING", CODE)
    await conn.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()

    bench = BenchEnv(["gateway", "registry"])
    settings = bench.settings
    try:
        asyncio.run(seed(settings))
        registry = bench.start("services.registry.app:create", env_for(settings))
        gateway = bench.start("services.gateway.app:create", env_for(settings, registry_url=registry.url))
        bare_env = env_for(settings) | {"BENCH_DSN": asyncpg_dsn(settings, database_name(settings, "registry"))}
        bare = bench.start("bench.bare_app:create", bare_env)
        for s in bench.started:
            s.wait()
        token = make_token(settings, role="county_admin", region=CODE, sub="bench")
        h = {"Authorization": f"Bearer {token}"}
        warm = dict(seconds=2, connections=args.connections)
        run = dict(seconds=args.seconds, connections=args.connections)
        results = {}
        for name, url, headers in (("bare FastAPI + asyncpg", f"{bare.url}/regions/{CODE}", None),
                                   ("registry direct (JWT verified)", f"{registry.url}/api/v1/regions/{CODE}", h),
                                   ("gateway → registry (JWT verified twice)", f"{gateway.url}/api/v1/regions/{CODE}", h)):
            wrk(url, headers=headers, **warm)
            results[name] = wrk(url, headers=headers, **run)
            r = results[name]
            print(f"{name:42s} {r.rps:8.0f} rps  p50 {r.p50_ms:6.2f} ms  p99 {r.p99_ms:6.2f} ms  errors {r.errors}")
        base = results["bare FastAPI + asyncpg"]
        lines = [
            "## Token-verified read through the gateway vs a bare FastAPI read",
            "",
            f"Command: `uv run python bench/gateway_read.py --seconds {args.seconds} --connections {args.connections}`"
            f" ({machine()}; wrk -t2 -c{args.connections}; one uvicorn worker per process; PostgreSQL and Redis"
            " on the same machine)",
            "",
            "| path | rps | p50 ms | p99 ms | rps ÷ bare | non-2xx/errors |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for name, r in results.items():
            lines.append(f"| {name} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.rps / base.rps:.2f} | {r.errors} |")
        for name, r in results.items():
            print(f"ratio {name}: {r.rps / base.rps:.2f}")
        write_section("gateway_read", "\n".join(lines))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
