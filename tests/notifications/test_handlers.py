"""Each event becomes the right message for the right people, once."""

import logging

from sqlalchemy import text

from services.gateway.users.service import create_user
from services.notifications.handlers import HANDLERS
from services.notifications.pending.service import resume_due
from shared import audit, pii
from shared.db import Database
from shared.testing import auth, free_port, make_token, running
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE, _service_app
from tests.notifications.conftest import envelope, handle, make_ctx, paid, resolved, rows

OTHER_VILLAGE = "640122100002"        # same township, another village
FAR_VILLAGE = "640122101001"          # another township
CREATED = {"objection_id": 5, "notice_id": 3, "notice_title": "欣荣村2020年贫困户识别公示", "kind": "registration",
           "region_code": VILLAGE}


async def inbox(ndb, **where):
    sql = "SELECT user_id, kind, title, body, event_id FROM inbox_message"
    if where:
        sql += " WHERE " + " AND ".join(f"{k} = :{k}" for k in where)
    return await rows(ndb, sql + " ORDER BY id", **where)


async def sms(ndb):
    return await rows(ndb, "SELECT * FROM sms_message ORDER BY created_at, id")


# --- helper.assigned -----------------------------------------------------------------------------

async def test_helper_assigned_puts_a_message_in_the_helpers_inbox(settings, ndb, notifications):
    event = envelope("helper.assigned", {"helper_user_id": 17, "household_id": 12, "household_no": "6401221000010012",
                                         "head_name": "马文军", "village_name": "欣荣村"}, source="registry")
    assert await handle(make_ctx(settings, ndb), event)
    (m,) = await inbox(ndb)
    assert m.user_id == "17" and m.kind == "helper.assigned" and m.title == "新的帮扶对象"
    assert m.body == "您已被指定为欣荣村马文军户的帮扶责任人（户编号 6401221000010012）。"
    r = await notifications.get("/api/v1/me/notifications", headers=auth(make_token(settings, role="helper",
                                                                                    region=VILLAGE, sub="17")))
    assert [i["title"] for i in r.json()["items"]] == ["新的帮扶对象"]
    assert not await handle(make_ctx(settings, ndb), event)          # the same event again: nothing
    assert len(await inbox(ndb)) == 1


# --- objection.created ---------------------------------------------------------------------------

async def seed_users(settings) -> dict[str, str]:
    """Officers in and around the notice's village, created with the gateway's own rules."""
    people = {
        "county": ("county_admin", COUNTY), "town": ("township_officer", TOWNSHIP),
        "cadre": ("village_cadre", VILLAGE), "other_cadre": ("village_cadre", OTHER_VILLAGE),
        "far_town": ("township_officer", OTHER_TOWNSHIP), "far_cadre": ("village_cadre", FAR_VILLAGE),
        "helper": ("helper", VILLAGE), "finance": ("finance_officer", COUNTY), "auditor": ("auditor", COUNTY),
        "gone": ("township_officer", TOWNSHIP),
    }
    db = Database(settings, "gateway")
    ids = {}
    try:
        async with db.sessionmaker() as s:
            for name, (role, region) in people.items():
                user = await create_user(s, username=f"u_{name}", password="correct-horse-9", display_name=name,
                                         role=role, region_code=region)
                ids[name] = str(user.id)
            await s.execute(text("UPDATE app_user SET active = false WHERE username = 'u_gone'"))
            await s.commit()
    finally:
        await db.close()
    return ids


async def test_objection_created_tells_the_officers_of_the_notices_region_only(settings, ndb):
    users = await seed_users(settings)
    apps = {"gateway": _service_app("gateway", settings), "notifications": _service_app("notifications", settings)}
    async with running(apps, settings) as clients:
        ctx = make_ctx(settings, ndb, services=apps["notifications"].state.services)
        event = envelope("objection.created", CREATED)
        assert await handle(ctx, event)
        got = await inbox(ndb)
        assert sorted(m.user_id for m in got) == sorted([users["county"], users["town"], users["cadre"]])
        assert {m.kind for m in got} == {"objection.created"} and {m.title for m in got} == {"公示收到新异议"}
        assert got[0].body == ("“欣荣村2020年贫困户识别公示”（贫困户识别公示，公示编号 3）收到一条新的异议（异议编号 5），"
                               "请及时核实处理并答复。")
        # the same event again, or a second copy queued by a relay: still one message each
        assert not await handle(ctx, event)
        assert len(await inbox(ndb)) == 3
        # a second objection: one more message for each officer
        assert await handle(ctx, envelope("objection.created", CREATED | {"objection_id": 6}))
        assert len(await inbox(ndb, user_id=users["town"])) == 2
        # the officer reads it in the app inbox
        r = await clients["notifications"].get("/api/v1/me/notifications", headers=auth(make_token(
            settings, role="township_officer", region=TOWNSHIP, sub=users["town"])))
        assert r.status_code == 200 and len(r.json()["items"]) == 2
        r = await clients["notifications"].get("/api/v1/me/notifications", headers=auth(make_token(
            settings, role="township_officer", region=OTHER_TOWNSHIP, sub=users["far_town"])))
        assert r.json()["items"] == []


async def test_objection_created_waits_while_the_gateway_is_away_and_is_delivered_later(settings, ndb, caplog):
    users = await seed_users(settings)
    away = settings.model_copy(update={"gateway_url": f"http://127.0.0.1:{free_port()}"})
    event = envelope("objection.created", CREATED)
    with caplog.at_level(logging.WARNING):
        assert await handle(make_ctx(away, ndb), event)                 # consumed, not lost
    assert await inbox(ndb) == []
    (pending,) = await rows(ndb, "SELECT * FROM pending_event")
    assert pending.status == "waiting" and pending.attempts == 1 and "unreachable" in pending.last_error
    assert str(pending.event_id) == event["event_id"]

    # still away: the retry is counted and pushed back
    async with ndb.sessionmaker() as s:
        await s.execute(text("UPDATE pending_event SET next_attempt_at = now()"))
        await s.commit()
    assert await resume_due(sessionmaker=ndb.sessionmaker, handlers=HANDLERS, ctx=make_ctx(away, ndb)) == 0
    (pending,) = await rows(ndb, "SELECT * FROM pending_event")
    assert pending.attempts == 2 and pending.status == "waiting"

    apps = {"gateway": _service_app("gateway", settings), "notifications": _service_app("notifications", settings)}
    async with running(apps, settings):
        ctx = make_ctx(settings, ndb, services=apps["notifications"].state.services)
        assert await resume_due(sessionmaker=ndb.sessionmaker, handlers=HANDLERS, ctx=ctx) == 0   # not due yet
        async with ndb.sessionmaker() as s:
            await s.execute(text("UPDATE pending_event SET next_attempt_at = now()"))
            await s.commit()
        assert await resume_due(sessionmaker=ndb.sessionmaker, handlers=HANDLERS, ctx=ctx) == 1
        assert await resume_due(sessionmaker=ndb.sessionmaker, handlers=HANDLERS, ctx=ctx) == 0
    assert sorted(m.user_id for m in await inbox(ndb)) == sorted([users["county"], users["town"], users["cadre"]])
    assert await rows(ndb, "SELECT * FROM pending_event") == []
    actions = [r.action for r in await rows(ndb, "SELECT action FROM audit_log ORDER BY seq")]
    assert actions == ["event.defer", "event.retry", *["inbox.deliver"] * 3, "event.resume"]


# --- objection.resolved --------------------------------------------------------------------------

async def test_objection_resolved_sends_the_objector_an_sms_with_the_reply(settings, ndb):
    event = envelope("objection.resolved", resolved(decision="upheld", reply="经核实，该户已在城区购房，取消识别。"))
    assert await handle(make_ctx(settings, ndb), event)
    (m,) = await sms(ndb)
    assert m.kind == "objection.resolved" and m.status == "queued" and m.region_code == VILLAGE
    assert m.text == ("【精准扶贫】您对“欣荣村2020年贫困户识别公示”提出的异议已处理，结果：异议成立。"
                      "答复：经核实，该户已在城区购房，取消识别。")
    assert str(m.event_id) == event["event_id"] and m.dedupe_key == "objection.resolved:7"
    # the phone is encrypted at rest; only the masked form is readable
    assert m.phone_masked == "138****5678" and b"13812345678" not in bytes(m.phone_enc)
    assert pii.cipher(settings).decrypt(m.phone_enc, field="phone") == "13812345678"
    dismissed = envelope("objection.resolved", resolved(objection_id=8))
    assert await handle(make_ctx(settings, ndb), dismissed)
    assert "结果：异议不成立。答复：经村民小组核实" in (await sms(ndb))[1].text


# --- payment.paid --------------------------------------------------------------------------------

async def test_payment_paid_sends_the_head_an_sms_with_amount_purpose_and_account_tail(settings, ndb):
    assert await handle(make_ctx(settings, ndb), envelope("payment.paid", paid()))
    (m,) = await sms(ndb)
    assert m.text == "【精准扶贫】您户的产业发展补贴 3000.00 元已于 2020-06-01 发放至尾号 1234 的一卡通账户。"
    assert m.kind == "payment.paid" and m.phone_masked == "139****4567" and m.dedupe_key == "payment.paid:11:42"
    # a Beijing date; a masked account is cut to its last four; a label derived from the purpose code
    assert await handle(make_ctx(settings, ndb), envelope("payment.paid", paid(
        household_id=43, paid_at="2020-05-31T17:30:00Z", account_tail="622848*********5678", amount=1200.5,
        purpose="education", purpose_label=None)))
    m = (await sms(ndb))[1]
    assert m.text == "【精准扶贫】您户的教育扶贫补贴 1200.50 元已于 2020-06-01 发放至尾号 5678 的一卡通账户。"
    assert "622848" not in m.text
    # no account on record: no tail
    assert await handle(make_ctx(settings, ndb), envelope("payment.paid", paid(household_id=44, account_tail=None)))
    assert (await sms(ndb))[2].text.endswith("发放至您户的一卡通账户。")


async def test_a_payment_without_a_mobile_number_is_recorded_as_not_sent(settings, ndb):
    ctx = make_ctx(settings, ndb)
    assert await handle(ctx, envelope("payment.paid", paid(household_id=1, head_phone=None)))
    assert await handle(ctx, envelope("payment.paid", paid(household_id=2, head_phone="0951-1234567")))
    assert await handle(ctx, envelope("payment.paid", paid(household_id=3, head_phone="+86 139-5123-4567")))
    none, landline, spelled = await rows(ndb, "SELECT * FROM sms_message ORDER BY dedupe_key")
    assert none.status == "failed" and none.phone_enc is None and "未登记手机号" in none.last_error
    assert landline.status == "failed" and "非手机号码" in landline.last_error and landline.attempts == 0
    assert spelled.status == "queued" and pii.cipher(settings).decrypt(spelled.phone_enc, field="phone") == "13951234567"


# --- once ----------------------------------------------------------------------------------------

async def test_the_same_event_or_the_same_fact_twice_is_one_message(settings, ndb):
    ctx = make_ctx(settings, ndb)
    event = envelope("payment.paid", paid())
    assert await handle(ctx, event)
    assert not await handle(ctx, event)                                  # redelivered by the queue
    assert await handle(ctx, envelope("payment.paid", paid()))           # re-emitted under a new event id
    assert await handle(ctx, envelope("objection.resolved", resolved()))
    assert await handle(ctx, envelope("objection.resolved", resolved()))
    assert [m.kind for m in await sms(ndb)] == ["payment.paid", "objection.resolved"]
    queued = [r.action for r in await rows(ndb, "SELECT action FROM audit_log ORDER BY seq")]
    assert queued == ["sms.queue", "sms.queue"]
    async with ndb.sessionmaker() as s:
        assert (await audit.verify(s)).ok


async def test_a_payload_that_does_not_fit_is_logged_and_dropped(settings, ndb, caplog):
    ctx = make_ctx(settings, ndb)
    with caplog.at_level(logging.ERROR, logger="jingzhun.notifications.events"):
        assert await handle(ctx, envelope("payment.paid", paid(amount="-5", region_code="64")))
        assert await handle(ctx, envelope("objection.resolved", {"objection_id": "x"}))
    assert await sms(ndb) == []
    messages = [r.getMessage() for r in caplog.records]
    assert any("payment.paid" in m and "amount" in m and "region_code" in m for m in messages)
    assert not any("13951234567" in m for m in messages)


async def test_a_run_stops_at_the_first_sign_the_gateway_is_still_away(settings, ndb):
    away = settings.model_copy(update={"gateway_url": f"http://127.0.0.1:{free_port()}"})
    ctx = make_ctx(away, ndb)
    for n in (1, 2, 3):
        assert await handle(ctx, envelope("objection.created", CREATED | {"objection_id": n}))
    async with ndb.sessionmaker() as s:
        await s.execute(text("UPDATE pending_event SET next_attempt_at = now()"))
        await s.commit()
    assert await resume_due(sessionmaker=ndb.sessionmaker, handlers=HANDLERS, ctx=ctx) == 0
    assert sorted(r.attempts for r in await rows(ndb, "SELECT attempts FROM pending_event")) == [1, 1, 2]
