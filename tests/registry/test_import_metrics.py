"""``/metrics`` of the registry: household import rows and the seconds they took (rows/s), counted by the worker
that runs the import and read by the HTTP app."""

from __future__ import annotations

from shared.testing import auth
from tests.conftest import VILLAGE
from tests.registry.test_import import family, job, run_worker, upload, xlsx
from tests.shared.test_metrics_sources import scrape


async def test_an_import_adds_its_rows_and_seconds_to_the_counters(registry, token, regions, settings):
    admin = auth(token())
    before = await scrape(registry)
    job_id = await upload(registry, xlsx(family(f"{VILLAGE}0001", size=3) + family(f"{VILLAGE}0002", size=4)),
                          "欣荣村.xlsx", admin)
    queued = await scrape(registry)
    assert queued["jingzhun_outbox_unsent"] == before["jingzhun_outbox_unsent"] + 1     # the job's event, waiting
    assert queued["jingzhun_import_rows_total"] == before["jingzhun_import_rows_total"]
    await run_worker(settings)
    assert (await job(registry, job_id, admin))["status"] == "done"
    got = await scrape(registry)
    assert got["jingzhun_import_rows_total"] - before["jingzhun_import_rows_total"] == 7
    seconds = got["jingzhun_import_seconds_total"] - before["jingzhun_import_seconds_total"]
    assert 0 < seconds < 60
    run = "jingzhun_jobs_run_total{function=handle_event}"
    assert got[run] - before.get(run, 0) == 1          # the event that ran it, counted as a job of the worker
    assert got["jingzhun_outbox_unsent"] == before["jingzhun_outbox_unsent"]
