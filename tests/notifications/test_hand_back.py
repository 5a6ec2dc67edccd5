"""Issue 3's hand-back, end to end: a villager objects on the 公示 board (funds), an officer resolves it, the
events travel outbox → relay → Redis → the notifications worker, and the objector's phone gets the reply."""

import asyncio
from datetime import date

import redis.asyncio as aioredis
from arq.worker import Worker

from services.notifications import worker as notifications_worker
from services.notifications.sms.delivery import deliver_due
from shared import idnumber, outbox
from shared.db import Database
from shared.testing import app_client, auth, free_port, make_token, wait_until
from tests.conftest import TOWNSHIP, VILLAGE, _service_app
from tests.notifications.conftest import FAST, rows

NOTICE = {"kind": "registration", "region_code": VILLAGE, "title": "欣荣村2020年贫困户识别公示",
          "requester": "registry", "requester_ref": "households:hand-back", "region_name": "欣荣村", "days": 7,
          "items": [{"ref": "1", "name": "马文军", "id_number": idnumber.make("640122", date(1970, 1, 1), 1), "amount": "3000.00"}]}
OBJECTION = {"contact_name": "王大妈", "contact_phone": "13812345678", "content": "马文军家去年新盖了砖房，还买了小汽车。"}
REPLY = "经村民小组核实，砖房系亲属出资，车辆登记在其子名下，维持识别。"


async def forget_rate_limits(settings):
    r = aioredis.from_url(settings.redis_url)
    try:
        keys = [k async for k in r.scan_iter(match=f"{settings.queue_prefix}:objections:*", count=1000)]
        if keys:
            await r.delete(*keys)
    finally:
        await r.aclose()


async def run_worker(settings) -> None:
    ws = notifications_worker.settings(settings)
    worker = Worker(**{**ws, "burst": True, "handle_signals": False, "poll_delay": 0.01})
    try:
        await asyncio.wait_for(worker.main(), 30)
    finally:
        await worker.close()


async def test_the_objector_gets_the_officers_reply_by_sms(settings, provider, http):
    # the gateway is away: the officers' inbox messages wait (pending), the objector's SMS does not need it
    settings = settings.model_copy(update={"sms_url": provider.url,
                                           "gateway_url": f"http://127.0.0.1:{free_port()}"})
    await forget_rate_limits(settings)
    service = auth(make_token(settings, role="service", region="", sub="svc:registry"))
    officer = auth(make_token(settings, role="township_officer", region=TOWNSHIP, sub="u-town"))
    async with app_client(_service_app("funds", settings)) as funds:
        r = await funds.post("/internal/notices", json=NOTICE, headers=service)
        assert r.status_code == 201, r.text
        notice_id = r.json()["id"]
        r = await funds.post(f"/public/notices/{notice_id}/objections", json=OBJECTION)
        assert r.status_code == 201, r.text
        objection_id = r.json()["id"]
        r = await funds.post(f"/api/v1/objections/{objection_id}/resolve", headers=officer,
                             json={"decision": "dismissed", "reply": REPLY})
        assert r.status_code == 200, r.text
    await forget_rate_limits(settings)

    funds_db, ndb = Database(settings, "funds"), Database(settings, "notifications")
    try:
        relay = outbox.Relay(settings=settings, service="funds", sessionmaker=funds_db.sessionmaker)
        assert await relay.drain() == 2
        await run_worker(settings)

        (pending,) = await rows(ndb, "SELECT topic, status FROM pending_event")
        assert pending.topic == "objection.created" and pending.status == "waiting"
        (message,) = await rows(ndb, "SELECT * FROM sms_message")
        assert message.kind == "objection.resolved" and message.dedupe_key == f"objection.resolved:{objection_id}"

        await deliver_due(sessionmaker=ndb.sessionmaker, settings=settings, client=http, policy=FAST)
        assert await wait_until(lambda: _sent(ndb), timeout=10)
        (post,) = provider.posts
        assert post.json["phone"] == "13812345678" and post.headers["idempotency-key"] == str(message.id)
        assert post.json["text"] == ("【精准扶贫】您对“欣荣村2020年贫困户识别公示”提出的异议已处理，结果：异议不成立。"
                                     f"答复：{REPLY}")
    finally:
        await funds_db.close()
        await ndb.close()


async def _sent(ndb) -> bool:
    return [r.status for r in await rows(ndb, "SELECT status FROM sms_message")] == ["sent"]
