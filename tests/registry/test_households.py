"""Households and members (CONTRACT §4): validation, numbering, the one-household-per-person rule."""

import asyncio

import pytest
from sqlalchemy import text

from services.registry.households.schemas import HouseholdRead, MemberRead
from shared.db import Database
from shared.testing import auth
from tests.conftest import VILLAGE
from tests.registry.conftest import OTHER_VILLAGE, household, member, new_id


async def test_cadre_registers_a_household_as_pending(registry, token, regions):
    head_id = new_id(male=True)
    body = household(members=[member("head", id_number=head_id.lower()), member("spouse", name="李秀兰")])
    r = await registry.post("/api/v1/households", json=body, headers=auth(token("village_cadre", VILLAGE)))
    assert r.status_code == 201, r.text
    h = r.json()
    HouseholdRead.model_validate(h)
    assert h["status"] == "pending" and h["status_label"] == "识别中"
    assert h["household_no"] == VILLAGE + "0001" and h["version"] == 1 and r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/api/v1/households/{h['id']}"
    assert h["attribute_label"] == "低保贫困户" and h["main_cause_label"] == "因病"
    assert h["other_causes_labels"] == ["缺技术"] and h["village_name"] == "欣荣村"
    head = h["members"][0]
    assert head["relation"] == "head" and head["relation_label"] == "户主"
    assert head["id_number"] == head_id.upper()          # a lower-case x goes in, upper case comes out
    assert head["sex"] == "male" and head["birth_date"] == f"{head_id[6:10]}-{head_id[10:12]}-{head_id[12:14]}"
    assert h["members"][1]["sex"] == "female" and h["members"][1]["sex_label"] == "女"
    assert h["phone"] == "13951234567" and h["payout_account"]["account_no"] == "6228480012345678901"
    assert h["pii"] == "full" and h["member_count"] == 2 and h["head_name"] == "马建国"

    second = await registry.post("/api/v1/households", json=household(), headers=auth(token()))
    assert second.json()["household_no"] == VILLAGE + "0002"
    other = await registry.post("/api/v1/households", json=household(OTHER_VILLAGE), headers=auth(token()))
    assert other.json()["household_no"] == OTHER_VILLAGE + "0001"


async def test_id_numbers_are_encrypted_at_rest(registry, settings, create):
    h = await create()
    full = h["members"][0]["id_number"]
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            row = (await s.execute(text("SELECT id_enc, id_masked, id_hmac FROM member WHERE id = :i"),
                                   {"i": h["members"][0]["id"]})).one()
            phone = (await s.execute(text("SELECT phone_enc FROM household"))).scalar_one()
    finally:
        await db.close()
    assert full.encode() not in bytes(row.id_enc) and len(bytes(row.id_hmac)) == 32
    assert row.id_masked == full[:6] + "********" + full[-4:]
    assert b"13951234567" not in bytes(phone)


@pytest.mark.parametrize("bad, why", [
    ("64012219800101123", "17 characters"),
    ("6401221980010112345", "19 characters"),
    ("64012219800101A23X", "a letter inside"),
    ("640122198002301234", "30 February"),
    ("640122290001011234", "born in the future"),
    ("６４０１２２１９８００１０１１２３４", "full-width digits"),
    ("wrong-check", "not a number at all"),
])
async def test_bad_id_numbers_are_422(registry, token, regions, bad, why):
    r = await registry.post("/api/v1/households", json=household(members=[member("head", id_number=bad)]),
                            headers=auth(token()))
    assert r.status_code == 422, why
    assert r.json()["errors"][0]["loc"] == ["body", "members", 0, "id_number"]


async def test_wrong_check_character_is_422(registry, token, regions):
    good = new_id()
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    r = await registry.post("/api/v1/households", json=household(members=[member("head", id_number=wrong)]),
                            headers=auth(token()))
    assert r.status_code == 422
    assert "check character" in r.json()["errors"][0]["msg"]


@pytest.mark.parametrize("members, count", [
    (lambda: [member("spouse"), member("son")], 0),
    (lambda: [member("head"), member("head")], 2),
])
async def test_exactly_one_head(registry, token, regions, members, count):
    r = await registry.post("/api/v1/households", json=household(members=members()), headers=auth(token()))
    assert r.status_code == 422
    err = r.json()["errors"][0]
    assert err["loc"] == ["body", "members"] and f"found {count}" in err["msg"]


async def test_same_person_twice_in_one_body_is_422(registry, token, regions):
    idn = new_id()
    r = await registry.post("/api/v1/households",
                            json=household(members=[member("head", id_number=idn), member("son", id_number=idn)]),
                            headers=auth(token()))
    assert r.status_code == 422


@pytest.mark.parametrize("field, value", [
    ("attribute", "rich"), ("main_cause", "laziness"), ("other_causes", ["illness", "bad_luck"]),
])
async def test_unknown_household_codes_are_422(registry, token, regions, field, value):
    r = await registry.post("/api/v1/households", json=household(**{field: value}), headers=auth(token()))
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"][:2] == ["body", field]


@pytest.mark.parametrize("field, value", [("relation", "cousin"), ("health", "fine"), ("labor", "lazy"),
                                          ("education", "phd")])
async def test_unknown_member_codes_are_422(registry, token, regions, field, value):
    r = await registry.post("/api/v1/households", json=household(members=[member("head") | {field: value}]),
                            headers=auth(token()))
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "members", 0, field]


@pytest.mark.parametrize("village", ["640122100099", "640122100000", "640122", "640123100001"])
async def test_bad_village_is_422(registry, token, regions, village):
    """Unknown village, a township instead of a village, not a code, another county's village."""
    r = await registry.post("/api/v1/households", json=household(village), headers=auth(token()))
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "village_code"]


async def test_village_outside_the_cadres_region_is_422(registry, token, regions):
    cadre = auth(token("village_cadre", VILLAGE, sub="u-cadre"))
    r = await registry.post("/api/v1/households", json=household(OTHER_VILLAGE), headers=cadre)
    assert r.status_code == 422


async def test_a_person_is_in_at_most_one_household(registry, token, create):
    first = await create()
    spouse_id = first["members"][1]["id_number"]
    again = household(OTHER_VILLAGE, members=[member("head"), member("spouse", id_number=spouse_id.lower())])
    r = await registry.post("/api/v1/households", json=again, headers=auth(token()))
    assert r.status_code == 409
    body = r.json()
    assert body["household_id"] == first["id"] and body["household_no"] == first["household_no"]
    assert body["type"].endswith("/already-registered") and first["household_no"] in body["detail"]
    # nothing of the refused household was kept
    listing = (await registry.get("/api/v1/households", headers=auth(token()))).json()
    assert [h["id"] for h in listing["items"]] == [first["id"]]


async def test_uniqueness_is_a_database_constraint(settings, create):
    first = await create()
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            with pytest.raises(Exception, match="uq_member_id_hmac"):
                await s.execute(text(
                    "INSERT INTO member (household_id, name, id_hmac, id_enc, id_masked, sex, birth_date, relation,"
                    " health, labor) SELECT household_id, name, id_hmac, id_enc, id_masked, sex, birth_date, 'other',"
                    " health, labor FROM member WHERE id = :m"), {"m": first["members"][1]["id"]})
    finally:
        await db.close()


async def test_concurrent_registrations_of_one_person_one_201_one_409(registry, token, regions, monkeypatch):
    """Both requests pass the friendly pre-check before either inserts (a barrier makes sure of it): the
    database constraint decides, and the loser's 409 still names the winner's household."""
    from services.registry.households import repository
    original = repository.allocate_household_nos
    arrived: list[asyncio.Event] = []

    async def after_both_checked(session, **kw):
        me = asyncio.Event()
        arrived.append(me)
        me.set()
        while len(arrived) < 2:
            await asyncio.sleep(0.005)
        return await original(session, **kw)

    monkeypatch.setattr(repository, "allocate_household_nos", after_both_checked)
    for village_pair in ((VILLAGE, OTHER_VILLAGE), (VILLAGE, VILLAGE)):
        arrived.clear()
        shared_person = new_id()
        bodies = [household(village_pair[0], members=[member("head", id_number=shared_person)]),
                  household(village_pair[1], members=[member("head"), member("father", id_number=shared_person)])]
        answers = await asyncio.gather(*(registry.post("/api/v1/households", json=b, headers=auth(token()))
                                         for b in bodies))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201, 409], [a.text for a in answers]
        winner = next(a.json() for a in answers if a.status_code == 201)
        loser = next(a.json() for a in answers if a.status_code == 409)
        assert loser["household_id"] == winner["id"] and loser["household_no"] == winner["household_no"]
    listing = (await registry.get("/api/v1/households", headers=auth(token()))).json()["items"]
    assert len(listing) == 2


async def test_idempotent_create_replays_the_household(registry, token, regions):
    body = household()
    h = {**auth(token()), "Idempotency-Key": "create-1"}
    first = await registry.post("/api/v1/households", json=body, headers=h)
    again = await registry.post("/api/v1/households", json=body, headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = await registry.post("/api/v1/households", json=household(), headers=h)
    assert other.status_code == 409


async def test_patch_honours_if_match(registry, token, create):
    h = await create()
    url, admin = f"/api/v1/households/{h['id']}", auth(token())
    r = await registry.patch(url, json={"attribute": "tekun", "phone": None}, headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    assert r.json()["attribute_label"] == "特困供养贫困户" and r.json()["phone"] is None
    assert r.json()["version"] == 2 and r.headers["etag"] == '"2"'
    stale = await registry.patch(url, json={"address": "新地址"}, headers={**admin, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert (await registry.get(url, headers=admin)).json()["address"] != "新地址"
    assert (await registry.patch(url, json={"attribute": "nope"}, headers=admin)).status_code == 422
    assert (await registry.patch(url, json={"attribute": None}, headers=admin)).status_code == 422
    assert (await registry.patch(url, json={"village_code": OTHER_VILLAGE}, headers=admin)).status_code == 422


async def test_members_keep_exactly_one_head(registry, token, create):
    h = await create()
    admin, base = auth(token()), f"/api/v1/households/{h['id']}/members"
    head, spouse = h["members"]
    r = await registry.post(base, json=member("head"), headers=admin)
    assert r.status_code == 422                                   # a second head
    r = await registry.patch(f"{base}/{head['id']}", json={"relation": "spouse"}, headers=admin)
    assert r.status_code == 422                                   # no head left
    r = await registry.patch(f"{base}/{spouse['id']}", json={"relation": "head"}, headers=admin)
    assert r.status_code == 422                                   # two heads
    r = await registry.delete(f"{base}/{head['id']}", headers=admin)
    assert r.status_code == 422                                   # the head cannot go
    son = await registry.post(base, json=member("son", name="马小军"), headers=admin)
    assert son.status_code == 201, son.text
    MemberRead.model_validate(son.json())
    r = await registry.patch(f"{base}/{son.json()['id']}", json={"in_school": True}, headers={**admin, "If-Match": '"1"'})
    assert r.status_code == 200 and r.json()["in_school"] is True and r.json()["version"] == 2
    stale = await registry.patch(f"{base}/{son.json()['id']}", json={"in_school": False},
                                 headers={**admin, "If-Match": '"1"'})
    assert stale.status_code == 412
    assert (await registry.delete(f"{base}/{son.json()['id']}", headers=admin)).status_code == 204
    after = (await registry.get(f"/api/v1/households/{h['id']}", headers=admin)).json()
    assert after["member_count"] == 2 and after["version"] == 4


async def test_member_added_elsewhere_is_409_naming_the_holder(registry, token, create):
    first = await create()
    second = await create(household(OTHER_VILLAGE))
    taken = first["members"][1]["id_number"]
    r = await registry.post(f"/api/v1/households/{second['id']}/members", json=member("spouse", id_number=taken),
                            headers=auth(token()))
    assert r.status_code == 409 and r.json()["household_id"] == first["id"]
    r = await registry.patch(f"/api/v1/households/{second['id']}/members/{second['members'][1]['id']}",
                             json={"id_number": taken}, headers=auth(token()))
    assert r.status_code == 409 and r.json()["household_no"] == first["household_no"]


async def test_person_lookup(registry, token, create):
    h = await create()
    spouse = h["members"][1]
    r = await registry.get(f"/api/v1/persons/by-id-number/{spouse['id_number'].lower()}", headers=auth(token()))
    assert r.status_code == 200 and r.json() == {"household_id": h["id"], "member_id": spouse["id"]}
    assert (await registry.get(f"/api/v1/persons/by-id-number/{new_id()}", headers=auth(token()))).status_code == 404
    assert (await registry.get("/api/v1/persons/by-id-number/123", headers=auth(token()))).status_code == 422
    other = auth(token("township_officer", "640122101000", sub="u-other"))
    assert (await registry.get(f"/api/v1/persons/by-id-number/{spouse['id_number']}", headers=other)).status_code == 404


@pytest.mark.parametrize("where,value", [("address", "a\u001fb"), ("address", "\u200b"), ("name", "\u200b"),
                                         ("name", "马\u202e国建"), ("name", "马\u2066建国")])
async def test_text_the_import_refuses_is_refused_here_too(registry, token, regions, where, value):
    body = household(address=value) if where == "address" else household(members=[member("head", name=value)])
    r = await registry.post("/api/v1/households", json=body, headers=auth(token()))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert (await registry.get("/api/v1/households", headers=auth(token()))).json()["items"] == []
