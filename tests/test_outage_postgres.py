"""PostgreSQL dies while payment events are handled: every SMS still goes out once (issue 11: defect 10)."""

import asyncio

import pytest

from services.notifications import worker as notifications_worker
from shared import migrations
from shared.db import Database
from shared.testing import wait_until
from tests.notifications.conftest import envelope, paid, provider  # noqa: F401 - the provider fixture
from tests.outage_faults import DyingDatabase, KilledPostgres, count, dying_target
from tests.shared.workers import publish, worker_running


@pytest.mark.parametrize("death", ["connections reset", "postmaster SIGKILLed"])
async def test_every_payment_sms_arrives_once_when_postgresql_dies_while_events_are_handled(
        settings, own_redis, provider, tmp_path, death):  # noqa: F811 - provider: the fixture imported above
    """Issue 11 defect 10: the server dies under 200 payment.paid events being consumed; every event is applied once
    and every head gets one SMS (one Idempotency-Key each), none dead-lettered. Two deaths: a stand-in that resets
    every connection and refuses new ones for 3 s, and a real server SIGKILLed and started again."""
    if death == "connections reset":
        dying = await DyingDatabase(settings).start()
        direct_url = dying_target(dying)
    else:
        dying = await KilledPostgres(tmp_path / "pg").start()
        direct_url = dying.url_for(settings)
        await asyncio.to_thread(migrations.upgrade, settings.model_copy(update={"database_url": direct_url}),
                                "notifications")
    settings = settings.model_copy(update={"redis_url": own_redis.url, "database_url": dying.url_for(settings),
                                           "sms_url": provider.url})
    direct = Database(settings.model_copy(update={"database_url": direct_url}), "notifications")
    events = [envelope("payment.paid", paid(household_id=n + 1, head_phone=f"1395123{n:04d}")) for n in range(200)]

    async def bank_posts_results() -> None:          # lines reported paid over a couple of seconds
        for i in range(0, len(events), 10):
            await publish(settings, "notifications", *events[i:i + 10])
            await asyncio.sleep(0.05)

    try:
        async with worker_running(notifications_worker.settings(settings)) as worker:
            posting = asyncio.create_task(bank_posts_results())
            assert await wait_until(lambda: count(direct, "SELECT count(*) >= 20 FROM processed_events"), 20)
            await dying.kill()                        # mid-handling: some in their transaction, more queued
            await asyncio.sleep(3)
            await dying.revive()
            await posting

            async def all_sent() -> bool:
                return await count(direct, "SELECT count(*) FROM sms_message WHERE status = 'sent'") == 200

            assert await wait_until(all_sent, timeout=90, interval=0.25), (
                await count(direct, "SELECT count(*) FROM sms_message"), len(set(provider.keys())))
            assert worker.jobs_retried > 0            # the outage did hit consumers, which were run again
        assert await count(direct, "SELECT count(*) FROM processed_events") == 200
        assert await count(direct, "SELECT count(*) FROM sms_message") == 200
        assert await count(direct, "SELECT count(*) FROM dead_letters") == 0
        keys = provider.keys()
        assert len(set(keys)) == 200                  # every head once per Idempotency-Key
        phones = {p.json["phone"] for p in provider.posts}
        assert phones == {e["payload"]["head_phone"] for e in events}
    finally:
        await direct.close()
        await dying.close()
