"""防返贫监测 cases (CONTRACT §11): reporting a household, category vs status, one open case, scope, the household
view, roles of each step and the history."""

import pytest

from shared.testing import auth
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import OTHER_VILLAGE
from tests.registry.monitoring import (cadre, close_notice, county, new_household, officer, record_year,
                                       report, sql, step)

ALLOWED = [("unstable", "exited"), ("marginal", "ordinary"), ("sudden", "exited"), ("sudden", "ordinary"),
           ("sudden", "pending")]
REFUSED = [("unstable", "ordinary"), ("unstable", "registered"), ("marginal", "exited"), ("marginal", "pending"),
           ("sudden", "registered"), ("sudden", "returned"), ("sudden", "removed")]


@pytest.mark.parametrize(("category", "status"), ALLOWED)
async def test_a_category_fitting_the_household_opens_a_case(stack, token, settings, category, status):
    h = await new_household(stack.registry, token, status=status, settings=settings)
    r = await report(stack.registry, token, h["id"], category=category)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "reported" and body["status_label"] == "申报"
    assert body["case_no"].startswith("JC2024") and body["category"] == category
    assert r.headers["location"] == f"/api/v1/monitoring/cases/{body['id']}"
    assert body["risk_type_labels"] == ["因病", "因务工就业不稳"]
    [first] = body["history"]
    assert (first["action"], first["from_status"], first["to_status"], first["actor"]) == (
        "report", None, "reported", "u-cadre")


@pytest.mark.parametrize(("category", "status"), REFUSED)
async def test_a_category_not_fitting_the_household_is_422_naming_the_rule(stack, token, settings, category,
                                                                             status):
    h = await new_household(stack.registry, token, status=status, settings=settings)
    r = await report(stack.registry, token, h["id"], category=category)
    assert r.status_code == 422, r.text
    assert r.json()["rule"] == f"category.{category}" and r.json()["household_status"] == status
    assert r.json()["errors"][0]["loc"] == ["body", "category"]


async def test_one_open_case_per_household_and_a_new_one_after_rejection(stack, token, settings):
    h = await new_household(stack.registry, token, settings=settings)
    first = (await report(stack.registry, token, h["id"])).json()
    r = await report(stack.registry, token, h["id"], risk_types=["disaster"])
    assert r.status_code == 409, r.text
    assert r.json()["open_case"] == {"id": first["id"], "case_no": first["case_no"], "status": "reported"}
    r = await step(stack.registry, officer(token), first["id"], "reject")
    assert r.status_code == 422                                   # a rejection says why
    r = await step(stack.registry, officer(token), first["id"], "reject", notes="核实后家庭收入稳定，不予纳入")
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["closed_at"]
    r = await report(stack.registry, token, h["id"], risk_types=["disaster"])
    assert r.status_code == 201, r.text
    with pytest.raises(Exception, match="unique"):                # the database holds the rule too
        await sql(settings, "INSERT INTO monitoring_case (case_no, household_id, village_code, category, risk_types,"
                            " source, year, reported_by) VALUES ('X1', :h, :v, 'marginal', ARRAY['other'],"
                            " 'cadre_visit', 2024, 't')", h=h["id"], v=VILLAGE)


async def test_idempotency_key_replays_the_first_answer(stack, token, settings):
    h = await new_household(stack.registry, token, settings=settings)
    headers = {**cadre(token), "Idempotency-Key": "case-1"}
    first = await report(stack.registry, token, h["id"], headers=headers)
    again = await report(stack.registry, token, h["id"], headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = await report(stack.registry, token, h["id"], headers=headers, risk_types=["other"])
    assert other.status_code == 409 and other.json()["type"].endswith("idempotency-key-reused")


async def test_the_household_view_shows_its_open_case_on_both_read_paths(stack, token, settings):
    h = await new_household(stack.registry, token, settings=settings)
    before = (await stack.registry.get(f"/api/v1/households/{h['id']}", headers=county(token))).json()
    assert before["monitoring_case"] is None
    case = (await report(stack.registry, token, h["id"])).json()
    fast = await stack.registry.get(f"/api/v1/households/{h['id']}", headers=county(token))
    slow = await stack.registry.get(f"/api/v1/households/00{h['id']}", headers=county(token))   # FastAPI route
    expected = {"id": case["id"], "case_no": case["case_no"], "status": "reported", "category": "marginal"}
    assert fast.json()["monitoring_case"] == slow.json()["monitoring_case"] == expected
    assert fast.json()["version"] > before["version"]
    await step(stack.registry, officer(token), case["id"], "reject", notes="重复申报")
    after = (await stack.registry.get(f"/api/v1/households/{h['id']}", headers=county(token))).json()
    assert after["monitoring_case"] is None


async def test_a_township_officer_never_sees_another_townships_cases(stack, token, settings):
    mine = await new_household(stack.registry, token, settings=settings)
    theirs = await new_household(stack.registry, token, settings=settings, village=OTHER_VILLAGE)
    mine_case = (await report(stack.registry, token, mine["id"])).json()
    other = (await report(stack.registry, token, theirs["id"], headers=cadre(token, OTHER_VILLAGE))).json()
    me = officer(token, TOWNSHIP)
    assert (await stack.registry.get(f"/api/v1/monitoring/cases/{other['id']}", headers=me)).status_code == 404
    r = await step(stack.registry, me, other["id"], "reject", notes="x")
    assert r.status_code == 404
    listed = (await stack.registry.get("/api/v1/monitoring/cases", headers=me)).json()
    assert [c["id"] for c in listed["items"]] == [mine_case["id"]]
    r = await stack.registry.get(f"/api/v1/monitoring/cases?region={OTHER_TOWNSHIP}", headers=me)
    assert r.json()["items"] == []
    # a village cadre cannot report a household of another village
    r = await report(stack.registry, token, theirs["id"], headers=cadre(token, VILLAGE))
    assert r.status_code == 404
    everything = (await stack.registry.get("/api/v1/monitoring/cases", headers=county(token))).json()
    assert {c["id"] for c in everything["items"]} == {mine_case["id"], other["id"]}


async def test_lists_filter_and_page(stack, token, settings):
    ids = []
    for category, status in (("marginal", "ordinary"), ("unstable", "exited"), ("marginal", "ordinary")):
        h = await new_household(stack.registry, token, status=status, settings=settings)
        ids.append((await report(stack.registry, token, h["id"], category=category)).json()["id"])
    r = await stack.registry.get("/api/v1/monitoring/cases?category=marginal&limit=1", headers=county(token))
    page = r.json()
    assert [c["id"] for c in page["items"]] == [ids[0]] and page["next_cursor"]
    r = await stack.registry.get(f"/api/v1/monitoring/cases?category=marginal&limit=1&cursor={page['next_cursor']}",
                                 headers=county(token))
    assert [c["id"] for c in r.json()["items"]] == [ids[2]] and r.json()["next_cursor"] is None
    r = await stack.registry.get("/api/v1/monitoring/cases?status=verified", headers=county(token))
    assert r.json()["items"] == []


# --- roles: each step by its role; a county admin may take all ----------------------------------------------

async def _publicized(stack, token, settings) -> tuple[dict, int]:
    h = await new_household(stack.registry, token, settings=settings)
    case = (await report(stack.registry, token, h["id"])).json()
    await record_year(stack.registry, token, h["id"])
    assert (await step(stack.registry, cadre(token), case["id"], "verify")).status_code == 200
    r = await step(stack.registry, officer(token), case["id"], "publicize", days=7)
    assert r.status_code == 200, r.text
    return r.json(), r.json()["notice_id"]


async def test_each_step_by_its_role(stack, token, settings):
    h = await new_household(stack.registry, token, settings=settings)
    r = await report(stack.registry, token, h["id"], headers=officer(token))
    assert r.status_code == 403                                               # a township officer does not report
    r = await report(stack.registry, token, h["id"], headers=auth(token("helper", region=VILLAGE, sub="u-h")))
    assert r.status_code == 403
    case = (await report(stack.registry, token, h["id"])).json()
    await record_year(stack.registry, token, h["id"])
    assert (await step(stack.registry, officer(token), case["id"], "verify")).status_code == 403
    assert (await step(stack.registry, cadre(token), case["id"], "verify")).status_code == 200
    assert (await step(stack.registry, cadre(token), case["id"], "publicize")).status_code == 403
    assert (await step(stack.registry, cadre(token), case["id"], "reject", notes="x")).status_code == 403
    r = await step(stack.registry, officer(token), case["id"], "publicize", days=7)
    assert r.status_code == 200 and r.json()["status"] == "publicized"
    notice_id = r.json()["notice_id"]
    assert (await step(stack.registry, officer(token), case["id"], "approve")).status_code == 403
    r = await step(stack.registry, county(token), case["id"], "approve")
    assert r.status_code == 409 and r.json()["notice_id"] == notice_id      # the notice is still open
    assert await close_notice(settings, notice_id=notice_id, case=case)
    assert (await step(stack.registry, cadre(token), case["id"], "approve")).status_code == 403
    r = await step(stack.registry, county(token), case["id"], "approve")
    assert r.status_code == 200 and r.json()["status"] == "approved" and r.json()["approved_at"]
    assert (await step(stack.registry, officer(token), case["id"], "propose_elimination")).status_code == 403
    actors = [(s["action"], s["role"]) for s in r.json()["history"]]
    assert actors == [("report", "village_cadre"), ("verify", "village_cadre"), ("publicize", "township_officer"),
                      ("notice_closed", "service"), ("approve", "county_admin")]


async def test_a_county_admin_may_take_every_step_and_illegal_moves_are_409(stack, token, settings):
    h = await new_household(stack.registry, token, settings=settings)
    case = (await report(stack.registry, token, h["id"], headers=county(token))).json()
    r = await step(stack.registry, county(token), case["id"], "publicize")
    assert r.status_code == 409 and r.json()["type"].endswith("illegal-transition")
    r = await step(stack.registry, county(token), case["id"], "verify")
    assert r.status_code == 409 and [m["code"] for m in r.json()["missing"]] == ["income", "assurance"]
    assert r.json()["missing"][0]["label"] == "该年度收入未录入"
    await record_year(stack.registry, token, h["id"], year=2023)                 # another year does not count
    assert (await step(stack.registry, county(token), case["id"], "verify")).status_code == 409
    await record_year(stack.registry, token, h["id"])
    assert (await step(stack.registry, county(token), case["id"], "verify")).json()["status"] == "verified"
    assert (await step(stack.registry, county(token), case["id"], "publicize")).json()["status"] == "publicized"
    r = await step(stack.registry, county(token), case["id"], "propose_elimination")
    assert r.status_code == 409 and r.json()["type"].endswith("illegal-transition")


async def test_publicize_opens_a_monitoring_notice_with_labels_and_the_days_asked(stack, token, settings):
    case, notice_id = await _publicized(stack, token, settings)
    notice = stack.notices[-1]
    assert notice["kind"] == "monitoring" and notice["days"] == 7 and notice["region_code"] == VILLAGE
    assert notice["requester_ref"] == f"registry/monitoring_case/{case['id']}/inclusion/v{case['version'] - 1}"
    [item] = notice["items"]
    assert item["category_label"] == "边缘易致贫户" and item["risk_type_labels"] == ["因病", "因务工就业不稳"]
    assert item["name"] == "马建国" and item["case_no"] == case["case_no"]


async def test_the_history_is_never_deleted(stack, token, settings):
    h = await new_household(stack.registry, token, settings=settings)
    case = (await report(stack.registry, token, h["id"])).json()
    with pytest.raises(Exception, match="never changed or deleted"):
        await sql(settings, "DELETE FROM monitoring_case_step WHERE case_id = :c", c=case["id"])
    with pytest.raises(Exception, match="never changed or deleted"):
        await sql(settings, "UPDATE monitoring_case_step SET notes = 'x' WHERE case_id = :c", c=case["id"])


async def test_a_helper_sees_the_cases_of_their_own_households_only(stack, token, settings):
    mine = await new_household(stack.registry, token, settings=settings)
    other = await new_household(stack.registry, token, settings=settings)
    await sql(settings, "UPDATE household SET helper_user_id = '17' WHERE id = :h", h=mine["id"])
    mine_case = (await report(stack.registry, token, mine["id"])).json()
    other_case = (await report(stack.registry, token, other["id"])).json()
    helper = auth(token("helper", region=VILLAGE, sub="17"))
    listed = (await stack.registry.get("/api/v1/monitoring/cases", headers=helper)).json()
    assert [c["id"] for c in listed["items"]] == [mine_case["id"]]
    assert (await stack.registry.get(f"/api/v1/monitoring/cases/{other_case['id']}", headers=helper)).status_code == 404
    assert (await step(stack.registry, helper, mine_case["id"], "verify")).status_code == 403
    r = await stack.registry.get(f"/api/v1/monitoring/cases/{mine_case['id']}", headers=helper)
    assert r.status_code == 200 and r.json()["history"][0]["action"] == "report"
    bank = auth(token("bank", region=VILLAGE, sub="b"))
    assert (await stack.registry.get("/api/v1/monitoring/cases", headers=bank)).status_code == 403
