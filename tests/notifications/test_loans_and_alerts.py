"""Loan reminders to borrowers (``loan.reminder``), the county's daily fund alerts (``funds.alerts``), unread counts."""

import logging

from sqlalchemy import text

from services.notifications.handlers import HANDLERS
from services.notifications.pending.service import resume_due
from shared import pii
from shared.testing import auth, free_port, make_token, running
from tests.conftest import COUNTY, TOWNSHIP, VILLAGE, _service_app
from tests.notifications.conftest import envelope, handle, make_ctx, rows
from tests.notifications.test_handlers import inbox, seed_users


def reminder(**overrides):
    return {"loan_no": "NX2020-000123", "kind": "overdue", "household_id": 42, "region_code": VILLAGE,
            "bank_code": "NXRCB", "head_name": "马文军", "head_phone": "13951234567", "due_on": "2026-11-30",
            "outstanding": "1234.00", "days_overdue": 6} | overrides


async def test_an_overdue_loan_gets_the_borrower_one_plain_sms(settings, ndb):
    ctx = make_ctx(settings, ndb)
    assert await handle(ctx, envelope("loan.reminder", reminder()))
    (m,) = await rows(ndb, "SELECT * FROM sms_message")
    assert m.kind == "loan.reminder" and m.status == "queued" and m.region_code == VILLAGE
    assert m.text == "【精准扶贫】您户尾号 0123 的扶贫小额信贷已逾期 6 天（应还款日 2026-11-30），尚欠 1234.00 元，请尽快还款。"
    assert "马文军" not in m.text and "NX2020" not in m.text          # no more personal data than needed
    assert m.dedupe_key == "loan.reminder:NX2020-000123:overdue:2026-11-30" and m.parts == 1
    assert pii.cipher(settings).decrypt(m.phone_enc, field="phone") == "13951234567"
    # the same reminder again (a second daily run, another event id): still one SMS
    assert await handle(ctx, envelope("loan.reminder", reminder(days_overdue=7)))
    assert len(await rows(ndb, "SELECT id FROM sms_message")) == 1


async def test_due_soon_and_overdue_are_two_reminders_and_each_due_date_its_own(settings, ndb):
    ctx = make_ctx(settings, ndb)
    assert await handle(ctx, envelope("loan.reminder", reminder(kind="due_soon", days_overdue=0)))
    assert await handle(ctx, envelope("loan.reminder", reminder()))
    assert await handle(ctx, envelope("loan.reminder", reminder(kind="due_soon", due_on="2026-12-31",
                                                                outstanding=600)))
    got = [(m.dedupe_key, m.text) for m in await rows(ndb, "SELECT * FROM sms_message ORDER BY created_at, id")]
    assert [k for k, _ in got] == ["loan.reminder:NX2020-000123:due_soon:2026-11-30",
                                   "loan.reminder:NX2020-000123:overdue:2026-11-30",
                                   "loan.reminder:NX2020-000123:due_soon:2026-12-31"]
    assert got[2][1] == "【精准扶贫】您户尾号 0123 的扶贫小额信贷将于 2026-12-31 到期，尚欠 600.00 元，请按时还款。有困难可找村委会。"


async def test_a_reminder_without_a_mobile_or_that_does_not_fit(settings, ndb, caplog):
    ctx = make_ctx(settings, ndb)
    assert await handle(ctx, envelope("loan.reminder", reminder(head_phone=None)))
    (m,) = await rows(ndb, "SELECT * FROM sms_message")
    assert m.status == "failed" and "未登记手机号" in m.last_error
    with caplog.at_level(logging.ERROR, logger="jingzhun.notifications.events"):
        assert await handle(ctx, envelope("loan.reminder", reminder(loan_no="L2", kind="late", due_on="30/11")))
    assert len(await rows(ndb, "SELECT id FROM sms_message")) == 1
    assert any("loan.reminder" in r.getMessage() and "kind" in r.getMessage() and "due_on" in r.getMessage()
               for r in caplog.records)


# --- funds.alerts --------------------------------------------------------------------------------

def alerts(**overrides):
    items = [{"kind": "idle_allocation", "entity": "allocation", "entity_id": 7, "since": "2026-08-01",
              "detail": "可用 50000.00 元闲置 127 天"},
             {"kind": "stale_project", "entity": "project", "entity_id": 12, "since": "2026-09-20",
              "detail": "“欣荣村滴灌工程”停留在 in_progress 77 天"}]
    return {"region_code": COUNTY, "as_of": "2026-12-06",
            "counts": {"idle_allocation": 1, "stale_project": 1, "overdue_report": 3}, "items": items} | overrides


async def test_county_alerts_reach_each_county_admin_once_a_day(settings, ndb):
    users = await seed_users(settings)
    apps = {"gateway": _service_app("gateway", settings), "notifications": _service_app("notifications", settings)}
    async with running(apps, settings) as clients:
        ctx = make_ctx(settings, ndb, services=apps["notifications"].state.services)
        assert await handle(ctx, envelope("funds.alerts", alerts()))
        (m,) = await inbox(ndb)                       # the county admin only: not townships, cadres or finance
        assert m.user_id == users["county"] and m.kind == "funds.alerts"
        assert m.title == "资金预警 2026-12-06：5 项待处理"
        assert m.body.splitlines() == [
            "截至 2026-12-06，本县（640122000000）共有资金预警 5 项：资金滞留未拨付 1 项，项目环节停滞 1 项，监测报告逾期 3 项。",
            "1. 资金滞留未拨付 资金指标 7（自 2026-08-01 起）：可用 50000.00 元闲置 127 天",
            "2. 项目环节停滞 项目 12（自 2026-09-20 起）：“欣荣村滴灌工程”停留在 in_progress 77 天",
            "另有 3 项未列出，请在资金预警（滞留滞拨）中查看全部。"]
        # the same day again under another event id: nothing more; the next day: one more
        assert await handle(ctx, envelope("funds.alerts", alerts()))
        assert len(await inbox(ndb)) == 1
        assert await handle(ctx, envelope("funds.alerts", alerts(as_of="2026-12-07")))
        assert len(await inbox(ndb)) == 2
        admin = auth(make_token(settings, role="county_admin", region=COUNTY, sub=users["county"]))
        r = await clients["notifications"].get("/api/v1/me/notifications", headers=admin)
        assert [i["title"] for i in r.json()["items"]] == ["资金预警 2026-12-07：5 项待处理",
                                                          "资金预警 2026-12-06：5 项待处理"]
        town = auth(make_token(settings, role="township_officer", region=TOWNSHIP, sub=users["town"]))
        assert (await clients["notifications"].get("/api/v1/me/notifications", headers=town)).json()["items"] == []


async def test_county_alerts_wait_while_the_gateway_is_away(settings, ndb):
    users = await seed_users(settings)
    away = settings.model_copy(update={"gateway_url": f"http://127.0.0.1:{free_port()}"})
    assert await handle(make_ctx(away, ndb), envelope("funds.alerts", alerts()))
    assert await inbox(ndb) == []
    (pending,) = await rows(ndb, "SELECT * FROM pending_event")
    assert pending.topic == "funds.alerts" and pending.status == "waiting"
    async with ndb.sessionmaker() as s:
        await s.execute(text("UPDATE pending_event SET next_attempt_at = now()"))
        await s.commit()
    apps = {"gateway": _service_app("gateway", settings), "notifications": _service_app("notifications", settings)}
    async with running(apps, settings):
        ctx = make_ctx(settings, ndb, services=apps["notifications"].state.services)
        assert await resume_due(sessionmaker=ndb.sessionmaker, handlers=HANDLERS, ctx=ctx) == 1
    assert [m.user_id for m in await inbox(ndb)] == [users["county"]]


async def test_an_alert_list_longer_than_twenty_is_cut_to_twenty(settings, ndb):
    users = await seed_users(settings)
    apps = {"gateway": _service_app("gateway", settings), "notifications": _service_app("notifications", settings)}
    async with running(apps, settings):
        ctx = make_ctx(settings, ndb, services=apps["notifications"].state.services)
        item = alerts()["items"][0]
        assert await handle(ctx, envelope("funds.alerts", alerts(
            counts={"idle_allocation": 25}, items=[item | {"entity_id": n} for n in range(25)])))
    (m,) = await inbox(ndb)
    lines = m.body.splitlines()
    assert m.user_id == users["county"] and len(lines) == 22
    assert lines[20].startswith("20. 资金滞留未拨付 资金指标 19") and lines[21] == "另有 5 项未列出，请在资金预警（滞留滞拨）中查看全部。"


# --- unread count --------------------------------------------------------------------------------

async def test_the_inbox_carries_the_unread_count_and_reading_lowers_it(settings, ndb, notifications):
    ctx = make_ctx(settings, ndb)
    for n in range(3):
        assert await handle(ctx, envelope("helper.assigned", {"helper_user_id": 17, "household_id": n,
                                                              "household_no": f"64012210000100{n:02d}",
                                                              "head_name": "马文军", "village_name": "欣荣村"},
                                          source="registry"))
    assert await handle(ctx, envelope("helper.assigned", {"helper_user_id": 18, "household_no": "x"},
                                      source="registry"))
    me = auth(make_token(settings, role="helper", region=VILLAGE, sub="17"))
    r = await notifications.get("/api/v1/me/notifications", params={"limit": 1}, headers=me)
    body = r.json()
    assert len(body["items"]) == 1 and body["unread"] == 3 and body["next_cursor"]      # all, not the page
    assert (await notifications.get("/api/v1/me/notifications/unread-count", headers=me)).json() == {"unread": 3}
    assert (await notifications.post(f"/api/v1/me/notifications/{body['items'][0]['id']}/read",
                                     headers=me)).status_code == 200
    assert (await notifications.get("/api/v1/me/notifications/unread-count", headers=me)).json() == {"unread": 2}
    assert (await notifications.get("/api/v1/me/notifications", headers=me)).json()["unread"] == 2
    r = await notifications.get("/api/v1/me/notifications/unread-count")
    assert r.status_code == 401
