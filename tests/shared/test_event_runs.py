"""The relay sends events in runs (one queue job per destination and up to 100 events); a consumer applies a run
in one transaction, and when one of its events fails, applies each alone with its own retries."""

import asyncio
import uuid

from shared import queue
from shared.db import Database
from shared.worker import dispatch_many
from tests.notifications.conftest import envelope, make_ctx, paid, rows
from tests.shared.workers import worker_running


async def _sms_count(db) -> int:
    return (await rows(db, "SELECT count(*) AS n FROM sms_message"))[0].n


async def test_a_run_of_events_is_applied_once_whatever_the_redeliveries(settings):
    from services.notifications.handlers import HANDLERS
    db = Database(settings, "notifications")
    try:
        ctx = make_ctx(settings, db)
        run = [envelope("payment.paid", paid(household_id=i)) for i in range(30)]
        assert await dispatch_many(ctx, run, HANDLERS) == 30
        assert await dispatch_many(ctx, run, HANDLERS) == 0            # the whole run again: nothing new
        assert await dispatch_many(ctx, run[:5] + [envelope("payment.paid", paid(household_id=99))], HANDLERS) == 1
        assert await _sms_count(db) == 31
    finally:
        await db.close()


async def test_one_bad_event_does_not_hold_back_the_others_of_its_run(settings):
    calls: list[str] = []

    async def picky(session, event, ctx):
        calls.append(event["event_id"])
        if event["payload"].get("bad"):
            raise RuntimeError("cannot apply this one")

    db = Database(settings, "notifications")
    try:
        ctx = make_ctx(settings, db) | {"job_try": 99}                     # last try: a dead letter, no retry
        good = [envelope("test.topic", {"n": i}) for i in range(3)]
        bad = envelope("test.topic", {"bad": True})
        applied = await dispatch_many(ctx, [good[0], bad, good[1], good[2]], {"test.topic": picky},
                                      retry=type("R", (), {"tries": 1, "delay": lambda self, n: 0})())
        assert applied == 3
        consumed = {r.event_id for r in await rows(db, "SELECT event_id::text FROM processed_events")}
        assert consumed == {e["event_id"] for e in good}
        dead = await rows(db, "SELECT event_id::text FROM dead_letters")
        assert [d.event_id for d in dead] == [bad["event_id"]]
    finally:
        await db.close()


async def test_the_worker_takes_runs_from_the_queue(settings):
    from services.notifications import worker as notifications_worker
    db = Database(settings, "notifications")
    pool = await queue.connect(settings)
    try:
        run = [envelope("payment.paid", paid(household_id=i)) for i in range(12)]
        async with worker_running(notifications_worker.settings(settings)):
            await queue.enqueue(pool, queue=queue.queue_name(settings, "notifications"), function=queue.EVENTS_JOB,
                                args=(run,), job_id=f"events:{uuid.uuid4()}:notifications")
            for _ in range(200):
                if await _sms_count(db) == 12:
                    break
                await asyncio.sleep(0.05)
        assert await _sms_count(db) == 12
    finally:
        await pool.aclose()
        await db.close()


async def test_runs_applied_at_once_all_land(settings):
    from services.notifications.handlers import HANDLERS
    db = Database(settings, "notifications")
    try:
        ctx = make_ctx(settings, db)
        runs = [[envelope("payment.paid", paid(household_id=r * 100 + i, head_phone=f"139{r * 100 + i:08d}"))
                 for i in range(100)] for r in range(6)]
        assert await asyncio.gather(*(dispatch_many(ctx, run, HANDLERS) for run in runs)) == [100] * 6
        assert await _sms_count(db) == 600
    finally:
        await db.close()
