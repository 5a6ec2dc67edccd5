"""帮扶: incomes, assurances, helper assignment (gateway + outbox), measures, visits idempotent on client_id."""

import asyncio
import uuid

from sqlalchemy import text

from services.registry.assistance.service import per_capita_net_fen
from shared.db import Database
from shared.testing import auth
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import create_user, household


async def rows(settings, sql: str, **params) -> list:
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            return list((await s.execute(text(sql), params)).all())
    finally:
        await db.close()


def test_per_capita_rounds_half_up_to_the_fen():
    assert per_capita_net_fen(wage=100, production=0, transfer=0, property=0, expenses=0, members=3) == 33
    assert per_capita_net_fen(wage=5, production=0, transfer=0, property=0, expenses=0, members=2) == 3  # 2.5 fen
    assert per_capita_net_fen(wage=0, production=0, transfer=0, property=0, expenses=5, members=2) == -3
    assert per_capita_net_fen(wage=900_000_000, production=0, transfer=0, property=0, expenses=0, members=3) == 300_000_000


async def test_income_adds_per_capita_net(registry, token, create):
    h = await create()
    url, admin = f"/api/v1/households/{h['id']}/incomes/2019", auth(token())
    r = await registry.put(url, headers=admin, json={"wage": "3000", "production": 1000.01, "transfer": "500.00",
                                                     "property": "0", "expenses": "200.00"})
    assert r.status_code == 200, r.text
    assert r.json() == {"year": 2019, "wage": "3000.00", "production": "1000.01", "transfer": "500.00",
                        "property": "0.00", "expenses": "200.00", "net_income": "4300.01", "members": 2,
                        "per_capita_net": "2150.01"}                      # 2150.005 → 2150.01
    # expenses beyond income: a negative per-capita figure, kept as is
    r = await registry.put(url, headers=admin, json={"wage": "100.00", "production": "0", "transfer": "0",
                                                     "property": "0", "expenses": "301.00"})
    assert r.json()["per_capita_net"] == "-100.50" and r.json()["net_income"] == "-201.00"
    got = (await registry.get(f"/api/v1/households/{h['id']}", headers=admin)).json()
    assert [i["year"] for i in got["incomes"]] == [2019] and got["incomes"][0]["per_capita_net"] == "-100.50"
    for bad in ({"wage": "-1"}, {"wage": "1.001"}, {"wage": "NaN"}, {"wage": "1e13"}, {"wage": None}):
        body = {"wage": "1", "production": "0", "transfer": "0", "property": "0", "expenses": "0"} | bad
        assert (await registry.put(url, headers=admin, json=body)).status_code == 422, bad
    assert (await registry.put(f"/api/v1/households/{h['id']}/incomes/1999", headers=admin,
                               json={"wage": "1", "production": "0", "transfer": "0", "property": "0",
                                     "expenses": "0"})).status_code == 422


async def test_assurances(registry, token, create):
    h = await create()
    admin = auth(token())
    r = await registry.put(f"/api/v1/households/{h['id']}/assurances/2020", headers=admin, json={
        "food": True, "clothing": True, "education": True, "medical": True, "housing": False, "water": True})
    assert r.status_code == 200 and r.json()["all_met"] is False and r.json()["housing"] is False
    r = await registry.put(f"/api/v1/households/{h['id']}/assurances/2020", headers=admin, json={"food": True})
    assert r.status_code == 422
    got = (await registry.get(f"/api/v1/households/{h['id']}", headers=admin)).json()
    assert got["assurances"][0]["year"] == 2020 and got["version"] == 2


async def test_measures(registry, token, create):
    h = await create()
    url, admin = f"/api/v1/households/{h['id']}/measures", auth(token())
    r = await registry.post(url, headers=admin, json={"batch": "production", "kind": "养殖", "year": 2019,
                                                      "description": "扶持滩羊养殖 10 只"})
    assert r.status_code == 201, r.text
    assert r.json()["batch_label"] == "发展生产" and r.json()["created_by"] == "u-admin"
    assert (await registry.post(url, headers=admin, json={"batch": "sixth", "kind": "x", "year": 2019})).status_code == 422
    listed = (await registry.get(url, headers=admin)).json()
    assert [m["kind"] for m in listed["items"]] == ["养殖"] and listed["next_cursor"] is None


async def test_helper_assignment_checks_the_user_with_the_gateway_and_tells_them(stack, token):
    r = await stack.registry.post("/api/v1/households", json=household(), headers=auth(token()))
    h = r.json()
    helper = await create_user(stack, token, username="wang.helper", role="helper", region=VILLAGE)
    cadre = await create_user(stack, token, username="li.cadre", role="village_cadre", region=VILLAGE)
    far = await create_user(stack, token, username="far.helper", role="helper", region=OTHER_TOWNSHIP)
    url = f"/api/v1/households/{h['id']}/helper"
    for user_id, why in ((cadre, "not a helper"), (far, "region does not include"), (987654, "no user")):
        r = await stack.registry.put(url, json={"user_id": user_id}, headers=auth(token()))
        assert r.status_code == 422 and why in r.json()["detail"], r.text
    r = await stack.registry.put(url, json={"user_id": helper}, headers=auth(token("township_officer", TOWNSHIP)))
    assert r.status_code == 200, r.text
    assert r.json()["helper_user_id"] == str(helper) and r.json()["version"] == 2
    [event] = await rows(stack.settings, "SELECT topic, destinations, payload FROM outbox")
    assert event.topic == "helper.assigned" and event.destinations == ["notifications"]
    assert event.payload == {"helper_user_id": str(helper), "household_id": h["id"],
                             "household_no": h["household_no"], "head_name": "马建国", "village_name": "欣荣村"}
    # assigning the same helper again is no change and no second message
    r = await stack.registry.put(url, json={"user_id": helper}, headers=auth(token()))
    assert r.status_code == 200 and r.json()["version"] == 2
    assert len(await rows(stack.settings, "SELECT 1 FROM outbox")) == 1
    # helpers are assigned by cadres
    r = await stack.registry.put(url, json={"user_id": helper}, headers=auth(token("helper", VILLAGE, sub=str(helper))))
    assert r.status_code == 403
    r = await stack.registry.put(url, json={"user_id": None}, headers=auth(token()))
    assert r.status_code == 200 and r.json()["helper_user_id"] is None


async def test_visits_are_idempotent_on_client_id(stack, token):
    h = (await stack.registry.post("/api/v1/households", json=household(), headers=auth(token()))).json()
    helper = await create_user(stack, token, username="wang.helper", role="helper", region=VILLAGE)
    other = await create_user(stack, token, username="zhao.helper", role="helper", region=VILLAGE)
    await stack.registry.put(f"/api/v1/households/{h['id']}/helper", json={"user_id": helper}, headers=auth(token()))
    url = f"/api/v1/households/{h['id']}/visits"
    me = auth(token("helper", VILLAGE, sub=str(helper)))
    visit = {"client_id": str(uuid.uuid4()), "visited_at": "2024-03-05T10:30:00+08:00",
             "notes": "了解春耕准备情况，协调化肥 2 袋"}
    first = await stack.registry.post(url, json=visit, headers=me)
    assert first.status_code == 201, first.text
    assert first.json()["visitor"] == str(helper)
    # the app uploads again (it never saw the answer): the same visit, nothing new — also when two race
    again = await asyncio.gather(*(stack.registry.post(url, json=visit, headers=me) for _ in range(3)))
    assert {a.status_code for a in again} == {200}
    assert {a.json()["id"] for a in again} == {first.json()["id"]}
    # the same instant written in another offset is the same visit
    same = await stack.registry.post(url, json=visit | {"visited_at": "2024-03-05T02:30:00Z"}, headers=me)
    assert same.status_code == 200
    changed = await stack.registry.post(url, json=visit | {"notes": "另一次走访"}, headers=me)
    assert changed.status_code == 409
    listed = (await stack.registry.get(url, headers=me)).json()["items"]
    assert len(listed) == 1
    # a helper of another household does not even see this one
    r = await stack.registry.post(url, json=visit | {"client_id": str(uuid.uuid4())},
                                  headers=auth(token("helper", VILLAGE, sub=str(other))))
    assert r.status_code == 404
    # offline uploads need an offset, and no visit comes from the future
    assert (await stack.registry.post(url, json=visit | {"client_id": str(uuid.uuid4()),
                                                         "visited_at": "2024-03-05T10:30:00"}, headers=me)).status_code == 422
    assert (await stack.registry.post(url, json=visit | {"client_id": str(uuid.uuid4()),
                                                         "visited_at": "2099-01-01T00:00:00+08:00"}, headers=me)).status_code == 422
    audit_visits = await rows(stack.settings, "SELECT 1 FROM audit_log WHERE action = 'visit.create'")
    assert len(audit_visits) == 1


async def test_every_write_is_in_the_audit_chain(registry, token, create, settings):
    h = await create()
    hid, admin = h["id"], auth(token())
    await registry.patch(f"/api/v1/households/{hid}", json={"address": "新地址 1 号"}, headers=admin)
    son = await registry.post(f"/api/v1/households/{hid}/members", headers=admin, json={
        "name": "马小军", "id_number": "640122201001011232", "relation": "son", "health": "healthy", "labor": "none"})
    assert son.status_code == 201, son.text
    await registry.patch(f"/api/v1/households/{hid}/members/{son.json()['id']}", json={"in_school": True}, headers=admin)
    await registry.delete(f"/api/v1/households/{hid}/members/{son.json()['id']}", headers=admin)
    await registry.put(f"/api/v1/households/{hid}/incomes/2020", headers=admin, json={
        "wage": "1", "production": "0", "transfer": "0", "property": "0", "expenses": "0"})
    await registry.put(f"/api/v1/households/{hid}/assurances/2020", headers=admin, json={
        "food": True, "clothing": True, "education": True, "medical": True, "housing": True, "water": True})
    await registry.post(f"/api/v1/households/{hid}/measures", headers=admin,
                        json={"batch": "education", "kind": "雨露计划", "year": 2020})
    await registry.put("/api/v1/poverty-lines/2020", json={"amount": "4000"}, headers=admin)
    actions = [r.action for r in await rows(settings, "SELECT action FROM audit_log ORDER BY seq")]
    assert actions[-9:] == ["household.create", "household.update", "member.create", "member.update",
                            "member.delete", "income.put", "assurance.put", "measure.create", "poverty_line.set"]
    # the chain holds no full ID number or phone
    dump = " ".join(str(r.diff) for r in await rows(settings, "SELECT diff FROM audit_log"))
    assert h["members"][0]["id_number"] not in dump and "640122201001011232" not in dump
    assert "13951234567" not in dump
    verify = await registry.get("/internal/audit/verify", headers=auth(token("service", "", sub="svc:funds")))
    assert verify.json()["ok"] is True


async def test_poverty_lines(registry, token):
    admin = auth(token())
    r = await registry.put("/api/v1/poverty-lines/2020", json={"amount": "4000"}, headers=admin)
    assert r.status_code == 201 and r.json()["amount"] == "4000.00" and r.headers["etag"] == '"1"'
    r = await registry.put("/api/v1/poverty-lines/2020", json={"amount": "4000.50"}, headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["version"] == 2
    r = await registry.put("/api/v1/poverty-lines/2020", json={"amount": "1"}, headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 412
    await registry.put("/api/v1/poverty-lines/2016", json={"amount": 3146}, headers=admin)
    listed = (await registry.get("/api/v1/poverty-lines", headers=auth(token("helper", VILLAGE)))).json()
    assert [(line["year"], line["amount"]) for line in listed["items"]] == [(2016, "3146.00"), (2020, "4000.50")]
    r = await registry.put("/api/v1/poverty-lines/2021", json={"amount": "4100"},
                           headers=auth(token("township_officer", TOWNSHIP)))
    assert r.status_code == 403
    assert (await registry.put("/api/v1/poverty-lines/2021", json={"amount": "-1"}, headers=admin)).status_code == 422


async def test_retried_creates_with_an_idempotency_key(registry, token, create):
    h = await create()
    admin = auth(token())
    measure = {"batch": "ecology", "kind": "生态护林员", "year": 2021}
    key = {**admin, "Idempotency-Key": "m-1"}
    first = await registry.post(f"/api/v1/households/{h['id']}/measures", json=measure, headers=key)
    again = await registry.post(f"/api/v1/households/{h['id']}/measures", json=measure, headers=key)
    assert first.status_code == again.status_code == 201 and first.json() == again.json()
    assert len((await registry.get(f"/api/v1/households/{h['id']}/measures", headers=admin)).json()["items"]) == 1
    son = {"name": "马小军", "id_number": "640122201001011232", "relation": "son", "health": "healthy", "labor": "none"}
    key = {**admin, "Idempotency-Key": "s-1"}
    first = await registry.post(f"/api/v1/households/{h['id']}/members", json=son, headers=key)
    again = await registry.post(f"/api/v1/households/{h['id']}/members", json=son, headers=key)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"] and again.json()["id_number"] == "640122201001011232"
    assert (await registry.post(f"/api/v1/households/{h['id']}/members", json=son | {"name": "马小明"},
                                headers=key)).status_code == 409
