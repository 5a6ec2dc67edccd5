"""A consumer that fails is retried with backoff; one that keeps failing leaves a dead letter an officer sees and
replays, and the replay applies the event once."""

import asyncio
import uuid

import pytest
from sqlalchemy import text

from services.gateway.proxy import match
from services.notifications.app import create as create_notifications
from services.notifications.handlers import HANDLERS
from shared import queue
from shared.db import Database
from shared.testing import app_client, auth, wait_until
from shared.worker import RetryPolicy, dispatch, worker_settings
from tests.notifications.conftest import envelope, paid
from tests.shared.workers import publish, worker_running

QUICK = RetryPolicy(tries=3, first=0.05, longest=0.1)


async def scalar(db: Database, sql: str) -> int:
    async with db.sessionmaker() as s:
        return (await s.execute(text(sql))).scalar_one()


@pytest.fixture
async def ndb(settings):
    db = Database(settings, "notifications")
    yield db
    await db.close()


async def test_a_consumer_that_fails_twice_is_run_again_and_applies_the_event_once(settings, own_redis, ndb):
    settings = settings.model_copy(update={"redis_url": own_redis.url})
    tries: list[int] = []

    async def flaky(session, event, ctx):
        tries.append(ctx["job_try"])
        if len(tries) <= 2:
            raise ConnectionResetError("the database went away mid-handling")
        await HANDLERS["payment.paid"](session, event, ctx)

    await publish(settings, "notifications", envelope("payment.paid", paid()))
    ws = worker_settings("notifications", handlers={"payment.paid": flaky}, settings=settings, relay=False,
                         retry=QUICK)
    async with worker_running(ws):
        assert await wait_until(lambda: scalar(ndb, "SELECT count(*) FROM sms_message"), timeout=10)
        await asyncio.sleep(0.3)          # nothing runs it a fourth time
    assert tries == [1, 2, 3]
    assert await scalar(ndb, "SELECT count(*) FROM sms_message") == 1
    assert await scalar(ndb, "SELECT count(*) FROM processed_events") == 1
    assert await scalar(ndb, "SELECT count(*) FROM dead_letters") == 0


async def test_an_event_failing_every_try_is_a_dead_letter_an_officer_lists_and_replays_once(
        settings, own_redis, ndb, token):
    settings = settings.model_copy(update={"redis_url": own_redis.url})
    broken = True
    tries: list[int] = []

    async def fragile(session, event, ctx):
        tries.append(ctx["job_try"])
        if broken:
            raise RuntimeError("the SMS template for payment.paid is missing")
        await HANDLERS["payment.paid"](session, event, ctx)

    event = envelope("payment.paid", paid())
    admin = auth(token("county_admin"))
    ws = worker_settings("notifications", handlers={"payment.paid": fragile}, settings=settings, relay=False,
                         retry=QUICK)
    async with app_client(create_notifications(settings)) as api, worker_running(ws):
        await publish(settings, "notifications", event)

        async def dead():
            r = await api.get("/api/v1/dead-letters/notifications", headers=admin)
            assert r.status_code == 200, r.text
            return r.json()["items"]

        (letter,) = await wait_until(dead, timeout=10)
        assert tries == [1, 2, 3]
        assert letter["event_id"] == event["event_id"] and letter["topic"] == "payment.paid"
        assert letter["source"] == "funds" and letter["tries"] == 3 and letter["status"] == "dead"
        assert "the SMS template for payment.paid is missing" in letter["error"]
        assert "event" not in letter and "payload" not in letter      # no personal data in the list
        assert await scalar(ndb, "SELECT count(*) FROM sms_message") == 0

        # officers only
        r = await api.get("/api/v1/dead-letters/notifications", headers=auth(token("township_officer")))
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        assert (await api.get("/api/v1/dead-letters/notifications")).status_code == 401
        r = await api.post(f"/api/v1/dead-letters/notifications/{letter['id']}/replay",
                           headers=auth(token("helper")))
        assert r.status_code == 403
        r = await api.get("/api/v1/dead-letters/notifications/999999", headers=admin)
        assert r.status_code == 404 and r.json()["status"] == 404

        broken = False                    # the cause is fixed: replay it
        r = await api.post(f"/api/v1/dead-letters/notifications/{letter['id']}/replay", headers=admin)
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "replaying" and r.json()["replays"] == 1 and r.json()["replayed_by"] == "u-admin"

        async def resolved():
            r = await api.get(f"/api/v1/dead-letters/notifications/{letter['id']}", headers=admin)
            return r.json()["status"] == "resolved" and r.json()

        done = await wait_until(resolved, timeout=10)
        assert done and done["resolved_at"]
        r = await api.post(f"/api/v1/dead-letters/notifications/{letter['id']}/replay", headers=admin)
        assert r.status_code == 409 and r.json()["type"].endswith("/dead-letter-resolved")
        r = await api.get("/api/v1/dead-letters/notifications?status=dead", headers=admin)
        assert r.json()["items"] == []
        await asyncio.sleep(0.3)

    assert await scalar(ndb, "SELECT count(*) FROM sms_message") == 1
    assert await scalar(ndb, "SELECT count(*) FROM processed_events") == 1
    assert await scalar(ndb, "SELECT count(*) FROM audit_log WHERE action = 'dead_letter.replay'") == 1


async def test_dead_letters_page_newest_first_and_refuse_a_forged_cursor(settings, own_redis, ndb, token):
    settings = settings.model_copy(update={"redis_url": own_redis.url})

    async def failing(session, event, ctx):
        raise RuntimeError("no")

    admin = auth(token("county_admin"))
    events = [envelope("payment.paid", paid(household_id=n + 1)) for n in range(3)]
    ws = worker_settings("notifications", handlers={"payment.paid": failing}, settings=settings, relay=False,
                         retry=RetryPolicy(tries=1))
    async with app_client(create_notifications(settings)) as api, worker_running(ws):
        await publish(settings, "notifications", *events)
        assert await wait_until(lambda: scalar(ndb, "SELECT count(*) = 3 FROM dead_letters"), timeout=10)
        first = (await api.get("/api/v1/dead-letters/notifications?limit=2", headers=admin)).json()
        assert len(first["items"]) == 2 and first["next_cursor"]
        rest = (await api.get(f"/api/v1/dead-letters/notifications?limit=2&cursor={first['next_cursor']}",
                              headers=admin)).json()
        ids = [d["id"] for d in first["items"] + rest["items"]]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == 3 and rest["next_cursor"] is None
        for forged in ("eyJpZCI6ImEifQ", "eyJpZCI6MWU5OTl9", "!!"):       # {"id":"a"}, {"id":1e999}
            r = await api.get(f"/api/v1/dead-letters/notifications?cursor={forged}", headers=admin)
            assert r.status_code == 400, r.text


async def test_while_even_the_dead_letter_cannot_be_written_the_event_is_retried_not_dropped(settings):
    away = settings.model_copy(update={"database_url": "postgresql://postgres@127.0.0.1:1/postgres"})
    db = Database(away, "notifications")

    async def handler(session, event, ctx):      # never reached: the database is away
        raise AssertionError

    try:
        with pytest.raises(queue.Retry):
            await dispatch({"db": db, "job_try": 99}, {"event_id": str(uuid.uuid4()), "topic": "payment.paid",
                                                       "source": "funds", "payload": {}},
                           {"payment.paid": handler}, QUICK)
    finally:
        await db.close()


def test_the_gateway_routes_each_services_dead_letters_to_that_service():
    for service in ("registry", "funds", "notifications"):
        assert match(f"/api/v1/dead-letters/{service}") == (f"/api/v1/dead-letters/{service}", service)
        assert match(f"/api/v1/dead-letters/{service}/7/replay")[1] == service
    assert match("/api/v1/dead-letters") is None and match("/api/v1/dead-letters/gateway") is None
