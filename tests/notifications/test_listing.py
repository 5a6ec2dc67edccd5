"""GET /api/v1/notifications: who may read, region scope, masked phones, status filter, cursor pagination."""

from services.notifications.handlers import HANDLERS
from shared import audit
from shared.testing import auth, make_token
from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.notifications.conftest import envelope, handle, make_ctx, paid, resolved

FAR_VILLAGE = "640122101001"
PHONES = {"13951230001", "13951230002", "13951230003", "13812345678"}


async def seed(settings, ndb):
    ctx = make_ctx(settings, ndb)
    assert await handle(ctx, envelope("payment.paid", paid(household_id=1, head_phone="13951230001")))
    assert await handle(ctx, envelope("payment.paid", paid(household_id=2, head_phone="13951230002")))
    assert await handle(ctx, envelope("payment.paid", paid(household_id=3, head_phone="13951230003",
                                                          region_code=FAR_VILLAGE)))
    assert await handle(ctx, envelope("objection.resolved", resolved()))
    assert await handle(ctx, envelope("payment.paid", paid(household_id=4, head_phone=None)))


def headers(settings, role, region, sub="u-reader"):
    return auth(make_token(settings, role=role, region=region, sub=sub))


async def test_readers_see_their_region_with_masked_phones(settings, ndb, notifications):
    await seed(settings, ndb)
    url = "/api/v1/notifications"
    r = await notifications.get(url, headers=headers(settings, "county_admin", COUNTY))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "next_cursor"} and body["next_cursor"] is None
    assert len(body["items"]) == 5
    assert not any(p in r.text for p in PHONES)                       # never a full phone
    assert {i["phone"] for i in body["items"]} == {"139****0001", "139****0002", "139****0003", "138****5678", None}
    item = next(i for i in body["items"] if i["phone"] == "139****0001")
    assert item["kind"] == "payment.paid" and item["kind_label"] == "补贴到账" and item["region_code"] == VILLAGE
    assert item["text"].startswith("【精准扶贫】您户的产业发展补贴 3000.00 元") and item["attempts"] == 0
    newest_first = [i["created_at"] for i in body["items"]]
    assert newest_first == sorted(newest_first, reverse=True)

    town = await notifications.get(url, headers=headers(settings, "township_officer", TOWNSHIP))
    assert len(town.json()["items"]) == 4 and FAR_VILLAGE not in town.text
    far = await notifications.get(url, headers=headers(settings, "township_officer", OTHER_TOWNSHIP))
    assert [i["region_code"] for i in far.json()["items"]] == [FAR_VILLAGE]
    auditor = await notifications.get(url, headers=headers(settings, "auditor", COUNTY))
    assert len(auditor.json()["items"]) == 5 and not any(p in auditor.text for p in PHONES)
    # a region filter narrows; outside the caller's own region it finds nothing (existence is not leaked)
    narrow = await notifications.get(url, params={"region": FAR_VILLAGE}, headers=headers(settings, "county_admin",
                                                                                           COUNTY))
    assert len(narrow.json()["items"]) == 1
    outside = await notifications.get(url, params={"region": FAR_VILLAGE},
                                      headers=headers(settings, "township_officer", TOWNSHIP))
    assert outside.status_code == 200 and outside.json()["items"] == []
    # one message: 404 outside the region
    far_id = far.json()["items"][0]["id"]
    assert (await notifications.get(f"{url}/{far_id}", headers=headers(settings, "county_admin", COUNTY))
            ).json()["id"] == far_id
    r = await notifications.get(f"{url}/{far_id}", headers=headers(settings, "township_officer", TOWNSHIP))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


async def test_status_filter_and_detail(settings, ndb, notifications):
    await seed(settings, ndb)
    admin = headers(settings, "county_admin", COUNTY)
    failed = (await notifications.get("/api/v1/notifications", params={"status": "failed"}, headers=admin)).json()
    (item,) = failed["items"]
    assert item["phone"] is None and item["status_label"] == "发送失败" and "未登记手机号" in item["detail"]
    queued = (await notifications.get("/api/v1/notifications", params={"status": "queued"}, headers=admin)).json()
    assert len(queued["items"]) == 4 and all(i["next_attempt_at"] for i in queued["items"])
    assert (await notifications.get("/api/v1/notifications", params={"status": "sent"}, headers=admin)
            ).json()["items"] == []
    kind = (await notifications.get("/api/v1/notifications", params={"kind": "objection.resolved"}, headers=admin))
    assert [i["kind"] for i in kind.json()["items"]] == ["objection.resolved"]
    assert (await notifications.get("/api/v1/notifications", params={"status": "lost"},
                                    headers=admin)).status_code == 422


async def test_cursor_pagination_walks_every_message_once(settings, ndb, notifications):
    ctx = make_ctx(settings, ndb)
    for n in range(7):
        assert await handle(ctx, envelope("payment.paid", paid(household_id=n + 1)))
    admin = headers(settings, "county_admin", COUNTY)
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = (await notifications.get("/api/v1/notifications", params=params, headers=admin)).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 7 and len(set(seen)) == 7
    for bad in ("garbage!", "eyJhdCI6IngifQ", "e30"):                     # not base64 JSON; {"at":"x"}; {}
        r = await notifications.get("/api/v1/notifications", params={"cursor": bad}, headers=admin)
        assert r.status_code == 400, bad


async def test_only_officers_and_auditors_may_read(settings, ndb, notifications):
    await seed(settings, ndb)
    assert (await notifications.get("/api/v1/notifications")).status_code == 401
    for role, region in (("village_cadre", VILLAGE), ("helper", VILLAGE), ("finance_officer", COUNTY),
                         ("bank", COUNTY)):
        r = await notifications.get("/api/v1/notifications", headers=headers(settings, role, region))
        assert r.status_code == 403, role
    # every write so far is in the chain, and the chain holds
    async with ndb.sessionmaker() as s:
        report = await audit.verify(s)
    assert report.ok and report.count == 5
    assert "payment.paid" in HANDLERS
