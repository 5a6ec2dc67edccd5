"""GET /api/v1/stats/monitoring/{code}: figures of a small seeded set, per subtree and child, and scope."""

from tests.conftest import COUNTY, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import OTHER_VILLAGE
from tests.registry.monitoring import cadre, county, new_household, officer, report, sql


async def seeded(stack, token, settings) -> dict[str, int]:
    """In 欣荣村 (洪广镇): an approved case with a measure since, a reported one, one eliminated in 2024, one of 2023;
    in 银河村 (金贵镇): an approved case without a measure."""
    ids = {}
    specs = [("approved", VILLAGE, "ordinary", "marginal", ["illness", "unstable_job"], 2024),
             ("reported", VILLAGE, "exited", "unstable", ["illness", "disability"], 2024),
             ("eliminated", VILLAGE, "ordinary", "sudden", ["disaster"], 2024),
             ("old", VILLAGE, "ordinary", "marginal", ["other"], 2023),
             ("far", OTHER_VILLAGE, "ordinary", "sudden", ["accident"], 2024)]
    for name, village, status, category, risks, year in specs:
        h = await new_household(stack.registry, token, status=status, settings=settings, village=village)
        r = await report(stack.registry, token, h["id"], headers=cadre(token, village), category=category,
                         risk_types=risks, year=year)
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
        ids[name + "_household"] = h["id"]
    await sql(settings, "UPDATE monitoring_case SET status = 'approved', reported_at = '2024-02-20 09:00+08', "
                        "approved_at = '2024-03-01 09:00+08' WHERE id = :c", c=ids["approved"])
    await sql(settings, "UPDATE monitoring_case SET status = 'approved', reported_at = '2024-03-01 09:00+08', "
                        "approved_at = '2024-03-21 21:00+08' WHERE id = :c", c=ids["far"])
    await sql(settings, "UPDATE monitoring_case SET status = 'eliminated', reported_at = '2023-10-01 09:00+08', "
                        "approved_at = '2023-11-01 09:00+08', closed_at = '2024-09-01 09:00+08' WHERE id = :c",
              c=ids["eliminated"])
    await sql(settings, "UPDATE monitoring_case SET status = 'approved', reported_at = '2023-05-01 09:00+08', "
                        "approved_at = '2023-06-01 09:00+08' WHERE id = :c", c=ids["old"])
    r = await stack.registry.post(f"/api/v1/households/{ids['approved_household']}/measures", headers=county(token),
                                  json={"batch": "production", "kind": "产业奖补", "description": "", "year": 2024})
    assert r.status_code == 201
    # a measure of the old case's household before its approval does not count as help since
    r = await stack.registry.post(f"/api/v1/households/{ids['old_household']}/measures", headers=county(token),
                                  json={"batch": "production", "kind": "产业奖补", "description": "", "year": 2023})
    await sql(settings, "UPDATE measure SET created_at = '2023-05-15 09:00+08' WHERE household_id = :h",
              h=ids["old_household"])
    return ids


def counts(rows: list[dict]) -> dict[str, int]:
    return {r["code"]: r["cases"] for r in rows if r["cases"]}


async def test_figures_for_the_county_and_each_township(stack, token, settings):
    await seeded(stack, token, settings)
    body = (await stack.registry.get(f"/api/v1/stats/monitoring/{COUNTY}?year=2024", headers=county(token))).json()
    assert body["cases"] == 4
    assert counts(body["by_category"]) == {"marginal": 1, "unstable": 1, "sudden": 2}
    assert counts(body["by_status"]) == {"approved": 2, "reported": 1, "eliminated": 1}
    assert counts(body["by_risk_type"]) == {"illness": 2, "unstable_job": 1, "disability": 1, "disaster": 1,
                                            "accident": 1}
    assert body["by_risk_type"][0] == {"code": "illness", "label": "因病", "cases": 2}
    assert body["monitored_households"] == 3                # approved (2024, 2024) and the 2023 case still open
    assert body["eliminated_in_year"] == 1
    assert body["monitored_without_measure"] == 2          # far, and old (its measure predates approval)
    assert body["median_days_to_approval"] == 15.3          # 10 and 20.5 days, approved in 2024
    town, far = (next(c for c in body["children"] if c["code"] == code) for code in (TOWNSHIP, OTHER_TOWNSHIP))
    assert town["cases"] == 3 and town["monitored_households"] == 2 and town["median_days_to_approval"] == 10.0
    assert far["cases"] == 1 and far["monitored_without_measure"] == 1 and far["median_days_to_approval"] == 20.5
    old = (await stack.registry.get(f"/api/v1/stats/monitoring/{COUNTY}?year=2023", headers=county(token))).json()
    assert old["cases"] == 1 and old["eliminated_in_year"] == 0 and old["median_days_to_approval"] == 31.0


async def test_a_township_officer_sees_only_their_township(stack, token, settings):
    await seeded(stack, token, settings)
    me = officer(token, TOWNSHIP)
    r = await stack.registry.get(f"/api/v1/stats/monitoring/{OTHER_TOWNSHIP}?year=2024", headers=me)
    assert r.status_code == 404
    assert (await stack.registry.get(f"/api/v1/stats/monitoring/{COUNTY}", headers=me)).status_code == 404
    body = (await stack.registry.get(f"/api/v1/stats/monitoring/{TOWNSHIP}?year=2024", headers=me)).json()
    assert body["cases"] == 3 and [c["code"] for c in body["children"]] == [VILLAGE]
    assert body["children"][0]["cases"] == 3
