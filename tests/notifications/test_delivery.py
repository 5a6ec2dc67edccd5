"""SMS delivery to a real HTTP provider: JSON body and Idempotency-Key, retries with backoff, final states."""

import asyncio
import logging
import time
from dataclasses import replace

from services.notifications import worker as notifications_worker
from services.notifications.sms import delivery
from services.notifications.sms.delivery import RetryPolicy, deliver_due
from services.notifications.sms.jobs import deliver_sms
from shared import audit
from shared.testing import auth, make_token
from tests.conftest import COUNTY
from tests.notifications.conftest import FAST, envelope, handle, make_ctx, paid, resolved, rows


async def queue_one(settings, ndb, topic="objection.resolved", payload=None) -> str:
    ctx = make_ctx(settings, ndb)
    assert await handle(ctx, envelope(topic, payload or resolved()))
    (row,) = await rows(ndb, "SELECT id FROM sms_message")
    return str(row.id)


async def message(ndb, message_id: str):
    (row,) = await rows(ndb, "SELECT * FROM sms_message WHERE id = :id", id=message_id)
    return row


async def deliver_until_settled(ndb, settings, http, policy, message_id, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=policy)
        m = await message(ndb, message_id)
        if m.status != "queued":
            return m
        await asyncio.sleep(0.02)
    raise AssertionError("message still queued")


async def audit_actions(ndb, message_id):
    await audit.sweep(ndb.engine)
    return [(r.action, r.diff) for r in await rows(
        ndb, "SELECT action, diff FROM audit_log WHERE entity = 'sms_message' AND entity_id = :id ORDER BY seq",
        id=message_id)]


async def test_an_sms_is_posted_as_json_with_its_id_as_idempotency_key(settings, ndb, provider, http):
    settings = settings.model_copy(update={"sms_url": provider.url})
    message_id = await queue_one(settings, ndb)
    report = await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=FAST)
    assert report.sent == 1 and report.attempts == 1
    (post,) = provider.posts
    assert set(post.json) == {"id", "phone", "text"}
    assert post.json["id"] == message_id and post.json["phone"] == "13812345678"
    assert post.json["text"].startswith("【精准扶贫】您对“欣荣村2020年贫困户识别公示”提出的异议已处理")
    assert post.headers["idempotency-key"] == message_id
    assert post.headers["content-type"] == "application/json"
    m = await message(ndb, message_id)
    assert m.status == "sent" and m.attempts == 1 and m.sent_at is not None and m.next_attempt_at is None
    assert [a for a, _ in await audit_actions(ndb, message_id)] == ["sms.queue", "sms.sent"]
    # nothing more to do: a second run sends nothing
    assert (await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=FAST)).attempts == 0
    assert len(provider.posts) == 1


async def test_a_500_is_retried_with_backoff_and_the_same_key(settings, ndb, provider, http):
    settings = settings.model_copy(update={"sms_url": provider.url})
    policy = RetryPolicy(delays=(0.3, 0.6, 0.1), timeout=2, jitter=0, budget=5)
    provider.fail_first = 2
    message_id = await queue_one(settings, ndb)

    report = await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=policy)
    assert report.retried == 1 and report.sent == 0
    m = await message(ndb, message_id)
    assert m.status == "queued" and m.attempts == 1 and m.last_error.startswith("HTTP 500")
    (retry,) = await rows(ndb, "SELECT at FROM audit_log WHERE action = 'sms.retry'")
    assert 0.2 < (m.next_attempt_at - retry.at).total_seconds() <= 0.3     # due 0.3 s after the attempt
    # not due yet: an immediate second run leaves it alone
    await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=policy)
    assert len(provider.posts) == 1

    m = await deliver_until_settled(ndb, settings, http, policy, message_id)
    assert m.status == "sent" and m.attempts == 3 and m.last_error is None
    assert provider.keys() == [message_id] * 3
    assert all(p.json == provider.posts[0].json for p in provider.posts)
    gaps = [b.at - a.at for a, b in zip(provider.posts, provider.posts[1:])]
    assert gaps[0] >= 0.3 and gaps[1] >= 0.6, gaps           # the delays grow
    actions = await audit_actions(ndb, message_id)
    assert [a for a, _ in actions] == ["sms.queue", "sms.retry", "sms.retry", "sms.sent"]
    assert actions[1][1]["attempt"] == 1 and actions[1][1]["retry_in_seconds"] == 0.3
    assert actions[2][1]["retry_in_seconds"] == 0.6 and "HTTP 500" in actions[2][1]["error"]


async def test_a_timeout_is_retried_and_the_provider_sees_the_same_key(settings, ndb, provider, http):
    settings = settings.model_copy(update={"sms_url": provider.url})
    provider.hang_first, provider.hang_seconds = 1, 1.5
    policy = replace(FAST, timeout=0.3)
    message_id = await queue_one(settings, ndb, "payment.paid", paid())
    m = await deliver_until_settled(ndb, settings, http, policy, message_id)
    assert m.status == "sent" and m.attempts == 2
    assert provider.keys() == [message_id, message_id]
    actions = await audit_actions(ndb, message_id)
    assert [a for a, _ in actions] == ["sms.queue", "sms.retry", "sms.sent"]
    assert actions[1][1]["error"] == "timeout after 0.3s"


async def test_a_provider_that_keeps_failing_ends_failed_after_the_last_attempt(settings, ndb, provider, http, token,
                                                                                notifications):
    settings = settings.model_copy(update={"sms_url": provider.url})
    provider.always_fail, provider.status = True, 502
    message_id = await queue_one(settings, ndb)
    m = await deliver_until_settled(ndb, settings, http, FAST, message_id)
    assert FAST.max_attempts == 3
    assert m.status == "failed" and m.attempts == 3 and m.next_attempt_at is None
    assert m.last_error.startswith("HTTP 502") and "短信网关繁忙" in m.last_error
    assert provider.keys() == [message_id] * 3
    await asyncio.sleep(0.1)
    await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=FAST)
    assert len(provider.posts) == 3                                  # failed is final
    actions = [a for a, _ in await audit_actions(ndb, message_id)]
    assert actions == ["sms.queue", "sms.retry", "sms.retry", "sms.failed"]
    r = await notifications.get(f"/api/v1/notifications/{message_id}", headers=auth(token()))
    assert r.status_code == 200 and r.json()["status"] == "failed" and r.json()["status_label"] == "发送失败"


async def test_retry_after_lengthens_the_wait(settings, ndb, provider, http):
    settings = settings.model_copy(update={"sms_url": provider.url})
    provider.fail_first, provider.status, provider.retry_after = 1, 503, "120"
    message_id = await queue_one(settings, ndb)
    await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=FAST)
    m = await message(ndb, message_id)
    (now,) = await rows(ndb, "SELECT now() AS now_at")
    assert m.status == "queued" and 100 < (m.next_attempt_at - now.now_at).total_seconds() <= 120


async def test_without_an_sms_url_messages_stay_queued_and_are_logged(settings, ndb, http, notifications, caplog):
    assert settings.sms_url is None
    with caplog.at_level(logging.WARNING, logger="jingzhun.notifications.sms"):
        message_id = await queue_one(settings, ndb)
    assert any("JINGZHUN_SMS_URL is not set" in r.getMessage() and "NOT sent" in r.getMessage()
               and "138****5678" in r.getMessage() and "13812345678" not in r.getMessage() for r in caplog.records)
    report = await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=FAST)
    assert report.attempts == 0
    m = await message(ndb, message_id)
    assert m.status == "queued" and m.attempts == 0 and m.sent_at is None
    r = await notifications.get("/api/v1/notifications", headers=auth(make_token(settings, role="county_admin",
                                                                                 region=COUNTY)))
    (item,) = r.json()["items"]
    assert item["status"] == "queued" and item["status_label"] == "待发送"
    assert "JINGZHUN_SMS_URL" in item["detail"] and "尚未发送" in item["detail"]


async def test_several_workers_send_each_message_once(settings, ndb, provider, http):
    settings = settings.model_copy(update={"sms_url": provider.url})
    ctx = make_ctx(settings, ndb)
    for n in range(40):
        assert await handle(ctx, envelope("payment.paid", paid(household_id=n + 1, head_phone=f"1395123{n:04d}")))
    policy = replace(FAST, concurrency=3)
    reports = await asyncio.gather(*(deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http,
                                                 policy=policy) for _ in range(4)))
    assert sum(r.sent for r in reports) == 40
    assert sorted(provider.keys()) == sorted(str(r.id) for r in await rows(ndb, "SELECT id FROM sms_message"))
    assert len(set(provider.keys())) == 40


async def test_a_message_whose_last_attempt_was_abandoned_is_failed_not_resent(settings, ndb, provider, http):
    settings = settings.model_copy(update={"sms_url": provider.url})
    message_id = await queue_one(settings, ndb)
    async with ndb.sessionmaker() as s:     # as if a worker died while sending the last attempt
        from sqlalchemy import text
        await s.execute(text("UPDATE sms_message SET attempts = 3, next_attempt_at = now() - interval '1 second'"))
        await s.commit()
    report = await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=FAST)
    assert report.failed == 1 and provider.posts == []
    m = await message(ndb, message_id)
    assert m.status == "failed" and "no outcome" in m.last_error


async def test_the_worker_runs_delivery_on_a_cron(settings, ndb, provider):
    settings = settings.model_copy(update={"sms_url": provider.url})
    message_id = await queue_one(settings, ndb, "payment.paid", paid())
    ws = notifications_worker.settings(settings)
    assert {c.name for c in ws["cron_jobs"]} == {"cron:deliver_sms", "cron:resume_pending"}
    ctx: dict = {}
    await ws["on_startup"](ctx)
    try:
        ctx["sms_policy"] = FAST
        assert await deliver_sms(ctx) == {"sent": 1, "retried": 0, "failed": 0}
    finally:
        await ws["on_shutdown"](ctx)
    assert provider.keys() == [message_id]
    assert (await message(ndb, message_id)).status == "sent"


def test_the_default_backoff():
    policy = delivery.DEFAULT_POLICY
    assert policy.delays[:4] == (10, 30, 120, 600) and policy.max_attempts == 8
    assert all(a < b for a, b in zip(policy.delays, policy.delays[1:]))
    assert policy.lease > policy.timeout
    for attempt, base in enumerate(policy.delays, start=1):
        assert base * 0.9 <= policy.delay_after(attempt) <= base * 1.1
