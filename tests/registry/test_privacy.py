"""Privacy and scope (PIPL, CONTRACT §2/§4): full data only to cadres of the region, logged; masked for
everyone else; nothing outside a caller's region or a helper's own households, not even its existence."""

from sqlalchemy import text

from services.registry.households.schemas import HouseholdRead, HouseholdSummary
from shared.db import Database
from shared.testing import auth
from tests.conftest import OTHER_TOWNSHIP, TOWNSHIP, VILLAGE
from tests.registry.conftest import (
    OTHER_VILLAGE,
    create_user,
    household,
    member,
    new_id,
)


async def access_log(settings) -> list:
    db = Database(settings, "registry")
    try:
        async with db.sessionmaker() as s:
            return list((await s.execute(text(
                "SELECT actor, role, endpoint, household_ids FROM pii_access_log ORDER BY id"))).all())
    finally:
        await db.close()


async def test_full_for_cadres_masked_for_finance_and_auditors_and_logged(registry, token, create, settings):
    h = await create()
    url = f"/api/v1/households/{h['id']}"
    head_id = h["members"][0]["id_number"]
    before = len(await access_log(settings))
    assert before == 1                          # the creating cadre saw the household in full

    cadre = await registry.get(url, headers=auth(token("village_cadre", VILLAGE, sub="u-cadre")))
    assert cadre.status_code == 200 and cadre.json()["members"][0]["id_number"] == head_id
    assert cadre.json()["pii"] == "full" and cadre.json()["phone"] == "13951234567"
    for role in ("finance_officer", "auditor"):
        r = await registry.get(url, headers=auth(token(role, sub=f"u-{role}")))
        assert r.status_code == 200
        body = r.json()
        HouseholdRead.model_validate(body)
        assert body["pii"] == "masked"
        assert body["members"][0]["id_number"] == head_id[:6] + "********" + head_id[-4:]
        assert body["phone"] == "139****4567"
        assert body["payout_account"] == {"bank_code": "NXRCU", "account_no": "622848*********8901"}
        # sex and birth date are derived data the masked view still offers
        assert body["members"][0]["sex"] == "male"
    log = await access_log(settings)
    assert len(log) == before + 1
    assert tuple(log[-1]) == ("u-cadre", "village_cadre", f"GET {url}", [h["id"]])

    listing = await registry.get("/api/v1/households", headers=auth(token("auditor", sub="u-auditor")))
    assert listing.json()["items"][0]["head_id_number"] == head_id[:6] + "********" + head_id[-4:]
    assert len(await access_log(settings)) == before + 1        # masked views are not logged
    listing = await registry.get("/api/v1/households", headers=auth(token()))
    HouseholdSummary.model_validate(listing.json()["items"][0])
    assert listing.json()["items"][0]["head_id_number"] == head_id
    assert tuple((await access_log(settings))[-1]) == ("u-admin", "county_admin", "GET /api/v1/households",
                                                        [h["id"]])


async def test_outside_the_region_is_indistinguishable_from_missing(registry, token, create):
    h = await create()
    officer = auth(token("township_officer", OTHER_TOWNSHIP, sub="u-other"))
    peek = await registry.get(f"/api/v1/households/{h['id']}", headers=officer)
    missing = await registry.get(f"/api/v1/households/{h['id'] + 1000}", headers=officer)
    assert peek.status_code == missing.status_code == 404
    assert peek.json() == missing.json()
    assert peek.headers["content-type"] == missing.headers["content-type"] == "application/problem+json"
    for method, path, body in (
            ("PATCH", "", {"address": "x"}), ("POST", "/members", member("son")),
            ("PUT", "/incomes/2020", {"wage": "1", "production": "0", "transfer": "0", "property": "0",
                                      "expenses": "0"}),
            ("POST", "/transitions", {"action": "remove", "reason": "x"}), ("GET", "/visits", None)):
        r = await registry.request(method, f"/api/v1/households/{h['id']}{path}", json=body, headers=officer)
        assert r.status_code == 404 and r.json() == peek.json(), (method, path)
    assert (await registry.get("/api/v1/households", headers=officer)).json()["items"] == []
    # asking for the other township's region in a filter shows nothing either
    r = await registry.get(f"/api/v1/households?region={TOWNSHIP}", headers=officer)
    assert r.status_code == 200 and r.json()["items"] == []
    # the officer of the right township sees it in full
    mine = await registry.get(f"/api/v1/households/{h['id']}", headers=auth(token("township_officer", TOWNSHIP)))
    assert mine.status_code == 200 and mine.json()["pii"] == "full"


async def test_a_helper_sees_only_their_households_masked(stack, token):
    admin = auth(token())
    ids = []
    for _ in range(2):
        r = await stack.registry.post("/api/v1/households", json=household(), headers=admin)
        ids.append(r.json()["id"])
    helper = await create_user(stack, token, username="wang.helper", role="helper", region=VILLAGE)
    await stack.registry.put(f"/api/v1/households/{ids[0]}/helper", json={"user_id": helper}, headers=admin)
    me = auth(token("helper", VILLAGE, sub=str(helper)))
    listed = (await stack.registry.get("/api/v1/households", headers=me)).json()["items"]
    assert [h["id"] for h in listed] == [ids[0]] and listed[0]["pii"] == "masked"
    assert "*" in listed[0]["head_id_number"] and listed[0]["phone"] == "139****4567"
    mine = await stack.registry.get(f"/api/v1/households/{ids[0]}", headers=me)
    assert mine.status_code == 200 and "*" in mine.json()["members"][1]["id_number"]
    other = await stack.registry.get(f"/api/v1/households/{ids[1]}", headers=me)
    missing = await stack.registry.get("/api/v1/households/999999", headers=me)
    assert other.status_code == 404 and other.json() == missing.json()
    # a helper cannot change the household itself
    assert (await stack.registry.patch(f"/api/v1/households/{ids[0]}", json={"address": "x"},
                                       headers=me)).status_code == 403


async def test_banks_do_not_read_the_registry(registry, token, create):
    h = await create()
    bank = auth(token("bank", sub="c-bank", bank="NXRCU"))
    assert (await registry.get(f"/api/v1/households/{h['id']}", headers=bank)).status_code == 403
    assert (await registry.get("/api/v1/households", headers=bank)).status_code == 403


async def test_search_by_name_or_full_id_number_and_filters(registry, token, create):
    a = await create(household(members=[member("head", name="纳学军"), member("spouse", name="马兰花")]))
    b = await create(household(OTHER_VILLAGE, attribute="tekun", main_cause="disability", other_causes=["illness"],
                               members=[member("head", name="海占林")]))
    admin = auth(token())

    async def ids(query: str) -> list[int]:
        r = await registry.get(f"/api/v1/households?{query}", headers=admin)
        assert r.status_code == 200, r.text
        return [h["id"] for h in r.json()["items"]]

    assert await ids("q=马兰") == [a["id"]]                 # any member's name, by its beginning
    assert await ids("q=海占林") == [b["id"]]
    spouse_id = a["members"][1]["id_number"]
    assert await ids(f"q={spouse_id.lower()}") == [a["id"]]  # the full ID number, via its keyed digest
    assert await ids(f"q={spouse_id[:10]}") == []           # no partial ID number search
    assert await ids(f"q={b['household_no']}") == [b["id"]]
    assert await ids("q=%25") == [] and await ids("q=_") == []
    assert await ids("attribute=tekun") == [b["id"]]
    assert await ids("cause=illness") == [a["id"], b["id"]]
    assert await ids("cause=disability") == [b["id"]]
    assert await ids("status=pending") == [a["id"], b["id"]] and await ids("status=registered") == []
    assert await ids(f"region={OTHER_TOWNSHIP}") == [b["id"]]
    assert await ids(f"region={VILLAGE}") == [a["id"]]
    for bad in ("status=rich", "attribute=x", "cause=x", "region=123", "limit=0", "limit=501", "cursor=!!!"):
        r = await registry.get(f"/api/v1/households?{bad}", headers=admin)
        assert r.status_code in (400, 422), bad


async def test_cursor_pagination(registry, token, create):
    made = [(await create())["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        url = "/api/v1/households?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = (await registry.get(url, headers=auth(token()))).json()
        seen += [h["id"] for h in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == made


async def test_eligibility_in_one_call_for_funds(registry, token, create, settings):
    a = await create()
    b = await create(household(OTHER_VILLAGE, payout_account=None))
    service = auth(token("service", "", sub="svc:funds"))
    r = await registry.post("/internal/households/eligibility", headers=service,
                            json={"household_ids": [a["id"], b["id"], 424242], "region_code": TOWNSHIP})
    assert r.status_code == 200, r.text
    first, second, third = r.json()["items"]
    assert first["household_id"] == a["id"] and first["exists"] and first["in_region"]
    assert first["eligible"] is False and first["reasons"] == ["status_pending"]
    assert first["head_name"] == "马建国" and first["head_id_number"] == a["members"][0]["id_number"]
    assert first["head_id_number_masked"].count("*") == 8 and first["phone"] == "13951234567"
    assert first["payout_account"]["account_no"] == "6228480012345678901" and first["payout_account_present"]
    assert second["in_region"] is False and second["reasons"] == ["outside_region", "status_pending"]
    assert second["payout_account_present"] is False and second["payout_account"] is None
    assert third == {"household_id": 424242, "exists": False, "eligible": False, "reasons": ["not_found"]}
    log = await access_log(settings)
    assert tuple(log[-1]) == ("svc:funds", "service", "POST /internal/households/eligibility",
                              sorted([a["id"], b["id"]]))
    # people may not call it
    r = await registry.post("/internal/households/eligibility", headers=auth(token()),
                            json={"household_ids": [a["id"]], "region_code": TOWNSHIP})
    assert r.status_code == 403


async def test_person_lookup_is_scoped_for_helpers(stack, token):
    r = await stack.registry.post("/api/v1/households", json=household(), headers=auth(token()))
    h = r.json()
    helper = await create_user(stack, token, username="wang.helper", role="helper", region=VILLAGE)
    me = auth(token("helper", VILLAGE, sub=str(helper)))
    url = f"/api/v1/persons/by-id-number/{h['members'][0]['id_number']}"
    assert (await stack.registry.get(url, headers=me)).status_code == 404
    await stack.registry.put(f"/api/v1/households/{h['id']}/helper", json={"user_id": helper}, headers=auth(token()))
    assert (await stack.registry.get(url, headers=me)).json()["household_id"] == h["id"]
    assert (await stack.registry.get(f"/api/v1/persons/by-id-number/{new_id()}", headers=me)).status_code == 404
