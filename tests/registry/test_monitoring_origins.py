"""A case opened from what found the household: a villager's 一码申报 report (accepted) or a screening warning
(case_opened), each checked against the household and taken once."""

from __future__ import annotations

from shared.testing import auth
from tests.conftest import TOWNSHIP
from tests.registry.conftest import member, new_id
from tests.registry.monitoring import new_household, report
from tests.registry.test_monitoring_reports import post
from tests.registry.test_monitoring_reports import report as self_report
from tests.registry.test_monitoring_screenings import YEAR, income, medical, screen


async def _report_id(registry, token, id_number: str) -> int:
    assert (await post(registry, self_report(id_number))).status_code == 202
    items = (await registry.get("/api/v1/monitoring/reports?status=open",
                                headers=auth(token("township_officer", TOWNSHIP)))).json()["items"]
    return items[0]["id"]


async def test_a_case_accepts_the_villagers_report(registry, token, regions):
    head = new_id()
    h = await new_household(registry, token, members=[member("head", id_number=head)])
    report_id = await _report_id(registry, token, head)
    wrong = await report(registry, token, h["id"], source="cadre_visit", report_id=report_id)
    assert wrong.status_code == 422                                   # a report's case is a self-report
    r = await report(registry, token, h["id"], source="self_report", report_id=report_id)
    assert r.status_code == 201, r.text
    case = r.json()
    got = (await registry.get(f"/api/v1/monitoring/reports/{report_id}", headers=auth(token()))).json()
    assert (got["status"], got["case_id"]) == ("accepted", case["id"])
    history = (await registry.get(f"/api/v1/monitoring/cases/{case['id']}", headers=auth(token()))).json()
    assert history["history"][0]["detail"]["report_id"] == report_id
    other = await new_household(registry, token)
    again = await report(registry, token, other["id"], source="self_report", report_id=report_id)
    assert again.status_code == 409 and again.json()["type"].endswith("/report-not-open")


async def test_a_report_matched_to_another_household_opens_no_case_for_this_one(registry, token, regions):
    head = new_id()
    await new_household(registry, token, members=[member("head", id_number=head)])   # the reporter's household
    other = await new_household(registry, token)
    report_id = await _report_id(registry, token, head)
    r = await report(registry, token, other["id"], source="self_report", report_id=report_id)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "report_id"
    assert (await registry.get(f"/api/v1/monitoring/reports/{report_id}",
                               headers=auth(token()))).json()["status"] == "open"
    missing = await report(registry, token, other["id"], source="self_report", report_id=report_id + 999)
    assert missing.status_code == 404


async def test_a_case_is_opened_from_a_screening_warning(registry, token, regions, settings):
    head = new_id()
    h = await new_household(registry, token, members=[member("head", id_number=head)])
    await income(registry, token, h["id"], YEAR, wage="10000")
    job = await screen(registry, settings, [medical(head, "6000")], auth(token()))
    assert job["status"] == "done", job
    (warning,) = (await registry.get("/api/v1/monitoring/warnings?status=open", headers=auth(token()))).json()["items"]
    assert warning["household_id"] == h["id"]
    r = await report(registry, token, h["id"], source="screening", warning_id=warning["id"], year=YEAR)
    assert r.status_code == 201, r.text
    got = (await registry.get(f"/api/v1/monitoring/warnings/{warning['id']}", headers=auth(token()))).json()
    assert (got["status"], got["case_id"]) == ("case_opened", r.json()["id"])
    both = await report(registry, token, h["id"], source="screening", warning_id=warning["id"], report_id=1)
    assert both.status_code == 422
