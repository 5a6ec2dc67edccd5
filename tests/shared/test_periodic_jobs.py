"""A worker's hourly and daily jobs when the service they ask is not up yet (the worker started first)."""

from __future__ import annotations

import pytest

from shared import queue
from shared.problems import ServiceUnavailable
from shared.testing import wait_until
from tests.shared.workers import worker_running

tries: list[int] = []
refusals = {"left": 0}             # how many more runs find the registry away


async def daily_report(ctx) -> str:
    tries.append(ctx["job_try"])
    if refusals["left"] > 0:
        refusals["left"] -= 1
        raise ServiceUnavailable("registry service is unreachable (ConnectError)")
    return "sent"


async def test_a_job_run_at_start_before_the_registry_is_up_runs_again_seconds_later(settings):
    tries.clear()
    refusals["left"] = 1
    kwargs = queue.worker_settings(settings, "funds", functions=[], cron_jobs=[queue.hourly(daily_report)])

    async def ran_twice() -> bool:
        return len(tries) >= 2
    async with worker_running(kwargs):
        assert await wait_until(ran_twice, timeout=15), tries
    assert tries == [1, 1] and refusals["left"] == 0   # at start, refused; 2 s later, done (not at the next hour)


async def test_a_job_whose_upstream_stays_away_fails_after_its_last_try(monkeypatch):
    monkeypatch.setattr(queue, "PATIENCE", (0, 0))
    job = queue.daily(daily_report, hour=0)
    tries.clear()
    refusals["left"] = 3
    with pytest.raises(ServiceUnavailable):
        await job.coroutine({"job_try": 1})
    assert len(tries) == 3 and refusals["left"] == 0


async def test_other_failures_are_not_tried_again(monkeypatch):
    monkeypatch.setattr(queue, "PATIENCE", (0, 0))

    async def broken(ctx) -> None:
        tries.append(ctx["job_try"])
        raise ValueError("a bug, not an outage")
    tries.clear()
    with pytest.raises(ValueError):
        await queue.hourly(broken).coroutine({"job_try": 1})
    assert tries == [1]
