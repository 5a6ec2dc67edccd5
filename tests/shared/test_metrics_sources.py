"""``/metrics`` beyond HTTP: outbox backlog, audit rows waiting to be chained, queue depth, jobs run and failed,
each moving when the thing it counts moves (read by the HTTP app while the work happens elsewhere)."""

from __future__ import annotations

import uuid

import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from services.funds.app import create as create_funds
from services.gateway.app import create as create_gateway
from services.registry.app import create as create_registry
from shared import audit, outbox, queue
from shared.db import Database, asyncpg_dsn, database_name
from shared.testing import app_client, wait_until
from shared.worker import RetryPolicy, worker_settings
from tests.shared.workers import publish, worker_running


async def scrape(client) -> dict[str, float]:
    """Samples by name and labels other than ``service`` (``name{label=value}``)."""
    r = await client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "service")
            out[s.name + (f"{{{labels}}}" if labels else "")] = s.value
    return out


async def sql(settings, service: str, statement: str, *args):
    conn = await asyncpg.connect(asyncpg_dsn(settings, database_name(settings, service)))
    try:
        return await conn.execute(statement, *args)
    finally:
        await conn.close()


async def test_an_unsent_outbox_row_is_the_backlog_until_the_relay_sends_it(settings):
    async with app_client(create_registry(settings)) as client:
        before = await scrape(client)
        assert before["jingzhun_outbox_unsent"] == 0 and before["jingzhun_outbox_oldest_unsent_seconds"] == 0
        db = Database(settings, "registry")
        try:
            async with db.sessionmaker() as session:
                await outbox.emit(session, topic="metrics.probe", payload={}, to=["funds"])
                await session.commit()
            await sql(settings, "registry", "UPDATE outbox SET created_at = now() - interval '90 seconds'")
            got = await scrape(client)
            assert got["jingzhun_outbox_unsent"] == 1
            assert 90 <= got["jingzhun_outbox_oldest_unsent_seconds"] < 200
            assert got["jingzhun_metrics_source_up{source=outbox}"] == 1
            assert await outbox.Relay(settings=settings, service="registry", sessionmaker=db.sessionmaker).drain() == 1
        finally:
            await db.close()
        after = await scrape(client)
    assert after["jingzhun_outbox_unsent"] == 0 and after["jingzhun_outbox_oldest_unsent_seconds"] == 0


async def test_audit_rows_waiting_to_be_chained_are_counted_until_sealed(settings):
    async with app_client(create_gateway(settings)) as client:     # every service has its chain, the gateway too
        async def chained() -> bool:       # the first administrator's row, sealed after its commit
            return (await scrape(client))["jingzhun_audit_pending"] == 0
        assert await wait_until(chained, timeout=10)
        for _ in range(2):
            await sql(settings, "gateway", "INSERT INTO audit_pending (at, actor, action, entity, entity_id, diff) "
                      "VALUES (now() - interval '30 seconds', 'u-test', 'probe', 'probe', '1', '{}')")
        got = await scrape(client)
        assert got["jingzhun_audit_pending"] == 2 and got["jingzhun_audit_oldest_pending_seconds"] >= 30
        # the gateway has neither outbox nor worker: no figures pretending it has
        assert not any(k.startswith(("jingzhun_outbox_", "jingzhun_queue_", "jingzhun_jobs_")) for k in got)
        db = Database(settings, "gateway")
        try:
            async with db.sessionmaker() as session:
                assert await audit.seal_all(session) == 2
                await session.commit()
        finally:
            await db.close()
        after = await scrape(client)
    assert after["jingzhun_audit_pending"] == 0 and after["jingzhun_audit_oldest_pending_seconds"] == 0


async def test_queue_depth_counts_jobs_due_and_deferred(settings):
    name = queue.queue_name(settings, "funds")
    pool = await queue.connect(settings)
    try:
        async with app_client(create_funds(settings)) as client:
            before = await scrape(client)
            await pool.enqueue_job("probe", _queue_name=name, _job_id=f"probe-{uuid.uuid4()}")
            await pool.enqueue_job("probe", _queue_name=name, _job_id=f"probe-{uuid.uuid4()}", _defer_by=3600)
            got = await scrape(client)
            assert got["jingzhun_queue_jobs"] == before["jingzhun_queue_jobs"] + 2
            assert got["jingzhun_queue_ready_jobs"] == before["jingzhun_queue_ready_jobs"] + 1
    finally:
        await pool.delete(name)
        await pool.aclose()


async def fine(ctx) -> str:
    return "ok"


async def broken(ctx) -> None:
    raise RuntimeError("a job that fails")


async def again(ctx) -> None:
    raise queue.Retry(defer=3600)


ticks: list[int] = []


async def tick(ctx) -> None:
    ticks.append(1)


async def failing_handler(session, event, ctx) -> None:
    raise RuntimeError("a consumer that fails")


async def test_jobs_run_in_a_worker_are_counted_by_function_and_outcome(settings):
    kwargs = queue.worker_settings(settings, "funds", functions=[fine, broken, again],
                                   cron_jobs=[queue.every(tick, seconds=1)])
    pool = await queue.connect(settings)
    try:
        async with app_client(create_funds(settings)) as client:
            before = await scrape(client)

            def delta(got, kind, function):
                key = f"jingzhun_jobs_{kind}_total{{function={function}}}"
                return got.get(key, 0) - before.get(key, 0)

            async with worker_running(kwargs):
                for function in ("fine", "fine", "broken", "again"):
                    await queue.enqueue(pool, queue=kwargs["queue_name"], function=function,
                                        job_id=f"{function}-{uuid.uuid4()}")

                async def counted():
                    got = await scrape(client)
                    return (sum(delta(got, "run", f) for f in ("fine", "broken", "again")) == 4
                            and delta(got, "run", "cron:tick") >= 2)
                assert await wait_until(counted, timeout=15)
            got = await scrape(client)
    finally:
        await pool.delete(kwargs["queue_name"])
        await pool.aclose()
    assert (delta(got, "run", "fine"), delta(got, "failed", "fine"), delta(got, "retried", "fine")) == (2, 0, 0)
    assert (delta(got, "run", "broken"), delta(got, "failed", "broken")) == (1, 1)
    assert (delta(got, "run", "again"), delta(got, "retried", "again"), delta(got, "failed", "again")) == (1, 1, 0)
    assert 2 <= delta(got, "run", "cron:tick") <= len(ticks) and delta(got, "failed", "cron:tick") == 0


async def test_an_event_kept_as_a_dead_letter_counts_as_a_failed_job(settings):
    kwargs = worker_settings("funds", handlers={"metrics.probe": failing_handler}, settings=settings, relay=False,
                             retry=RetryPolicy(tries=1))
    key = f"jingzhun_jobs_failed_total{{function={queue.EVENT_JOB}}}"
    async with app_client(create_funds(settings)) as client:
        before = (await scrape(client)).get(key, 0)
        event = {"event_id": str(uuid.uuid4()), "topic": "metrics.probe", "source": "registry", "payload": {},
                 "occurred_at": "2026-01-01T00:00:00+00:00"}
        async with worker_running(kwargs):
            await publish(settings, "funds", event)

            async def failed():
                return (await scrape(client)).get(key, 0) == before + 1
            assert await wait_until(failed, timeout=15)


async def test_a_source_that_cannot_answer_is_marked_down_and_the_others_still_served(settings):
    away = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})     # nothing listens there
    async with app_client(create_registry(away)) as client:
        got = await scrape(client)
    assert got["jingzhun_metrics_source_up{source=worker}"] == 0
    assert "jingzhun_queue_jobs" not in got                  # no false zeros
    assert got["jingzhun_metrics_source_up{source=outbox}"] == 1 and got["jingzhun_outbox_unsent"] == 0
