"""Status lifecycle (CONTRACT §4) with the 公示 round trip: propose → notice in funds → notice.closed → status."""

import uuid

import pytest
from sqlalchemy import text

from shared.db import Database
from shared.testing import auth
from tests.conftest import VILLAGE
from tests.registry.conftest import household

ADMIN_HEADERS = None


async def new_household(stack, token) -> dict:
    r = await stack.registry.post("/api/v1/households", json=household(), headers=auth(token()))
    assert r.status_code == 201, r.text
    return r.json()


async def move(stack, token, hid: int, body: dict, role: str = "county_admin", region: str | None = None):
    kw = {"region": region} if region else {}
    return await stack.registry.post(f"/api/v1/households/{hid}/transitions", json=body,
                                     headers=auth(token(role, **kw)))


async def registered(stack, token) -> dict:
    h = await new_household(stack, token)
    r = await move(stack, token, h["id"], {"action": "propose_registration", "year": 2016})
    assert r.status_code == 200, r.text
    assert await stack.close_notice(r.json()["pending_action"]["notice_id"], "registration", {h["id"]: False})
    return h


async def ready_to_exit(stack, token, hid: int, year: int = 2020) -> None:
    admin = auth(token())
    assert (await stack.registry.put(f"/api/v1/poverty-lines/{year}", json={"amount": "4000.00"},
                                     headers=admin)).status_code in (200, 201)
    r = await stack.registry.put(f"/api/v1/households/{hid}/incomes/{year}", headers=admin, json={
        "wage": "9000.00", "production": "2000.00", "transfer": "600", "property": 0, "expenses": "1000.00"})
    assert r.status_code == 200, r.text
    r = await stack.registry.put(f"/api/v1/households/{hid}/assurances/{year}", headers=admin, json={
        "food": True, "clothing": True, "education": True, "medical": True, "housing": True, "water": True})
    assert r.status_code == 200, r.text


async def status_changes(settings, hid: int) -> list:
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            return (await s.execute(text("SELECT action, from_status, to_status, year, notice_id FROM status_change "
                                         "WHERE household_id = :h ORDER BY id"), {"h": hid})).all()
    finally:
        await db.close()


async def test_registration_round_trip_through_the_notice(stack, token):
    h = await new_household(stack, token)
    r = await move(stack, token, h["id"], {"action": "propose_registration", "year": 2016})
    assert r.status_code == 200, r.text
    body = r.json()
    notice_id = body["pending_action"]["notice_id"]
    assert body["status"] == "pending" and body["pending_action"]["action"] == "propose_registration"
    # funds was asked for a notice listing the household, with the full personal data it masks when showing
    [asked] = stack.notices
    assert asked["kind"] == "registration" and asked["region_code"] == VILLAGE and asked["requester"] == "registry"
    [item] = asked["items"]
    head = h["members"][0]
    assert item["ref"] == str(h["id"]) and item["name"] == head["name"] and item["id_number"] == head["id_number"]
    assert item["phone"] == "13951234567" and item["members"] == 2 and item["attribute"] == "dibao"
    # while the notice is open, another proposal is refused
    again = await move(stack, token, h["id"], {"action": "propose_registration"})
    assert again.status_code == 409 and again.json()["pending_action"]["notice_id"] == notice_id

    event_id = str(uuid.uuid4())
    assert await stack.close_notice(notice_id, "registration", {h["id"]: False}, event_id=event_id)
    after = (await stack.registry.get(f"/api/v1/households/{h['id']}", headers=auth(token()))).json()
    assert after["status"] == "registered" and after["status_label"] == "在册"
    assert after["pending_action"] is None and after["registered_year"] == 2016
    # the same event again changes nothing
    assert not await stack.close_notice(notice_id, "registration", {h["id"]: True}, event_id=event_id)
    assert [tuple(c) for c in await status_changes(stack.settings, h["id"])] == [
        ("propose_registration", "pending", "registered", 2016, notice_id)]


async def test_a_struck_item_is_not_registered(stack, token):
    h = await new_household(stack, token)
    other = await new_household(stack, token)
    notices = []
    for hh in (h, other):
        r = await move(stack, token, hh["id"], {"action": "propose_registration"})
        notices.append(r.json()["pending_action"]["notice_id"])
    assert await stack.close_notice(notices[0], "registration", {h["id"]: True})
    after = (await stack.registry.get(f"/api/v1/households/{h['id']}", headers=auth(token()))).json()
    assert after["status"] == "pending" and after["pending_action"] is None
    # a notice the household is not (or no longer) waiting for changes nothing
    assert await stack.close_notice(notices[0], "registration", {other["id"]: False})
    assert await stack.close_notice(notices[0], "registration", {h["id"]: False})
    for hh in (h, other):
        got = (await stack.registry.get(f"/api/v1/households/{hh['id']}", headers=auth(token()))).json()
        assert got["status"] == "pending"
    # it may be proposed again (a new notice)
    r = await move(stack, token, h["id"], {"action": "propose_registration"})
    assert r.status_code == 200 and r.json()["pending_action"]["notice_id"] not in notices
    assert await status_changes(stack.settings, h["id"]) == []


async def test_exit_is_refused_listing_unmet_conditions(stack, token):
    h = await registered(stack, token)
    hid, admin = h["id"], auth(token())
    r = await move(stack, token, hid, {"action": "propose_exit", "year": 2020})
    assert r.status_code == 409
    assert r.json()["unmet"] == ["income_missing", "food", "clothing", "education", "medical", "housing", "water"]

    await stack.registry.put(f"/api/v1/households/{hid}/incomes/2020", headers=admin, json={
        "wage": "5000.00", "production": "2000.00", "transfer": "1000.00", "property": "0.00", "expenses": "500.00"})
    r = await move(stack, token, hid, {"action": "propose_exit", "year": 2020})
    assert r.json()["unmet"][0] == "poverty_line_missing"
    await stack.registry.put("/api/v1/poverty-lines/2020", json={"amount": "4000.00"}, headers=admin)
    await stack.registry.put(f"/api/v1/households/{hid}/assurances/2020", headers=admin, json={
        "food": True, "clothing": True, "education": True, "medical": True, "housing": False, "water": True})
    r = await move(stack, token, hid, {"action": "propose_exit", "year": 2020})
    assert r.status_code == 409 and r.json()["unmet"] == ["income_below_line", "housing"]   # 3750.00 per person
    assert "住房安全有保障" in r.json()["detail"]

    # exactly at the line is not above it
    await stack.registry.put(f"/api/v1/households/{hid}/incomes/2020", headers=admin, json={
        "wage": "6000.00", "production": "2000.00", "transfer": "500.00", "property": "0.00", "expenses": "500.00"})
    r = await move(stack, token, hid, {"action": "propose_exit", "year": 2020})
    assert r.json()["unmet"] == ["income_below_line", "housing"]
    await ready_to_exit(stack, token, hid)
    r = await move(stack, token, hid, {"action": "propose_exit", "year": 2020})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "registered" and r.json()["pending_action"]["action"] == "propose_exit"
    assert stack.notices[-1]["kind"] == "exit"
    assert await stack.close_notice(r.json()["pending_action"]["notice_id"], "exit", {hid: False})
    after = (await stack.registry.get(f"/api/v1/households/{hid}", headers=admin)).json()
    assert after["status"] == "exited" and after["exit_year"] == 2020 and after["status_label"] == "已脱贫"


async def test_exit_needs_a_year(stack, token):
    h = await registered(stack, token)
    r = await move(stack, token, h["id"], {"action": "propose_exit"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "year"]


async def test_returned_and_exited_again(stack, token):
    h = await registered(stack, token)
    hid = h["id"]
    await ready_to_exit(stack, token, hid)
    r = await move(stack, token, hid, {"action": "propose_exit", "year": 2020})
    await stack.close_notice(r.json()["pending_action"]["notice_id"], "exit", {hid: False})
    assert (await move(stack, token, hid, {"action": "mark_returned", "year": 2021})).status_code == 422  # reason
    r = await move(stack, token, hid, {"action": "mark_returned", "year": 2021, "reason": "因病返贫：户主患大病"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "returned" and r.json()["returned_year"] == 2021
    assert r.json()["status_reason"] == "因病返贫：户主患大病"
    assert (await move(stack, token, hid, {"action": "mark_returned", "reason": "x"})).status_code == 409
    await ready_to_exit(stack, token, hid, 2022)
    r = await move(stack, token, hid, {"action": "propose_exit", "year": 2022})
    assert r.status_code == 200
    await stack.close_notice(r.json()["pending_action"]["notice_id"], "exit", {hid: False})
    changes = [(c.to_status, c.year) for c in await status_changes(stack.settings, hid)]
    assert changes == [("registered", 2016), ("exited", 2020), ("returned", 2021), ("exited", 2022)]


@pytest.mark.parametrize("status_path, action", [
    ("pending", "propose_exit"), ("pending", "mark_returned"),
    ("registered", "propose_registration"), ("registered", "mark_returned"),
])
async def test_illegal_moves_are_409(stack, token, status_path, action):
    h = await (new_household(stack, token) if status_path == "pending" else registered(stack, token))
    r = await move(stack, token, h["id"], {"action": action, "year": 2020, "reason": "试试"})
    assert r.status_code == 409
    assert r.json()["type"].endswith("/illegal-transition") and r.json()["status_now"] == status_path


async def test_remove_from_any_status_needs_a_reason_and_an_officer(stack, token):
    h = await new_household(stack, token)
    r = await move(stack, token, h["id"], {"action": "propose_registration"})
    notice_id = r.json()["pending_action"]["notice_id"]
    assert (await move(stack, token, h["id"], {"action": "remove"})).status_code == 422
    cadre = await move(stack, token, h["id"], {"action": "remove", "reason": "不符合条件"}, "village_cadre", VILLAGE)
    assert cadre.status_code == 403
    r = await move(stack, token, h["id"], {"action": "remove", "reason": "家有财政供养人员"}, "township_officer",
                   "640122100000")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "removed" and r.json()["pending_action"] is None
    # the notice that was open no longer applies; nothing moves out of removed
    await stack.close_notice(notice_id, "registration", {h["id"]: False})
    for action in ("propose_registration", "propose_exit", "mark_returned", "remove"):
        assert (await move(stack, token, h["id"], {"action": action, "reason": "x", "year": 2020})).status_code == 409


async def test_transitions_honour_if_match_and_scope(stack, token):
    h = await new_household(stack, token)
    r = await stack.registry.post(f"/api/v1/households/{h['id']}/transitions", json={"action": "propose_registration"},
                                  headers={**auth(token()), "If-Match": '"7"'})
    assert r.status_code == 412 and stack.notices == []
    r = await move(stack, token, h["id"], {"action": "propose_registration"}, "township_officer", "640122101000")
    assert r.status_code == 404 and stack.notices == []
    r = await move(stack, token, h["id"], {"action": "propose_registration"}, "helper", VILLAGE)
    assert r.status_code == 403


async def test_unknown_actions_are_422(stack, token):
    h = await new_household(stack, token)
    assert (await move(stack, token, h["id"], {"action": "promote"})).status_code == 422
