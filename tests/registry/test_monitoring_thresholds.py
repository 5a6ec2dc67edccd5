"""监测标准 per region and year (the most specific region wins) and 一般农户 recorded for monitoring only."""

from services.registry.monitoring.thresholds.service import applicable_fen
from shared.db import Database
from shared.testing import auth
from tests.conftest import COUNTY, TOWNSHIP, VILLAGE
from tests.registry.conftest import OTHER_VILLAGE, household

PROVINCE = "640000000000"


async def test_the_most_specific_region_wins(registry, token, regions, settings):
    admin = auth(token())
    for code, amount in ((PROVINCE, "6800"), (COUNTY, "7000"), (TOWNSHIP, "7200.50")):
        r = await registry.put("/api/v1/monitoring/thresholds/2022", json={"region_code": code, "amount": amount},
                               headers=admin)
        assert r.status_code == 201, r.text
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as session:
            assert await applicable_fen(session, year=2022, village_code=VILLAGE) == 720050      # its township's
            assert await applicable_fen(session, year=2022, village_code=OTHER_VILLAGE) == 700000  # the county's
            assert await applicable_fen(session, year=2023, village_code=VILLAGE) is None
    finally:
        await db.close()
    r = await registry.get("/api/v1/monitoring/thresholds?year=2022", headers=auth(token("village_cadre", VILLAGE)))
    assert [(t["region_code"], t["amount"]) for t in r.json()["items"]] == [
        (PROVINCE, "6800.00"), (COUNTY, "7000.00"), (TOWNSHIP, "7200.50")]


async def test_replacing_a_threshold_honours_if_match_and_is_audited(registry, token, regions):
    admin = auth(token())
    body = {"region_code": COUNTY, "amount": "7000"}
    assert (await registry.put("/api/v1/monitoring/thresholds/2022", json=body, headers=admin)).status_code == 201
    stale = await registry.put("/api/v1/monitoring/thresholds/2022", json={**body, "amount": "1"},
                               headers={**admin, "If-Match": '"7"'})
    assert stale.status_code == 412
    r = await registry.put("/api/v1/monitoring/thresholds/2022", json={**body, "amount": "7100"},
                           headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2 and r.headers["etag"] == '"2"'
    r = await registry.get("/internal/audit/events?entity=monitoring_threshold",
                           headers=auth(token("service", "", sub="svc:funds")))
    assert r.status_code == 200, r.text
    assert [e["diff"]["previous"] for e in r.json()["items"]] == [None, "7000.00"]


async def test_only_a_county_admin_in_the_lineage_sets_a_threshold(registry, token, regions):
    body = {"region_code": TOWNSHIP, "amount": "7000"}
    r = await registry.put("/api/v1/monitoring/thresholds/2022", json=body,
                           headers=auth(token("township_officer", TOWNSHIP)))
    assert r.status_code == 403
    other_county = auth(token(region="640121000000"))
    r = await registry.put("/api/v1/monitoring/thresholds/2022", json=body, headers=other_county)
    assert r.status_code == 404
    r = await registry.put("/api/v1/monitoring/thresholds/2022", json={"region_code": "64", "amount": "1"},
                           headers=auth(token()))
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


async def test_an_ordinary_household_is_watched_but_never_poor(registry, token, create):
    ordinary = await create(household(status="ordinary"))
    assert ordinary["status"] == "ordinary" and ordinary["status_label"] == "一般农户"
    await create(household())                                   # a pending one beside it
    r = await registry.get(f"/api/v1/stats/regions/{COUNTY}?year=2016", headers=auth(token()))
    stats = r.json()
    by_status = {s["code"]: s["households"] for s in stats["by_status"]}
    assert by_status["ordinary"] == 1 and by_status["pending"] == 1
    assert stats["poverty_incidence"] == 0 and stats["poor_households"] == 0
    assert stats["in_year"]["identified"]["households"] == 1      # the pending one only
    r = await registry.post("/api/v1/households", json=household(status="registered"), headers=auth(token()))
    assert r.status_code == 422
