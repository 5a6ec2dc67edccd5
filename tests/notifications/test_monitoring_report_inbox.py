"""``monitoring_report.created`` (一码申报): the township officers covering the village get an inbox message, in
Chinese, without the ID number or the phone; once per event."""

from shared.testing import auth, make_token, running
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE, _service_app
from tests.notifications.conftest import envelope, handle, make_ctx
from tests.notifications.test_handlers import inbox, seed_users

TOPIC = "monitoring_report.created"     # what the registry emits (services.registry.monitoring.reports)
REPORT = {"report_id": 12, "village_code": VILLAGE, "region_code": VILLAGE, "reporter_name": "马建国",
          "village_name": "欣荣村"}


async def test_the_townships_officers_get_the_report_in_their_inbox(settings, ndb):
    users = await seed_users(settings)
    apps = {"gateway": _service_app("gateway", settings), "notifications": _service_app("notifications", settings)}
    async with running(apps, settings) as clients:
        ctx = make_ctx(settings, ndb, services=apps["notifications"].state.services)
        event = envelope(TOPIC, REPORT, source="registry")
        assert await handle(ctx, event)
        got = await inbox(ndb)
        assert [m.user_id for m in got] == [users["town"]]        # not the county, the cadres, nor another township
        (m,) = got
        assert m.kind == "monitoring_report.created" and m.title == "新的防返贫监测申报"
        assert m.body == ("欣荣村村民马建国通过一码申报提交了防返贫监测申请（申报编号 12），请在 2 日内入户核实，"
                          "受理立案或说明理由不予受理。")
        assert not await handle(ctx, event)                          # the same event again: nothing more
        assert len(await inbox(ndb)) == 1
        r = await clients["notifications"].get("/api/v1/me/notifications", headers=auth(make_token(
            settings, role="township_officer", region=OTHER_TOWNSHIP, sub=users["far_town"])))
        assert r.json()["items"] == []
        r = await clients["notifications"].get("/api/v1/me/notifications", headers=auth(make_token(
            settings, role="township_officer", region=TOWNSHIP, sub=users["town"])))
        assert [i["title"] for i in r.json()["items"]] == ["新的防返贫监测申报"]
