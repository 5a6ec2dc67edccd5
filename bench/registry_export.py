"""A county's 村有册 as .xlsx: ``GET /api/v1/exports/households.xlsx`` over 100,000 imported households.

    uv run python bench/registry_export.py [--households 100000]

Imports the bench county (bench/registry_import.py's generator, through the import path), starts the registry
(one uvicorn worker) and asks for the county's workbook as a county administrator (ID numbers and phones in
full: decrypted, and the export recorded in the PII access log) and as a finance officer (masked). Prints the
time, the workbook's size and the registry process's peak memory, and writes them into bench/RESULTS.md
(section ``registry_export``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
import httpx  # noqa: E402
import psutil  # noqa: E402

from bench._harness import BenchEnv, env_for, machine, write_section  # noqa: E402
from bench._county import COUNTY, csv_content, generate, seed_regions  # noqa: E402
from bench.registry_import import import_path  # noqa: E402
from shared.db import asyncpg_dsn, database_name  # noqa: E402
from shared.testing import make_token  # noqa: E402


async def seed(settings, households: int) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, "registry")))
    try:
        await seed_regions(conn)
    finally:
        await conn.close()
    rows = generate(households)
    _, outcome = await import_path(settings, csv_content(rows), "county.csv")
    assert outcome.households_created == households and not outcome.errors
    return len(rows)


class PeakMemory:
    """The highest resident memory of a process, sampled every 20 ms while it runs."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.start = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=100_000)
    args = ap.parse_args()
    load0 = os.getloadavg()[0]
    bench = BenchEnv(["registry"])
    settings = bench.settings
    try:
        members = asyncio.run(seed(settings, args.households))
        registry = bench.start("services.registry.app:create", env_for(settings)).wait()
        url = f"{registry.url}/api/v1/exports/households.xlsx?region={COUNTY}"
        lines = []
        for who, role in (("county administrator (full, logged)", "county_admin"),
                          ("finance officer (masked)", "finance_officer")):
            token = make_token(settings, role=role, region=COUNTY, sub=f"bench-{role}", ttl=3600)
            with PeakMemory(registry.proc.pid) as memory, httpx.Client(timeout=600) as client:
                started = time.perf_counter()
                r = client.get(url, headers={"Authorization": f"Bearer {token}"})
                seconds = time.perf_counter() - started
            r.raise_for_status()
            growth = (memory.peak - memory.start) / 2**20
            print(f"{who}: {seconds:.1f} s, {members / seconds:,.0f} member rows/s, {len(r.content) / 2**20:.1f} MB, "
                  f"registry memory +{growth:,.0f} MB (peak {memory.peak / 2**20:,.0f} MB)", flush=True)
            lines.append(f"| {who} | {seconds:.1f} | {members / seconds:,.0f} | {len(r.content) / 2**20:.1f} | "
                         f"+{growth:,.0f} |")
        write_section("registry_export", "\n".join([
            "## County export: 村有册 as .xlsx",
            "",
            f"Command: `uv run python bench/registry_export.py --households {args.households}` ({machine()}; load "
            f"average {load0:.1f} at start; the registry in one uvicorn worker; PostgreSQL on the same machine)",
            "",
            f"`GET /api/v1/exports/households.xlsx?region={COUNTY}` over {args.households:,} households "
            f"({members:,} members, 200 villages: one sheet each), from request to the last byte.",
            "",
            "| caller | seconds | member rows/s | workbook MB | registry memory during the export, MB |",
            "|---|---:|---:|---:|---:|",
            *lines,
        ]))
    finally:
        bench.close()


if __name__ == "__main__":
    main()
