"""What a person at `jingzhun up` reads from a worker: one line per finished job, not one per cron tick."""

from __future__ import annotations

import logging
import uuid

from shared import queue
from shared.testing import wait_until
from tests.shared.workers import worker_running

done: list[str] = []


async def heartbeat(ctx) -> None:
    done.append("tick")


async def import_file(ctx, name: str) -> str:
    done.append(name)
    return name


async def test_a_worker_shows_its_jobs_and_not_its_cron_ticks(settings, caplog):
    kwargs = queue.worker_settings(settings, "registry", functions=[import_file],
                                   cron_jobs=[queue.every(heartbeat, seconds=1)])
    caplog.set_level(logging.INFO, logger="arq.worker")
    async with worker_running(kwargs):
        pool = await queue.connect(settings)
        try:
            await queue.enqueue(pool, queue=kwargs["queue_name"], function="import_file", args=("村有册.xlsx",),
                                job_id=f"console-{uuid.uuid4()}")
            async def both_ran() -> bool:
                return "村有册.xlsx" in done and done.count("tick") >= 2
            assert await wait_until(both_ran, timeout=15), done
        finally:
            await pool.aclose()
    lines = [r.getMessage() for r in caplog.records if r.name == "arq.worker"]
    finished = [line for line in lines if " ← " in line]
    assert len(finished) == 1 and "import_file" in finished[0], lines      # the job, once
    assert not any("heartbeat" in line for line in lines), lines           # two ticks ran, none shown
    assert not any(" → " in line for line in lines), lines                 # starts are not news
