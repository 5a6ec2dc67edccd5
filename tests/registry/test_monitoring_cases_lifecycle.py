"""The case lifecycle end to end: the 公示 round trip with the real funds service (no objection → approve; an upheld
objection → back to verified, the objection in the history), and every condition of 风险消除 on its own."""

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from services.funds.notices import service as notice_service
from services.registry.glossary import ASSURANCES
from services.registry.monitoring.cases import rules
from shared.testing import auth, running
from tests.conftest import COUNTY
from tests.registry.conftest import make_regions, member
from tests.registry.monitoring import (YEAR, cadre, close_notice, county, new_household, officer, record_year,
                                       report, sql, step)
from tests.registry.test_notices_with_funds import deliver_funds_events

OBJECTION = {"contact_name": "王大妈", "contact_phone": "13812345678", "content": "他家儿子在城里开店，收入不低。"}


@pytest.fixture
async def with_funds(settings, token):
    from services.funds.app import create as create_funds
    from services.registry.app import create as create_registry
    apps = {"registry": create_registry(settings), "funds": create_funds(settings)}
    async with running(apps, settings) as clients:
        await make_regions(clients["registry"], auth(token()))
        yield clients


async def _to_publicized(registry, token, settings, days: int = 0) -> tuple[dict, int]:
    h = await new_household(registry, token, settings=settings)
    case = (await report(registry, token, h["id"])).json()
    await record_year(registry, token, h["id"])
    assert (await step(registry, cadre(token), case["id"], "verify")).status_code == 200
    r = await step(registry, officer(token), case["id"], "publicize", days=days)
    assert r.status_code == 200, r.text
    return r.json(), r.json()["notice_id"]


async def test_no_objection_then_approve_with_funds(with_funds, token, settings):
    registry, funds = with_funds["registry"], with_funds["funds"]
    case, notice_id = await _to_publicized(registry, token, settings)
    public = (await funds.get(f"/public/notices/{notice_id}")).json()
    assert public["kind"] == "monitoring" and public["kind_label"] == "防返贫监测对象公示"
    [item] = public["items"]
    assert item["name"] == "马建国" and "*" in item["id_number"] and item["phone"] == "139****4567"
    assert item["category_label"] == "边缘易致贫户" and item["risk_type_labels"] == ["因病", "因务工就业不稳"]
    page = (await funds.get(f"/public/notices/{notice_id}.html")).text
    assert "边缘易致贫户" in page and "因务工就业不稳" in page and "13951234567" not in page
    r = await step(registry, county(token), case["id"], "approve")
    assert r.status_code == 409 and r.json()["type"].endswith("notice-open")
    assert (await funds.post(f"/api/v1/notices/{notice_id}/close", headers=county(token))).status_code == 200
    assert await deliver_funds_events(settings) == 1
    r = await step(registry, county(token), case["id"], "approve")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "approved" and r.json()["notice_id"] is None
    closed = [s for s in r.json()["history"] if s["action"] == "notice_closed"]
    assert closed and closed[0]["notice_id"] == notice_id and closed[0]["detail"]["objections"] == []


async def test_an_upheld_objection_sends_the_case_back_to_verified_with_funds(with_funds, token, settings,
                                                                            monkeypatch):
    registry, funds = with_funds["registry"], with_funds["funds"]
    case, notice_id = await _to_publicized(registry, token, settings, days=1)
    r = await funds.post(f"/public/notices/{notice_id}/objections", json=OBJECTION)
    assert r.status_code == 201, r.text
    objection_id = r.json()["id"]
    r = await funds.post(f"/api/v1/objections/{objection_id}/resolve", headers=county(token),
                         json={"decision": "upheld", "reply": "经核实情况属实，退回重新核实"})
    assert r.status_code == 200, r.text
    later = datetime.now(UTC) + timedelta(days=2)
    monkeypatch.setattr(notice_service, "now", lambda: later)
    assert (await funds.post(f"/api/v1/notices/{notice_id}/close", headers=county(token))).status_code == 200
    assert await deliver_funds_events(settings) == 1
    body = (await registry.get(f"/api/v1/monitoring/cases/{case['id']}", headers=county(token))).json()
    assert body["status"] == "verified" and body["notice_id"] is None
    last = body["history"][-1]
    assert (last["action"], last["from_status"], last["to_status"]) == ("objection_upheld", "publicized", "verified")
    [objection] = last["detail"]["objections"]
    assert objection["id"] == objection_id and objection["content"] == OBJECTION["content"]
    assert objection["reply"] == "经核实情况属实，退回重新核实" and "王大妈" not in str(last)
    assert last["notes"] == OBJECTION["content"]
    assert (await step(registry, county(token), case["id"], "approve")).status_code == 409
    # it may be publicized again
    assert (await step(registry, officer(token), case["id"], "publicize")).status_code == 200


async def test_a_closed_notice_delivered_twice_changes_the_case_once(stack, token, settings):
    h = await new_household(stack.registry, token, settings=settings)
    case = (await report(stack.registry, token, h["id"])).json()
    await record_year(stack.registry, token, h["id"])
    await step(stack.registry, cadre(token), case["id"], "verify")
    notice_id = (await step(stack.registry, officer(token), case["id"], "publicize")).json()["notice_id"]
    event_id = str(uuid.uuid4())
    assert await close_notice(settings, notice_id=notice_id, case=case, event_id=event_id)
    assert not await close_notice(settings, notice_id=notice_id, case=case, event_id=event_id)
    # a late notice.closed for a notice the case no longer waits for is ignored
    assert await close_notice(settings, notice_id=notice_id, case=case, struck=True)
    body = (await stack.registry.get(f"/api/v1/monitoring/cases/{case['id']}", headers=county(token))).json()
    assert body["status"] == "publicized" and [s["action"] for s in body["history"]].count("notice_closed") == 1


# --- 风险消除: every condition on its own ---------------------------------------------------------------------

APPROVED_ON = "2024-01-15 10:00:00+08"


@pytest.fixture
def today(monkeypatch):
    """The rules' China date: ``today.set(date)``."""
    class Today:
        day = date(2024, 7, 15)

        def set(self, day: date) -> None:
            self.day = day
    t = Today()
    monkeypatch.setattr(rules, "today", lambda: t.day)
    return t


async def approved_case(stack, token, settings, *, members=None, per_capita="6000.01", measure=True,
                        assured=True) -> tuple[dict, int]:
    """A case approved on 2024-01-15 whose household, all else holding, may be eliminated from 2024-07-15."""
    admin = county(token)
    r = await stack.registry.put(f"/api/v1/monitoring/thresholds/{YEAR}", headers=admin,
                                 json={"region_code": COUNTY, "amount": "6000.00"})
    assert r.status_code in (200, 201), r.text
    h = await new_household(stack.registry, token, settings=settings, members=members)
    case = (await report(stack.registry, token, h["id"])).json()
    await record_year(stack.registry, token, h["id"], per_capita=per_capita, members=len(h["members"]),
                      assured=assured)
    await step(stack.registry, cadre(token), case["id"], "verify")
    notice_id = (await step(stack.registry, officer(token), case["id"], "publicize")).json()["notice_id"]
    assert await close_notice(settings, notice_id=notice_id, case=case)
    r = await step(stack.registry, admin, case["id"], "approve")
    assert r.status_code == 200, r.text
    await sql(settings, "UPDATE monitoring_case SET approved_at = :at WHERE id = :c",
              at=datetime.fromisoformat(APPROVED_ON), c=case["id"])
    if measure:
        r = await stack.registry.post(f"/api/v1/households/{h['id']}/measures", headers=admin, json={
            "batch": "production", "kind": "产业奖补", "description": "养殖滩羊10只", "year": YEAR})
        assert r.status_code == 201, r.text
    return case, h["id"]


async def propose(stack, token, case_id: int):
    return await step(stack.registry, county(token), case_id, "propose_elimination", days=7)


def unmet(r) -> list[str]:
    assert r.status_code == 409, r.text
    assert r.json()["type"].endswith("elimination-conditions-unmet")
    return [u["code"] for u in r.json()["unmet"]]


async def test_six_calendar_months_less_a_day_is_refused_and_exactly_six_allowed(stack, token, settings, today):
    case, _ = await approved_case(stack, token, settings)
    today.set(date(2024, 7, 14))
    r = await propose(stack, token, case["id"])
    assert unmet(r) == ["too_soon"] and r.json()["unmet"][0]["label"] == "纳入监测未满6个月"
    today.set(date(2024, 7, 15))
    r = await propose(stack, token, case["id"])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "publicized" and r.json()["phase"] == "elimination"
    assert stack.notices[-1]["requester_ref"].endswith("/elimination/v" + str(r.json()["version"] - 1))
    assert "风险消除" in stack.notices[-1]["title"]


def test_calendar_months_end_on_the_months_last_day():
    assert rules.add_months(date(2024, 1, 15), 6) == date(2024, 7, 15)
    assert rules.add_months(date(2023, 8, 31), 6) == date(2024, 2, 29)
    assert rules.add_months(date(2024, 9, 30), 6) == date(2025, 3, 30)


async def test_income_equal_to_the_threshold_is_refused_one_fen_above_allowed(stack, token, settings, today):
    case, hid = await approved_case(stack, token, settings, per_capita="6000.00")
    assert unmet(await propose(stack, token, case["id"])) == ["income_not_above_threshold"]
    await record_year(stack.registry, token, hid, per_capita="6000.01")
    assert (await propose(stack, token, case["id"])).status_code == 200


async def test_a_missing_income_or_threshold_is_listed(stack, token, settings, today):
    case, hid = await approved_case(stack, token, settings)
    r = await step(stack.registry, county(token), case["id"], "propose_elimination", year=2025)
    assert unmet(r) == ["income_missing", *ASSURANCES]
    await record_year(stack.registry, token, hid, year=2025)
    r = await step(stack.registry, county(token), case["id"], "propose_elimination", year=2025)
    assert unmet(r) == ["threshold_missing"]


async def test_a_missing_assurance_is_refused(stack, token, settings, today):
    case, _ = await approved_case(stack, token, settings, assured=False)
    r = await propose(stack, token, case["id"])
    assert unmet(r) == ["medical"] and r.json()["unmet"][0]["label"] == "基本医疗有保障"


async def test_no_measure_since_approval_is_refused_a_measure_before_it_does_not_count(stack, token, settings,
                                                                                    today):
    case, hid = await approved_case(stack, token, settings, measure=False)
    r = await stack.registry.post(f"/api/v1/households/{hid}/measures", headers=county(token), json={
        "batch": "social_security", "kind": "临时救助", "description": "", "year": 2023})
    assert r.status_code == 201
    await sql(settings, "UPDATE measure SET created_at = '2024-01-10 09:00:00+08' WHERE household_id = :h", h=hid)
    assert unmet(await propose(stack, token, case["id"])) == ["no_measure_since_approval"]
    await sql(settings, "UPDATE measure SET created_at = '2024-01-15 10:00:00+08' WHERE household_id = :h", h=hid)
    assert (await propose(stack, token, case["id"])).status_code == 200


async def test_a_household_without_labour_stays_monitored_even_when_all_else_holds(stack, token, settings, today):
    members = [member("head", labor="lost"), member("spouse", labor="none")]
    case, _ = await approved_case(stack, token, settings, members=members)
    r = await propose(stack, token, case["id"])
    assert unmet(r) == ["no_labor_dibao_support"] and "兜底保障" in r.json()["unmet"][0]["label"]
    weak = [member("head", labor="lost"), member("spouse", labor="weak")]
    other, _ = await approved_case(stack, token, settings, members=weak)
    assert (await propose(stack, token, other["id"])).status_code == 200


async def test_every_unmet_condition_is_listed_at_once(stack, token, settings, today):
    today.set(date(2024, 3, 1))
    members = [member("head", labor="none")]
    case, _ = await approved_case(stack, token, settings, members=members, per_capita="100.00", measure=False,
                                  assured=False)
    assert unmet(await propose(stack, token, case["id"])) == [
        "too_soon", "income_not_above_threshold", "medical", "no_measure_since_approval", "no_labor_dibao_support"]


async def test_elimination_publicized_then_approved_and_a_new_case_may_open(stack, token, settings, today):
    case, hid = await approved_case(stack, token, settings)
    r = await propose(stack, token, case["id"])
    notice_id = r.json()["notice_id"]
    after = r.json()
    assert (await step(stack.registry, county(token), case["id"], "approve")).status_code == 409
    assert await close_notice(settings, notice_id=notice_id, case={**after, "version": after["version"] - 1},
                              phase="elimination", struck=True, objections=[{"id": 9, "content": "仍有困难"}])
    body = (await stack.registry.get(f"/api/v1/monitoring/cases/{case['id']}", headers=county(token))).json()
    assert body["status"] == "approved" and body["history"][-1]["detail"]["objections"][0]["content"] == "仍有困难"
    r = await propose(stack, token, case["id"])
    assert r.status_code == 200, r.text
    assert await close_notice(settings, notice_id=r.json()["notice_id"], case=r.json(), phase="elimination")
    r = await step(stack.registry, county(token), case["id"], "approve")
    assert r.status_code == 200 and r.json()["status"] == "eliminated" and r.json()["closed_at"]
    view = (await stack.registry.get(f"/api/v1/households/{hid}", headers=county(token))).json()
    assert view["monitoring_case"] is None
    assert (await report(stack.registry, token, hid)).status_code == 201


async def test_approval_and_elimination_are_announced_to_notifications(stack, token, settings, today):
    case, hid = await approved_case(stack, token, settings)
    await sql(settings, "UPDATE household SET helper_user_id = '17' WHERE id = :h", h=hid)
    r = await propose(stack, token, case["id"])
    assert await close_notice(settings, notice_id=r.json()["notice_id"], case=r.json(), phase="elimination")
    assert (await step(stack.registry, county(token), case["id"], "approve")).json()["status"] == "eliminated"
    events = await sql(settings, "SELECT topic, destinations, payload FROM outbox WHERE topic LIKE 'monitoring.%' "
                                 "ORDER BY id")
    assert [(e.topic, e.destinations) for e in events] == [("monitoring.case_approved", ["notifications"]),
                                                           ("monitoring.case_eliminated", ["notifications"])]
    approved, eliminated = events[0].payload, events[1].payload
    assert approved["case_id"] == case["id"] and approved["head_phone"] == "13951234567"
    assert approved["helper_user_id"] is None and eliminated["helper_user_id"] == "17"
    assert "head_phone" not in eliminated
    audit = await sql(settings, "SELECT action FROM audit_log WHERE entity = 'monitoring_case' AND entity_id = :c "
                                "ORDER BY seq", c=str(case["id"]))
    assert [a.action for a in audit] == [
        "monitoring_case.report", "monitoring_case.verify", "monitoring_case.publicize",
        "monitoring_case.notice_closed", "monitoring_case.approve", "monitoring_case.propose_elimination",
        "monitoring_case.notice_closed", "monitoring_case.approve"]
