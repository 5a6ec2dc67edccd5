"""``/metrics`` of the notifications service: SMS queued, sent, failed, retried, and queued → sent latency."""

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.notifications.sms.delivery import deliver_due
from shared.db import Database
from tests.notifications.conftest import FAST, envelope, handle, make_ctx, paid


async def scrape(client) -> dict[str, float]:
    r = await client.get("/metrics")
    assert r.status_code == 200
    return {s.name + ("" if "le" not in s.labels else f"{{le={s.labels['le']}}}"): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples
            if s.name.startswith("jingzhun_sms_")}


async def test_a_sent_sms_moves_the_counters_whichever_process_sent_it(settings, ndb, provider, notifications):
    settings = settings.model_copy(update={"sms_url": provider.url})
    before = await scrape(notifications)
    assert before["jingzhun_sms_sent_total"] == 0 and before["jingzhun_sms_delivery_seconds_count"] == 0

    ctx = make_ctx(settings, ndb)
    assert await handle(ctx, envelope("payment.paid", paid(household_id=1)))
    assert await handle(ctx, envelope("payment.paid", paid(household_id=2)))
    assert await handle(ctx, envelope("payment.paid", paid(household_id=3, head_phone=None)))   # cannot be sent
    after_queue = await scrape(notifications)
    assert after_queue["jingzhun_sms_queued_total"] == 2 and after_queue["jingzhun_sms_failed_total"] == 1
    assert after_queue["jingzhun_sms_sent_total"] == 0

    # delivered by "another process": its own database pool and HTTP client, as a worker has
    provider.fail_first = 1
    other = Database(settings, "notifications")
    try:
        async with httpx.AsyncClient() as http:
            sent = 0
            for _ in range(50):
                sent += (await deliver_due(sessionmaker=other.sessionmaker, settings=settings, client=http,
                                           policy=FAST)).sent
                if sent == 2:
                    break
    finally:
        await other.close()
    assert sent == 2
    got = await scrape(notifications)
    assert got["jingzhun_sms_sent_total"] == 2
    assert got["jingzhun_sms_retries_total"] == 1
    assert got["jingzhun_sms_failed_total"] == 1 and got["jingzhun_sms_queued_total"] == 2
    assert got["jingzhun_sms_delivery_seconds_count"] == 2
    assert got["jingzhun_sms_delivery_seconds_bucket{le=+Inf}"] == 2
    assert got["jingzhun_sms_delivery_seconds_bucket{le=60.0}"] == 2          # sent within seconds of queueing
    assert 0 < got["jingzhun_sms_delivery_seconds_sum"] < 120
    # the HTTP metrics are still there beside them
    r = await notifications.get("/metrics")
    assert "jingzhun_http_requests_total" in r.text
