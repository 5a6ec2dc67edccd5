"""Outbox: events survive a Redis outage and are applied exactly once."""

import asyncio

import pytest
from arq.worker import Worker
from sqlalchemy import func, select, text

from services.notifications import worker as notifications_worker
from services.notifications.inbox.models import InboxMessage
from shared import audit, outbox, queue
from shared.db import Database
from shared.embedded import EmbeddedRedis, RunDir

EVENT = {"helper_user_id": "u-helper-7", "household_no": "6401221000010001", "head_name": "马文军",
         "village_name": "欣荣村"}


@pytest.fixture
async def own_redis(tmp_path):
    run = RunDir(tmp_path)
    server = EmbeddedRedis(tmp_path, run.path).start()   # our own server, never the shared one
    yield server
    server.stop()
    run.cleanup()


async def inbox_count(db: Database) -> int:
    async with db.sessionmaker() as s:
        return (await s.execute(select(func.count()).select_from(InboxMessage))).scalar_one()


async def run_worker(settings) -> None:
    ws = notifications_worker.settings(settings)
    worker = Worker(**{**ws, "burst": True, "handle_signals": False, "poll_delay": 0.01})
    try:
        await asyncio.wait_for(worker.main(), 30)
    finally:
        await worker.close()


async def test_events_written_while_redis_is_down_arrive_once_it_is_back(settings, own_redis):
    settings = settings.model_copy(update={"redis_url": own_redis.url})
    registry = Database(settings, "registry")
    notifications = Database(settings, "notifications")
    relay = outbox.Relay(settings=settings, service="registry", sessionmaker=registry.sessionmaker)
    try:
        own_redis.stop()
        # the write (a helper assignment in the registry) commits with Redis down
        async with registry.sessionmaker() as s:
            await audit.record(s, actor="u-cadre", action="helper.assign", entity="household", entity_id=1)
            await outbox.emit(s, topic="helper.assigned", payload=EVENT, to=["notifications"])
            await s.commit()
        with pytest.raises(Exception):
            await relay.relay_once()
        async with registry.sessionmaker() as s:
            row = (await s.execute(text("SELECT sent_at, attempts, last_error FROM outbox"))).one()
        assert row.sent_at is None and row.attempts == 1 and row.last_error

        own_redis.start()
        relay.redis = None
        assert await relay.drain() == 1
        await run_worker(settings)
        assert await inbox_count(notifications) == 1
        async with notifications.sessionmaker() as s:
            message = (await s.execute(select(InboxMessage))).scalar_one()
        assert message.user_id == "u-helper-7" and "马文军" in message.body

        # a relay that crashed after enqueueing but before marking sent delivers again: still one message
        async with registry.sessionmaker() as s:
            await s.execute(text("UPDATE outbox SET sent_at = NULL"))
            await s.commit()
        assert await relay.drain() == 1
        redis = await queue.connect(settings)
        async with registry.sessionmaker() as s:
            row = (await s.execute(text("SELECT event_id, topic, destinations, payload, created_at FROM outbox"))).one()
        await queue.enqueue(redis, queue=queue.queue_name(settings, "notifications"), function=queue.EVENT_JOB,
                            args=(outbox.envelope(row, "registry"),), job_id="a-second-copy")
        await redis.aclose()
        await run_worker(settings)
        assert await inbox_count(notifications) == 1
    finally:
        await registry.close()
        await notifications.close()
